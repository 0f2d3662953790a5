"""Detection metrics for the YOLO model (and for readers' boxes): IoU, matching, P/R/F1, AP, mAP and fROC.

Pure numpy/scipy, no Django. Boxes are ``[x0, y0, x1, y1]`` in pixels (x1 >= x0, y1 >= y0). The metric
functions take a list of per-image dicts::

    {"truth": [(cls, box), ...], "pred": [(cls, box, score), ...]}

Matching is class-aware (a prediction can only match a ground-truth box of its own class) and one-to-one,
greedy by descending score as in the COCO evaluation (each prediction takes the unmatched ground-truth box
with the highest IoU >= threshold). Greedy-by-score matching of the top-k predictions does not depend on
the lower-scored ones, so one matching serves every score threshold (PR curve, fROC).

References
----------
Everingham M, Van Gool L, Williams CKI, Winn J, Zisserman A. The PASCAL Visual Object Classes (VOC)
challenge. Int J Comput Vis 2010;88(2):303-338. doi:10.1007/s11263-009-0275-4
Lin TY, Maire M, Belongie S, et al. Microsoft COCO: common objects in context. ECCV 2014.
doi:10.1007/978-3-319-10602-1_48 (evaluation code: cocodataset/cocoapi, PythonAPI/pycocotools/cocoeval.py)
Padilla R, Netto SL, da Silva EAB. A survey on performance metrics for object-detection algorithms. IWSSIP
2020. doi:10.1109/IWSSIP48289.2020.9145130
Chakraborty DP. Maximum likelihood analysis of free-response receiver operating characteristic (FROC)
data. Med Phys 1989;16(4):561-568. doi:10.1118/1.596358
Niemeijer M, Loog M, Abramoff MD, Viergever MA, Prokop M, van Ginneken B. On combining computer-aided
detection systems. IEEE Trans Med Imaging 2011;30(2):215-223. doi:10.1109/TMI.2010.2072789
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "DetectionPRF",
    "FROC_FP_RATES",
    "FrocResult",
    "MatchResult",
    "MeanAPResult",
    "PRF",
    "average_precision",
    "box_iou",
    "detection_prf",
    "froc",
    "match_boxes",
    "mean_ap",
]

# 0.50:0.05:0.95 as cocoeval builds it (np.linspace avoids arange's 0.55000000000000004).
COCO_IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
# Standard fROC operating points, false positives per image (LUNA16 / Niemeijer et al. 2011).
FROC_FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_AP_METHODS = ("all_point", "coco101")


# --------------------------------------------------------------------------------------------------------
# IoU and matching


def _as_boxes(boxes, name: str) -> np.ndarray:
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


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Parameters
    ----------
    a : array_like, shape (n, 4)
    b : array_like, shape (m, 4)
        Boxes as ``[x0, y0, x1, y1]``; a single box may be given as shape (4,).

    Returns
    -------
    ndarray, shape (n, m)
        IoU in [0, 1]; two zero-area boxes (or no overlap) give 0.

    Raises
    ------
    ValueError
        Wrong shape, non-finite coordinates, or x1 < x0 / y1 < y0.
    """
    a = _as_boxes(a, "boxes a")
    b = _as_boxes(b, "boxes b")
    return _iou(a, b)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = width * height
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


@dataclass(frozen=True, eq=False)  # array fields: compare fields, not results
class MatchResult:
    """One-to-one matching of predicted to ground-truth boxes.

    ``pairs[i] = (pred_index, truth_index)`` with IoU ``ious[i]``; ``unmatched_pred`` are false positives,
    ``unmatched_truth`` false negatives.
    """

    pairs: np.ndarray
    ious: np.ndarray
    unmatched_pred: np.ndarray
    unmatched_truth: np.ndarray

    @property
    def tp(self) -> int:
        return int(self.pairs.shape[0])

    @property
    def fp(self) -> int:
        return int(self.unmatched_pred.shape[0])

    @property
    def fn(self) -> int:
        return int(self.unmatched_truth.shape[0])


