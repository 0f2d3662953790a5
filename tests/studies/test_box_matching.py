"""The acceptance test of the matching rule: the agreement engine and the dashboard match the same boxes the same
way, at the project's threshold.

Two readers' boxes are laid out so that the rules one might mistake for the project's disagree: at IoU 0.3 "most
pairs" (geometry.match_boxes) pairs a0-b1 and a1-b0, whereas the assignment of largest total IoU (a0-b0, a1-b1)
or a greedy pass in drawing order keeps only a0-b0 once the threshold is applied; a2-b2 (IoU 0.43) pairs at 0.3
but not at 0.5; b3 overlaps nothing.
"""
from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from annotation import services
from annotation.agreement import ReadItem, compare_reads
from annotation.models import AdjudicationItem, Case, GroundTruthItem, Instance, Role
from geometry import box_mean, iou_matrix, match_boxes
from stats.detection import detection_prf
from studies import selectors
from studies.dashboard import study_dashboard
from studies.models import StudySession
from studies.services import study_create, study_session_open, study_session_submit
from tests.conftest import make_user

LEVEL, FINDING, VALUE, CLASS = "L4/L5", "herniation", "protrusion", "herniation_protrusion"
BOXES_A = [(10.0, 10.0, 20.0, 20.0), (15.5, 10.0, 23.0, 20.0), (40.0, 30.0, 50.0, 40.0)]
BOXES_B = [(10.5, 10.0, 19.5, 20.0), (7.0, 10.0, 14.5, 20.0), (44.0, 30.0, 54.0, 40.0), (30.0, 50.0, 38.0, 58.0)]
# What the project's rule pairs at each threshold, by hand from the IoUs (a0-b0 0.90, a0-b1 0.35, a1-b0 0.32,
# a2-b2 0.43, every other pair below 0.3).
EXPECTED_PAIRS = {0.3: [(0, 1), (1, 0), (2, 2)], 0.5: [(0, 0)]}


def test_the_layout_separates_the_rules():
    overlap = iou_matrix(BOXES_A, BOXES_B)
    assert overlap[0, 0] == pytest.approx(0.9) and overlap[2, 2] == pytest.approx(6 / 14)
    assert 0.3 <= overlap[1, 0] < overlap[0, 1] < 0.5 and overlap[1, 1] == 0
    for threshold, pairs in EXPECTED_PAIRS.items():
        assert match_boxes(BOXES_A, BOXES_B, threshold).pairs == pairs
    # Largest total IoU first and the threshold after would keep a0-b0 alone at 0.3.
    assert overlap[0, 0] + overlap[1, 1] > overlap[0, 1] + overlap[1, 0]


def _imported_case(project, uid_root: str) -> tuple[Case, Instance]:
    """A case with one 64 x 64 image, ingested by the import service: pydicom's MR_small as a study of its own."""
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = f"{uid_root}.1", f"{uid_root}.2"
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = f"{uid_root}.3"
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    imported = services.case_import(project=project, sources=[("MR_small.dcm", buffer.getvalue(), False)])
    case = Case.objects.get(pk=imported.case_ids[0])
    return case, Instance.objects.get(series__case=case)


def _box_findings(instance: Instance, boxes: list) -> list[services.FindingInput]:
    return [services.FindingInput(disc_level=LEVEL, finding_type=FINDING, value=VALUE, instance_id=instance.pk,
                                  box=box) for box in boxes]


def _double_read(case: Case, instance: Instance, readers: dict) -> None:
    """Each reader's boxes through the reading services; the second submission runs the agreement."""
    for reader in readers:
        services.case_assign(case=case, user=reader, role=Role.READER)
    for reader, boxes in readers.items():
        read = services.read_open(case=case, reader=reader)
        services.read_submit(read=read, reader=reader, findings=_box_findings(instance, boxes))


def _agreement_pairs(case: Case) -> tuple[list, list, list]:
    """What the ground-truth agreement made of reader A's and B's boxes: the (a, b) pairs behind its agreed boxes
    (each the mean of its pair) and the boxes it left for adjudication."""
    means = {box_mean(a, b): (i, j) for i, a in enumerate(BOXES_A) for j, b in enumerate(BOXES_B)}
    agreed = GroundTruthItem.objects.filter(case=case, x0__isnull=False).values_list("x0", "y0", "x1", "y1")
    pairs = sorted(means[box] for box in agreed)
    items = list(AdjudicationItem.objects.filter(adjudication__case=case, kind=AdjudicationItem.Kind.BOX))
    only_a = sorted(BOXES_A.index(tuple(i.box_a)) for i in items if i.box_a)
    only_b = sorted(BOXES_B.index(tuple(i.box_b)) for i in items if i.box_b)
    return pairs, only_a, only_b


