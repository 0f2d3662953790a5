"""The Label Studio import endpoint: the project's coordinators only, all or nothing."""
import pytest

from annotation.models import Read, Role
from interchange.exports import export_set
from interchange.formats.label_studio import label_studio_tasks
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_import_api_answers_400_and_stores_nothing(client, one_case_exported, coordinator):
    project, case, expected = one_case_exported
    tasks = label_studio_tasks(export_set(project))
    reader = make_user("ls_reader", Role.READER, project=project)
    client.force_login(coordinator)
    url = f"/api/projects/{project.slug}/import/label-studio/"
    bad = [{**tasks[0], "data": {**tasks[0]["data"], "case_id": 987654}}]
    response = client.post(url, {"reader": reader.username, "context": "import:ls", "tasks": bad},
                           content_type="application/json")
    assert response.status_code == 400 and "refers to no case" in response.json()["detail"]
    assert not Read.objects.exists()
    response = client.post(url, {"reader": reader.username, "context": "import:ls", "tasks": tasks},
                           content_type="application/json")
    assert response.status_code == 201 and response.json()["cases"] == 1
    client.force_login(reader)
    assert client.post(url, {"reader": reader.username, "tasks": tasks},
                       content_type="application/json").status_code == 404
