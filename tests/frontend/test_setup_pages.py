"""The coordinators' set-up pages: each form does its one thing and says so, or says why not and changes nothing."""
import json

import pytest
from django.contrib.auth import get_user_model

from annotation.models import Project, ProjectMembership, ProjectSchema, Role
from tests.annotation.test_setup_api import world_snapshot
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_home_offers_new_project_and_the_form_creates_one_from_the_template(client, project, coordinator):
    client.force_login(coordinator)
    assert b'href="/new-project/"' in client.get("/").content

    response = client.post("/new-project/", {"slug": "pilot", "name": "Pilot", "copy_from": ""}, follow=True)

    assert response.redirect_chain[-1][0] == "/projects/pilot/schema/"
    assert "Created project Pilot from the lumbar template (schema v1); you coordinate it." in messages_of(response)
    assert ProjectMembership.objects.filter(project__slug="pilot", user=coordinator, role="coordinator").exists()


def test_a_taken_slug_says_so_and_creates_nothing(client, project, coordinator):
    client.force_login(coordinator)
    before = world_snapshot()

    response = client.post("/new-project/", {"slug": "lumbar", "name": "Again"}, follow=True)

    assert any("already exists" in m for m in messages_of(response))
    assert world_snapshot() == before


def test_the_schema_page_saves_a_new_version_from_json_and_shows_the_history(client, project, coordinator):
    client.force_login(coordinator)
    schema = project.label_schema
    schema["findings"][1]["values"].remove("sequestration")
    schema["findings"][1]["classes"].pop("sequestration")

    response = client.post("/projects/lumbar/schema/", {"action": "json", "label_schema": json.dumps(schema)},
                           follow=True)

    assert any(m.startswith("Saved schema v2.") for m in messages_of(response))
    body = response.content.decode()
    assert "Current version: <strong>v2</strong>" in body and "<td>v1</td>" in body and "<td>v2</td>" in body
    project.refresh_from_db()
    assert "sequestration" not in project.label_schema["findings"][1]["values"]


def test_invalid_json_is_400_keeps_the_text_and_changes_nothing(client, project, coordinator):
    client.force_login(coordinator)
    before = world_snapshot()

    response = client.post("/projects/lumbar/schema/", {"action": "json", "label_schema": '{"levels": ['})

    assert response.status_code == 400
    assert any("not valid JSON" in m for m in messages_of(response))
    assert '{&quot;levels&quot;: [' in response.content.decode()
    assert world_snapshot() == before


def test_quick_edit_removes_and_adds_a_value(client, project, coordinator):
    client.force_login(coordinator)
    client.post("/projects/lumbar/schema/", {"action": "remove_value", "finding": "herniation", "value": "bulge"})
    client.post("/projects/lumbar/schema/", {"action": "add_value", "finding": "hiz", "value": "equivocal"})

    project.refresh_from_db()
    herniation, hiz = project.label_schema["findings"][1], project.label_schema["findings"][2]
    assert "bulge" not in herniation["values"] and "bulge" not in herniation["classes"]
    assert hiz["values"] == ["absent", "present", "equivocal"]
    assert list(ProjectSchema.objects.filter(project=project).order_by("version").values_list("version", flat=True)) \
        == [1, 2, 3]


def test_settings_page_saves_and_refuses_a_bad_threshold(client, project, coordinator):
    client.force_login(coordinator)
    response = client.post("/projects/lumbar/settings/", {"action": "project", "labelling_mode": "positive_only",
                                                          "box_iou_threshold": "0.4", "case_order": "random"},
                           follow=True)
    assert "Project settings saved." in messages_of(response)
    before = world_snapshot()

    response = client.post("/projects/lumbar/settings/", {"action": "project", "labelling_mode": "exhaustive",
                                                          "box_iou_threshold": "0", "case_order": "priority"},
                           follow=True)

    assert any("above 0 and at most 1" in m for m in messages_of(response))
    assert world_snapshot() == before
    response = client.post("/projects/lumbar/settings/", {"action": "model", "config_name": "yolov8s",
                                                          "retrain_after_cases": "5", "retrain_crontab": ""},
                           follow=True)
    assert "Model settings saved." in messages_of(response)
    assert Project.objects.get(slug="lumbar").model_settings.config_name == "yolov8s"


def test_people_page_creates_a_reader_and_the_assignment_form_offers_only_the_projects_members(client, project,
                                                                                              coordinator):
    make_user("outsider", Role.READER)  # a reader of the platform, not of this project
    client.force_login(coordinator)

    response = client.post("/projects/lumbar/people/", {
        "username": "rita", "create": "on", "password": "a-long-Passphrase-7", "role": "reader",
        "specialty": "radiology", "years_experience": "9"}, follow=True)

    assert "Created the account and gave rita the reader role on Lumbar MRI." in messages_of(response)
    assert '<tr data-user="rita" data-role="reader">' in response.content.decode()
    page = client.get("/projects/lumbar/").content.decode()
    assert 'name="readers" value="rita"' in page and "outsider" not in page

    response = client.post("/projects/lumbar/people/remove/", {"username": "rita", "role": "reader"}, follow=True)
    assert "Removed rita's reader role on Lumbar MRI." in messages_of(response)
    assert 'name="readers" value="rita"' not in client.get("/projects/lumbar/").content.decode()


def test_a_weak_password_is_refused_in_words(client, project, coordinator):
    client.force_login(coordinator)
    before = world_snapshot()

    response = client.post("/projects/lumbar/people/", {"username": "weak", "create": "on", "password": "abc",
                                                        "role": "reader"}, follow=True)

    assert any(m.startswith("Nobody added: This password is too short.") for m in messages_of(response))
    assert world_snapshot() == before
    assert not get_user_model().objects.filter(username="weak").exists()


def test_a_reader_gets_404_on_every_set_up_page(client, project, reader):
    client.force_login(reader)
    before = world_snapshot()
    responses = [client.get("/new-project/"), client.post("/new-project/", {"slug": "x", "name": "X"}),
                 client.get("/projects/lumbar/schema/"), client.get("/projects/lumbar/settings/"),
                 client.get("/projects/lumbar/people/"),
                 client.post("/projects/lumbar/people/", {"username": "x", "create": "on",
                                                          "password": "a-long-Passphrase-7", "role": "coordinator"}),
                 client.post("/projects/lumbar/people/remove/", {"username": "coord", "role": "coordinator"})]

    assert [r.status_code for r in responses] == [404] * len(responses)
    assert world_snapshot() == before
