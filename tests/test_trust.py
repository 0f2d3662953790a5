"""One test per finding of the trust review (issue 1/8, findings 3-8 and the reading side of 10); each failed on
the main before it. Findings 1-2 (ML endpoints, image fetching) are in tests/mlbackend/test_ml_security.py, the
admin and the audit trigger in tests/annotation/test_integrity.py, login audit and hardening (11) in
tests/test_hardening.py, and the route-by-route sweep in tests/test_access_matrix.py."""
import pytest

import access
from annotation import services
from annotation.models import (
    Adjudication,
    Assignment,
    AuditEvent,
    Case,
    Finding,
    Read,
    ReviewAction,
    Role,
)
from interchange.imports import label_studio_import
from studies.models import StudySession
from studies.services import StudyError, study_create
from tests.conftest import make_user
from tests.test_access_matrix import BOX_A, BOX_MODEL, READER_B, world  # noqa: F401 (world is a fixture)

pytestmark = pytest.mark.django_db


def _counts():
    return (Read.objects.count(), Finding.objects.count(), Assignment.objects.count(), AuditEvent.objects.count(),
            tuple(Adjudication.objects.order_by("pk").values_list("status", flat=True)))


def test_3_a_reader_does_not_learn_case_states_from_the_project_page(client, world):
    client.force_login(world.users["reader_a"])
    page = client.get("/projects/trusted/")
    assert page.status_code == 200
    for word in ("Awaiting adjudication", "In reading", "Not read yet", "Ground truth final"):
        assert word not in page.content.decode()
    client.force_login(world.users["coordinator"])
    assert "Awaiting adjudication" in client.get("/projects/trusted/").content.decode()


def test_4_no_correction_while_the_case_awaits_adjudication(client, world):
    read = world.reads["adjudication:a"]
    client.force_login(world.users["reader_a"])
    before = _counts()
    response = client.post(f"/api/reads/{read.pk}/correct/")
    assert response.status_code == 409 and "ground truth is final" in response.json()["detail"]
    assert _counts() == before
    # A correction opened before the second read arrived cannot be submitted once the case awaits the senior:
    # submitting it used to delete the senior's open adjudication silently.
    case = world.cases["one_read"]
    correction = services.read_correct(read=world.reads["one_read:a"], reader=world.users["reader_a"])
    services.read_submit(read=services.read_open(case=case, reader=world.users["reader_b"]),
                         reader=world.users["reader_b"], findings=[services.FindingInput(
                             disc_level="L4/L5", finding_type="pfirrmann", value="5")])
    adjudication = Adjudication.objects.get(case=case, status=Adjudication.Status.OPEN)
    before = _counts()
    response = client.post(f"/api/cases/{case.pk}/read/submit/", {}, content_type="application/json")
    assert response.status_code == 409
    assert _counts() == before and Read.objects.get(pk=correction.pk).status == Read.Status.DRAFT
    assert Adjudication.objects.filter(pk=adjudication.pk, status=Adjudication.Status.OPEN).exists()
    # After the ground truth is final a correction is kept again (and leaves the ground truth as it is).
    final = world.reads["final:a"]
    truth = list(world.cases["final"].ground_truth.values_list("value", flat=True))
    response = client.post(f"/api/reads/{final.pk}/correct/")
    assert response.status_code == 201 and response.json()["version"] == 2
    assert list(world.cases["final"].ground_truth.values_list("value", flat=True)) == truth


def test_5_one_person_is_never_reader_and_senior_of_a_case(client, world, db):
    project = world.cases["unread"].project
    both = make_user("both_roles", Role.READER, project=project)
    services.user_set_role(user=both, role=Role.SENIOR)
    services.project_member_add(project=project, user=both, role=Role.SENIOR)
    spare = make_user("spare_reader", Role.READER, project=project)
    fresh = Case.objects.create(project=project, patient_key="f" * 32, study_instance_uid="2.25.555")
    client.force_login(world.users["coordinator"])
    before = _counts()
    response = client.post("/api/projects/trusted/assignments/balanced/",
                           {"readers": ["both_roles", "spare_reader"], "seniors": ["both_roles"]},
                           content_type="application/json")
    assert response.status_code == 400 and "both roles" in response.json()["detail"]
    assert _counts() == before
    services.case_assign(case=fresh, user=both, role=Role.READER)
    with pytest.raises(ValueError, match="both roles"):
        services.case_assign(case=fresh, user=both, role=Role.SENIOR)
    assert not Assignment.objects.filter(case=fresh, user=both, role=Role.SENIOR).exists()
    # Rows written before this rule (or by hand) do not make them a senior of their own case.
    Assignment.objects.create(case=world.cases["adjudication"], user=world.users["reader_a"], role=Role.SENIOR)
    assert access.adjudication_queue_for(world.users["reader_a"]).count() == 0
    client.force_login(world.users["reader_a"])
    assert client.get(f"/api/adjudications/{world.adjudications['adjudication'].pk}/").status_code == 404
    assert spare  # balanced assignment had a second reader to choose


