"""The set-up API: new projects (template or copy), schema versions, settings, users and per-project roles.

Each refusal is checked to have changed nothing."""
import copy

import pytest
from django.contrib.auth import get_user_model

from annotation import services
from annotation.services import projects as setup
from annotation.models import AuditEvent, Project, ProjectMembership, ProjectSchema, Read, ReaderProfile, Role
from annotation.schema import default_schema
from mlbackend.services.model_settings import model_settings_update
from tests.conftest import make_user
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def post(client, url, data):
    return client.post(url, data, content_type="application/json")


def world_snapshot() -> tuple:
    return (Project.objects.count(), ProjectSchema.objects.count(), ProjectMembership.objects.count(),
            get_user_model().objects.count(), ReaderProfile.objects.count(), AuditEvent.objects.count(),
            tuple(Project.objects.order_by("pk").values_list("schema_version", "labelling_mode",
                                                             "box_iou_threshold", "case_order")))


# Creating projects ---------------------------------------------------------------------------------------------

def test_a_coordinator_creates_a_project_from_the_template_and_coordinates_it(client, project, coordinator):
    client.force_login(coordinator)
    response = post(client, "/api/projects/create/", {"slug": "cervical", "name": "Cervical pilot"})

    assert response.status_code == 201, response.content
    created = Project.objects.get(slug="cervical")
    assert response.json()["schema_version"] == 1
    assert created.label_schema == default_schema()
    assert list(created.schema_versions.values_list("version", "created_by__username")) == [(1, "coord")]
    assert ProjectMembership.objects.filter(project=created, user=coordinator, role="coordinator").exists()
    assert AuditEvent.objects.filter(action="project_create", object_id=str(created.pk)).exists()


def test_a_copy_takes_schema_settings_and_model_config_but_no_cases(client, project, coordinator):
    setup.project_schema_new_version(project=project, label_schema={**project.label_schema, "levels": ["L4/L5"]},
                                        actor=coordinator)
    project.refresh_from_db()
    setup.project_settings_update(project=project, labelling_mode="positive_only", box_iou_threshold=0.3,
                                     case_order="random", actor=coordinator)
    model_settings_update(project=project, config_name="yolov8s", retrain_after_cases=7, actor=coordinator)
    CaseFactory(project=project)
    client.force_login(coordinator)

    response = post(client, "/api/projects/create/", {"slug": "lumbar-2", "name": "Lumbar 2", "copy_from": "lumbar"})

    assert response.status_code == 201, response.content
    copied = Project.objects.get(slug="lumbar-2")
    assert copied.label_schema["levels"] == ["L4/L5"] and copied.schema_version == 1
    assert copied.label_schema["findings"] == project.label_schema["findings"]
    assert (copied.labelling_mode, copied.box_iou_threshold, copied.case_order) == ("positive_only", 0.3, "random")
    assert (copied.model_settings.config_name, copied.model_settings.retrain_after_cases) == ("yolov8s", 7)
    assert copied.cases.count() == 0
    assert ProjectMembership.objects.filter(project=copied).count() == 1


def test_a_copy_of_a_project_one_does_not_coordinate_is_404_and_creates_nothing(client, project):
    other = make_user("coord_other", Role.COORDINATOR)
    services.project_create(slug="theirs", name="Theirs", actor=other)
    client.force_login(other)
    before = world_snapshot()

    response = post(client, "/api/projects/create/", {"slug": "stolen", "name": "Stolen", "copy_from": "lumbar"})

    assert response.status_code == 404
    assert world_snapshot() == before


@pytest.mark.parametrize("body, words", [
    ({"slug": "lumbar", "name": "Again"}, "already exists"),
    ({"slug": "has space", "name": "X"}, "slug"),
    ({"name": "No slug"}, "slug"),
])
def test_a_bad_or_taken_slug_is_400_and_creates_nothing(client, project, coordinator, body, words):
    client.force_login(coordinator)
    before = world_snapshot()

    response = post(client, "/api/projects/create/", body)

    assert response.status_code == 400
    assert words in response.content.decode()
    assert world_snapshot() == before


