"""Reading and adjudication through the API: blinding, immutability, agreement, adjudication, bad bodies."""
import threading

import pytest
from django.db import connection
from pydicom.data import get_testdata_file

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Adjudication, Assignment, AuditEvent, Case, Finding, GroundTruthItem, Read, Role
from annotation.schema import LUMBAR_LEVELS
from tests.conftest import make_user

NEGATIVE = {"herniation": "none", "hiz": "absent", "schmorl": "absent", "listhesis": "0"}


def full_read(pfirrmann=None, **overrides):
    """A complete exhaustive read: grade 3 everywhere unless told otherwise, no other finding."""
    pfirrmann = pfirrmann or {}
    findings = []
    for level in LUMBAR_LEVELS:
        findings.append({"disc_level": level, "finding_type": "pfirrmann", "value": str(pfirrmann.get(level, 3))})
        for finding, negative in NEGATIVE.items():
            findings.append({"disc_level": level, "finding_type": finding,
                             "value": overrides.get(f"{level}:{finding}", negative)})
    return findings


@pytest.fixture
def reading(db, project, coordinator, reader, other_reader):
    senior = make_user("senior", Role.SENIOR)
    senior2 = make_user("senior2", Role.SENIOR)
    result = services.case_import(project=project, sources=path_sources(get_testdata_file("MR_small.dcm"),
                                                                        max_file_bytes=10**7))
    case = Case.objects.get(pk=result.case_ids[0])
    for user in (reader, other_reader):
        services.case_assign(case=case, user=user, role=Role.READER)
    for user in (senior, senior2):
        services.case_assign(case=case, user=user, role=Role.SENIOR)
    instance = case.series.get().instances.get()
    return {"case": case, "instance": instance, "senior": senior, "senior2": senior2}


def submit(client, user, case, findings, active_seconds=30):
    client.force_login(user)
    assert client.post(f"/api/cases/{case.pk}/read/").status_code == 200
    return client.post(f"/api/cases/{case.pk}/read/submit/", {"findings": findings, "active_seconds": active_seconds},
                       content_type="application/json")


def test_agreeing_reads_become_ground_truth_by_agreement(client, reading, reader, other_reader):
    case, instance = reading["case"], reading["instance"]
    box = {"disc_level": "L4/L5", "finding_type": "herniation", "value": "protrusion", "instance": instance.pk,
           "box": [10, 20, 30, 28]}
    first = submit(client, reader, case, full_read(**{"L4/L5:herniation": "protrusion"}) + [box])
    second = submit(client, other_reader, case, full_read(**{"L4/L5:herniation": "protrusion"}) +
                    [{**box, "box": [11, 20, 31, 28]}])

    assert (first.status_code, second.status_code) == (200, 200)
    case.refresh_from_db()
    assert case.status == Case.Status.GROUND_TRUTH
    items = GroundTruthItem.objects.filter(case=case)
    assert items.count() == 26 and set(items.values_list("provenance", flat=True)) == {"agreement"}
    gt_box = items.get(instance__isnull=False)
    assert (gt_box.value, gt_box.x0, gt_box.x1) == ("protrusion", 10.5, 30.5)
    assert not Adjudication.objects.exists()


def test_blinding_before_both_reads_are_in(client, reading, reader, other_reader):
    case = reading["case"]
    assert submit(client, reader, case, full_read()).status_code == 200
    first_read = Read.objects.get(reader=reader)

    client.force_login(other_reader)
    assert client.get(f"/api/reads/{first_read.pk}/").status_code == 404
    assert client.get(f"/api/cases/{case.pk}/ground-truth/").status_code == 404
    assert client.get(f"/api/cases/{case.pk}/reads/").json() == []
    assert b"reader1" not in client.get(f"/api/cases/{case.pk}/").content
    client.force_login(reading["senior"])
    assert client.get(f"/api/reads/{first_read.pk}/").status_code == 404  # not before both are in
    assert client.get(f"/api/cases/{case.pk}/ground-truth/").status_code == 404

    assert submit(client, other_reader, case, full_read()).status_code == 200
    client.force_login(other_reader)
    assert client.get(f"/api/reads/{first_read.pk}/").status_code == 200
    assert len(client.get(f"/api/cases/{case.pk}/ground-truth/").json()) == 25


