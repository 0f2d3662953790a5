"""Pre-annotation on ingest, levels from positions along the spine, and the active-learning order."""
from dataclasses import replace

import pytest

from annotation.models import Case, Finding, Source
from annotation.schema import DEFAULT_SCHEMA
from annotation.selectors import worklist_for_reader
from mlbackend import services
from mlbackend.adapter import Detection
from mlbackend.interpret import ImageDetections, case_findings, informativeness, place_findings
from mlbackend.models import CaseInformativeness
from tests.mlbackend.conftest import import_phantom, register_served


def disc(y, grade=3, score=0.9):
    return Detection(f"disc_p{grade}", score, (100.0, y, 140.0, y + 12))


def sagittal(*detections, instance_id=1):
    return ImageDetections(instance_id=instance_id, plane="sagittal", rank=6, series_length=13,
                           detections=tuple(detections), image_height=384)


def test_sagittal_levels_come_from_disc_order_lowest_is_l5_s1():
    # six discs in view (T12/L1 at the top), a protrusion behind the fifth, a slipped vertebra above the last
    discs = [disc(y, grade=g) for y, g in zip((40, 90, 140, 190, 240, 290), (1, 2, 2, 3, 4, 5))]
    protrusion = Detection("herniation_protrusion", 0.7, (140.0, 238.0, 150.0, 250.0))
    slip = Detection("listhesis", 0.6, (80.0, 255.0, 140.0, 280.0))
    placed = {(p.disc_level, p.finding_type): p for p in place_findings(DEFAULT_SCHEMA, sagittal(*discs, protrusion, slip))}

    assert {level: placed[(level, "pfirrmann")].value for level in DEFAULT_SCHEMA["levels"]} == {
        "L1/L2": "2", "L2/L3": "2", "L3/L4": "3", "L4/L5": "4", "L5/S1": "5"}
    assert placed[("L4/L5", "herniation")].value == "protrusion"
    assert placed[("L5/S1", "listhesis")].value == "1"
    assert len(placed) == 7


def test_overlapping_grades_of_one_disc_keep_the_best_and_axial_slices_map_caudal_first():
    placed = place_findings(DEFAULT_SCHEMA, sagittal(disc(100, 3, 0.6), disc(101, 4, 0.8)))
    assert [(p.disc_level, p.value, p.score) for p in placed] == [("L5/S1", "4", 0.8)]
    # a class read on sagittal images only (Pfirrmann, Schmorl, Meyerding) is not placed from an axial slice
    axial = ImageDetections(instance_id=9, plane="axial", rank=0, series_length=5,
                            detections=(Detection("hiz", 0.5, (10.0, 10.0, 20.0, 20.0)), disc(12, 3, 0.9),
                                        Detection("schmorl", 0.7, (30.0, 30.0, 40.0, 40.0))))
    assert [(p.disc_level, p.finding_type, p.value) for p in place_findings(DEFAULT_SCHEMA, axial)] == [
        ("L5/S1", "hiz", "present")]
    assert place_findings(DEFAULT_SCHEMA, sagittal(Detection("hiz", 0.9, (1.0, 1.0, 5.0, 5.0)))) == []


def test_a_case_shows_one_confident_box_per_plane_level_and_finding():
    """Three sagittal slices see the same discs: readers get each disc's box once, from the middle slice (where
    the viewer opens) even when a neighbour is more confident, other slices adding only what it lacks, nothing
    below the threshold; an axial slice's finding at the same level stays (it is read on its own plane)."""
    middle = sagittal(*[disc(40 + 50 * i, grade=3, score=0.9) for i in range(5)], instance_id=1)
    beside = replace(sagittal(*[disc(40 + 50 * i, grade=3, score=0.95) for i in range(5)],
                              Detection("hiz", 0.1, (100.0, 240.0, 108.0, 248.0)), instance_id=2), rank=5)
    axial = ImageDetections(instance_id=3, plane="axial", rank=0, series_length=5,
                            detections=(Detection("herniation_bulge", 0.5, (10.0, 10.0, 20.0, 20.0)),))
    sagittal_bulge = Detection("herniation_bulge", 0.7, (140.0, 238.0, 150.0, 250.0))

    shown = case_findings(DEFAULT_SCHEMA, [middle, beside, axial, sagittal(sagittal_bulge, disc(240), instance_id=4)],
                          threshold=0.25)

    by_key = {(p.disc_level, p.finding_type, p.instance_id): p.score for p in shown}
    assert sorted(by_key) == [("L1/L2", "pfirrmann", 1), ("L2/L3", "pfirrmann", 1), ("L3/L4", "pfirrmann", 1),
                              ("L4/L5", "pfirrmann", 1), ("L5/S1", "herniation", 3), ("L5/S1", "herniation", 4),
                              ("L5/S1", "pfirrmann", 1)]


