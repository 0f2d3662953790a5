"""Defining a study and reading its sessions: validation, randomised layout, washout, blinding, API inputs."""
import datetime

import pytest
from django.utils import timezone

import access
from annotation import services
from annotation.models import AuditEvent, Case, GroundTruthItem, Read, Role
from studies.models import ReaderStudy, StudySession
from studies.services import StudyError, study_create, study_session_open, study_session_submit
from tests.conftest import make_user
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(project, coordinator):
    readers = [make_user(f"r{i}", Role.READER, project=project) for i in range(2)]
    cases = [CaseFactory(project=project, status=Case.Status.GROUND_TRUTH) for _ in range(8)]
    for case in cases:
        GroundTruthItem.objects.create(case=case, disc_level="L4/L5", finding_type="hiz", value="present",
                                       provenance=GroundTruthItem.Provenance.IMPORTED)
    return project, coordinator, readers, cases


def _create(setup, **options):
    project, coordinator, readers, cases = setup
    defaults = dict(project=project, name="S", case_ids=[c.pk for c in cases], readers=readers, design="both",
                    model_version="v1", washout_days=14, repeat_fraction=0.25, seed=3, actor=coordinator)
    return study_create(**{**defaults, **options})


def test_study_lays_out_randomised_sessions_and_marks_cases(setup):
    study = _create(setup)
    project, _c, readers, cases = setup
    assert set(Case.objects.filter(pk__in=[c.pk for c in cases]).values_list("split", flat=True)) == {"study"}
    for reader in readers:
        sessions = StudySession.objects.filter(study=study, reader=reader)
        assert sessions.filter(repetition=1).count() == 16 and sessions.filter(repetition=2).count() == 4
        first_arm = sessions.get(period=1, position=0).arm
        assert set(sessions.filter(period=1).values_list("arm", flat=True)) == {first_arm}
        assert sorted(set(sessions.values_list("period", flat=True))) == [1, 2, 3, 4]
    assert AuditEvent.objects.filter(action="study_create", object_id=str(study.pk)).exists()
    assert study.sessions.first().context.startswith(f"study:{study.pk}:")


@pytest.mark.parametrize("options, message", [
    ({"design": "aided", "model_version": ""}, "pin model_version"),
    ({"repeat_fraction": 1.5}, "between 0 and 1"),
    ({"case_ids": [999999]}, "not in project"),
    ({"readers": []}, "at least one reader"),
    ({"positive_from": {"nonsense": "x"}}, "unknown findings"),
])
def test_bad_definitions_store_nothing(setup, options, message):
    with pytest.raises(StudyError, match=message):
        _create(setup, **options)
    assert not ReaderStudy.objects.exists() and not StudySession.objects.exists()


def test_cases_without_final_ground_truth_are_refused(setup):
    project, _c, readers, cases = setup
    Case.objects.filter(pk=cases[0].pk).update(status=Case.Status.ADJUDICATION)
    with pytest.raises(StudyError, match="without final ground truth"):
        _create(setup)
    assert Case.objects.get(pk=cases[1].pk).split == ""


def test_non_readers_are_refused(setup, coordinator):
    with pytest.raises(StudyError, match="not a reader: coord"):
        _create(setup, readers=[coordinator])


def _submit_all(study, reader, period):
    for session in StudySession.objects.filter(study=study, reader=reader, period=period):
        study_session_open(session=session, reader=reader)
        findings = [services.FindingInput(disc_level=level, finding_type=name, value=spec["values"][0])
                    for level in study.project.label_schema["levels"] for spec in study.project.label_schema["findings"]
                    for name in [spec["name"]]]
        study_session_submit(session=session, reader=reader, findings=findings)


def test_washout_gates_the_next_period(setup):
    study = _create(setup)
    reader = setup[2][0]
    later = StudySession.objects.filter(study=study, reader=reader, period=2).first()
    with pytest.raises(StudyError, match="finish period 1"):
        study_session_open(session=later, reader=reader)
    _submit_all(study, reader, 1)
    with pytest.raises(StudyError, match="washout") as error:
        study_session_open(session=later, reader=reader)
    assert error.value.status_code == 409
    Read.objects.filter(reader=reader, context__startswith="study:").update(
        submitted_at=timezone.now() - datetime.timedelta(days=15))
    read = study_session_open(session=later, reader=reader)
    assert read.context == later.context and read.status == Read.Status.DRAFT


def test_study_reads_never_touch_ground_truth_or_reveal_it(setup):
    study = _create(setup, design="unaided", model_version="", repeat_fraction=0)
    reader = setup[2][0]
    _submit_all(study, reader, 1)
    case = setup[3][0]
    assert Case.objects.get(pk=case.pk).status == Case.Status.GROUND_TRUTH
    assert GroundTruthItem.objects.filter(case=case).count() == 1
    assert not access.ground_truth_visible_to(reader, case)