# Schema versions -------------------------------------------------------------------------------------------------

def test_a_new_schema_version_is_stored_and_reads_keep_the_version_they_were_opened_under(client, project,
                                                                                          coordinator, reader):
    case = CaseFactory(project=project)
    services.case_assign(case=case, user=reader, role=Role.READER)
    second_reader = make_user("reader_late", Role.READER)
    services.case_assign(case=case, user=second_reader, role=Role.READER)
    early = services.read_open(case=case, reader=reader)
    schema = copy.deepcopy(project.label_schema)
    schema["findings"] = [f for f in schema["findings"] if f["name"] != "schmorl"]
    client.force_login(coordinator)

    response = post(client, "/api/projects/lumbar/schema/", {"label_schema": schema})

    assert response.status_code == 201, response.content
    project.refresh_from_db()
    assert project.schema_version == 2 and response.json()["version"] == 2
    assert [f["name"] for f in project.label_schema["findings"]] == [f["name"] for f in schema["findings"]]
    assert list(project.schema_versions.order_by("version").values_list("version", flat=True)) == [1, 2]
    assert ProjectSchema.objects.get(project=project, version=1).label_schema == default_schema()
    early.refresh_from_db()
    assert early.schema_version == 1
    late = services.read_open(case=case, reader=second_reader)
    assert late.schema_version == 2
    history = client.get("/api/projects/lumbar/schema/").json()["history"]
    assert [(row["version"], row["created_by"]) for row in history] == [(2, "coord"), (1, "coord")]


def test_a_correction_keeps_the_schema_version_of_the_read_it_corrects(project, coordinator, reader):
    # Positive-only, so that an empty read may be submitted.
    setup.project_settings_update(project=project, labelling_mode="positive_only", box_iou_threshold=0.5,
                                  case_order="priority", actor=coordinator)
    case = CaseFactory(project=project)
    services.case_assign(case=case, user=reader, role=Role.READER)
    read = services.read_submit(read=services.read_open(case=case, reader=reader), reader=reader, findings=[])
    setup.project_schema_new_version(project=project, label_schema=project.label_schema, actor=coordinator)

    correction = services.read_correct(read=read, reader=reader)

    assert (read.schema_version, correction.schema_version) == (1, 1)


@pytest.mark.parametrize("label_schema, words", [
    ({"levels": ["L9/L10"], "findings": []}, "levels"),
    ({"levels": ["L4/L5"], "findings": [{"name": "x", "values": ["a", "a"], "scale": "binary"}]}, "repeats"),
    ({"levels": ["L4/L5"], "findings": [{"name": "x", "values": ["a", "b"], "scale": "binary",
                                         "planes": ["coronal"]}]}, "planes"),
    ({"levels": ["L4/L5"], "findings": [{"name": "x", "values": [1, 2], "scale": "binary"}]}, "text"),
    ({"levels": ["L4/L5"], "findings": [{"name": "x", "values": [{}], "scale": "binary"}]}, "malformed"),
    ("not an object", "object"),
])
def test_an_invalid_schema_is_400_in_words_and_changes_nothing(client, project, coordinator, label_schema, words):
    client.force_login(coordinator)
    before = world_snapshot()

    response = post(client, "/api/projects/lumbar/schema/", {"label_schema": label_schema})

    assert response.status_code == 400
    assert words in response.json()["detail"]
    assert world_snapshot() == before


# Settings --------------------------------------------------------------------------------------------------------

def test_settings_change_and_bad_ones_are_refused(client, project, coordinator):
    client.force_login(coordinator)
    response = client.put("/api/projects/lumbar/settings/", {"labelling_mode": "positive_only",
                                                             "box_iou_threshold": 1, "case_order": "random"},
                          content_type="application/json")
    assert response.status_code == 200, response.content
    project.refresh_from_db()
    assert (project.labelling_mode, project.box_iou_threshold, project.case_order) == ("positive_only", 1.0, "random")

    before = world_snapshot()
    for bad in ({"box_iou_threshold": 0}, {"box_iou_threshold": 1.5}, {"labelling_mode": "sometimes"}):
        body = {"labelling_mode": "exhaustive", "box_iou_threshold": 0.5, "case_order": "priority", **bad}
        response = client.put("/api/projects/lumbar/settings/", body, content_type="application/json")
        assert response.status_code == 400, bad
    assert world_snapshot() == before