def _aided_session(world, role):
    return next(s for k, s in world.sessions.items() if k.startswith(role) and s.arm == "aided")


def test_6_aided_findings_only_in_an_open_aided_session(client, world):
    # study_during has not finished period 1, so period 2 is closed; study_period2's washout has passed.
    for role in ("study_during", "study_period2"):
        client.force_login(world.users[role])
        aided = _aided_session(world, role)
        is_open = access.session_states(world.users[role])[aided.pk]["available"]
        body = client.get(f"/api/studies/sessions/{aided.pk}/model-findings/").json()
        assert bool(body) == is_open, (role, aided.period)
        page = client.get(f"/studies/sessions/{aided.pk}/read/")
        assert page.status_code == (200 if is_open else 404)
    # An unaided session's draft may not refer to a model finding (it was checked only on submit).
    unaided = next(s for s in world.sessions.values() if s.arm == "unaided" and not Read.objects.filter(
        reader=s.reader, context=s.context).exists() and access.session_states(s.reader)[s.pk]["available"])
    client.force_login(unaided.reader)
    model = Finding.objects.get(case=unaided.case, source="model")
    assert client.post(f"/api/studies/sessions/{unaided.pk}/open/").status_code == 200
    before = _counts()
    response = client.put(f"/api/studies/sessions/{unaided.pk}/draft/", {"findings": [
        {"disc_level": "L4/L5", "finding_type": "pfirrmann", "value": "3", "instance": model.instance_id,
         "box": list(BOX_MODEL), "model_finding": model.pk}]}, content_type="application/json")
    assert response.status_code == 400 and "unaided" in response.json()["detail"]
    assert _counts() == before


def test_7_study_reads_stay_in_their_study(client, world):
    study_read = world.reads["study-session:study_after"]
    case = world.cases["study"]
    for role in ("coordinator", "reader_a", "senior", "study_after"):
        client.force_login(world.users[role])
        assert client.get(f"/api/reads/{study_read.pk}/").status_code == 404
        reads = client.get(f"/api/cases/{case.pk}/reads/").json()
        assert study_read.pk not in [r["id"] for r in reads]
    # A study refuses readers who double-read its cases (they know the ground truth).
    with pytest.raises(StudyError, match="alice_reads"):
        study_create(project=case.project, name="Leaky", case_ids=[case.pk], readers=[world.users["reader_a"]])
    # No import writes into a study's context.
    before = _counts()
    with pytest.raises(ValueError, match="reader study"):
        label_studio_import(project=case.project, tasks=[{"data": {"case_id": case.pk}, "annotations": []}],
                            reader=world.users["study_during"], context=f"study:{world.study.pk}:aided:1",
                            actor=world.users["coordinator"])
    assert _counts() == before


def test_8_a_coordinator_runs_only_their_own_projects(client, world):
    client.force_login(world.users["other_coordinator"])
    assert [p["slug"] for p in client.get("/api/projects/").json()] == ["elsewhere"]
    case = world.cases["unread"]
    for url in ("/projects/trusted/", "/api/projects/trusted/progress/", f"/api/cases/{case.pk}/",
                f"/api/studies/{world.study.pk}/", "/ml/projects/trusted/", "/api/ml/projects/trusted/models/"):
        assert client.get(url).status_code == 404, url
    assert client.get("/api/studies/").json() == []
    before = _counts()
    assert client.post("/api/projects/trusted/assignments/balanced/", {"readers": ["a", "b"], "seniors": ["c"]},
                       content_type="application/json").status_code == 404
    assert _counts() == before