def test_a_session_belongs_to_its_reader(setup):
    study = _create(setup)
    r0, r1 = setup[2]
    session = StudySession.objects.filter(study=study, reader=r0, period=1).first()
    with pytest.raises(StudyError, match="no such session"):
        study_session_open(session=session, reader=r1)


def test_unaided_arm_refuses_model_references(setup):
    study = _create(setup, design="unaided", model_version="", repeat_fraction=0)
    reader = setup[2][0]
    session = StudySession.objects.filter(study=study, reader=reader).first()
    study_session_open(session=session, reader=reader)
    with pytest.raises(StudyError, match="unaided arm"):
        study_session_submit(session=session, reader=reader, findings=[services.FindingInput(
            disc_level="L4/L5", finding_type="hiz", value="present", model_finding_id=1)])


# API --------------------------------------------------------------------------------------------------------------

def test_api_creates_a_study_and_refuses_bad_input(client, setup):
    project, coordinator, readers, cases = setup
    client.force_login(coordinator)
    body = {"project": project.slug, "name": "API study", "case_ids": [c.pk for c in cases],
            "readers": [r.username for r in readers], "design": "unaided"}
    response = client.post("/api/studies/", body, content_type="application/json")
    assert response.status_code == 201 and response.json()["cases"] == 8
    for bad, status in [({**body, "readers": ["nobody"]}, 400), ({**body, "case_ids": [123456]}, 400),
                        ({**body, "design": "sideways"}, 400), ({**body, "project": "nope"}, 404)]:
        assert client.post("/api/studies/", bad, content_type="application/json").status_code == status
    assert ReaderStudy.objects.count() == 1
    client.force_login(readers[0])
    assert client.post("/api/studies/", body, content_type="application/json").status_code == 404


def test_reader_session_api(client, setup):
    study = _create(setup, design="unaided", model_version="", repeat_fraction=0)
    reader = setup[2][0]
    client.force_login(reader)
    rows = client.get("/api/studies/sessions/").json()
    assert len(rows) == 8 and all(r["available"] for r in rows)
    session_id = rows[0]["session"]["id"]
    opened = client.post(f"/api/studies/sessions/{session_id}/open/")
    assert opened.status_code == 200 and opened.json()["status"] == "draft"
    bad = client.post(f"/api/studies/sessions/{session_id}/submit/", {"findings": []}, content_type="application/json")
    assert bad.status_code == 400 and "missing" in bad.json()["detail"]
    client.force_login(setup[2][1])
    assert client.post(f"/api/studies/sessions/{session_id}/open/").status_code == 404
    assert access.session_states(reader)[session_id]["state"] == "in_progress"


def test_study_reader_sees_images_and_only_the_aided_arms_model_findings(client, setup):
    from annotation.models import Finding

    study = _create(setup, repeat_fraction=0)
    reader = setup[2][0]
    case = setup[3][0]
    Finding.objects.create(case=case, disc_level="L4/L5", finding_type="hiz", value="present", source="model",
                           model_version="v1", score=0.9)
    Finding.objects.create(case=case, disc_level="L4/L5", finding_type="hiz", value="absent", source="model",
                           model_version="v0", score=0.4)
    sessions = {s.arm: s for s in StudySession.objects.filter(study=study, reader=reader, case=case)}
    client.force_login(reader)

    assert client.get(f"/api/cases/{case.pk}/").status_code == 200  # the images of a study case
    assert client.get(f"/api/cases/{case.pk}/model-findings/").status_code == 404  # not outside a session
    assert client.get(f"/api/cases/{case.pk}/ground-truth/").status_code == 404
    assert client.get("/api/worklist/").json() == []  # study cases are not double-reading work
    first, second = sorted(sessions.values(), key=lambda s: s.period)

    def model_findings(session):
        return [(f["model_version"], f["value"])
                for f in client.get(f"/api/studies/sessions/{session.pk}/model-findings/").json()]

    # The pinned version only, and only in an aided session whose period is open.
    assert model_findings(first) == ([("v1", "present")] if first.arm == "aided" else [])
    assert model_findings(second) == []
    page = client.get(f"/studies/sessions/{first.pk}/read/")
    assert page.status_code == 200 and f"/api/studies/sessions/{first.pk}/submit/" in page.content.decode()
    assert client.get(f"/studies/sessions/{second.pk}/read/").status_code == 404  # its period has not opened
    client.force_login(setup[2][1])
    assert client.get(f"/studies/sessions/{sessions['unaided'].pk}/read/").status_code == 404
