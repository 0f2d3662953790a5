"""The per-image input of the detection metrics, checked, and the matching of one class's predictions.

Predictions are matched to same-class ground-truth boxes by :mod:`geometry`'s rule: greedily by score for scored
predictions, most pairs then largest total IoU for unscored ones (see :mod:`stats.detection`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geometry import as_boxes, greedy_matches, iou_matrix, match_boxes


@dataclass(frozen=True)
class DetectionImage:
    """One image's ground truth and predictions as arrays, predictions by descending score."""

    truth_cls: np.ndarray
    truth_boxes: np.ndarray
    pred_cls: np.ndarray
    pred_boxes: np.ndarray
    pred_scores: np.ndarray


def prepare_images(images) -> list[DetectionImage]:
    """The checked images, each image's predictions by descending score (unscored ones in input order, NaN)."""
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
        pred_scores = _pred_scores(pred, i)
        # Sort each image's predictions by descending score once: every metric below needs that order.
        order = np.argsort(-pred_scores, kind="stable") if _all_finite(pred_scores) else np.arange(len(pred))
        pred_cls = np.empty(len(pred), dtype=object)
        pred_cls[:] = [p[0] for p in pred]
        truth_cls = np.empty(len(truth), dtype=object)
        truth_cls[:] = [t[0] for t in truth]
        prepared.append(
            DetectionImage(
                truth_cls=truth_cls,
                truth_boxes=as_boxes([t[1] for t in truth], f"image {i} truth boxes"),
                pred_cls=pred_cls[order],
                pred_boxes=as_boxes([p[1] for p in pred], f"image {i} pred boxes")[order],
                pred_scores=pred_scores[order],
            )
        )
    if not prepared:
        raise ValueError("no images (empty input)")
    if len({_all_finite(image.pred_scores) for image in prepared if image.pred_scores.size}) > 1:
        raise ValueError("predictions must all have a score or all have None (unscored boxes), not both")
    return prepared


def _pred_scores(pred: list, i: int) -> np.ndarray:
    """Scores of one image's predictions; NaN throughout when they are unscored (score None)."""
    raw = [p[2] for p in pred]
    if raw and all(score is None for score in raw):
        return np.full(len(raw), np.nan)
    if any(score is None for score in raw):
        raise ValueError(f"image {i}: predictions must all have a score or all have None (unscored boxes)")
    scores = np.asarray(raw, dtype=float)
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"image {i}: prediction scores must be finite numbers")
    return scores


def _all_finite(scores: np.ndarray) -> bool:
    return bool(np.isfinite(scores).all())


def _scored(prepared: list[DetectionImage]) -> bool:
    return all(_all_finite(image.pred_scores) for image in prepared)


def require_scored(prepared: list[DetectionImage], what: str) -> None:
    if not _scored(prepared):
        raise ValueError(f"{what} needs scored predictions; unscored boxes (score None) have no ranking")


def image_classes(prepared: list[DetectionImage]) -> list:
    seen = {}
    for image in prepared:
        for c in image.truth_cls.tolist() + image.pred_cls.tolist():
            seen.setdefault(c, None)
    try:
        return sorted(seen)
    except TypeError:
        return list(seen)


def match_class(prepared: list[DetectionImage], cls, thresholds: np.ndarray):
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
        m = _match_image(image.pred_boxes[p_mask], image.pred_scores[p_mask], image.truth_boxes[t_mask], thresholds)
        scores.append(image.pred_scores[p_mask])
        matched.append(m)
        image_index.append(np.full(m.shape[0], i))
    if scores:
        return np.concatenate(scores), np.vstack(matched), np.concatenate(image_index), n_truth
    return np.zeros(0), np.zeros((0, thresholds.shape[0]), bool), np.zeros(0, np.intp), n_truth


def _match_image(pred_boxes: np.ndarray, pred_scores: np.ndarray, truth_boxes: np.ndarray,
                 thresholds: np.ndarray) -> np.ndarray:
    """(P, T) whether each prediction of one image and class is a true positive at each IoU threshold.

    Scored predictions (sorted by descending score) by the greedy rule at every threshold at once; unscored ones
    by the unscored rule, at the single threshold the callers allow them.
    """
    if _all_finite(pred_scores):
        return greedy_matches(iou_matrix(pred_boxes, truth_boxes), thresholds)[0]
    matched = np.zeros((pred_boxes.shape[0], 1), dtype=bool)
    pairs = match_boxes(pred_boxes, truth_boxes, float(thresholds[0])).pairs
    matched[[i for i, _ in pairs], 0] = True
    return matched
