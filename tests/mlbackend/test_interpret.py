"""Detections to placed findings: levels from positions along the spine, one box per level and finding."""
from dataclasses import replace

from annotation.schema import DEFAULT_SCHEMA, default_schema
from mlbackend.adapter import Detection
from mlbackend.interpret import ImageDetections, case_findings, confident, place_findings, structure_groups
from tests.mlbackend.conftest import axial, disc, sagittal


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
    slice_ = axial(Detection("hiz", 0.5, (10.0, 10.0, 20.0, 20.0)), disc(12, 3, 0.9),
                   Detection("schmorl", 0.7, (30.0, 30.0, 40.0, 40.0)))
    assert [(p.disc_level, p.finding_type, p.value) for p in place_findings(DEFAULT_SCHEMA, slice_)] == [
        ("L5/S1", "hiz", "present")]
    assert place_findings(DEFAULT_SCHEMA, sagittal(Detection("hiz", 0.9, (1.0, 1.0, 5.0, 5.0)))) == []


def test_a_case_shows_one_confident_box_per_plane_level_and_finding():
    """Three sagittal slices see the same discs: readers get each disc's box once, from the middle slice (where
    the viewer opens) even when a neighbour is more confident, other slices adding only what it lacks, nothing
    below the threshold; an axial slice's finding at the same level stays (it is read on its own plane)."""
    middle = sagittal(*[disc(40 + 50 * i, grade=3, score=0.9) for i in range(5)], instance_id=1)
    beside = replace(sagittal(*[disc(40 + 50 * i, grade=3, score=0.95) for i in range(5)],
                              Detection("hiz", 0.1, (100.0, 240.0, 108.0, 248.0)), instance_id=2), rank=5)
    slice_ = axial(Detection("herniation_bulge", 0.5, (10.0, 10.0, 20.0, 20.0)), instance_id=3)
    sagittal_bulge = Detection("herniation_bulge", 0.7, (140.0, 238.0, 150.0, 250.0))

    shown = case_findings(DEFAULT_SCHEMA, [middle, beside, slice_, sagittal(sagittal_bulge, disc(240), instance_id=4)],
                          threshold=0.25)

    by_key = {(p.disc_level, p.finding_type, p.instance_id): p.score for p in shown}
    assert sorted(by_key) == [("L1/L2", "pfirrmann", 1), ("L2/L3", "pfirrmann", 1), ("L3/L4", "pfirrmann", 1),
                              ("L4/L5", "pfirrmann", 1), ("L5/S1", "herniation", 3), ("L5/S1", "herniation", 4),
                              ("L5/S1", "pfirrmann", 1)]


def test_axial_slices_spread_over_the_levels_when_the_series_has_another_length():
    hiz = Detection("hiz", 0.5, (10.0, 10.0, 20.0, 20.0))
    five = [place_findings(DEFAULT_SCHEMA, axial(hiz, rank=rank))[0].disc_level for rank in range(5)]
    assert five == ["L5/S1", "L4/L5", "L3/L4", "L2/L3", "L1/L2"]
    nine = [place_findings(DEFAULT_SCHEMA, ImageDetections(instance_id=1, plane="axial", rank=rank, series_length=9,
                                                           detections=(hiz,)))[0].disc_level for rank in range(9)]
    # rank * 4/8 rounded half to even (Python's round): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4
    assert nine == ["L5/S1", "L5/S1", "L4/L5", "L3/L4", "L3/L4", "L3/L4", "L2/L3", "L1/L2", "L1/L2"]


def test_no_disc_on_a_sagittal_image_or_a_class_outside_the_schema_places_nothing():
    assert place_findings(DEFAULT_SCHEMA, sagittal(Detection("herniation_bulge", 0.9, (1.0, 1.0, 5.0, 5.0)))) == []
    placed = place_findings(DEFAULT_SCHEMA, sagittal(disc(100), Detection("fracture", 0.9, (100.0, 100.0, 140.0, 112.0))))
    assert [(p.disc_level, p.finding_type) for p in placed] == [("L5/S1", "pfirrmann")]


def test_the_anchor_and_planes_come_from_the_schema():
    """A project whose schema reads herniation on sagittal images only drops it from axial slices; one without
    the disc grade's classes has no anchor, so nothing is placed on sagittal images."""
    schema = default_schema()
    next(f for f in schema["findings"] if f["name"] == "herniation")["planes"] = ["sagittal"]
    bulge = Detection("herniation_bulge", 0.5, (10.0, 10.0, 20.0, 20.0))
    assert [p.finding_type for p in place_findings(DEFAULT_SCHEMA, axial(bulge))] == ["herniation"]
    assert place_findings(schema, axial(bulge)) == []

    schema = default_schema()
    schema["findings"] = [f for f in schema["findings"] if f["name"] != "pfirrmann"]
    assert place_findings(schema, sagittal(disc(100), Detection("hiz", 0.9, (100.0, 100.0, 140.0, 112.0)))) == []


def test_structure_groups_join_boxes_overlapping_the_best_one():
    best, beside, apart = disc(100, 3, 0.9), disc(101, 4, 0.6), disc(200, 3, 0.8)
    assert structure_groups([beside, apart, best]) == [[best, beside], [apart]]
    assert structure_groups([]) == []
    # IoU of boxes 1 px apart in y is 11/13 = 0.846: at a threshold above it they are two structures
    assert structure_groups([best, beside], threshold=0.85) == [[best], [beside]]


def test_confident_keeps_boxes_at_or_above_the_threshold():
    image = sagittal(disc(100, score=0.25), disc(200, score=0.2499))
    assert [d.score for d in confident(image, 0.25).detections] == [0.25]