def test_submitted_read_is_immutable_and_a_correction_is_a_new_version(client, reading, reader):
    case = reading["case"]
    assert submit(client, reader, case, full_read()).status_code == 200
    read = Read.objects.get(reader=reader)
    before = list(read.findings.values_list("disc_level", "finding_type", "value").order_by("id"))

    changed = client.put(f"/api/cases/{case.pk}/read/draft/", {"findings": full_read({"L1/L2": 5})},
                         content_type="application/json")
    again = client.post(f"/api/cases/{case.pk}/read/submit/", {}, content_type="application/json")
    correction = client.post(f"/api/reads/{read.pk}/correct/")

    assert (changed.status_code, again.status_code, correction.status_code) == (409, 409, 201)
    assert list(read.findings.values_list("disc_level", "finding_type", "value").order_by("id")) == before
    v2 = Read.objects.get(reader=reader, version=2)
    assert v2.supersedes == read and v2.status == "draft" and v2.findings.count() == 25
    saved = client.put(f"/api/cases/{case.pk}/read/draft/", {"findings": full_read({"L1/L2": 5})},
                       content_type="application/json")
    assert saved.status_code == 200 and saved.json()["version"] == 2
    assert read.findings.get(disc_level="L1/L2", finding_type="pfirrmann").value == "3"


def test_disagreement_on_one_level_goes_to_the_senior_with_exactly_that_item(client, reading, reader, other_reader):
    case = reading["case"]
    submit(client, reader, case, full_read({"L4/L5": 3}))
    submit(client, other_reader, case, full_read({"L4/L5": 4}))

    client.force_login(reading["senior"])
    queue = client.get("/api/adjudications/").json()
    assert [row["case"] for row in queue] == [case.pk]
    detail = client.get(f"/api/adjudications/{queue[0]['id']}/").json()
    assert [(i["disc_level"], i["finding_type"], i["value_a"], i["value_b"]) for i in detail["items"]] == \
        [("L4/L5", "pfirrmann", "3", "4")]

    resolved = client.post(f"/api/adjudications/{queue[0]['id']}/resolve/",
                           {"decisions": [{"item": detail["items"][0]["id"], "choice": "reader_b",
                                           "reason": "dark nucleus"}]}, content_type="application/json")

    assert resolved.status_code == 200
    gt = GroundTruthItem.objects.get(case=case, disc_level="L4/L5", finding_type="pfirrmann")
    assert (gt.value, gt.provenance, gt.decided_by, gt.reason) == ("4", "reader_b", reading["senior"], "dark nucleus")
    assert GroundTruthItem.objects.filter(case=case).count() == 25
    case.refresh_from_db()
    assert case.status == Case.Status.GROUND_TRUTH
    again = client.post(f"/api/adjudications/{queue[0]['id']}/resolve/",
                        {"decisions": [{"item": detail["items"][0]["id"], "choice": "reader_a"}]},
                        content_type="application/json")
    assert again.status_code == 409
    assert GroundTruthItem.objects.get(case=case, disc_level="L4/L5", finding_type="pfirrmann").value == "4"


