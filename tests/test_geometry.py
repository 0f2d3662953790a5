"""Box geometry: IoU, the matching rules, validity and clamping, and the relative box forms.

References: IoU and the unscored rule are checked against slow loops written out below (a scalar IoU, every
one-to-one assignment enumerated); the scored rule against a greedy loop as in pycocotools' cocoeval.py
evaluateImg (predictions by descending score, each taking the free box of highest IoU >= threshold; the first
such box on ties, as geometry documents). Label Studio's rectangle is x, y, width, height in percent of the image; YOLO's label is the
normalised centre and size. No Django.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geometry import (
    as_boxes,
    box_clamp,
    box_inside,
    box_mean,
    greedy_matches,
    iou,
    iou_matrix,
    match_boxes,
    normalised_centre_to_pixel,
    percent_to_pixel,
    pixel_to_normalised_centre,
    pixel_to_percent,
)


def slow_iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def slow_greedy(overlap, threshold):
    """The greedy loop for rows already in descending score order: {row: column} of the pairs."""
    taken, pairs = set(), {}
    for p in range(overlap.shape[0]):
        free = [g for g in range(overlap.shape[1]) if g not in taken and overlap[p, g] >= threshold]
        if free:
            best = max(free, key=lambda g: (overlap[p, g], -g))  # the highest IoU, the first box on ties
            taken.add(best)
            pairs[p] = best
    return pairs


def slow_most_pairs(overlap, threshold):
    """Every one-to-one assignment: the largest number of pairs with IoU >= threshold, then the largest total."""
    n_a, n_b = overlap.shape
    best = (0, 0.0)
    for size in range(min(n_a, n_b), 0, -1):
        for rows in itertools.combinations(range(n_a), size):
            for cols in itertools.permutations(range(n_b), size):
                ious = [overlap[r, c] for r, c in zip(rows, cols)]
                if all(v >= threshold for v in ious):
                    best = max(best, (size, sum(ious)))
        if best[0]:
            break
    return best


def random_boxes(rng, n, spread=40.0, size=20.0):
    corner = rng.uniform(0, spread, size=(n, 2))
    return np.hstack([corner, corner + rng.uniform(0.5, size, size=(n, 2))])


# ------------------------------------------------------------------------------------------------------
# IoU


def test_iou_hand_values():
    a = [[0, 0, 10, 10], [5, 5, 15, 15]]
    b = [[0, 0, 10, 10], [1, 1, 10, 10], [10, 10, 20, 20], [0, 0, 5, 20]]
    overlap = iou_matrix(a, b)
    assert overlap.shape == (2, 4)
    assert overlap[0, 0] == 1.0
    assert overlap[0, 1] == pytest.approx(81 / 100)
    assert overlap[0, 2] == 0.0  # touching corners
    assert overlap[0, 3] == pytest.approx(50 / 150)
    assert overlap[1, 0] == pytest.approx(25 / 175)
    assert iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)


def test_iou_matrix_equals_the_scalar_loop_on_random_boxes():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 30, spread=100), random_boxes(rng, 20, spread=100)
    expected = np.array([[slow_iou(x, y) for y in b] for x in a])
    np.testing.assert_allclose(iou_matrix(a, b), expected, atol=1e-12)
    np.testing.assert_allclose(iou_matrix(a, b), iou_matrix(b, a).T, atol=1e-15)
    assert np.all((iou_matrix(a, b) >= 0) & (iou_matrix(a, b) <= 1))


def test_iou_empty_single_and_zero_area_boxes():
    assert iou_matrix(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)
    assert iou_matrix([], []).shape == (0, 0)
    np.testing.assert_allclose(iou_matrix([0, 0, 2, 2], [1, 1, 3, 3]), [[1 / 7]])
    assert iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0  # two zero-area boxes: 0, not 0/0
    assert iou([5, 5, 5, 5], [0, 0, 10, 10]) == 0.0  # a point inside a box
    assert iou([0, 0, 10, 0], [0, 0, 10, 10]) == 0.0  # a line along its edge


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ([[0, 0, 10]], r"shape \(n, 4\) as \[x0, y0, x1, y1\], got \(1, 3\)"),
        ([[[0, 0, 1, 1]]], r"shape \(n, 4\)"),
        ([[10, 0, 0, 10]], "x1 >= x0 and y1 >= y0"),
        ([[0, 10, 10, 0]], "x1 >= x0 and y1 >= y0"),
        ([[0, 0, np.nan, 10]], "missing or infinite"),
        ([[0, 0, np.inf, 10]], "missing or infinite"),
        ([["a", 0, 1, 1]], "numeric"),
        ([[0, 0, 1, 1], [0, 0, 1]], "numeric"),
    ],
)
def test_malformed_boxes_raise(boxes, message):
    with pytest.raises(ValueError, match=f"^boxes a .*{message}"):
        iou_matrix(boxes, [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=message):
        as_boxes(boxes, "reader boxes")


def test_as_boxes_shapes_and_names():
    assert as_boxes([1, 2, 3, 4]).shape == (1, 4)
    assert as_boxes([]).shape == (0, 4)
    with pytest.raises(ValueError, match="^reader boxes must be"):
        as_boxes([[3, 0, 1, 1]], "reader boxes")


# ------------------------------------------------------------------------------------------------------
# Matching: the unscored rule (most pairs, then largest total IoU)


def test_unscored_rule_pairs_both_boxes_of_crossed_partners():
    # a0-b0 0.54, a0-b1 0.67, a1-b0 0.67, a1-b1 0.18: at 0.5 both a's pair, a0-b1 and a1-b0.
    a = [(0, 0, 10, 10), (5, 0, 15, 10)]
    b = [(3, 0, 13, 10), (-2, 0, 8, 10)]
    matching = match_boxes(a, b, 0.5)
    assert matching.pairs == [(0, 1), (1, 0)]
    assert matching.ious == pytest.approx([80 / 120, 80 / 120])
    assert matching.unmatched_a == [] and matching.unmatched_b == []


def test_most_pairs_come_before_the_largest_total_iou():
    # a0-b0 0.90, a0-b1 0.35, a1-b0 0.32, a1-b1 0: the largest total (a0-b0 and a1-b1) keeps one pair at 0.3.
    a = [(10.0, 10.0, 20.0, 20.0), (15.5, 10.0, 23.0, 20.0)]
    b = [(10.5, 10.0, 19.5, 20.0), (7.0, 10.0, 14.5, 20.0)]
    assert match_boxes(a, b, 0.3).pairs == [(0, 1), (1, 0)]
    assert match_boxes(a, b, 0.5).pairs == [(0, 0)]
    assert match_boxes(a, b, 0.5).unmatched_a == [1] and match_boxes(a, b, 0.5).unmatched_b == [1]


def test_scored_rule_is_greedy_by_score_and_differs_from_the_unscored_rule():
    # P0 overlaps both truths equally (IoU 0.4286) and has the higher score; P1 fits T0 (IoU 0.9).
    truth = [[0, 0, 10, 10], [8, 0, 18, 10]]
    pred = [[4, 0, 14, 10], [0, 0, 9, 10]]
    greedy = match_boxes(pred, truth, 0.3, scores=[0.9, 0.8])
    assert greedy.pairs == [(0, 0)] and greedy.unmatched_a == [1] and greedy.unmatched_b == [1]
    assert match_boxes(pred, truth, 0.3).pairs == [(0, 1), (1, 0)]
    # The lower score first: P1 takes T0, then P0 takes T1.
    assert match_boxes(pred, truth, 0.3, scores=[0.1, 0.8]).pairs == [(0, 1), (1, 0)]


def test_scored_rule_takes_the_best_free_box_and_keeps_input_order_on_tied_scores():
    truth = [[0, 0, 10, 10], [20, 0, 30, 10]]
    pred = [[1, 0, 11, 10], [0, 0, 10, 10], [21, 0, 31, 10]]
    res = match_boxes(pred, truth, 0.5, scores=[0.5, 0.9, 0.8])
    # Score order: pred 1 (exact on truth 0), pred 2 (truth 1), pred 0 (truth 0 taken).
    assert res.pairs == [(1, 0), (2, 1)] and res.unmatched_a == [0] and res.unmatched_b == []
    tied = match_boxes(pred, truth, 0.5, scores=[0.7, 0.7, 0.7])
    assert tied.pairs == [(0, 0), (2, 1)] and tied.unmatched_a == [1]


@pytest.mark.parametrize("seed", range(25))
def test_rules_equal_their_slow_references_on_random_boxes(seed):
    rng = np.random.default_rng(seed)
    a, b = random_boxes(rng, int(rng.integers(0, 6))), random_boxes(rng, int(rng.integers(0, 6)))
    threshold = float(rng.uniform(0.05, 0.9))
    overlap = iou_matrix(a, b)
    unscored = match_boxes(a, b, threshold)
    assert (len(unscored.pairs), sum(unscored.ious)) == pytest.approx(slow_most_pairs(overlap, threshold))
    scores = rng.random(len(a))
    order = np.argsort(-scores, kind="stable")
    expected = {int(order[p]): g for p, g in slow_greedy(overlap[order], threshold).items()}
    assert match_boxes(a, b, threshold, scores=scores).pairs == sorted(expected.items())
    for matching in (unscored, match_boxes(a, b, threshold, scores=scores)):
        assert all(v >= threshold for v in matching.ious)
        assert sorted(matching.unmatched_a + [i for i, _ in matching.pairs]) == list(range(len(a)))
        assert sorted(matching.unmatched_b + [j for _, j in matching.pairs]) == list(range(len(b)))


def test_threshold_bounds_are_inclusive_and_checked():
    half = ([[0, 0, 10, 5]], [[0, 0, 10, 10]])  # IoU exactly 0.5
    assert match_boxes(*half, 0.5).pairs == [(0, 0)]
    assert match_boxes(*half, 0.5, scores=[1.0]).pairs == [(0, 0)]
    assert match_boxes(*half, 0.500001).pairs == []
    assert match_boxes([[0, 0, 1, 1]], [[0, 0, 1, 1]], 1.0).pairs == [(0, 0)]  # identical boxes at 1
    for threshold in (0, -0.1, 1.01):
        with pytest.raises(ValueError, match=r"iou_threshold must be in \(0, 1\]"):
            match_boxes([[0, 0, 1, 1]], [[0, 0, 1, 1]], threshold)


def test_matching_with_nothing_on_one_side():
    empty = match_boxes([], [[0, 0, 1, 1]], 0.5)
    assert (empty.pairs, empty.ious, empty.unmatched_a, empty.unmatched_b) == ([], [], [], [0])
    assert match_boxes([[0, 0, 1, 1]], [], 0.5, scores=[0.3]).unmatched_a == [0]


@pytest.mark.parametrize(
    ("scores", "message"),
    [([0.5], "scores has 1 values for 2 boxes"), ([0.5, np.nan], "missing or infinite")],
)
def test_bad_scores_raise(scores, message):
    with pytest.raises(ValueError, match=message):
        match_boxes([[0, 0, 1, 1], [0, 0, 2, 2]], [[0, 0, 1, 1]], 0.5, scores=scores)


# ------------------------------------------------------------------------------------------------------
# greedy_matches at several thresholds at once


def test_greedy_matches_hand_example_at_three_thresholds():
    # Rows by descending score. P0 vs T0 81/100, vs T1 31.5/94.5; P1 vs T0 64/100, vs T1 36/73.
    truth = [[0, 0, 10, 10], [0, 0, 10, 4.5]]
    pred = [[1, 1, 10, 10], [0, 0, 8, 8]]
    overlap = iou_matrix(pred, truth)
    np.testing.assert_allclose(overlap, [[0.81, 31.5 / 94.5], [0.64, 36 / 73]])
    matched, index = greedy_matches(overlap, np.array([0.4, 0.7, 0.9]))
    # 0.4: P0 takes T0 (its best), P1 the free T1 (0.49). 0.7: P0-T0, and P1 reaches 0.7 with nothing. 0.9: none.
    np.testing.assert_array_equal(matched, [[True, True, False], [True, False, False]])
    np.testing.assert_array_equal(index, [[0, 0, -1], [1, -1, -1]])


@pytest.mark.parametrize("seed", range(15))
def test_greedy_matches_equals_one_threshold_at_a_time(seed):
    rng = np.random.default_rng(100 + seed)
    overlap = iou_matrix(random_boxes(rng, int(rng.integers(0, 8))), random_boxes(rng, int(rng.integers(0, 8))))
    thresholds = np.array([0.1, 0.3, 0.5, 0.75])
    matched, index = greedy_matches(overlap, thresholds)
    assert matched.shape == index.shape == (overlap.shape[0], 4)
    for t, threshold in enumerate(thresholds):
        pairs = slow_greedy(overlap, threshold)
        assert {p: int(index[p, t]) for p in np.flatnonzero(matched[:, t])} == pairs
        assert np.all(index[~matched[:, t], t] == -1)


def test_greedy_matches_without_other_boxes():
    matched, index = greedy_matches(np.zeros((3, 0)), np.array([0.5, 0.75]))
    assert not matched.any() and np.all(index == -1) and matched.shape == (3, 2)


# ------------------------------------------------------------------------------------------------------
# Validity, clamping, mean


@pytest.mark.parametrize(
    ("box", "inside"),
    [
        ((0, 0, 64, 48), True),
        ((10, 10, 20, 20), True),
        ((10, 10, 10, 20), False),  # no width
        ((10, 20, 20, 20), False),  # no height
        ((-1, 0, 10, 10), False),
        ((0, 0, 64.5, 10), False),
        ((0, 0, 10, 49), False),
        ((20, 10, 10, 20), False),  # x1 < x0
    ],
)
def test_box_inside(box, inside):
    assert box_inside(box, 64, 48) is inside


def test_box_clamp_and_mean():
    assert box_clamp((-5, 10, 70, 50), 64, 48) == (0.0, 10.0, 64.0, 48.0)
    assert box_clamp((1, 2, 3, 4), 64, 48) == (1.0, 2.0, 3.0, 4.0)
    assert box_clamp((70, -3, 80, -1), 64, 48) == (64.0, 0.0, 64.0, 0.0)  # wholly outside: an empty box
    assert box_mean((0, 0, 10, 10), (2, 4, 12, 14)) == (1.0, 2.0, 11.0, 12.0)
    assert all(isinstance(v, float) for v in box_mean((0, 0, 1, 1), (1, 1, 2, 2)))


# ------------------------------------------------------------------------------------------------------
# Relative forms: Label Studio percent, YOLO normalised centre


def test_percent_and_normalised_centre_hand_values():
    box = (10, 20, 30, 60)
    assert pixel_to_percent(box, 100, 200) == pytest.approx((10.0, 10.0, 20.0, 20.0))
    assert percent_to_pixel(10, 10, 20, 20, 100, 200) == pytest.approx(box)
    assert pixel_to_normalised_centre(box, 100, 200) == pytest.approx((0.2, 0.2, 0.2, 0.2))
    assert normalised_centre_to_pixel(0.2, 0.2, 0.2, 0.2, 100, 200) == pytest.approx(box)
    assert pixel_to_percent((0, 0, 640, 480), 640, 480) == (0.0, 0.0, 100.0, 100.0)
    assert pixel_to_normalised_centre((0, 0, 640, 480), 640, 480) == (0.5, 0.5, 1.0, 1.0)


boxes_in_images = st.tuples(st.integers(1, 4096), st.integers(1, 4096)).flatmap(
    lambda size: st.tuples(
        st.just(size),
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)).map(
            lambda f: (min(f[0], f[2]) * size[0], min(f[1], f[3]) * size[1], max(f[0], f[2]) * size[0],
                       max(f[1], f[3]) * size[1])
        ),
    )
)


@settings(max_examples=200, deadline=None)
@given(boxes_in_images)
def test_relative_forms_round_trip(size_and_box):
    (width, height), box = size_and_box
    tolerance = 1e-9 * max(width, height)
    back = percent_to_pixel(*pixel_to_percent(box, width, height), width, height)
    assert back == pytest.approx(box, abs=tolerance)
    back = normalised_centre_to_pixel(*pixel_to_normalised_centre(box, width, height), width, height)
    assert back == pytest.approx(box, abs=tolerance)
    x, y, w, h = pixel_to_percent(box, width, height)
    assert 0 <= x <= 100 and 0 <= y <= 100 and 0 <= w <= 100 and 0 <= h <= 100
    cx, cy, nw, nh = pixel_to_normalised_centre(box, width, height)
    assert 0 <= cx <= 1 and 0 <= cy <= 1 and 0 <= nw <= 1 and 0 <= nh <= 1
