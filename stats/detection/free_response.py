"""Free-response ROC: lesion sensitivity against false positives per image, and the CPM.

See :mod:`stats.detection` for the input and the matching rule, and for the references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stats.detection.images import DetectionImage, image_classes, match_class, prepare_images, require_scored

# Standard fROC operating points, false positives per image (LUNA16 / Niemeijer et al. 2011).
FROC_FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


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
        Empty or malformed images, threshold outside (0, 1], unscored predictions.
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    prepared = prepare_images(images)
    require_scored(prepared, "fROC")
    scores, matched, n_truth = _pooled_matches(prepared, [cls] if cls is not None else image_classes(prepared),
                                               iou_threshold)
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
    at = _sensitivity_at(fp_per_image, sensitivity, rates) if n_truth else np.full(len(rates), np.nan)
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


def _pooled_matches(prepared: list[DetectionImage], class_list: list, iou_threshold: float):
    """Scores (P,) and hit flags (P,) of the predictions of every class in ``class_list``, and their truth count."""
    all_scores, all_matched, n_truth = [], [], 0
    for c in class_list:
        scores, matched, _, n = match_class(prepared, c, np.array([iou_threshold]))
        all_scores.append(scores)
        all_matched.append(matched[:, 0])
        n_truth += n
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    matched = np.concatenate(all_matched) if all_matched else np.zeros(0, bool)
    return scores, matched, n_truth


def _sensitivity_at(fp_per_image: np.ndarray, sensitivity: np.ndarray, rates: tuple) -> np.ndarray:
    # Prepend the "no detections" point (0 FP, sensitivity 0); sensitivity is non-decreasing, so the
    # best point under a rate is the last one under it.
    fps = np.concatenate([[0.0], fp_per_image])
    sens = np.concatenate([[0.0], sensitivity])
    idx = np.searchsorted(fps, np.asarray(rates), side="right") - 1
    return sens[idx]
