"""The agreement engine on plain data: values, boxes, Hungarian matching, positive-only mode."""

from annotation.agreement import ReadItem, compare_reads


def grades(**levels):
    return [ReadItem(level.replace("_", "/"), "pfirrmann", str(v)) for level, v in levels.items()]


def test_identical_reads_agree_on_everything():
    read = grades(L4_L5=3, L5_S1=4) + [ReadItem("L4/L5", "herniation", "protrusion", 7, (10, 10, 30, 20))]
    result = compare_reads(read, list(read))
    assert result.disagreements == []
    assert len(result.agreed) == 3
    assert result.agreed[-1].box == (10.0, 10.0, 30.0, 20.0)


def test_one_differing_grade_is_exactly_one_value_disagreement():
    result = compare_reads(grades(L3_L4=2, L4_L5=3), grades(L3_L4=2, L4_L5=4))
    assert [(d.kind, d.disc_level, d.value_a, d.value_b) for d in result.disagreements] == \
        [("value", "L4/L5", "3", "4")]
    assert [(a.disc_level, a.value) for a in result.agreed] == [("L3/L4", "2")]


def test_missing_value_disagrees_in_exhaustive_mode_but_not_in_positive_only():
    a = [ReadItem("L4/L5", "hiz", "absent")]
    exhaustive = compare_reads(a, [])
    positive_only = compare_reads(a, [], negative_values={"hiz": "absent"})
    assert [(d.value_a, d.value_b) for d in exhaustive.disagreements] == [("absent", None)]
    assert positive_only.disagreements == [] and positive_only.agreed[0].value == "absent"


def test_boxes_match_at_iou_threshold_one_to_one():
    a = [ReadItem("L4/L5", "herniation", "protrusion", 1, (0, 0, 10, 10)),
         ReadItem("L4/L5", "herniation", "protrusion", 1, (20, 0, 30, 10))]
    b = [ReadItem("L4/L5", "herniation", "protrusion", 1, (21, 0, 31, 10)),  # IoU 9/11 with a[1]
         ReadItem("L4/L5", "herniation", "protrusion", 1, (0, 6, 10, 16))]  # IoU 4/16 with a[0]: too low
    result = compare_reads(a, b, iou_threshold=0.5)
    assert len([x for x in result.agreed if x.box]) == 1
    assert result.agreed[0].box == (20.5, 0.0, 30.5, 10.0)
    assert sorted((d.box_a is not None, d.box_b is not None) for d in result.disagreements) == \
        [(False, True), (True, False)]


def test_boxes_on_different_images_or_levels_never_match():
    a = [ReadItem("L4/L5", "hiz", "present", 1, (0, 0, 10, 10))]
    b = [ReadItem("L4/L5", "hiz", "present", 2, (0, 0, 10, 10)), ReadItem("L5/S1", "hiz", "present", 1, (0, 0, 10, 10))]
    assert len(compare_reads(a, b).disagreements) == 3


def test_threshold_is_the_projects_setting():
    a = [ReadItem("L4/L5", "schmorl", "present", 1, (0, 0, 10, 10))]
    b = [ReadItem("L4/L5", "schmorl", "present", 1, (3, 0, 13, 10))]  # IoU 7/13 = 0.538
    assert compare_reads(a, b, iou_threshold=0.5).disagreements == []
    assert len(compare_reads(a, b, iou_threshold=0.6).disagreements) == 2