def _greedy_tp(iou: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO greedy matching of predictions already sorted by descending score, at several IoU thresholds.

    Returns ``matched`` (P, T) bool and ``truth_index`` (P, T) int (-1 where unmatched).
    """
    n_pred, n_truth = iou.shape
    n_thr = thresholds.shape[0]
    matched = np.zeros((n_pred, n_thr), dtype=bool)
    truth_index = np.full((n_pred, n_thr), -1, dtype=np.intp)
    if n_truth == 0:
        return matched, truth_index
    taken = np.zeros((n_thr, n_truth), dtype=bool)
    rows = np.arange(n_thr)
    for p in range(n_pred):
        row = iou[p]
        valid = ~taken & (row[None, :] >= thresholds[:, None])
        ok = valid.any(1)
        if not ok.any():
            continue
        # argmax returns the first maximum, as cocoeval keeps the first box with the best IoU.
        best = np.where(valid, row[None, :], -1.0).argmax(1)
        matched[p] = ok
        truth_index[p, ok] = best[ok]
        taken[rows[ok], best[ok]] = True
    return matched, truth_index


def match_boxes(pred_boxes, truth_boxes, iou_threshold: float = 0.5, scores=None) -> MatchResult:
    """Match predicted boxes to ground-truth boxes one-to-one.

    Parameters
    ----------
    pred_boxes : array_like, shape (p, 4)
    truth_boxes : array_like, shape (g, 4)
    iou_threshold : float
        A pair counts when IoU >= threshold.
    scores : array_like, shape (p,), optional
        With scores: greedy by descending score as in COCO (each prediction takes the free ground-truth box
        with the highest IoU; ties in score keep input order). Without scores (e.g. a reader's boxes): the
        assignment that maximises the number of matches and, among those, the total IoU (Hungarian
        algorithm, ``scipy.optimize.linear_sum_assignment``).

    Returns
    -------
    MatchResult

    Raises
    ------
    ValueError
        Malformed boxes, scores of the wrong length or non-finite, threshold outside (0, 1].
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    pred = _as_boxes(pred_boxes, "pred_boxes")
    truth = _as_boxes(truth_boxes, "truth_boxes")
    iou = _iou(pred, truth)
    n_pred, n_truth = iou.shape
    if scores is not None:
        s = np.asarray(scores, dtype=float).reshape(-1)
        if s.shape[0] != n_pred:
            raise ValueError(f"scores has {s.shape[0]} values for {n_pred} predicted boxes")
        if not np.all(np.isfinite(s)):
            raise ValueError("scores contain missing or infinite values")
        order = np.argsort(-s, kind="stable")
        matched, truth_index = _greedy_tp(iou[order], np.array([iou_threshold]))
        pred_idx = order[matched[:, 0]]
        truth_idx = truth_index[matched[:, 0], 0]
    elif n_pred and n_truth:
        valid = iou >= iou_threshold
        # Each match is worth more than any IoU total, so the count is maximised first.
        gain = np.where(valid, (min(n_pred, n_truth) + 1.0) + iou, 0.0)
        row, col = linear_sum_assignment(gain, maximize=True)
        keep = valid[row, col]
        pred_idx, truth_idx = row[keep], col[keep]
    else:
        pred_idx = truth_idx = np.zeros(0, dtype=np.intp)
    pairs = np.column_stack([pred_idx, truth_idx]).astype(np.intp) if pred_idx.size else np.zeros((0, 2), np.intp)
    return MatchResult(
        pairs=pairs,
        ious=iou[pred_idx, truth_idx] if pred_idx.size else np.zeros(0),
        unmatched_pred=np.setdiff1d(np.arange(n_pred), pred_idx),
        unmatched_truth=np.setdiff1d(np.arange(n_truth), truth_idx),
    )


# --------------------------------------------------------------------------------------------------------
# Per-image preparation


@dataclass(frozen=True)
class _Image:
    truth_cls: np.ndarray
    truth_boxes: np.ndarray
    pred_cls: np.ndarray
    pred_boxes: np.ndarray
    pred_scores: np.ndarray


def _prepare(images) -> list[_Image]:
    if isinstance(images, dict):
        raise ValueError("images must be a list of per-image dicts, got a single dict")
    prepared = []
    for i, image in enumerate(images):
        if not isinstance(image, dict) or "truth" not in image:
            raise ValueError(f"image {i} must be a dict with 'truth' and 'pred' lists")
        truth = list(image.get("truth") or [])
        pred = list(image.get("pred") or [])
        if any(len(t) != 2 for t in truth):
            raise ValueError(f"image {i}: truth entries must be (cls, box)")
        if any(len(p) != 3 for p in pred):
            raise ValueError(f"image {i}: pred entries must be (cls, box, score)")
        pred_scores = np.asarray([p[2] for p in pred], dtype=float)
        if not np.all(np.isfinite(pred_scores)):
            raise ValueError(f"image {i}: prediction scores must be finite numbers")
        # Sort each image's predictions by descending score once: every metric below needs that order.
        order = np.argsort(-pred_scores, kind="stable")
        pred_cls = np.empty(len(pred), dtype=object)
        pred_cls[:] = [p[0] for p in pred]
        truth_cls = np.empty(len(truth), dtype=object)
        truth_cls[:] = [t[0] for t in truth]
        prepared.append(
            _Image(
                truth_cls=truth_cls,
                truth_boxes=_as_boxes([t[1] for t in truth], f"image {i} truth boxes"),
                pred_cls=pred_cls[order],
                pred_boxes=_as_boxes([p[1] for p in pred], f"image {i} pred boxes")[order],
                pred_scores=pred_scores[order],
            )
        )
    if not prepared:
        raise ValueError("no images (empty input)")
    return prepared


def _classes(prepared: list[_Image]) -> list:
    seen = {}
    for image in prepared:
        for c in image.truth_cls.tolist() + image.pred_cls.tolist():
            seen.setdefault(c, None)
    try:
        return sorted(seen)
    except TypeError:
        return list(seen)


def _match_class(prepared: list[_Image], cls, thresholds: np.ndarray):
    """Scores (P,), matched (P, T), image index (P,) of the class's predictions, and its truth count.

    Predictions are in image order and, within an image, by descending score (the order cocoeval
    concatenates them before its stable sort).
    """
    scores, matched, image_index = [], [], []
    n_truth = 0
    for i, image in enumerate(prepared):
        t_mask = image.truth_cls == cls
        p_mask = image.pred_cls == cls
        g = int(np.count_nonzero(t_mask))
        n_truth += g
        if not p_mask.any():
            continue
        iou = _iou(image.pred_boxes[p_mask], image.truth_boxes[t_mask])
        m, _ = _greedy_tp(iou, thresholds)
        scores.append(image.pred_scores[p_mask])
        matched.append(m)
        image_index.append(np.full(m.shape[0], i))
    if scores:
        return np.concatenate(scores), np.vstack(matched), np.concatenate(image_index), n_truth
    return np.zeros(0), np.zeros((0, thresholds.shape[0]), bool), np.zeros(0, np.intp), n_truth


# --------------------------------------------------------------------------------------------------------
# Precision / recall / F1 at an operating point


@dataclass(frozen=True)
class PRF:
    """Counts and precision/recall/F1; NaN where a denominator is 0."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float


def _prf(tp: int, fp: int, fn: int) -> PRF:
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return PRF(tp, fp, fn, precision, recall, f1)


@dataclass(frozen=True)
class DetectionPRF:
    """Per-class and overall (micro: counts summed over classes) detection P/R/F1."""

    per_class: dict
    overall: PRF
    iou_threshold: float
    n_images: int


def detection_prf(images, iou_threshold: float = 0.5, score_threshold: float | None = None) -> DetectionPRF:
    """Precision, recall and F1 of detections at one IoU threshold and operating point.

    Parameters
    ----------
    images : list of dict
        ``{"truth": [(cls, box), ...], "pred": [(cls, box, score), ...]}`` per image.
    iou_threshold : float
        A prediction is a true positive when it matches a same-class ground-truth box with IoU >= this.
    score_threshold : float, optional
        Predictions with a lower score are ignored; None keeps all (the model's own confidence cut-off).

    Returns
    -------
    DetectionPRF
        ``per_class[cls]`` and ``overall`` :class:`PRF`; unmatched predictions are false positives,
        unmatched ground-truth boxes false negatives (greedy-by-score matching, see module docstring).

    Raises
    ------
    ValueError
        Empty or malformed images, threshold outside (0, 1].
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    prepared = _prepare(images)
    thresholds = np.array([iou_threshold])
    per_class = {}
    tp_all = fp_all = fn_all = 0
    for cls in _classes(prepared):
        scores, matched, _, n_truth = _match_class(prepared, cls, thresholds)
        keep = scores >= score_threshold if score_threshold is not None else np.ones(scores.shape, bool)
        tp = int(np.count_nonzero(matched[keep, 0]))
        fp = int(np.count_nonzero(keep)) - tp
        fn = n_truth - tp
        per_class[cls] = _prf(tp, fp, fn)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    return DetectionPRF(per_class, _prf(tp_all, fp_all, fn_all), float(iou_threshold), len(prepared))


# --------------------------------------------------------------------------------------------------------
# Average precision


def _ap_from_matches(scores: np.ndarray, matched: np.ndarray, n_truth: int, method: str) -> np.ndarray:
    """AP per threshold column of ``matched``."""
    n_thr = matched.shape[1]
    if n_truth == 0:
        return np.full(n_thr, np.nan)
    if scores.shape[0] == 0:
        return np.zeros(n_thr)
    order = np.argsort(-scores, kind="mergesort")  # cocoeval's stable sort
    tp = np.cumsum(matched[order], axis=0, dtype=float)
    fp = np.cumsum(~matched[order], axis=0, dtype=float)
    recall = tp / n_truth
    precision = tp / (tp + fp)
    ap = np.empty(n_thr)
    for t in range(n_thr):
        rec, prec = recall[:, t], precision[:, t]
        if method == "all_point":
            # VOC2010+: area under the precision envelope, summed where recall changes.
            mrec = np.concatenate([[0.0], rec, [1.0]])
            mpre = np.concatenate([[0.0], prec, [0.0]])
            mpre = np.maximum.accumulate(mpre[::-1])[::-1]
            change = np.flatnonzero(mrec[1:] != mrec[:-1])
            ap[t] = float(((mrec[change + 1] - mrec[change]) * mpre[change + 1]).sum())
        else:
            # COCO: envelope sampled at recall 0, 0.01, ..., 1 (first point with recall >= r; 0 if none).
            envelope = np.maximum.accumulate(prec[::-1])[::-1]
            idx = np.searchsorted(rec, np.linspace(0.0, 1.0, 101), side="left")
            sampled = np.where(idx < envelope.shape[0], envelope[np.minimum(idx, envelope.shape[0] - 1)], 0.0)
            ap[t] = float(sampled.mean())
    return ap


def average_precision(images, cls, iou_threshold: float = 0.5, method: str = "all_point") -> float:
    """Average precision of one class.

    Parameters
    ----------
    images : list of dict
        As :func:`detection_prf`.
    cls
        The detector class.
    iou_threshold : float
        IoU for a true positive (0.5 gives AP50).
    method : {"all_point", "coco101"}
        ``"all_point"`` (default): the area under the interpolated (monotone) precision-recall curve,
        summed over every recall change, as PASCAL VOC 2010+ (Everingham et al. 2010). ``"coco101"``: the
        interpolated precision averaged at the 101 recall points 0:0.01:1, as cocoeval. Ultralytics'
        ``val`` reports a third variant (trapezoid over 101 interpolated points), so its numbers can
        differ from both in the third decimal.

    Returns
    -------
    float
        AP in [0, 1]; 0 if the class has ground truth but no predictions; NaN if it has no ground truth
        (cocoeval's -1).

    Raises
    ------
    ValueError
        Empty or malformed images, unknown method, threshold outside (0, 1].
    """
    if method not in _AP_METHODS:
        raise ValueError(f"method must be one of {_AP_METHODS}, got {method!r}")
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    prepared = _prepare(images)
    scores, matched, _, n_truth = _match_class(prepared, cls, np.array([iou_threshold]))
    return float(_ap_from_matches(scores, matched, n_truth, method)[0])


@dataclass(frozen=True, eq=False)
class MeanAPResult:
    """Mean average precision.

    ``value``: mean over thresholds and classes; ``map50``: at IoU 0.5 (NaN if 0.5 was not among the
    thresholds); ``map50_95``: ``value`` when the thresholds are COCO's ten (0.50:0.05:0.95), else NaN;
    ``per_threshold[t]``: mAP at ``t``; ``per_class[cls]``: AP per threshold (array in ``iou_thresholds``
    order). Classes without ground truth are NaN in ``per_class`` and left out of the means.
    """

    value: float
    map50: float
    map50_95: float
    per_threshold: dict
    per_class: dict
    iou_thresholds: tuple
    method: str


def mean_ap(
    images,
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    classes: Sequence | None = None,
    method: str = "all_point",
) -> MeanAPResult:
    """mAP over classes, at one or several IoU thresholds (mAP50 and mAP50-95).

    Parameters
    ----------
    images : list of dict
        As :func:`detection_prf`.
    iou_thresholds : sequence of float
        Default COCO's 0.50, 0.55, ..., 0.95 (giving both ``map50`` and ``map50_95``); ``(0.5,)`` for
        mAP50 only. Thresholds are rounded to 10 decimals, so ``np.arange(0.5, 0.96, 0.05)`` works.
    classes : sequence, optional
        Classes to average over; default every class seen in truth or predictions.
    method : {"all_point", "coco101"}
        AP interpolation, see :func:`average_precision`.

    Returns
    -------
    MeanAPResult

    Raises
    ------
    ValueError
        Empty or malformed images, empty or out-of-range thresholds, unknown method.
    """
    if method not in _AP_METHODS:
        raise ValueError(f"method must be one of {_AP_METHODS}, got {method!r}")
    thresholds = np.round(np.asarray(iou_thresholds, dtype=float).reshape(-1), 10)
    if thresholds.size == 0 or np.any((thresholds <= 0) | (thresholds > 1)):
        raise ValueError(f"iou_thresholds must be non-empty values in (0, 1], got {list(iou_thresholds)}")
    prepared = _prepare(images)
    class_list = list(classes) if classes is not None else _classes(prepared)
    per_class = {}
    for cls in class_list:
        scores, matched, _, n_truth = _match_class(prepared, cls, thresholds)
        per_class[cls] = _ap_from_matches(scores, matched, n_truth, method)
    table = np.array(list(per_class.values())).reshape(len(per_class), thresholds.size)
    valid = ~np.isnan(table).all(1)
    per_t = table[valid].mean(0) if valid.any() else np.full(thresholds.size, np.nan)
    value = float(per_t.mean())
    t_list = tuple(float(t) for t in thresholds)
    map50 = float(per_t[t_list.index(0.5)]) if 0.5 in t_list else math.nan
    map50_95 = value if t_list == COCO_IOU_THRESHOLDS else math.nan
    return MeanAPResult(
        value,
        map50,
        map50_95,
        dict(zip(t_list, per_t.tolist(), strict=True)),
        per_class,
        t_list,
        method,
    )


# --------------------------------------------------------------------------------------------------------
# fROC


@dataclass(frozen=True, eq=False)
class FrocResult:
    """Free-response ROC curve.

    ``thresholds`` are the distinct prediction scores, descending; ``fp_per_image[i]`` and
    ``sensitivity[i]`` are the operating point that keeps predictions with score >= ``thresholds[i]``
    (both non-decreasing). ``sensitivity_at[j]`` is the sensitivity at ``fp_rates[j]`` false positives per
    image; ``cpm`` their mean (the competition performance metric of Niemeijer et al. 2011).
    """

    thresholds: np.ndarray
    fp_per_image: np.ndarray
    sensitivity: np.ndarray
    fp_rates: tuple
    sensitivity_at: np.ndarray
    cpm: float
    n_images: int
    n_truth: int


def froc(
    images,
    cls=None,
    iou_threshold: float = 0.5,
    fp_rates: Sequence[float] = FROC_FP_RATES,
) -> FrocResult:
    """fROC: lesion sensitivity against the mean number of false positives per image.

    Parameters
    ----------
    images : list of dict
        As :func:`detection_prf`; every image counts in the denominator of FP/image, including images
        without findings.
    cls : optional
        One class, or None to pool all classes (class-aware matching, sensitivity over all ground-truth
        boxes).
    iou_threshold : float
        Hit criterion: IoU >= threshold with a same-class ground-truth box (greedy by score).
    fp_rates : sequence of float
        Operating points; default 1/8, 1/4, 1/2, 1, 2, 4, 8 FP per image.

    Returns
    -------
    FrocResult
        ``sensitivity_at[j]`` is the highest sensitivity among operating points with at most
        ``fp_rates[j]`` FP/image (a step function, no interpolation; 0 when even the strictest threshold
        exceeds the rate); when the curve ends below a rate its last sensitivity is used. Sensitivities
        are NaN when there is no ground truth.

    Raises
    ------
    ValueError
        Empty or malformed images, threshold outside (0, 1].
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    prepared = _prepare(images)
    thresholds = np.array([iou_threshold])
    class_list = [cls] if cls is not None else _classes(prepared)
    all_scores, all_matched, n_truth = [], [], 0
    for c in class_list:
        scores, matched, _, n = _match_class(prepared, c, thresholds)
        all_scores.append(scores)
        all_matched.append(matched[:, 0])
        n_truth += n
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    matched = np.concatenate(all_matched) if all_matched else np.zeros(0, bool)
    n_images = len(prepared)
    order = np.argsort(-scores, kind="mergesort")
    scores, matched = scores[order], matched[order]
    tp = np.cumsum(matched)
    fp = np.cumsum(~matched)
    # One operating point per distinct score: the last prediction of each run of equal scores.
    last = np.flatnonzero(np.append(scores[1:] != scores[:-1], True)) if scores.size else np.zeros(0, np.intp)
    fp_per_image = fp[last] / n_images
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = tp[last] / n_truth if n_truth else np.full(last.shape, np.nan)
    rates = tuple(float(r) for r in fp_rates)
    if n_truth == 0:
        at = np.full(len(rates), np.nan)
    else:
        # Prepend the "no detections" point (0 FP, sensitivity 0); sensitivity is non-decreasing, so the
        # best point under a rate is the last one under it.
        fps = np.concatenate([[0.0], fp_per_image])
        sens = np.concatenate([[0.0], sensitivity])
        idx = np.searchsorted(fps, np.asarray(rates), side="right") - 1
        at = sens[idx]
    return FrocResult(
        thresholds=scores[last],
        fp_per_image=fp_per_image,
        sensitivity=sensitivity,
        fp_rates=rates,
        sensitivity_at=at,
        cpm=float(np.mean(at)) if at.size else math.nan,
        n_images=n_images,
        n_truth=n_truth,
    )
