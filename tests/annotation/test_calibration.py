"""Calibration cases (issue 16): the coordinator marks ground-truth-final cases, readers get them blended into their
worklists where they look like any other case, the reads stay out of everything the double reading makes, and the
coordinator's page shows each reader's accuracy and kappa against the ground truth with the drift flag."""
import json

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.proportion import proportion_confint

import access
from annotation import selectors, services
from annotation.models import Adjudication, AdjudicationItem, Assignment, AuditEvent, Case, GroundTruthItem, Read, Role
from annotation.schema import LUMBAR_LEVELS
from annotation.services.calibration import calibration_blend, calibration_mark, calibration_settings_update
from annotation.services.reading import latest_submitted_reads
from mlbackend.services.dataset import case_partition, dataset_export
from studies.selectors import study_data
from studies.services import study_create
from tests.conftest import make_user
from tests.factories import CaseFactory
from tests.frontend.test_pages import page_payload

# Sentinels: a body that holds one of these leaked the ground truth or the double reading.
TRUTH_REASON = "truth-sentinel-7731"
SENIOR_NAME = "sam_sentinel_senior"
DOUBLE_READERS = ("alice_double", "bob_double")
BANNED = ("calibration", TRUTH_REASON, SENIOR_NAME, *DOUBLE_READERS, "ground_truth", "Ground truth final")


def imported_truth(case, pfirrmann, herniation="protrusion"):
    """Imported ground truth: a Pfirrmann grade per lumbar level and a herniation at L4/L5; final."""
    GroundTruthItem.objects.bulk_create(
        [GroundTruthItem(case=case, disc_level=level, finding_type="pfirrmann", value=str(grade),
                         provenance=GroundTruthItem.Provenance.IMPORTED, reason=TRUTH_REASON)
         for level, grade in zip(LUMBAR_LEVELS, pfirrmann)]
        + [GroundTruthItem(case=case, disc_level="L4/L5", finding_type="herniation", value=herniation,
                           provenance=GroundTruthItem.Provenance.IMPORTED, reason=TRUTH_REASON)])
    Case.objects.filter(pk=case.pk).update(status=Case.Status.GROUND_TRUTH)
    case.refresh_from_db()
    return case


def findings(pfirrmann=(), **extra) -> list[dict]:
    """A positive-only read: the given Pfirrmann grades by level, and "level:finding"=value extras."""
    rows = [{"disc_level": level, "finding_type": "pfirrmann", "value": str(grade)}
            for level, grade in zip(LUMBAR_LEVELS, pfirrmann)]
    for key, value in extra.items():
        level, finding = key.replace("_", "/").split(":")
        rows.append({"disc_level": level, "finding_type": finding, "value": value})
    return rows