def test_informativeness_rewards_uncertainty_disagreement_and_rare_classes():
    five = [disc(40 + 50 * i, grade=3, score=0.95) for i in range(5)]
    confident = informativeness(DEFAULT_SCHEMA, [sagittal(*five)])
    torn = informativeness(DEFAULT_SCHEMA, [sagittal(*five[:4], disc(240, 3, 0.5), disc(241, 4, 0.45))])
    rare = informativeness(DEFAULT_SCHEMA, [sagittal(*five[:4], disc(240, 5, 0.95))])
    nothing = informativeness(DEFAULT_SCHEMA, [sagittal()])
    axial_hiz = ImageDetections(instance_id=2, plane="axial", rank=0, series_length=5,
                                detections=(Detection("hiz", 0.9, (1.0, 1.0, 9.0, 9.0)),))
    disagree = informativeness(DEFAULT_SCHEMA, [sagittal(*five), axial_hiz])

    assert torn["uncertainty"] > confident["uncertainty"]
    assert nothing["uncertainty"] == 1.0 and nothing["score"] > confident["score"]
    assert rare["rare_bonus"] == 0.95 and confident["rare_bonus"] == 0.0 and rare["score"] > confident["score"]
    assert disagree["plane_disagreement"] == 0.2 and confident["plane_disagreement"] == 0.0


@pytest.mark.slow
def test_ingest_pre_annotates_with_the_served_model_and_orders_the_worklist(
        ml_project, phantom_dir, tiny_weights, reader, monkeypatch, django_capture_on_commit_callbacks, eager_tasks):
    folder, truth = phantom_dir
    version = register_served(ml_project, tiny_weights, conf=0.001)
    predicted_batches = []
    real_predict = services.preannotation.adapter_for(tiny_weights, version.sha256).__class__.predict

    def recording_predict(self, images, **kwargs):
        predicted_batches.append(len(images))
        return real_predict(self, images, **kwargs)

    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.predict", recording_predict)
    with django_capture_on_commit_callbacks(execute=True):
        first = import_phantom(ml_project, folder, truth["cases"][0])
    with django_capture_on_commit_callbacks(execute=True):
        second = import_phantom(ml_project, folder, truth["cases"][1])

    # one batch per series: three mid-sagittal slices, five axial slices
    assert predicted_batches == [3, 5, 3, 5]
    for case in (first, second):
        assert CaseInformativeness.objects.get(case=case).model_version == "ml-v1"
        findings = Finding.objects.filter(case=case)
        assert all(f.source == Source.MODEL and f.model_version == "ml-v1" and f.read_id is None for f in findings)
        assert all(f.disc_level in DEFAULT_SCHEMA["levels"] and f.x0 < f.x1 for f in findings)
    scores = {c.pk: CaseInformativeness.objects.get(case=c).score for c in (first, second)}
    assert {c.pk: c.priority for c in Case.objects.all()} == scores
    services_case = __import__("annotation.services", fromlist=["case_assign"])
    for case in (first, second):
        services_case.case_assign(case=case, user=reader, role="reader")
    order = [row["case"].pk for row in worklist_for_reader(reader)]
    assert order == sorted(scores, key=lambda pk: (-scores[pk], pk))


def test_pre_annotation_stores_placed_findings_exactly(ml_project, phantom_dir, tiny_weights, monkeypatch, eager_tasks,
                                                       django_capture_on_commit_callbacks):
    folder, truth = phantom_dir
    register_served(ml_project, tiny_weights)

    def fixed_predict(self, images, **kwargs):
        if len(images) == 3:  # sagittal: five discs on the middle slice
            return [[], [disc(40 + 50 * i, grade=2 + (i == 4)) for i in range(5)], []]
        return [[Detection("herniation_extrusion", 0.8, (5.0, 5.0, 30.0, 20.0))]] + [[] for _ in images[1:]]

    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.predict", fixed_predict)
    with django_capture_on_commit_callbacks(execute=True):
        case = import_phantom(ml_project, folder, truth["cases"][2])

    rows = sorted(Finding.objects.filter(case=case).values_list("disc_level", "finding_type", "value",
                                                                "instance__series__plane"))
    assert rows == [("L1/L2", "pfirrmann", "2", "sagittal"), ("L2/L3", "pfirrmann", "2", "sagittal"),
                    ("L3/L4", "pfirrmann", "2", "sagittal"), ("L4/L5", "pfirrmann", "2", "sagittal"),
                    ("L5/S1", "herniation", "extrusion", "axial"), ("L5/S1", "pfirrmann", "3", "sagittal")]
    mid = case.series.get(plane="sagittal").instances.all()[len(case.series.get(plane="sagittal").instances.all()) // 2]
    assert set(Finding.objects.filter(case=case, finding_type="pfirrmann").values_list("instance", flat=True)) == {mid.pk}
