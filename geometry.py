"""Box geometry: the one owner of IoU, of the rule that pairs two sets of boxes, of what a valid box is, and of
the conversions between pixels and the relative forms other tools use (Label Studio's percentages, YOLO's
normalised centre and size).

Pure numpy/scipy, no Django: the agreement engine (annotation), the statistics (stats), the dashboard (studies),
the ML backend and the interchange formats all import it, and nothing here imports them.

A box is ``(x0, y0, x1, y1)`` in pixels of the image it lies on, with x1 >= x0 and y1 >= y0.

The matching rule
-----------------
Two sets of boxes without scores (two readers, a reader and the ground truth) are paired one-to-one so that the
number of pairs with IoU >= the threshold is as large as possible and, among such pairings, their total IoU is
largest (Hungarian algorithm). Counting pairs first means one reader's loose box never steals the partner of a
tight one and leaves both unmatched. Boxes with scores (the model's detections) are matched greedily by
descending score, each taking the free box with the highest IoU >= threshold, as the COCO evaluation does: AP
and fROC are defined that way. The threshold is the project's ``box_iou_threshold``; callers pass it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]


def as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """Boxes as an (n, 4) float array; a single box may be given as shape (4,).

    Raises:
        ValueError: wrong shape, non-finite coordinates, or x1 < x0 / y1 < y0.
    """
    try:
        arr = np.asarray(boxes, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric [x0, y0, x1, y1] boxes") from None
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (n, 4) as [x0, y0, x1, y1], got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain missing or infinite coordinates")
    if np.any(arr[:, 2] < arr[:, 0]) or np.any(arr[:, 3] < arr[:, 1]):
        raise ValueError(f"{name} must be [x0, y0, x1, y1] with x1 >= x0 and y1 >= y0")
    return arr


def iou_matrix(boxes_a, boxes_b) -> np.ndarray:
    """IoU of every box in ``boxes_a`` (n) with every box in ``boxes_b`` (m), shape (n, m), in [0, 1].

    Two zero-area boxes, or boxes that do not overlap, give 0. Raises ValueError as `as_boxes`.
    """
    a, b = as_boxes(boxes_a, "boxes a"), as_boxes(boxes_b, "boxes b")
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = width * height
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def iou(box_a, box_b) -> float:
    """IoU of two single boxes."""
    return float(iou_matrix(box_a, box_b)[0, 0])


@dataclass(frozen=True)
class Matching:
    """One-to-one pairs ``(index in a, index in b)`` with their IoU, and the indices left unmatched on each side."""

    pairs: list[tuple[int, int]]
    ious: list[float]
    unmatched_a: list[int]
    unmatched_b: list[int]


def match_boxes(boxes_a, boxes_b, iou_threshold: float, scores=None) -> Matching:
    """Pairs ``boxes_a`` with ``boxes_b`` by the project's rule (module docstring) at IoU >= ``iou_threshold``.

    Args:
        scores: one per box of ``boxes_a`` (the model's confidences): greedy by descending score, ties in input
            order. Without scores: most pairs, then largest total IoU.

    Raises:
        ValueError: malformed boxes, scores of the wrong length or non-finite, threshold outside (0, 1].
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    overlap = iou_matrix(boxes_a, boxes_b)
    n_a, n_b = overlap.shape
    if scores is not None:
        s = np.asarray(scores, dtype=float).reshape(-1)
        if s.shape[0] != n_a:
            raise ValueError(f"scores has {s.shape[0]} values for {n_a} boxes")
        if not np.all(np.isfinite(s)):
            raise ValueError("scores contain missing or infinite values")
        order = np.argsort(-s, kind="stable")
        matched, index_b = greedy_matches(overlap[order], np.array([iou_threshold]))
        rows, cols = order[matched[:, 0]], index_b[matched[:, 0], 0]
    elif n_a and n_b:
        valid = overlap >= iou_threshold
        # Each pair is worth more than any IoU total, so the number of pairs is maximised first.
        gain = np.where(valid, (min(n_a, n_b) + 1.0) + overlap, 0.0)
        rows, cols = linear_sum_assignment(gain, maximize=True)
        keep = valid[rows, cols]
        rows, cols = rows[keep], cols[keep]
    else:
        rows = cols = np.zeros(0, dtype=np.intp)
    pairs = sorted(zip(rows.tolist(), cols.tolist()))
    return Matching(
        pairs=pairs,
        ious=[float(overlap[i, j]) for i, j in pairs],
        unmatched_a=sorted(set(range(n_a)) - {i for i, _ in pairs}),
        unmatched_b=sorted(set(range(n_b)) - {j for _, j in pairs}),
    )


def greedy_matches(overlap: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scored rule at several IoU thresholds at once, for boxes already sorted by descending score.

    Args:
        overlap: (P, G) IoU of the P scored boxes with the G other boxes.
        thresholds: (T,) IoU thresholds.

    Returns:
        ``matched`` (P, T) bool and ``index`` (P, T) int, the partner in the other set (-1 where unmatched).
        Greedy matching of the top-k boxes does not depend on the lower-scored ones, so one call serves every
        score threshold (PR curve, fROC).
    """
    n_pred, n_other = overlap.shape
    n_thr = thresholds.shape[0]
    matched = np.zeros((n_pred, n_thr), dtype=bool)
    index = np.full((n_pred, n_thr), -1, dtype=np.intp)
    if n_other == 0:
        return matched, index
    taken = np.zeros((n_thr, n_other), dtype=bool)
    rows = np.arange(n_thr)
    for p in range(n_pred):
        row = overlap[p]
        valid = ~taken & (row[None, :] >= thresholds[:, None])
        ok = valid.any(1)
        if not ok.any():
            continue
        # Of boxes tied on IoU argmax keeps the first (cocoeval keeps the last); exact ties are rare with drawn
        # or predicted boxes, and the tests compare with our own earlier results, not with cocoeval's on ties.
        best = np.where(valid, row[None, :], -1.0).argmax(1)
        matched[p] = ok
        index[p, ok] = best[ok]
        taken[rows[ok], best[ok]] = True
    return matched, index


# Validity and clamping ------------------------------------------------------------------------------------------


def box_inside(box, width: float, height: float) -> bool:
    """True when the box has positive area and lies within a width x height image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


def box_clamp(box, width: float, height: float) -> Box:
    """The part of the box inside a width x height image (a model's box may run past the edge)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return (min(max(x0, 0.0), width), min(max(y0, 0.0), height),
            min(max(x1, 0.0), width), min(max(y1, 0.0), height))


def box_mean(box_a, box_b) -> Box:
    """The average of two boxes (where two readers' matched boxes put the ground truth)."""
    return tuple(float(a + b) / 2 for a, b in zip(box_a, box_b))


# Relative forms -------------------------------------------------------------------------------------------------


def pixel_to_percent(box, width: float, height: float) -> tuple[float, float, float, float]:
    """Label Studio's rectangle (x, y, width, height), each in percent of the image's width or height."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return 100 * x0 / width, 100 * y0 / height, 100 * (x1 - x0) / width, 100 * (y1 - y0) / height


def percent_to_pixel(x: float, y: float, w: float, h: float, width: float, height: float) -> Box:
    """A Label Studio rectangle (percent of the image) as a pixel box."""
    x0, y0 = float(x) * width / 100, float(y) * height / 100
    return x0, y0, x0 + float(w) * width / 100, y0 + float(h) * height / 100


def pixel_to_normalised_centre(box, width: float, height: float) -> tuple[float, float, float, float]:
    """YOLO's (centre x, centre y, width, height), each as a fraction of the image's width or height."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height


def normalised_centre_to_pixel(cx: float, cy: float, w: float, h: float, width: float, height: float) -> Box:
    """A YOLO box (normalised centre and size) as a pixel box."""
    half_w, half_h = float(w) * width / 2, float(h) * height / 2
    return float(cx) * width - half_w, float(cy) * height - half_h, float(cx) * width + half_w, float(cy) * height + half_h