def api_submit(client, user, case, read_findings):
    client.force_login(user)
    assert client.post(f"/api/cases/{case.pk}/read/").status_code == 200
    response = client.post(f"/api/cases/{case.pk}/read/submit/", {"findings": read_findings},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    return response


@pytest.fixture
def world(db, coordinator):
    """A positive-only project: a case double read by alice and bob, adjudicated by the senior (final), three
    cases with imported ground truth, and a reader (cal) with six cases of double reading of their own."""
    project = services.project_create(slug="calib", name="Lumbar world", actor=coordinator,
                                      labelling_mode="positive_only")
    alice, bob = (make_user(name, Role.READER, project=project) for name in DOUBLE_READERS)
    senior = make_user(SENIOR_NAME, Role.SENIOR, project=project)
    cal = make_user("cal_reader", Role.READER, project=project)
    adjudicated = CaseFactory(project=project)
    for user, role in ((alice, Role.READER), (bob, Role.READER), (senior, Role.SENIOR)):
        services.case_assign(case=adjudicated, user=user, role=role)
    for user, grade in ((alice, "2"), (bob, "3")):
        read = services.read_open(case=adjudicated, reader=user)
        services.read_submit(read=read, reader=user, findings=[
            services.FindingInput("L4/L5", "pfirrmann", grade)])
    adjudication = Adjudication.objects.get(case=adjudicated)
    services.adjudication_resolve(adjudication=adjudication, senior=senior, decisions=[
        services.DecisionInput(item_id=item.pk, choice="reader_a", reason=TRUTH_REASON)
        for item in adjudication.items.all()])
    adjudicated.refresh_from_db()
    assert adjudicated.status == Case.Status.GROUND_TRUTH
    imported = [imported_truth(CaseFactory(project=project), grades)
                for grades in ((2, 3, 4, 4, 5), (1, 2, 3, 4, 4), (3, 3, 3, 3, 3))]
    regular = [CaseFactory(project=project, priority=10 - i) for i in range(6)]
    for case in regular:
        services.case_assign(case=case, user=cal, role=Role.READER)
    return {"project": project, "alice": alice, "bob": bob, "senior": senior, "cal": cal,
            "adjudicated": adjudicated, "imported": imported, "regular": regular, "coordinator": coordinator}


def calibration_cases_of(user) -> list[int]:
    return sorted(Assignment.objects.filter(user=user, role=Assignment.CALIBRATION).values_list("case_id", flat=True))


def snapshot() -> tuple:
    return (tuple(Case.objects.order_by("pk").values_list("pk", "calibration", "status")),
            Assignment.objects.count(), AuditEvent.objects.count(), Read.objects.count())


# Marking and settings: coordinators only, final cases only --------------------------------------------------------

def test_coordinator_marks_and_unmarks_a_final_case_with_its_audit_rows(client, world):
    case = world["imported"][0]
    client.force_login(world["coordinator"])
    response = client.post("/api/projects/calib/calibration/cases/", {"case": case.pk, "calibration": True},
                           content_type="application/json")
    assert response.status_code == 200 and response.json() == {"case": case.pk, "calibration": True, "given": 0}
    case.refresh_from_db()
    assert case.calibration is True
    event = AuditEvent.objects.get(action="calibration_mark")
    assert (event.actor, event.object_type, event.object_id) == (world["coordinator"], "case", str(case.pk))

    response = client.post("/api/projects/calib/calibration/cases/", {"case": case.pk, "calibration": False},
                           content_type="application/json")
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.calibration is False and AuditEvent.objects.filter(action="calibration_unmark").count() == 1


@pytest.mark.parametrize("who", ["cal", "senior", "alice"])
def test_readers_and_seniors_can_neither_mark_nor_set_nor_see_the_page(client, world, who):
    client.force_login(world[who])
    before = snapshot()
    case = world["imported"][0]
    assert client.post("/api/projects/calib/calibration/cases/", {"case": case.pk, "calibration": True},
                       content_type="application/json").status_code == 404
    assert client.put("/api/projects/calib/calibration/settings/", {"every": 1, "min_accuracy": None,
                                                                    "min_kappa": None},
                      content_type="application/json").status_code == 404
    assert client.get("/api/projects/calib/calibration/").status_code == 404
    assert client.get("/projects/calib/calibration/").status_code == 404
    assert client.post("/projects/calib/calibration/", {"action": "mark", "case": case.pk}).status_code == 404
    assert snapshot() == before


def test_a_case_whose_ground_truth_is_not_final_is_refused_and_nothing_changes(client, world):
    client.force_login(world["coordinator"])
    before = snapshot()
    unread = world["regular"][0]
    response = client.post("/api/projects/calib/calibration/cases/", {"case": unread.pk, "calibration": True},
                           content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == (f"case {unread.pk} is not ground truth final (not read yet); only a case "
                                         "with final ground truth can be a calibration case")
    assert snapshot() == before
    # The page says so too, and changes nothing.
    response = client.post("/projects/calib/calibration/", {"action": "mark", "case": unread.pk}, follow=True)
    assert "Nothing changed: case" in response.content.decode() and snapshot() == before


def test_settings_are_checked_saved_and_audited(client, world):
    client.force_login(world["coordinator"])
    for body in ({"every": -1, "min_accuracy": None, "min_kappa": None},
                 {"every": 3, "min_accuracy": 1.5, "min_kappa": None},
                 {"every": 3, "min_accuracy": None, "min_kappa": -2}):
        assert client.put("/api/projects/calib/calibration/settings/", body,
                          content_type="application/json").status_code == 400
    response = client.put("/api/projects/calib/calibration/settings/",
                          {"every": 3, "min_accuracy": 0.8, "min_kappa": 0.6}, content_type="application/json")
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("every", "min_accuracy", "min_kappa")} == {
        "every": 3, "min_accuracy": 0.8, "min_kappa": 0.6}
    assert AuditEvent.objects.get(action="calibration_settings").payload == {"every": 3, "min_accuracy": 0.8,
                                                                           "min_kappa": 0.6}
    with pytest.raises(ValueError, match="whole number from 0"):
        calibration_settings_update(project=world["project"], every=2.5, min_accuracy=None, min_kappa=None)


# Blending ----------------------------------------------------------------------------------------------------------

def test_one_calibration_case_blended_into_each_block_of_n_cases(client, world):
    cal, project = world["cal"], world["project"]
    for case in world["imported"]:
        calibration_mark(case=case, calibration=True, actor=world["coordinator"])
    calibration_settings_update(project=project, every=3, min_accuracy=None, min_kappa=None)
    given = calibration_cases_of(cal)
    assert len(given) == 2  # six cases of double reading, one calibration case per three
    rows = selectors.worklist_for_reader(cal)
    assert len(rows) == 8
    calibration_ids = set(given)
    for block in (rows[:4], rows[4:]):
        assert sum(row["case"].pk in calibration_ids for row in block) == 1
    regular = [row["case"].pk for row in rows if row["case"].pk not in calibration_ids]
    assert regular == [case.pk for case in world["regular"]]  # the project's order is kept around them

    # Three more cases of double reading: one more calibration case, in the third block.
    for case in [CaseFactory(project=project, priority=-i) for i in range(3)]:
        services.case_assign(case=case, user=cal, role=Role.READER)
    given = calibration_cases_of(cal)
    assert len(given) == 3
    rows = selectors.worklist_for_reader(cal)
    assert [sum(row["case"].pk in set(given) for row in rows[i:i + 4]) for i in (0, 4, 8)] == [1, 1, 1]
    assert AuditEvent.objects.filter(action="calibration_blend").count() == 2


def test_never_a_case_the_reader_read_or_adjudicated_nor_one_shown_twice(world):
    project, alice, senior = world["project"], world["alice"], world["senior"]
    services.user_set_role(user=senior, role=Role.READER)
    for user in (alice, senior):
        for case in [CaseFactory(project=project) for _ in range(3)]:
            services.case_assign(case=case, user=user, role=Role.READER)
    calibration_mark(case=world["adjudicated"], calibration=True)
    calibration_mark(case=world["imported"][0], calibration=True)
    # One per case: alice is due four, the senior three, cal six; each may only have the case they never saw.
    calibration_settings_update(project=project, every=1, min_accuracy=None, min_kappa=None)
    assert calibration_cases_of(alice) == [world["imported"][0].pk]
    assert calibration_cases_of(senior) == [world["imported"][0].pk]
    assert calibration_cases_of(world["cal"]) == sorted([world["adjudicated"].pk, world["imported"][0].pk])
    assert calibration_blend(project=project) == 0  # nothing more to give
    # Nobody is made a double reader of a case they hold for calibration.
    with pytest.raises(ValueError, match="is already calibration of case"):
        services.case_assign(case=world["imported"][0], user=world["cal"], role=Role.READER)


def test_unmarking_withdraws_unopened_cases_and_keeps_begun_reads(client, world):
    cal, other = world["cal"], make_user("other_cal", Role.READER, project=world["project"])
    services.case_assign(case=CaseFactory(project=world["project"]), user=other, role=Role.READER)
    case = world["imported"][0]
    calibration_settings_update(project=world["project"], every=1, min_accuracy=None, min_kappa=None)
    calibration_mark(case=case, calibration=True)
    assert case.pk in calibration_cases_of(cal) and case.pk in calibration_cases_of(other)
    client.force_login(cal)
    assert client.post(f"/api/cases/{case.pk}/read/").status_code == 200
    calibration_mark(case=case, calibration=False)
    assert case.pk in calibration_cases_of(cal) and case.pk not in calibration_cases_of(other)
    # Withdrawn from the three who had not opened it: other, and alice and bob (one case of double reading each).
    assert AuditEvent.objects.get(action="calibration_unmark").payload == {"withdrawn": 3}
    assert calibration_cases_of(world["alice"]) == []


# Blinding: on every route the reader reaches, a calibration case looks like any other ------------------------------

def _reader_routes(client, case) -> dict:
    """Status and body of every route a reader reaches for a case, in the order the reading page uses them."""
    out = {}

    def hit(name, method, url, body=None):
        response = getattr(client, method)(url, body, content_type="application/json") if body is not None else \
            getattr(client, method)(url)
        out[name] = response
        return response

    hit("case", "get", f"/api/cases/{case.pk}/")
    hit("page", "get", f"/cases/{case.pk}/read/")
    hit("my-read-before", "get", f"/api/cases/{case.pk}/read/")
    read_id = hit("open", "post", f"/api/cases/{case.pk}/read/").json()["id"]
    hit("model", "get", f"/api/cases/{case.pk}/model-findings/")
    hit("draft", "put", f"/api/cases/{case.pk}/read/draft/", {"findings": findings((3, 3))})
    hit("my-read", "get", f"/api/cases/{case.pk}/read/")
    hit("submit", "post", f"/api/cases/{case.pk}/read/submit/", {"findings": findings((3, 3, 3))})
    hit("reads", "get", f"/api/cases/{case.pk}/reads/")
    hit("read", "get", f"/api/reads/{read_id}/")
    hit("ground-truth", "get", f"/api/cases/{case.pk}/ground-truth/")
    hit("correct", "post", f"/api/reads/{read_id}/correct/")
    hit("worklist", "get", "/api/worklist/")
    hit("worklist-page", "get", "/worklist/")
    hit("projects", "get", "/api/projects/calib/cases/")
    hit("project-page", "get", "/projects/calib/")
    return out


def _shape(value):
    """The JSON's structure (keys and types), without its values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_every_reader_route_shows_a_calibration_case_as_any_other(client, world):
    cal, project = world["cal"], world["project"]
    calibration_settings_update(project=project, every=6, min_accuracy=None, min_kappa=None)
    calibration_mark(case=world["adjudicated"], calibration=True)
    assert calibration_cases_of(cal) == [world["adjudicated"].pk]
    client.force_login(cal)
    calibration = _reader_routes(client, world["adjudicated"])
    regular = _reader_routes(client, world["regular"][1])

    for name in calibration:
        got, like = calibration[name], regular[name]
        assert got.status_code == like.status_code, name
        body = got.content.decode()
        leaked = [word for word in BANNED if word.lower() in body.lower()]
        assert not leaked, (name, leaked)
        if got["Content-Type"].startswith("application/json") and got.status_code < 300:
            assert _shape(got.json()) == _shape(like.json()), name
    assert calibration["ground-truth"].status_code == 404
    # Their own read only, named as on any case whose ground truth they may not see yet.
    assert [r["id"] for r in calibration["reads"].json()] == [calibration["open"].json()["id"]]
    assert [r["reader"] for r in calibration["reads"].json()] == [r["reader"] for r in regular["reads"].json()]
    assert calibration["correct"].status_code == 201
    # The read is a calibration read, and the correction stays one.
    assert set(Read.objects.filter(case=world["adjudicated"], reader=cal).values_list("context", flat=True)) == {
        "calibration"}
    # The worklist row is like any other: the same keys, its own read and state.
    row = next(r for r in calibration["worklist"].json() if r["case"] == world["adjudicated"].pk)
    assert row["state"] == "in_progress" and set(row) == {"case", "project", "state", "read", "priority"}


def test_no_reader_route_shows_a_split_that_would_tell_a_calibration_case(client, world):
    cal, project, case = world["cal"], world["project"], world["adjudicated"]
    Case.objects.filter(pk=case.pk).update(split=Case.Split.TRAIN)  # tagged for training, as final cases often are
    calibration_settings_update(project=project, every=6, min_accuracy=None, min_kappa=None)
    calibration_mark(case=case, calibration=True)
    client.force_login(cal)
    for url in (f"/api/cases/{case.pk}/", f"/api/cases/{world['regular'][0].pk}/"):
        body = client.get(url).json()
        assert body["id"] and "split" not in body
    rows = client.get("/api/projects/calib/cases/").json()
    assert case.pk in {row["id"] for row in rows} and not any("split" in row for row in rows)
    page = client.get("/projects/calib/").content.decode()
    assert "<th>Split</th>" not in page and Case.Split.TRAIN.label not in page
    # The coordinator still sees every case's split.
    client.force_login(world["coordinator"])
    assert client.get(f"/api/cases/{case.pk}/").json()["split"] == "train"
    assert {row["id"]: row["split"] for row in client.get("/api/projects/calib/cases/").json()}[case.pk] == "train"
    assert "<th>Split</th>" in client.get("/projects/calib/").content.decode()


def test_next_case_walks_through_calibration_cases_too(client, world):
    cal = world["cal"]
    calibration_settings_update(project=world["project"], every=3, min_accuracy=None, min_kappa=None)
    for case in world["imported"]:
        calibration_mark(case=case, calibration=True)
    order = [row["case"].pk for row in selectors.worklist_for_reader(cal)]
    client.force_login(cal)
    visited, url = [order[0]], f"/cases/{order[0]}/read/"
    while True:
        response = client.get(url)
        assert f"Case {len(visited)} of 8 in your worklist" in response.content.decode()
        url = page_payload(response)["next"]
        if url == f"/cases/{order[0]}/read/" or url is None:
            break
        visited.append(int(url.split("/")[2]))
    assert visited == order


# Exclusions: the calibration read makes no ground truth, adjudication, statistics or training data ------------------

def test_a_calibration_read_enters_nothing_the_double_reading_makes(client, world, tmp_path):
    project, case, cal = world["project"], world["adjudicated"], world["cal"]
    study_reader = make_user("study_reader", Role.READER)
    study = study_create(project=project, name="Study of the adjudicated case", case_ids=[case.pk],
                         readers=[study_reader], design="unaided", washout_days=0, actor=world["coordinator"])

    def state():
        data = study_data(study)
        export = dataset_export(project=project, out_dir=tmp_path / "dataset")
        return {
            "ground truth": list(GroundTruthItem.objects.order_by("pk").values_list(
                "case_id", "disc_level", "finding_type", "value", "provenance", "decided_by", "reason")),
            "adjudications": list(Adjudication.objects.values_list("pk", "case_id", "status", "read_a", "read_b")),
            "adjudication items": list(AdjudicationItem.objects.values_list("pk", "decision", "decided_value")),
            "case": Case.objects.filter(pk=case.pk).values_list("status", "split").get(),
            "double reads": [r.pk for r in latest_submitted_reads(case)],
            "coordinator's reads": list(access.reads_visible_to(world["coordinator"], case).values_list("pk")),
            "progress": json.dumps(selectors.project_progress(project), sort_keys=True),
            "partition": {part: [c.pk for c in cases] for part, cases in case_partition(project).items()},
            "training export": (export.train_case_ids, export.val_case_ids, export.test_case_ids, export.boxes),
            "study truth": {name: f.truth.tolist() for name, f in data.findings.items()},
            "study ratings": {name: f.ratings.tolist() for name, f in data.findings.items()},
            "study raters": [r.key for r in data.raters],
            "engine audit": AuditEvent.objects.filter(action__in=["ground_truth_by_agreement",
                                                                  "adjudication_open", "adjudication_resolve"]).count(),
        }

    before = state()
    calibration_settings_update(project=project, every=6, min_accuracy=None, min_kappa=None)
    calibration_mark(case=case, calibration=True)
    api_submit(client, cal, case, findings((5, 5, 5, 5, 5), **{"L4_L5:herniation": "extrusion"}))
    read = Read.objects.get(case=case, reader=cal)
    assert (read.context, read.status, read.findings.count()) == ("calibration", "submitted", 6)
    assert state() == before
    # Nor can an import write into it (it would make up a reader's accuracy).
    assert access.context_writable_by_import("calibration") is False


# The coordinator's page: exact figures on a small constructed example, and the drift flag ---------------------------

# Pfirrmann grades per lumbar level: the ground truth of two calibration cases and two readers' reads of them.
TRUTH = [(2, 3, 4, 4, 5), (1, 2, 3, 4, 4)]
CAL_READS = [(2, 3, 3, 4, 4), (1, 2, 3, 3, 4)]     # 7 of 10 right
DAN_READS = TRUTH                                  # all right
GRADES = ["1", "2", "3", "4", "5"]


def reference_kappa(given, truth) -> tuple[float, tuple[float, float]]:
    """statsmodels 0.15 cohens_kappa(table, wt="quadratic") over the 5x5 table in clinical order."""
    table = np.zeros((5, 5))
    for a, b in zip(given, truth):
        table[GRADES.index(str(a)), GRADES.index(str(b))] += 1
    result = cohens_kappa(table, wt="quadratic")
    return result.kappa, (result.kappa - 1.959963984540054 * result.std_kappa,
                          result.kappa + 1.959963984540054 * result.std_kappa)


@pytest.fixture
def measured(client, world):
    """cal and dan, each with two cases of double reading, given both calibration cases and reading them."""
    project = world["project"]
    dan = make_user("dan_reader", Role.READER, project=project)
    for case in [CaseFactory(project=project) for _ in range(2)]:
        services.case_assign(case=case, user=dan, role=Role.READER)
    calibration_settings_update(project=project, every=1, min_accuracy=0.75, min_kappa=0.8)
    cases = world["imported"][:2]
    for case in cases:
        calibration_mark(case=case, calibration=True)
    for user, reads, herniation, extra in ((world["cal"], CAL_READS, ("protrusion", "extrusion"), {"hiz": "present"}),
                                           (dan, DAN_READS, ("protrusion", "protrusion"), {})):
        for case, grades, hern in zip(cases, reads, herniation):
            more = {"L4_L5:herniation": hern, **{f"L5_S1:{k}": v for k, v in extra.items()}}
            api_submit(client, user, case, findings(grades, **more))
    return {**world, "dan": dan}


def test_report_figures_match_statsmodels_on_a_constructed_example(measured):
    report = {row.reader: row for row in selectors.calibration_report(measured["project"])}
    # alice and bob were each due one (one case of double reading each) and have not read it yet.
    assert {name: (row.given, row.submitted) for name, row in report.items()} == {
        "alice_double": (1, 0), "bob_double": (1, 0), "cal_reader": (2, 2), "dan_reader": (2, 2)}
    cal, dan = report["cal_reader"], report["dan_reader"]
    assert not report["alice_double"].flagged  # nothing compared is never below a threshold
    by_finding = {f.finding_type: f for f in cal.findings}
    assert [f.finding_type for f in cal.findings] == ["pfirrmann", "herniation", "hiz", "schmorl", "listhesis"]

    pfirrmann = by_finding["pfirrmann"]
    assert (pfirrmann.accuracy.numerator, pfirrmann.accuracy.denominator) == (7, 10)
    low, high = proportion_confint(7, 10, method="wilson")  # statsmodels 0.15
    assert pfirrmann.accuracy.value == 0.7
    assert pfirrmann.accuracy.ci == pytest.approx((low, high), abs=1e-12)
    kappa, ci = reference_kappa(sum(CAL_READS, ()), sum(TRUTH, ()))
    assert pfirrmann.kappa.weights == "quadratic"
    assert pfirrmann.kappa.value == pytest.approx(kappa, abs=1e-12)
    assert pfirrmann.kappa.ci == pytest.approx(ci, abs=1e-12)
    # Herniation: protrusion vs protrusion, extrusion vs protrusion (the other levels: none on both sides, absent).
    assert (by_finding["herniation"].accuracy.numerator, by_finding["herniation"].accuracy.denominator) == (1, 2)
    # HIZ is nominal: present where the ground truth has none, i.e. its negative (a positive-only project).
    hiz = by_finding["hiz"]
    assert (hiz.accuracy.numerator, hiz.accuracy.denominator, hiz.kappa.weights) == (0, 2, None)
    assert by_finding["schmorl"].accuracy.denominator == 0 and by_finding["schmorl"].kappa is None

    dan_pfirrmann = dan.findings[0]
    assert (dan_pfirrmann.accuracy.numerator, dan_pfirrmann.accuracy.denominator) == (10, 10)
    assert dan_pfirrmann.kappa.value == pytest.approx(1.0, abs=1e-12)
    # The drift flag: cal is under 0.75 accuracy (their kappa, 0.872, is over 0.8); dan is under neither.
    assert pfirrmann.below and cal.flagged
    assert not any(f.below for f in dan.findings) and not dan.flagged
    # On kappa alone: at 0.9, cal's Pfirrmann kappa is below, and so are their herniation and HIZ kappas (0: no
    # agreement beyond chance); dan's are 1 or undefined (one category on both sides), never below.
    calibration_settings_update(project=measured["project"], every=1, min_accuracy=None, min_kappa=0.9)
    report = {row.reader: row for row in selectors.calibration_report(measured["project"])}
    assert [(f.finding_type, round(f.kappa.value, 3)) for f in report["cal_reader"].findings if f.below] == [
        ("pfirrmann", 0.872), ("herniation", 0.0), ("hiz", 0.0)]
    assert not report["dan_reader"].flagged


def test_coordinator_page_and_api_show_the_figures_and_flag(client, measured):
    client.force_login(measured["coordinator"])
    data = client.get("/api/projects/calib/calibration/").json()
    cal = next(row for row in data["readers"] if row["reader"] == "cal_reader")
    pfirrmann = cal["findings"][0]
    kappa, ci = reference_kappa(sum(CAL_READS, ()), sum(TRUTH, ()))
    assert (pfirrmann["correct"], pfirrmann["compared"], pfirrmann["accuracy"]) == (7, 10, 0.7)
    assert pfirrmann["kappa"] == pytest.approx(kappa, abs=1e-12)
    assert pfirrmann["kappa_ci"] == pytest.approx(list(ci), abs=1e-12)
    assert cal["flagged"] is True and pfirrmann["below"] is True
    schmorl = cal["findings"][3]
    assert (schmorl["accuracy"], schmorl["kappa"], schmorl["accuracy_ci"]) == (None, None, [None, None])
    assert {row["reader"]: row["flagged"] for row in data["readers"]} == {
        "alice_double": False, "bob_double": False, "cal_reader": True, "dan_reader": False}
    assert sorted(row["case"] for row in data["cases"]) == sorted(c.pk for c in measured["imported"][:2])

    body = client.get("/projects/calib/calibration/").content.decode()
    low, high = proportion_confint(7, 10, method="wilson")
    assert f"0.700 ({low:.3f}–{high:.3f}) 7/10" in body
    assert f"{kappa:.3f} ({ci[0]:.3f}–{ci[1]:.3f})" in body
    assert body.count("below threshold") == 1  # cal's row, not dan's

    # Through the page's form: at an accuracy threshold of 1 and no kappa threshold, dan (all right) is not flagged.
    response = client.post("/projects/calib/calibration/", {"action": "settings", "every": "1",
                                                            "min_accuracy": "1", "min_kappa": ""}, follow=True)
    assert "Calibration settings saved." in response.content.decode()
    flags = {row.reader: row.flagged for row in selectors.calibration_report(measured["project"])}
    assert flags == {"alice_double": False, "bob_double": False, "cal_reader": True, "dan_reader": False}


def test_a_corrected_calibration_read_counts_with_its_latest_version(client, measured):
    cal, case = measured["cal"], measured["imported"][0]
    read = Read.objects.get(case=case, reader=cal)
    client.force_login(cal)
    correction = client.post(f"/api/reads/{read.pk}/correct/").json()
    response = client.post(f"/api/cases/{case.pk}/read/submit/",
                           {"findings": findings(TRUTH[0], **{"L4_L5:herniation": "protrusion"})},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["id"] == correction["id"]
    pfirrmann = next(row for row in selectors.calibration_report(measured["project"])
                     if row.reader == "cal_reader").findings[0]
    assert (pfirrmann.accuracy.numerator, pfirrmann.accuracy.denominator) == (9, 10)  # case 1 now right
