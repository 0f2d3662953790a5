"""Import of Label Studio JSON reads: a round trip of the export, and bad input that changes nothing."""
import pytest

from annotation import services
from annotation.models import AuditEvent, Case, Finding, Read, Role
from studies.exports import export_set, label_studio_tasks
from studies.imports import label_studio_import
from tests.conftest import make_user
from tests.studies.test_exports import phantom_project_with_truth

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks_and_reader(tmp_path, project):
    cases, expected = phantom_project_with_truth(tmp_path, project, n_cases=1, splits=("train",))
    reader = make_user("ls_reader", Role.READER)
    return project, cases[0], label_studio_tasks(export_set(project)), reader, expected


def test_import_round_trips_an_export_into_a_study_context_read(tasks_and_reader):
    project, case, tasks, reader, expected = tasks_and_reader
    result = label_studio_import(project=project, tasks=tasks, reader=reader, context="import:ls")
    read = Read.objects.get(pk=result["reads"][0])
    assert read.status == Read.Status.SUBMITTED and read.context == "import:ls" and read.case == case
    boxes = sorted((f.instance_id, round(f.x0, 3), round(f.y0, 3)) for f in read.findings.exclude(instance=None))
    assert boxes == sorted((i, round(b[0], 3), round(b[1], 3)) for _c, i, _cls, b in expected)
    assert read.findings.filter(instance=None).count() == 25
    assert Case.objects.get(pk=case.pk).status == Case.Status.GROUND_TRUTH
    assert AuditEvent.objects.filter(action="label_studio_import").exists()


def test_import_in_the_primary_context_needs_an_assignment(tasks_and_reader):
    project, case, tasks, reader, expected = tasks_and_reader
    with pytest.raises(ValueError, match="not assigned"):
        label_studio_import(project=project, tasks=tasks, reader=reader)
    services.case_assign(case=case, user=reader, role=Role.READER)
    assert label_studio_import(project=project, tasks=tasks, reader=reader)["cases"] == 1


@pytest.mark.parametrize("mutate, message", [
    (lambda t: "not a list", "non-empty list"),
    (lambda t: [{"nodata": 1}], "no 'data'"),
    (lambda t: [{**t[0], "data": {**t[0]["data"], "case_id": 987654}}], "refers to no case"),
    (lambda t: [{**t[0], "annotations": [{"result": [{"type": "polygonlabels", "value": {}}]}]}], "unsupported"),
    (lambda t: [{**t[0], "annotations": [{"result": [{"type": "choices", "from_name": "hiz__L9-L10",
                                                     "value": {"choices": ["present"]}}]}]}], "unknown disc level"),
])
def test_malformed_imports_change_nothing(tasks_and_reader, mutate, message):
    project, case, tasks, reader, expected = tasks_and_reader
    before = (Read.objects.count(), Finding.objects.count())
    with pytest.raises(ValueError, match=message):
        label_studio_import(project=project, tasks=mutate(tasks), reader=reader, context="import:ls")
    assert (Read.objects.count(), Finding.objects.count()) == before


def test_import_api_answers_400_and_stores_nothing(client, tasks_and_reader, coordinator):
    project, case, tasks, reader, expected = tasks_and_reader
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
