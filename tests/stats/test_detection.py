"""Detection metrics on hand-built examples with known matches, AP and fROC; readers' unscored boxes.

The expected numbers are worked out by hand in the comments (VOC 2010+ all-point AP: Everingham et al.
2010, doi:10.1007/s11263-009-0275-4; COCO 101-point AP and greedy matching: pycocotools cocoeval.py).
IoU and the matching rules themselves are tested in tests/test_geometry.py. No Django.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geometry import match_boxes
from stats.detection import (
    COCO_IOU_THRESHOLDS,
    average_precision,
    detection_prf,
    froc,
    mean_ap,
)

# Two images, class "disc", 3 ground-truth boxes; predictions by descending score:
#   0.9 exact hit on A                        -> TP
#   0.8 [1,1,10,10] on A (IoU 0.81), A taken  -> FP (duplicate)
#   0.7 nowhere near anything (image 2)       -> FP
#   0.6 exact hit on B                        -> TP
#   0.5 exact hit on C (image 2)              -> TP
# cumulative TP 1,1,1,2,3; FP 0,1,2,2,2; recall 1/3,1/3,1/3,2/3,1; precision 1,1/2,1/3,1/2,3/5.
EXAMPLE = [
    {
        "truth": [("disc", [0, 0, 10, 10]), ("disc", [20, 20, 30, 30])],
        "pred": [("disc", [0, 0, 10, 10], 0.9), ("disc", [1, 1, 10, 10], 0.8), ("disc", [20, 20, 30, 30], 0.6)],
    },
    {
        "truth": [("disc", [0, 0, 10, 10])],
        "pred": [("disc", [50, 50, 60, 60], 0.7), ("disc", [0, 0, 10, 10], 0.5)],
    },
]


# ------------------------------------------------------------------------------------------------------
# Precision / recall / F1


def test_detection_prf_hand_example_with_two_classes():
    images = [dict(EXAMPLE[0]), dict(EXAMPLE[1])]
    images[1] = {
        "truth": EXAMPLE[1]["truth"] + [("hiz", [30, 30, 40, 40])],
        # A "hiz" box on a disc's ground truth: class-aware matching makes it a false positive.
        "pred": EXAMPLE[1]["pred"] + [("hiz", [0, 0, 10, 10], 0.95)],
    }
    res = detection_prf(images)
    disc, hiz = res.per_class["disc"], res.per_class["hiz"]
    assert (disc.tp, disc.fp, disc.fn) == (3, 2, 0)
    assert (disc.precision, disc.recall, disc.f1) == pytest.approx((0.6, 1.0, 0.75))
    assert (hiz.tp, hiz.fp, hiz.fn) == (0, 1, 1)
    assert hiz.precision == 0.0 and hiz.recall == 0.0 and hiz.f1 == 0.0
    assert (res.overall.tp, res.overall.fp, res.overall.fn) == (3, 3, 1)
    assert res.overall.f1 == pytest.approx(6 / 10)
    # Operating point at score 0.55 keeps 0.9, 0.8, 0.7, 0.6 for "disc": TP 2, FP 2, FN 1.
    cut = detection_prf(EXAMPLE, score_threshold=0.55).per_class["disc"]
    assert (cut.tp, cut.fp, cut.fn) == (2, 2, 1)


def test_detection_prf_undefined_metrics_are_nan():
    res = detection_prf([{"truth": [], "pred": [("disc", [0, 0, 1, 1], 0.9)]}, {"truth": [], "pred": []}])
    assert math.isnan(res.per_class["disc"].recall)
    assert res.per_class["disc"].precision == 0.0 and res.n_images == 2


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ([], "no images"),
        ({"truth": [], "pred": []}, "list of per-image dicts"),
        ([{"pred": []}], "must be a dict with 'truth' and 'pred'"),
        ([{"truth": [("disc", [0, 0, 1, 1], 0.5)], "pred": []}], r"truth entries must be \(cls, box\)"),
        ([{"truth": [], "pred": [("disc", [0, 0, 1, 1])]}], r"pred entries must be \(cls, box, score\)"),
        ([{"truth": [], "pred": [("disc", [0, 0, 1, 1], float("nan"))]}], "scores must be finite"),
        ([{"truth": [("disc", [5, 0, 1, 1])], "pred": []}], "image 0 truth boxes must be"),
    ],
)
def test_detection_malformed_images_raise(images, message):
    with pytest.raises(ValueError, match=message):
        detection_prf(images)


# ------------------------------------------------------------------------------------------------------
# Average precision


def test_average_precision_all_point_hand_example():
    # VOC 2010+ all-point: precision envelope 1 on recall (0, 1/3], 0.6 on (1/3, 1]
    # -> AP = 1/3 * 1 + 2/3 * 0.6 = 0.7333...
    assert average_precision(EXAMPLE, "disc") == pytest.approx(1 / 3 + 0.4, abs=1e-12)


def test_average_precision_coco101_hand_example():
    # cocoeval: 101 recall thresholds; 0.00..0.33 (34 points) see precision 1, 0.34..1.00 (67) see 0.6
    # -> AP = (34 + 67 * 0.6) / 101.
    ap = average_precision(EXAMPLE, "disc", method="coco101")
    assert ap == pytest.approx((34 + 67 * 0.6) / 101, abs=1e-12)


def test_average_precision_edge_cases():
    perfect = [{"truth": [("disc", [0, 0, 10, 10])], "pred": [("disc", [0, 0, 10, 10], 0.3)]}]
    assert average_precision(perfect, "disc") == 1.0
    assert average_precision(perfect, "disc", method="coco101") == 1.0
    missed = [{"truth": [("disc", [0, 0, 10, 10])], "pred": [("disc", [50, 50, 60, 60], 0.9)]}]
    assert average_precision(missed, "disc") == 0.0
    assert average_precision([{"truth": [("disc", [0, 0, 1, 1])], "pred": []}], "disc") == 0.0
    assert math.isnan(average_precision(perfect, "hiz"))  # no ground truth: undefined
    # A false positive ranked above the only hit halves precision at full recall.
    fp_first = [
        {
            "truth": [("disc", [0, 0, 10, 10])],
            "pred": [("disc", [50, 50, 60, 60], 0.9), ("disc", [0, 0, 10, 10], 0.8)],
        }
    ]
    assert average_precision(fp_first, "disc") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="method must be one of"):
        average_precision(perfect, "disc", method="11point")


# ------------------------------------------------------------------------------------------------------
# mAP


def test_mean_ap_iou_sweep_hand_example():
    # One box with IoU 0.81: a hit at thresholds 0.50..0.80 (7 of 10), a miss at 0.85, 0.90, 0.95.
    images = [{"truth": [("disc", [0, 0, 10, 10])], "pred": [("disc", [1, 1, 10, 10], 0.9)]}]
    res = mean_ap(images)
    assert res.iou_thresholds == COCO_IOU_THRESHOLDS
    assert res.map50 == 1.0
    assert res.map50_95 == pytest.approx(0.7)
    assert res.per_threshold[0.8] == 1.0 and res.per_threshold[0.85] == 0.0
    np.testing.assert_allclose(res.per_class["disc"], [1] * 7 + [0] * 3)
    # np.arange thresholds (0.55000000000000004, ...) are recognised as the COCO set.
    assert mean_ap(images, iou_thresholds=np.arange(0.5, 0.96, 0.05)).map50_95 == pytest.approx(0.7)
    only50 = mean_ap(images, iou_thresholds=(0.5,))
    assert only50.map50 == 1.0 and math.isnan(only50.map50_95)


def test_mean_ap_averages_classes_with_ground_truth_only():
    images = [
        EXAMPLE[0],
        {
            "truth": EXAMPLE[1]["truth"] + [("hiz", [30, 30, 40, 40])],
            "pred": EXAMPLE[1]["pred"] + [("hiz", [30, 30, 40, 40], 0.4), ("schmorl", [0, 0, 5, 5], 0.9)],
        },
    ]
    res = mean_ap(images, iou_thresholds=(0.5,))
    # disc 0.7333, hiz 1.0, schmorl has no ground truth (NaN, excluded).
    assert res.per_class["disc"][0] == pytest.approx(1 / 3 + 0.4)
    assert res.per_class["hiz"][0] == 1.0
    assert math.isnan(res.per_class["schmorl"][0])
    assert res.map50 == pytest.approx(((1 / 3 + 0.4) + 1.0) / 2)
    with pytest.raises(ValueError, match="iou_thresholds must be non-empty"):
        mean_ap(images, iou_thresholds=())


# ------------------------------------------------------------------------------------------------------
# fROC


def test_froc_hand_example():
    res = froc(EXAMPLE)
    # Thresholds 0.9, 0.8, 0.7, 0.6, 0.5 over 2 images and 3 lesions.
    np.testing.assert_allclose(res.thresholds, [0.9, 0.8, 0.7, 0.6, 0.5])
    np.testing.assert_allclose(res.fp_per_image, [0, 0.5, 1, 1, 1])
    np.testing.assert_allclose(res.sensitivity, [1 / 3, 1 / 3, 1 / 3, 2 / 3, 1])
    # At 1/8, 1/4, 1/2 FP/image the best point is sensitivity 1/3; at 1, 2, 4, 8 it is 1.
    np.testing.assert_allclose(res.sensitivity_at, [1 / 3] * 3 + [1.0] * 4)
    assert res.cpm == pytest.approx((1 + 4) / 7)
    assert (res.n_images, res.n_truth) == (2, 3)


def test_froc_ties_form_one_operating_point_and_per_class():
    images = [
        {
            "truth": [("disc", [0, 0, 10, 10]), ("hiz", [20, 20, 30, 30])],
            "pred": [("disc", [0, 0, 10, 10], 0.5), ("disc", [40, 40, 50, 50], 0.5), ("hiz", [20, 20, 30, 30], 0.9)],
        }
    ]
    pooled = froc(images)
    np.testing.assert_allclose(pooled.thresholds, [0.9, 0.5])
    np.testing.assert_allclose(pooled.sensitivity, [0.5, 1.0])
    np.testing.assert_allclose(pooled.fp_per_image, [0.0, 1.0])
    disc = froc(images, cls="disc")
    np.testing.assert_allclose(disc.sensitivity, [1.0])
    assert disc.sensitivity_at[0] == 0.0  # 1/8 FP/image is never reached with the only threshold
    no_truth = froc([{"truth": [], "pred": [("disc", [0, 0, 1, 1], 0.5)]}])
    assert np.all(np.isnan(no_truth.sensitivity_at))


box_strategy = st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(1, 30), st.integers(1, 30)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
)

image_strategy = st.fixed_dictionaries(
    {
        "truth": st.lists(st.tuples(st.sampled_from(["disc", "hiz"]), box_strategy), max_size=4),
        "pred": st.lists(st.tuples(st.sampled_from(["disc", "hiz"]), box_strategy, st.floats(0.0, 1.0)), max_size=6),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(image_strategy, min_size=1, max_size=5))
def test_froc_monotone_and_consistent_with_prf(images):
    res = froc(images)
    assert np.all(np.diff(res.fp_per_image) >= 0)
    assert np.all(np.diff(res.thresholds) < 0)
    if res.n_truth:
        assert np.all(np.diff(res.sensitivity) >= 0)
        assert np.all((res.sensitivity >= 0) & (res.sensitivity <= 1))
        assert np.all(np.diff(res.sensitivity_at) >= 0)
        # The loosest operating point keeps every prediction: it equals detection_prf's overall recall.
        if res.sensitivity.size:
            assert res.sensitivity[-1] == pytest.approx(detection_prf(images).overall.recall)
    for cls in ("disc", "hiz"):
        ap = average_precision(images, cls)
        assert math.isnan(ap) or 0.0 <= ap <= 1.0


# ------------------------------------------------------------------------------------------------------
# Unscored boxes (a reader's): paired by the unscored rule, P/R/F1 only

# P0 overlaps both truths equally (IoU 0.4286), P1 fits T0 (IoU 0.9): at IoU 0.3 the unscored rule pairs both
# (P0-T1, P1-T0); greedy by score with P0 first takes T0 for P0 and leaves P1 without a partner.
CROSSED_TRUTH = [("disc", [0, 0, 10, 10]), ("disc", [8, 0, 18, 10])]
CROSSED_BOXES = [[4, 0, 14, 10], [0, 0, 9, 10]]


def test_unscored_boxes_pair_most_pairs_scored_ones_greedily():
    unscored = [{"truth": CROSSED_TRUTH, "pred": [("disc", box, None) for box in CROSSED_BOXES]}]
    res = detection_prf(unscored, iou_threshold=0.3)
    assert (res.overall.tp, res.overall.fp, res.overall.fn) == (2, 0, 0)
    scored = [{"truth": CROSSED_TRUTH, "pred": [("disc", box, s) for box, s in zip(CROSSED_BOXES, (0.9, 0.8))]}]
    res = detection_prf(scored, iou_threshold=0.3)
    assert (res.overall.tp, res.overall.fp, res.overall.fn) == (1, 1, 1)
    # Above both cross IoUs only P1-T0 (0.9) is left, under either rule.
    assert detection_prf(unscored, iou_threshold=0.5).overall.tp == detection_prf(scored, iou_threshold=0.5).overall.tp


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["disc", "hiz"]), box_strategy), max_size=5),
    st.lists(st.tuples(st.sampled_from(["disc", "hiz"]), box_strategy), max_size=5),
    st.floats(0.05, 1.0),
)
def test_unscored_counts_are_geometry_match_boxes_per_class(truth, boxes, threshold):
    res = detection_prf([{"truth": truth, "pred": [(c, box, None) for c, box in boxes]}], iou_threshold=threshold)
    for cls in ("disc", "hiz"):
        pairs = match_boxes([b for c, b in boxes if c == cls], [b for c, b in truth if c == cls], threshold)
        if cls in res.per_class:
            prf = res.per_class[cls]
            assert (prf.tp, prf.fp, prf.fn) == (len(pairs.pairs), len(pairs.unmatched_a), len(pairs.unmatched_b))
        else:
            assert not pairs.unmatched_a and not pairs.unmatched_b


UNSCORED = [{"truth": CROSSED_TRUTH, "pred": [("disc", CROSSED_BOXES[0], None)]}]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: average_precision(UNSCORED, "disc"), "average precision needs scored predictions"),
        (lambda: mean_ap(UNSCORED), "mean average precision needs scored predictions"),
        (lambda: froc(UNSCORED), "fROC needs scored predictions"),
        (lambda: detection_prf(UNSCORED, score_threshold=0.5), "score_threshold needs scored predictions"),
        (lambda: detection_prf([{"truth": [], "pred": [("disc", [0, 0, 1, 1], None), ("disc", [0, 0, 1, 1], 0.5)]}]),
         "image 0: predictions must all have a score or all have None"),
        (lambda: detection_prf(UNSCORED + [{"truth": [], "pred": [("disc", [0, 0, 1, 1], 0.5)]}]),
         "predictions must all have a score or all have None .*, not both"),
    ],
)
def test_unscored_boxes_have_no_ranking_and_do_not_mix(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_images_without_predictions_go_with_either_kind():
    empty = {"truth": [("disc", [0, 0, 10, 10])], "pred": []}
    res = detection_prf(UNSCORED + [empty], iou_threshold=0.3).overall
    assert (res.tp, res.fp, res.fn) == (1, 0, 2)
    assert froc([empty, {"truth": [], "pred": [("disc", [0, 0, 1, 1], 0.5)]}]).n_truth == 1