def test_10_review_action_is_decided_by_the_server(client, world):
    case = world.cases["unread"]
    instance = world.instances["unread"]
    [model] = services.model_findings_replace(case=case, model_version="v1", findings=[
        services.ModelFindingInput(disc_level="L3/L4", finding_type="pfirrmann", value="2", instance_id=instance.pk,
                                   box=BOX_A, score=0.8)])
    client.force_login(world.users["reader_a"])
    assert client.post(f"/api/cases/{case.pk}/read/").status_code == 200
    findings = [
        # says "accepted" but changed the grade: edited
        {"disc_level": "L3/L4", "finding_type": "pfirrmann", "value": "4", "instance": instance.pk,
         "box": list(BOX_A), "review_action": "accepted", "model_finding": model.pk},
        # says nothing about a finding of its own while the model's were on screen: added
        {"disc_level": "L5/S1", "finding_type": "hiz", "value": "present", "review_action": "accepted"},
    ]
    response = client.put(f"/api/cases/{case.pk}/read/draft/", {"findings": findings},
                          content_type="application/json")
    assert response.status_code == 200
    stored = dict(Read.objects.get(case=case, reader=world.users["reader_a"]).findings
                  .values_list("disc_level", "review_action"))
    assert stored == {"L3/L4": ReviewAction.EDITED, "L5/S1": ReviewAction.ADDED}
    findings[0].update(value="2", review_action="")  # unchanged: accepted, whatever the browser said
    client.put(f"/api/cases/{case.pk}/read/draft/", {"findings": findings[:1]}, content_type="application/json")
    assert Read.objects.get(case=case, reader=world.users["reader_a"]).findings.get().review_action == "accepted"


def test_10_work_done_for_a_reader_names_both_in_the_audit(world):
    case = world.cases["unread"]
    coordinator, reader = world.users["coordinator"], world.users["reader_b"]
    tasks = [{"data": {"case_id": case.pk}, "annotations": [{"result": [
        {"type": "choices", "from_name": "hiz__L4/L5", "value": {"choices": ["present"]}}]}]}]
    result = label_studio_import(project=case.project, tasks=tasks, reader=reader, actor=coordinator)
    read = Read.objects.get(pk=result["reads"][0])
    assert read.origin == Read.Origin.IMPORT and read.reader == reader
    rows = AuditEvent.objects.filter(object_type="read", object_id=str(read.pk))
    assert {(r.action, r.actor_id, r.on_behalf_of_id) for r in rows} == {
        ("read_open", coordinator.pk, reader.pk), ("read_submit", coordinator.pk, reader.pk)}


def test_10_image_access_and_exports_are_audited(client, world):
    instance = world.instances["one_read"]
    client.force_login(world.users["reader_b"])
    assert client.get(f"/api/instances/{instance.pk}/dicom").status_code == 200
    row = AuditEvent.objects.filter(action="dicom_access").latest("id")
    assert (row.actor, row.object_id, row.payload["case"]) == (world.users["reader_b"], str(instance.pk),
                                                               instance.series.case_id)
    client.force_login(world.users["coordinator"])
    assert client.get(f"/api/studies/{world.study.pk}/report.zip").status_code == 200
    assert AuditEvent.objects.filter(action="study_report_export", actor=world.users["coordinator"],
                                     object_id=str(world.study.pk)).exists()


def test_senior_sees_reads_as_a_and_b_without_names(client, world):
    client.force_login(world.users["senior"])
    body = client.get(f"/api/adjudications/{world.adjudications['adjudication'].pk}/").json()
    assert body["read_a"]["reader"] is None and body["read_b"]["reader"] is None
    assert READER_B not in str(body)
    assert StudySession.objects.filter(study=world.study).exists()


def test_8_an_admin_makes_and_unmakes_a_coordinator_of_a_project(world):
    from io import StringIO

    from django.core.management import call_command

    coordinator = world.users["other_coordinator"]
    out = StringIO()
    call_command("coordinator", coordinator.username, project="trusted", stdout=out)
    coordinator = type(coordinator).objects.get(pk=coordinator.pk)  # fresh: access caches per user object
    assert access.coordinates(coordinator, world.cases["unread"].project) and "coordinates trusted" in out.getvalue()
    call_command("coordinator", coordinator.username, project="trusted", remove=True, stdout=out)
    coordinator = type(coordinator).objects.get(pk=coordinator.pk)
    assert not access.coordinates(coordinator, world.cases["unread"].project)
    assert list(AuditEvent.objects.filter(action__startswith="project_member_").values_list("action", flat=True)
                ) [-2:] == ["project_member_add", "project_member_remove"]