def test_the_iou_threshold_refusal_says_why(project, coordinator):
    with pytest.raises(ValueError, match="above 0 and at most 1"):
        setup.project_settings_update(project=project, labelling_mode="exhaustive", box_iou_threshold=0,
                                         case_order="priority", actor=coordinator)


# Users and roles -------------------------------------------------------------------------------------------------

def test_a_coordinator_creates_a_reader_with_profile_and_project_role(client, project, coordinator):
    client.force_login(coordinator)
    response = post(client, "/api/projects/lumbar/members/", {
        "username": "rita", "create": True, "password": "a-long-Passphrase-7", "email": "rita@example.org",
        "role": "reader", "specialty": "radiology", "years_experience": 9})

    assert response.status_code == 201, response.content
    rita = get_user_model().objects.get(username="rita")
    assert rita.check_password("a-long-Passphrase-7") and not rita.is_superuser and not rita.is_staff
    assert list(rita.groups.values_list("name", flat=True)) == ["reader"]
    assert (rita.reader_profile.specialty, rita.reader_profile.years_experience) == ("radiology", 9)
    assert ProjectMembership.objects.filter(project=project, user=rita, role="reader").exists()
    assert AuditEvent.objects.filter(action="user_create", object_id=str(rita.pk), actor=coordinator).exists()
    members = client.get("/api/projects/lumbar/members/").json()
    assert {"username": "rita", "role": "reader", "specialty": "radiology", "years_experience": 9} in members

    # An existing user as senior, then the role removed again.
    make_user("sam", None)
    assert post(client, "/api/projects/lumbar/members/", {"username": "sam", "role": "senior"}).status_code == 201
    assert ProjectMembership.objects.filter(project=project, user__username="sam", role="senior").exists()
    response = post(client, "/api/projects/lumbar/members/remove/", {"username": "sam", "role": "senior"})
    assert response.status_code == 200
    assert not ProjectMembership.objects.filter(project=project, user__username="sam").exists()


@pytest.mark.parametrize("body, words", [
    ({"username": "weak", "create": True, "password": "short", "role": "reader"}, "too short"),
    ({"username": "weak", "create": True, "password": "password123", "role": "reader"}, "too common"),
    ({"username": "coord", "create": True, "password": "a-long-Passphrase-7", "role": "reader"}, "already exists"),
    ({"username": "nobody", "role": "reader"}, "no user"),
    ({"username": "weak", "create": True, "password": "a-long-Passphrase-7", "role": "reader",
      "years_experience": -1}, "years_experience"),
])
def test_bad_user_requests_are_400_and_create_nothing(client, project, coordinator, body, words):
    client.force_login(coordinator)
    before = world_snapshot()

    response = post(client, "/api/projects/lumbar/members/", body)

    assert response.status_code == 400
    assert words in response.content.decode()
    assert world_snapshot() == before


def test_an_administrator_is_never_given_a_project_role(client, project, coordinator):
    get_user_model().objects.create_superuser("root", password="pw-root")
    client.force_login(coordinator)
    before = world_snapshot()

    response = post(client, "/api/projects/lumbar/members/", {"username": "root", "role": "coordinator"})

    assert response.status_code == 400 and "administrator" in response.json()["detail"]
    assert world_snapshot() == before


# Who may not -----------------------------------------------------------------------------------------------------