def test_senior_own_value_and_incomplete_decisions(client, reading, reader, other_reader):
    case, instance = reading["case"], reading["instance"]
    submit(client, reader, case, full_read({"L4/L5": 3}) + [
        {"disc_level": "L5/S1", "finding_type": "schmorl", "value": "present", "instance": instance.pk,
         "box": [5, 5, 15, 15]}])
    submit(client, other_reader, case, full_read({"L4/L5": 5}))
    adjudication = Adjudication.objects.get()
    value_item, box_item = adjudication.items.order_by("kind")  # "box" < "value"
    value_item, box_item = (value_item, box_item) if value_item.kind == "value" else (box_item, value_item)
    client.force_login(reading["senior"])
    url = f"/api/adjudications/{adjudication.pk}/resolve/"

    partial = client.post(url, {"decisions": [{"item": value_item.pk, "choice": "senior", "value": "4"}]},
                          content_type="application/json")
    bad_value = client.post(url, {"decisions": [{"item": value_item.pk, "choice": "senior", "value": "7"},
                                                {"item": box_item.pk, "choice": "reader_a"}]},
                            content_type="application/json")
    assert (partial.status_code, bad_value.status_code) == (400, 400)
    assert "undecided" in partial.json()["detail"]
    assert GroundTruthItem.objects.filter(provenance__in=["senior", "reader_a"]).count() == 0

    done = client.post(url, {"decisions": [{"item": value_item.pk, "choice": "senior", "value": "4"},
                                           {"item": box_item.pk, "choice": "reader_a"}]},
                       content_type="application/json")
    assert done.status_code == 200
    assert GroundTruthItem.objects.get(case=case, disc_level="L4/L5", finding_type="pfirrmann").provenance == "senior"
    box = GroundTruthItem.objects.get(case=case, instance__isnull=False)
    assert (box.provenance, box.x0, box.value) == ("reader_a", 5.0, "present")