def _world(threshold: float, number: int) -> dict:
    """A project at ``threshold``: case 1 double-read by A and B (the agreement engine pairs their boxes); case 2
    double-read by B and C with B's boxes, so its ground truth is B's boxes exactly, then read by A in a reader study
    with A's boxes (the dashboard pairs A's boxes with B's)."""
    coordinator = make_user(f"coord_{number}", Role.COORDINATOR)
    project = services.project_create(slug=f"matching-{number}", name="Matching", actor=coordinator,
                                      labelling_mode="positive_only", box_iou_threshold=threshold)
    a, b, c = (make_user(f"{name}_{number}", Role.READER) for name in ("reader_a", "reader_b", "reader_c"))
    agreement_case, agreement_image = _imported_case(project, f"2.25.{number}1")
    study_case, study_image = _imported_case(project, f"2.25.{number}2")
    _double_read(agreement_case, agreement_image, {a: BOXES_A, b: BOXES_B})
    _double_read(study_case, study_image, {b: BOXES_B, c: BOXES_B})
    assert Case.objects.get(pk=study_case.pk).status == Case.Status.GROUND_TRUTH
    study = study_create(project=project, name="Boxes", case_ids=[study_case.pk], readers=[a], washout_days=0,
                         actor=coordinator)
    session = StudySession.objects.get(study=study)
    study_session_open(session=session, reader=a)
    study_session_submit(session=session, reader=a, findings=_box_findings(study_image, BOXES_A))
    dashboard = study_dashboard(selectors.study_data(study))
    rows = {row["class"]: row for row in dashboard["tables"]["detection"]["rows"] if row["rater"] == a.username}
    pairs, only_a, only_b = _agreement_pairs(agreement_case)
    return {"pairs": pairs, "only_a": only_a, "only_b": only_b, "row": rows["all"], "class_row": rows[CLASS],
            "title": dashboard["tables"]["detection"]["title"]}


@pytest.mark.django_db
def test_agreement_and_dashboard_pair_the_same_boxes_at_the_projects_threshold():
    worlds = {threshold: _world(threshold, number) for number, threshold in enumerate(EXPECTED_PAIRS, start=1)}
    for threshold, world in worlds.items():
        pairs = EXPECTED_PAIRS[threshold]
        assert world["pairs"] == pairs
        assert world["only_a"] == sorted(set(range(len(BOXES_A))) - {i for i, _ in pairs})
        assert world["only_b"] == sorted(set(range(len(BOXES_B))) - {j for _, j in pairs})
        # The dashboard's true positives of reader A against truth B are the agreement's pairs; its false positives
        # and negatives the boxes the agreement sends to the senior.
        for row in (world["row"], world["class_row"]):
            assert (row["tp"], row["fp"], row["fn"]) == (len(pairs), len(world["only_a"]), len(world["only_b"]))
            assert row["n_images"] == 1 and row["ap"] is None
        assert f"at IoU {threshold:.2f}" in world["title"]
    # Both follow the project's threshold: what pairs at 0.3 does not at 0.5.
    assert worlds[0.3]["row"]["tp"] == 3 and worlds[0.5]["row"]["tp"] == 1


@pytest.mark.parametrize("seed", range(40))
def test_engine_geometry_and_detection_metrics_pair_random_boxes_alike(seed):
    """On plain data: compare_reads' agreed boxes, geometry.match_boxes' pairs and detection_prf's true positives
    (unscored boxes) are one pairing, for random box sets at random thresholds."""
    rng = np.random.default_rng(seed)

    def boxes(n):
        corner = rng.uniform(0, 40, size=(n, 2))
        size = rng.uniform(2, 20, size=(n, 2))
        return [tuple(float(v) for v in row) for row in np.hstack([corner, corner + size])]

    boxes_a, boxes_b = boxes(int(rng.integers(0, 7))), boxes(int(rng.integers(0, 7)))
    threshold = float(rng.uniform(0.05, 0.9))
    matching = match_boxes(boxes_a, boxes_b, threshold)
    comparison = compare_reads([ReadItem(LEVEL, FINDING, VALUE, 1, box) for box in boxes_a],
                               [ReadItem(LEVEL, FINDING, VALUE, 1, box) for box in boxes_b], iou_threshold=threshold)
    assert sorted(item.box for item in comparison.agreed) == sorted(box_mean(boxes_a[i], boxes_b[j])
                                                                   for i, j in matching.pairs)
    assert sorted(d.box_a for d in comparison.disagreements if d.box_a) == sorted(
        boxes_a[i] for i in matching.unmatched_a)
    assert sorted(d.box_b for d in comparison.disagreements if d.box_b) == sorted(
        boxes_b[j] for j in matching.unmatched_b)
    image = {"truth": [(CLASS, box) for box in boxes_b], "pred": [(CLASS, box, None) for box in boxes_a]}
    result = detection_prf([image], iou_threshold=threshold)
    assert (result.overall.tp, result.overall.fp, result.overall.fn) == (
        len(matching.pairs), len(matching.unmatched_a), len(matching.unmatched_b))