def test_a_reader_can_do_none_of_it(client, project, reader):
    client.force_login(reader)
    before = world_snapshot()
    schema = default_schema()
    attempts = [
        post(client, "/api/projects/create/", {"slug": "mine", "name": "Mine"}),
        post(client, "/api/projects/create/", {"slug": "mine", "name": "Mine", "copy_from": "lumbar"}),
        client.get("/api/projects/lumbar/schema/"),
        post(client, "/api/projects/lumbar/schema/", {"label_schema": schema}),
        client.put("/api/projects/lumbar/settings/", {"labelling_mode": "positive_only", "box_iou_threshold": 0.5,
                                                      "case_order": "random"}, content_type="application/json"),
        client.get("/api/projects/lumbar/members/"),
        post(client, "/api/projects/lumbar/members/", {"username": "evil", "create": True,
                                                       "password": "a-long-Passphrase-7", "role": "coordinator"}),
        post(client, "/api/projects/lumbar/members/remove/", {"username": "coord", "role": "coordinator"}),
    ]

    assert [response.status_code for response in attempts] == [404] * len(attempts)
    assert world_snapshot() == before
    assert not Read.objects.exists()


def test_a_coordinator_of_another_project_cannot_touch_this_one(client, project):
    other = make_user("coord_other", Role.COORDINATOR)
    services.project_create(slug="theirs", name="Theirs", actor=other)
    client.force_login(other)
    before = world_snapshot()

    responses = [post(client, "/api/projects/lumbar/schema/", {"label_schema": default_schema()}),
                 post(client, "/api/projects/lumbar/members/", {"username": "coord_other", "role": "coordinator"})]

    assert [r.status_code for r in responses] == [404, 404]
    assert world_snapshot() == before


def test_a_read_opened_under_v1_is_finished_under_v1(client, project, coordinator):
    """A new schema version mid-read: the open draft keeps its version's findings (the page shows them and
    submit checks against them); a read opened afterwards gets the new version."""
    case = CaseFactory(project=project)
    reader = make_user("early", Role.READER, project=project)
    services.case_assign(case=case, user=reader, role=Role.READER)
    read = services.read_open(case=case, reader=reader)
    schema = default_schema()
    schema["findings"].append({"name": "modic", "scale": "nominal", "values": ["none", "1", "2", "3"],
                               "negative": "none"})
    setup.project_schema_new_version(project=project, label_schema=schema, actor=coordinator)
    client.force_login(reader)
    page = client.get(f"/cases/{case.pk}/read/").content.decode()
    assert '"modic"' not in page
    with pytest.raises(services.ReadingError, match="unknown finding .modic."):
        services.read_save_draft(read=read, reader=reader, findings=[services.FindingInput(
            disc_level="L4/L5", finding_type="modic", value="1")])
    assert not read.findings.exists()
    later = CaseFactory(project=project)
    services.case_assign(case=later, user=reader, role=Role.READER)
    assert '"modic"' in client.get(f"/cases/{later.pk}/read/").content.decode()


def test_an_invited_user_sets_their_own_password_once(client, project, coordinator):
    client.force_login(coordinator)
    response = client.post(f"/api/projects/{project.slug}/members/", {
        "username": "invited", "create": True, "role": "reader", "specialty": "radiology", "years_experience": 3},
        content_type="application/json")
    assert response.status_code == 201, response.content
    invite = response.json()["invite_url"]
    user = get_user_model().objects.get(username="invited")
    assert not user.has_usable_password()
    assert ProjectMembership.objects.filter(project=project, user=user, role="reader").exists()
    assert AuditEvent.objects.filter(action="user_create", payload__invited=True).exists()

    client.logout()
    page = client.get(invite, follow=True)  # Django moves the token out of the URL into the session
    assert b"Set your password" in page.content and b"invite-form" in page.content
    done = client.post(page.redirect_chain[-1][0], {"new_password1": "tall-lumbar-disc-42",
                                                    "new_password2": "tall-lumbar-disc-42"})
    assert done.status_code == 302 and done.url == "/login/"
    user.refresh_from_db()
    assert user.check_password("tall-lumbar-disc-42")
    again = client.get(invite, follow=True)
    assert b"not valid" in again.content and b"invite-form" not in again.content


def test_the_people_page_shows_the_invitation_link(client, project, coordinator):
    client.force_login(coordinator)
    page = client.post(f"/projects/{project.slug}/people/", {"username": "invited2", "create": "on",
                                                             "role": "senior"}, follow=True)
    assert b"Invitation: send them this link" in page.content and b"/invite/" in page.content
    assert not get_user_model().objects.get(username="invited2").has_usable_password()