@pytest.mark.django_db(transaction=True)
def test_two_seniors_at_once_exactly_one_wins(reading, reader, other_reader, client):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers with a file lock; the race is tested on PostgreSQL (CI)")
    case = reading["case"]
    submit(client, reader, case, full_read({"L2/L3": 2}))
    submit(client, other_reader, case, full_read({"L2/L3": 1}))
    adjudication = Adjudication.objects.get()
    item = adjudication.items.get()
    barrier, outcomes = threading.Barrier(2), []

    def resolve(senior, choice):
        try:
            barrier.wait()
            services.adjudication_resolve(adjudication=Adjudication.objects.get(pk=adjudication.pk), senior=senior,
                                          decisions=[services.DecisionInput(item.pk, choice)])
            outcomes.append("won")
        except services.AdjudicationConflict:
            outcomes.append("conflict")
        except Exception as error:  # recorded so that the assertion shows it
            outcomes.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=resolve, args=(reading["senior"], "reader_a")),
               threading.Thread(target=resolve, args=(reading["senior2"], "reader_b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["conflict", "won"]
    assert GroundTruthItem.objects.filter(case=case, disc_level="L2/L3", finding_type="pfirrmann").count() == 1
    assert GroundTruthItem.objects.filter(case=case).count() == 25
    assert AuditEvent.objects.filter(action="adjudication_resolve").count() == 1


BAD_BODIES = {
    "unknown_level": ({"findings": [{"disc_level": "L7/L8", "finding_type": "pfirrmann", "value": "3"}]},
                      "unknown disc level"),
    "grade_7": ({"findings": [{"disc_level": "L4/L5", "finding_type": "pfirrmann", "value": "7"}]},
                "not a valid pfirrmann value"),
    "box_outside": ({"findings": [{"disc_level": "L4/L5", "finding_type": "hiz", "value": "present",
                                   "instance": "INSTANCE", "box": [50, 50, 70, 60]}]}, "not inside"),
    "inverted_box": ({"findings": [{"disc_level": "L4/L5", "finding_type": "hiz", "value": "present",
                                    "instance": "INSTANCE", "box": [30, 30, 10, 40]}]}, "not inside"),
    "box_without_image": ({"findings": [{"disc_level": "L4/L5", "finding_type": "hiz", "value": "present",
                                         "box": [1, 1, 5, 5]}]}, "needs an image"),
    "twice": ({"findings": [{"disc_level": "L4/L5", "finding_type": "pfirrmann", "value": "3"},
                            {"disc_level": "L4/L5", "finding_type": "pfirrmann", "value": "4"}]}, "given twice"),
    "not_a_list": ({"findings": "L4/L5 grade 3"}, "list"),
    "missing_value": ({"findings": [{"disc_level": "L4/L5", "finding_type": "pfirrmann"}]}, "required"),
    "negative_time": ({"findings": [], "active_seconds": -5}, "greater than or equal"),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_malformed_bodies_get_400_and_store_nothing(client, reading, reader, name):
    case = reading["case"]
    client.force_login(reader)
    client.post(f"/api/cases/{case.pk}/read/")
    client.put(f"/api/cases/{case.pk}/read/draft/", {"findings": full_read()[:3], "active_seconds": 3},
               content_type="application/json")
    read = Read.objects.get(reader=reader)
    before = (list(read.findings.values_list("disc_level", "finding_type", "value")), read.active_seconds,
              AuditEvent.objects.count())
    body, message = BAD_BODIES[name]
    body = eval(repr(body).replace("'INSTANCE'", str(reading["instance"].pk)))  # the real instance id

    response = client.put(f"/api/cases/{case.pk}/read/draft/", body, content_type="application/json")
    submitted = client.post(f"/api/cases/{case.pk}/read/submit/", body, content_type="application/json")

    assert (response.status_code, submitted.status_code) == (400, 400), response.content
    assert message in response.content.decode()
    read.refresh_from_db()
    assert (list(read.findings.values_list("disc_level", "finding_type", "value")), read.active_seconds,
            AuditEvent.objects.count()) == before
    assert read.status == "draft"


def test_invalid_json_and_another_readers_case_are_refused(client, reading, project, reader, other_reader):
    case = reading["case"]
    client.force_login(reader)
    client.post(f"/api/cases/{case.pk}/read/")
    garbage = client.put(f"/api/cases/{case.pk}/read/draft/", "{not json", content_type="application/json")
    stranger = make_user("reader3", Role.READER)
    client.force_login(stranger)
    opened = client.post(f"/api/cases/{case.pk}/read/")
    drafted = client.put(f"/api/cases/{case.pk}/read/draft/", {"findings": full_read()},
                         content_type="application/json")
    corrected = client.post(f"/api/reads/{Read.objects.get(reader=reader).pk}/correct/")

    assert garbage.status_code == 400
    assert (opened.status_code, drafted.status_code, corrected.status_code) == (404, 404, 404)
    assert not Read.objects.filter(reader=stranger).exists() and Finding.objects.count() == 0


def test_exhaustive_project_refuses_an_incomplete_submission(client, reading, reader):
    response = submit(client, reader, reading["case"], full_read()[:-1])
    assert response.status_code == 400 and "missing" in response.json()["detail"]
    assert Read.objects.get(reader=reader).status == "draft"


def test_positive_only_project_treats_missing_as_negative(client, reading, project, reader, other_reader):
    project.labelling_mode = project.LabellingMode.POSITIVE_ONLY
    project.save()
    case = reading["case"]
    grades = [{"disc_level": level, "finding_type": "pfirrmann", "value": "3"} for level in LUMBAR_LEVELS]
    submit(client, reader, case, grades + [{"disc_level": "L4/L5", "finding_type": "hiz", "value": "absent"}])
    submit(client, other_reader, case, grades)
    case.refresh_from_db()
    assert case.status == Case.Status.GROUND_TRUTH


def test_active_seconds_cannot_outrun_the_clock(client, reading, reader):
    case = reading["case"]
    client.force_login(reader)
    client.post(f"/api/cases/{case.pk}/read/")
    response = client.put(f"/api/cases/{case.pk}/read/draft/", {"findings": [], "active_seconds": 3600},
                          content_type="application/json")
    assert response.status_code == 200 and response.json()["active_seconds"] < 60
    response = client.put(f"/api/cases/{case.pk}/read/draft/", {"findings": [], "active_seconds": 2},
                          content_type="application/json")
    assert response.json()["active_seconds"] >= 2


def test_worklist_states(client, reading, reader):
    case = reading["case"]
    client.force_login(reader)
    assert [row["state"] for row in client.get("/api/worklist/").json()] == ["to_read"]
    client.post(f"/api/cases/{case.pk}/read/")
    assert [row["state"] for row in client.get("/api/worklist/").json()] == ["in_progress"]
    submit(client, reader, case, full_read())
    assert [row["state"] for row in client.get("/api/worklist/").json()] == ["submitted"]


def test_balanced_assignment_and_reassignment(client, project, coordinator):
    from tests.factories import CaseFactory

    cases = CaseFactory.create_batch(10, project=project)
    readers = [make_user(f"r{i}", Role.READER, project=project) for i in range(3)]
    make_user("s1", Role.SENIOR, project=project)
    make_user("outsider", Role.READER)  # a reader of the platform, but not of this project
    client.force_login(coordinator)
    refused = client.post("/api/projects/lumbar/assignments/balanced/",
                          {"readers": ["r0", "outsider"], "seniors": ["s1"]}, content_type="application/json")
    assert refused.status_code == 400 and "not a reader of project lumbar: outsider" in refused.json()["detail"]
    assert not Assignment.objects.filter(case__project=project).exists()
    response = client.post("/api/projects/lumbar/assignments/balanced/",
                           {"readers": ["r0", "r1", "r2"], "seniors": ["s1"], "seed": 3},
                           content_type="application/json")
    assert response.json() == {"assigned_cases": 10}
    loads = [r.assignments.count() for r in readers]
    assert sum(loads) == 20 and max(loads) - min(loads) <= 1
    for case in cases:
        assert case.assignments.filter(role="reader").values("user").distinct().count() == 2

    not_reader = client.post("/api/projects/lumbar/assignments/balanced/",
                             {"readers": ["r0", "coord"], "seniors": ["s1"]}, content_type="application/json")
    assert not_reader.status_code == 400 and "not a reader of project lumbar: coord" in not_reader.json()["detail"]

    holder = cases[0].assignments.filter(role="reader").first().user
    spare = next(r for r in readers if not cases[0].assignments.filter(user=r).exists())
    moved = client.post("/api/projects/lumbar/assignments/reassign/",
                        {"case": cases[0].pk, "from_user": holder.username, "to_user": spare.username,
                         "role": "reader"}, content_type="application/json")
    assert moved.status_code == 200
    assert cases[0].assignments.filter(user=spare, role="reader").exists()


def test_progress_counts(client, reading, reader, other_reader, coordinator):
    case = reading["case"]
    submit(client, reader, case, full_read({"L4/L5": 3}))
    client.force_login(coordinator)
    assert client.get("/api/projects/lumbar/progress/").json()["read_once"] == 1
    submit(client, other_reader, case, full_read({"L4/L5": 4}))
    client.force_login(coordinator)
    progress = client.get("/api/projects/lumbar/progress/").json()
    assert (progress["read_twice"], progress["by_status"]["adjudication"]) == (1, 1)
    assert {(h["user"], h["role"], h["assigned"], h["done"]) for h in progress["holders"]} == {
        ("reader1", "reader", 1, 1), ("reader2", "reader", 1, 1), ("senior", "senior", 1, 0),
        ("senior2", "senior", 1, 0)}
    pfirrmann = next(row for row in progress["agreement"] if row["finding_type"] == "pfirrmann")
    assert (pfirrmann["agreed"], pfirrmann["compared"]) == (4, 5)
    client.force_login(reader)
    assert client.get("/api/projects/lumbar/progress/").status_code == 404


def test_model_pre_annotations_are_reviewed_and_kept_apart(client, reading, reader):
    case, instance = reading["case"], reading["instance"]
    model_box = Finding.objects.create(case=case, disc_level="L4/L5", finding_type="herniation", value="protrusion",
                                       instance=instance, x0=10, y0=10, x1=20, y1=18, source="model",
                                       model_version="yolo-v3", score=0.81)
    model_grade = Finding.objects.create(case=case, disc_level="L4/L5", finding_type="pfirrmann", value="4",
                                         source="model", model_version="yolo-v3", score=0.7)
    client.force_login(reader)
    shown = client.get(f"/api/cases/{case.pk}/model-findings/").json()
    assert [(f["finding_type"], f["source"], f["model_version"]) for f in shown] == \
        [("herniation", "model", "yolo-v3"), ("pfirrmann", "model", "yolo-v3")]

    findings = [f for f in full_read() if not (f["disc_level"] == "L4/L5" and f["finding_type"] == "pfirrmann")]
    findings += [
        {"disc_level": "L4/L5", "finding_type": "pfirrmann", "value": "3", "review_action": "edited",
         "model_finding": model_grade.pk},
        {"disc_level": "L4/L5", "finding_type": "herniation", "value": "protrusion", "instance": instance.pk,
         "box": [10, 10, 20, 18], "review_action": "deleted", "model_finding": model_box.pk},
    ]
    response = submit(client, reader, case, findings)

    assert response.status_code == 200, response.content
    read = Read.objects.get(reader=reader)
    assert read.findings.get(model_finding=model_grade).review_action == "edited"
    assert read.findings.get(model_finding=model_box).review_action == "deleted"
    # the model's own rows are untouched and belong to no read
    assert Finding.objects.filter(source="model", read__isnull=True).count() == 2
    assert Finding.objects.get(pk=model_grade.pk).value == "4"


def test_a_model_finding_of_another_case_cannot_be_referenced(client, reading, reader, project):
    from tests.factories import CaseFactory

    other = Finding.objects.create(case=CaseFactory(project=project), disc_level="L4/L5", finding_type="hiz",
                                   value="present", source="model")
    client.force_login(reader)
    client.post(f"/api/cases/{reading['case'].pk}/read/")
    response = client.put(f"/api/cases/{reading['case'].pk}/read/draft/", {"findings": [
        {"disc_level": "L4/L5", "finding_type": "hiz", "value": "present", "review_action": "accepted",
         "model_finding": other.pk}]}, content_type="application/json")
    assert response.status_code == 400 and "not a pre-annotation of this case" in response.json()["detail"]
    assert Read.objects.get(reader=reader).findings.count() == 0


def test_coordinator_page_reassigns_a_case_and_refuses_a_submitted_one(client, reading, coordinator, reader,
                                                                          other_reader):
    case = reading["case"]
    outsider = make_user("outsider", Role.READER)  # not a reader of this project: never given its work
    client.force_login(coordinator)
    refused = client.post("/projects/lumbar/reassign/", {"case": case.pk, "role": "reader", "from_user": "reader1",
                                                         "to_user": "outsider"}, follow=True)
    assert "not a reader of project lumbar: outsider" in refused.content.decode()
    assert not case.assignments.filter(user=outsider).exists()
    spare = make_user("reader3", Role.READER, project=case.project)
    moved = client.post("/projects/lumbar/reassign/", {"case": case.pk, "role": "reader", "from_user": "reader1",
                                                       "to_user": "reader3"}, follow=True)
    assert "moved to reader3" in moved.content.decode()
    assert set(case.assignments.filter(role="reader").values_list("user__username", flat=True)) == {"reader2", "reader3"}

    submit(client, other_reader, case, full_read())
    services.project_member_add(project=case.project, user=reader, role=Role.READER)
    client.force_login(coordinator)
    refused = client.post("/projects/lumbar/reassign/", {"case": case.pk, "role": "reader", "from_user": "reader2",
                                                         "to_user": "reader1"}, follow=True)
    assert "already submitted" in refused.content.decode()
    assert case.assignments.filter(user=other_reader, role="reader").exists()
    client.force_login(spare)
    assert client.post("/projects/lumbar/reassign/", {"case": case.pk}).status_code == 404
