"""Precision, recall and F1 of detections at an operating point, average precision and mAP.

See :mod:`stats.detection` for the input and the matching rule, and for the references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stats.detection.images import image_classes, match_class, prepare_images, require_scored

# 0.50:0.05:0.95 as cocoeval builds it (np.linspace avoids arange's 0.55000000000000004).
COCO_IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
_AP_METHODS = ("all_point", "coco101")


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
        Only for scored predictions.

    Returns
    -------
    DetectionPRF
        ``per_class[cls]`` and ``overall`` :class:`PRF`; unmatched predictions are false positives,
        unmatched ground-truth boxes false negatives (greedy by score for scored predictions, most pairs for
        unscored ones, see module docstring).

    Raises
    ------
    ValueError
        Empty or malformed images, threshold outside (0, 1], scored and unscored predictions mixed, a
        ``score_threshold`` for unscored predictions.
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    prepared = prepare_images(images)
    if score_threshold is not None:
        require_scored(prepared, "score_threshold")
    thresholds = np.array([iou_threshold])
    per_class = {}
    tp_all = fp_all = fn_all = 0
    for cls in image_classes(prepared):
        scores, matched, _, n_truth = match_class(prepared, cls, thresholds)
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
    interpolate = _all_point_ap if method == "all_point" else _coco101_ap
    return np.array([interpolate(recall[:, t], precision[:, t]) for t in range(n_thr)])


def _all_point_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    # VOC2010+: area under the precision envelope, summed where recall changes.
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    change = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(((mrec[change + 1] - mrec[change]) * mpre[change + 1]).sum())


def _coco101_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    # COCO: envelope sampled at recall 0, 0.01, ..., 1 (first point with recall >= r; 0 if none).
    envelope = np.maximum.accumulate(prec[::-1])[::-1]
    idx = np.searchsorted(rec, np.linspace(0.0, 1.0, 101), side="left")
    sampled = np.where(idx < envelope.shape[0], envelope[np.minimum(idx, envelope.shape[0] - 1)], 0.0)
    return float(sampled.mean())


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
        Empty or malformed images, unknown method, threshold outside (0, 1], unscored predictions.
    """
    if method not in _AP_METHODS:
        raise ValueError(f"method must be one of {_AP_METHODS}, got {method!r}")
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    prepared = prepare_images(images)
    require_scored(prepared, "average precision")
    scores, matched, _, n_truth = match_class(prepared, cls, np.array([iou_threshold]))
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
        Empty or malformed images, empty or out-of-range thresholds, unknown method, unscored predictions.
    """
    if method not in _AP_METHODS:
        raise ValueError(f"method must be one of {_AP_METHODS}, got {method!r}")
    thresholds = np.round(np.asarray(iou_thresholds, dtype=float).reshape(-1), 10)
    if thresholds.size == 0 or np.any((thresholds <= 0) | (thresholds > 1)):
        raise ValueError(f"iou_thresholds must be non-empty values in (0, 1], got {list(iou_thresholds)}")
    prepared = prepare_images(images)
    require_scored(prepared, "mean average precision")
    class_list = list(classes) if classes is not None else image_classes(prepared)
    per_class = {}
    for cls in class_list:
        scores, matched, _, n_truth = match_class(prepared, cls, thresholds)
        per_class[cls] = _ap_from_matches(scores, matched, n_truth, method)
    return _mean_ap_result(per_class, thresholds, method)


def _mean_ap_result(per_class: dict, thresholds: np.ndarray, method: str) -> MeanAPResult:
    """The means over classes with ground truth, per threshold and overall, of the per-class APs."""
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
