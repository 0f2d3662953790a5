"""Diagnostic accuracy of readers and the model against ground truth: binary and multi-class metrics and ROC AUC.

Pure numpy/scipy, no Django. Every function validates its input and raises ValueError with a message
that names the problem; metrics whose denominator is zero are NaN with a ``(nan, nan)`` interval rather
than 0 or 1. Comparisons of two readers (McNemar, DeLong) are in :mod:`stats.comparisons`.

References
----------
Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat Assoc
1927;22(158):209-212. doi:10.1080/01621459.1927.10502953
Newcombe RG. Interval estimation for the difference between independent proportions: comparison of eleven
methods. Stat Med 1998;17(8):873-890. doi:10.1002/(SICI)1097-0258(19980430)17:8<873::AID-SIM779>3.0.CO;2-I
Youden WJ. Index for rating diagnostic tests. Cancer 1950;3(1):32-35.
doi:10.1002/1097-0142(1950)3:1<32::AID-CNCR2820030106>3.0.CO;2-3
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated receiver
operating characteristic curves: a nonparametric approach. Biometrics 1988;44(3):837-845.
doi:10.2307/2531595
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated receiver
operating characteristic curves. IEEE Signal Process Lett 2014;21(11):1389-1393.
doi:10.1109/LSP.2014.2337313
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stats.results import (
    NAN_CI,
    Z_975,
    Proportion,
    as_binary,
    as_label_array,
    concat_labels,
    encode_labels,
    proportion,
    same_length,
    wilson_ci,
)

__all__ = [
    "AucResult",
    "BinaryMetrics",
    "ClassMetrics",
    "MulticlassMetrics",
    "Proportion",
    "binary_metrics",
    "multiclass_metrics",
    "roc_auc",
]


def _paired_cases(truth, pred, as_array, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """``as_array`` of the truth and the call per case, checked to pair and to hold at least one case."""
    t = as_array(truth, "truth")
    p = as_array(pred, "pred")
    same_length("truth", t, "pred", p)
    if t.shape[0] == 0:
        raise ValueError(f"{caller} got no cases (empty input)")
    return t, p


# --------------------------------------------------------------------------------------------------------
# Binary metrics


@dataclass(frozen=True)
class BinaryMetrics:
    """Confusion counts and the usual accuracy metrics, each a :class:`Proportion` with a 95% interval."""

    tp: int
    fp: int
    tn: int
    fn: int
    n: int
    sensitivity: Proportion
    specificity: Proportion
    accuracy: Proportion
    ppv: Proportion
    npv: Proportion
    f1: Proportion
    youden: Proportion


def binary_metrics(truth, pred) -> BinaryMetrics:
    """Sensitivity, specificity, accuracy, PPV, NPV, F1 and Youden's J against a binary ground truth.

    Parameters
    ----------
    truth, pred : array_like of bool or 0/1, shape (n,)
        Ground truth and the reader's (or model's) call per case; True/1 is "finding present".

    Returns
    -------
    BinaryMetrics
        ``tp, fp, tn, fn, n`` and, for each metric, value, 95% CI, numerator and denominator:

        - sensitivity tp/(tp+fn), specificity tn/(tn+fp), accuracy (tp+tn)/n, ppv tp/(tp+fp),
          npv tn/(tn+fn): Wilson score intervals (equal to statsmodels ``proportion_confint(method="wilson")``).
        - f1 = 2tp/(2tp+fp+fn): F1 is a monotone function of the Jaccard index J = tp/(tp+fp+fn),
          F1 = 2J/(1+J), and given the number of non-true-negative cases tp is binomial with probability J;
          the interval is the Wilson interval for J mapped through 2J/(1+J).
        - youden = sensitivity + specificity - 1 (difference of two independent proportions, sensitivity
          minus the false-positive rate): Newcombe's (1998) hybrid score interval built from the two Wilson
          intervals (statsmodels ``confint_proportions_2indep(method="newcomb")``); no numerator/denominator.

        A metric with a zero denominator (e.g. sensitivity without positive cases) is NaN with (nan, nan).

    Raises
    ------
    ValueError
        Empty input, different lengths, values other than booleans or 0/1, missing values.
    """
    t, p = _paired_cases(truth, pred, as_binary, "binary_metrics")
    n = t.shape[0]
    tp = int(np.count_nonzero(t & p))
    fn = int(np.count_nonzero(t)) - tp
    fp = int(np.count_nonzero(p)) - tp
    tn = n - tp - fn - fp

    return BinaryMetrics(
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        n=n,
        sensitivity=proportion(tp, tp + fn),
        specificity=proportion(tn, tn + fp),
        accuracy=proportion(tp + tn, n),
        ppv=proportion(tp, tp + fp),
        npv=proportion(tn, tn + fn),
        f1=_f1(tp, fp, fn),
        youden=_youden(tp, fn, fp, tn),
    )


def _f1(tp: int, fp: int, fn: int) -> Proportion:
    """F1 with the Wilson interval of J = tp/(tp+fp+fn) mapped through F1 = 2J/(1+J) (see binary_metrics)."""
    method = "wilson on J=tp/(tp+fp+fn), F1=2J/(1+J)"
    non_negative = tp + fp + fn
    if non_negative == 0:
        return Proportion(math.nan, NAN_CI, 2 * tp, 2 * tp + fp + fn, method)
    j_low, j_high = wilson_ci(tp, non_negative)
    return Proportion(
        2 * tp / (2 * tp + fp + fn),
        (2 * j_low / (1 + j_low), 2 * j_high / (1 + j_high)),
        2 * tp,
        2 * tp + fp + fn,
        method,
    )


def _youden(tp: int, fn: int, fp: int, tn: int) -> Proportion:
    method = "Newcombe (1998) hybrid score interval for sensitivity - (1 - specificity)"
    if tp + fn == 0 or fp + tn == 0:
        return Proportion(math.nan, NAN_CI, method=method)
    p1, p2 = tp / (tp + fn), fp / (fp + tn)
    l1, u1 = wilson_ci(tp, tp + fn)
    l2, u2 = wilson_ci(fp, fp + tn)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Proportion(d, (low, high), method=method)


# --------------------------------------------------------------------------------------------------------
# Multi-class metrics


@dataclass(frozen=True)
class ClassMetrics:
    """One class of a multi-class confusion matrix, one-versus-rest. ``recall`` and ``sensitivity`` are the
    same number; NaN where the denominator is 0."""

    label: object
    precision: float
    recall: float
    f1: float
    sensitivity: float
    specificity: float
    support: int


@dataclass(frozen=True, eq=False)  # holds an array: compare fields, not results
class MulticlassMetrics:
    """Per-class and averaged metrics for a multi-class grading.

    ``confusion[i, j]`` counts cases with truth ``labels[i]`` graded ``labels[j]``. ``macro`` and
    ``weighted`` map "precision", "recall", "f1", "specificity" to the unweighted and support-weighted means
    over the classes where the metric is defined (as scikit-learn with ``zero_division=np.nan``).
    ``off_by_more_than_one`` is None unless ``ordinal=True``.
    """

    labels: tuple
    confusion: np.ndarray
    per_class: dict
    accuracy: Proportion
    macro: dict
    weighted: dict
    n: int
    off_by_more_than_one: Proportion | None = None


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _nan_average(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    ok = ~np.isnan(values)
    if not ok.any():
        return math.nan
    if weights is None:
        return float(values[ok].mean())
    w = weights[ok]
    return float((values[ok] * w).sum() / w.sum()) if w.sum() > 0 else math.nan


def multiclass_metrics(truth, pred, labels: Sequence, ordinal: bool = False) -> MulticlassMetrics:
    """Confusion matrix, per-class precision/recall/F1/specificity and their averages.

    Parameters
    ----------
    truth, pred : array_like, shape (n,)
        Ground-truth and assigned grades (e.g. Pfirrmann "1".."5").
    labels : sequence
        All grades in display order (and in clinical order when ``ordinal``); grades absent from the data
        get a zero row and column. Labels outside it raise.
    ordinal : bool
        If True, also report ``off_by_more_than_one``: the share of *all* cases whose grade is more than one
        step from the truth along ``labels`` (a Wilson-interval :class:`Proportion`).

    Returns
    -------
    MulticlassMetrics
        Per-class values equal scikit-learn's ``precision_recall_fscore_support(labels=labels,
        zero_division=np.nan)``; ``accuracy`` is a Proportion with a Wilson interval.

    Raises
    ------
    ValueError
        Empty input, different lengths, missing values, grades not in ``labels``.
    """
    t, p = _paired_cases(truth, pred, as_label_array, "multiclass_metrics")
    n = t.shape[0]
    if labels is None:
        raise ValueError("labels is required: the full list of grades in order")
    codes, cats = encode_labels(concat_labels([t, p], ["truth", "pred"]), labels, "grades")
    code_t, code_p = codes[:n], codes[n:]
    k = len(cats)
    confusion = np.bincount(code_t * k + code_p, minlength=k * k).reshape(k, k)
    metrics = _one_versus_rest(confusion)
    support = confusion.sum(1)
    per_class = {
        label: ClassMetrics(
            label,
            float(metrics["precision"][i]),
            float(metrics["recall"][i]),
            float(metrics["f1"][i]),
            float(metrics["recall"][i]),
            float(metrics["specificity"][i]),
            int(support[i]),
        )
        for i, label in enumerate(cats)
    }
    off = None
    if ordinal:
        off = proportion(int(np.count_nonzero(np.abs(code_t - code_p) > 1)), n)
    return MulticlassMetrics(
        labels=cats,
        confusion=confusion,
        per_class=per_class,
        accuracy=proportion(int(np.trace(confusion)), n),
        macro={name: _nan_average(values) for name, values in metrics.items()},
        weighted={name: _nan_average(values, support.astype(float)) for name, values in metrics.items()},
        n=n,
        off_by_more_than_one=off,
    )


def _one_versus_rest(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and specificity (k,) of a confusion matrix, NaN where undefined."""
    n = confusion.sum()
    tp = np.diag(confusion).astype(float)
    support = confusion.sum(1)
    predicted = confusion.sum(0)
    fp = predicted - tp
    fn = support - tp
    tn = n - tp - fp - fn
    return {"precision": _ratio(tp, predicted), "recall": _ratio(tp, support), "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "specificity": _ratio(tn, tn + fp)}


# --------------------------------------------------------------------------------------------------------
# ROC AUC and the DeLong covariance


@dataclass(frozen=True)
class AucResult:
    """Area under the ROC curve with its DeLong standard error and 95% interval."""

    value: float
    se: float
    ci: tuple[float, float]
    n_positive: int
    n_negative: int
    method: str

    @property
    def auc(self) -> float:
        return self.value


def scores_for(truth, score_arrays: Sequence, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Binary truth (n,) and the score rows (r, n), checked; ValueError unless both classes are present."""
    t = as_binary(truth, "truth")
    rows = []
    for values, name in zip(score_arrays, names, strict=True):
        try:
            s = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric") from None
        if s.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {s.shape}")
        same_length("truth", t, name, s)
        if not np.all(np.isfinite(s)):
            raise ValueError(f"{name} contains missing or infinite values")
        rows.append(s)
    n_pos = int(np.count_nonzero(t))
    if n_pos == 0 or n_pos == t.shape[0]:
        raise ValueError(f"AUC needs both positive and negative cases, got {n_pos} positive of {t.shape[0]}")
    return t, np.vstack(rows)


def placement_values(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components of score rows (r, n): V10 (r, m), a positive's share of the negatives it
    beats, and V01 (r, n - m), a negative's share of the positives it loses to; a tie counts 1/2, so the mean of
    either row is the Mann-Whitney AUC.

    Counted by binary search in the other class's sorted scores: the same numbers as Sun & Xu's (2014) midrank
    differences, exactly (both are half-integers over the class size), at a third of scipy's rankdata cost."""
    positives, negatives = scores[:, truth], scores[:, ~truth]
    v10, v01 = np.empty(positives.shape), np.empty(negatives.shape)
    for i in range(scores.shape[0]):
        v10[i] = _share_below(negatives[i], positives[i])
        v01[i] = 1.0 - _share_below(positives[i], negatives[i])
    return v10, v01


def _share_below(others: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per value, the share of ``others`` below it, a tie counting 1/2."""
    ordered = np.sort(others)
    return (np.searchsorted(ordered, values, "left") + np.searchsorted(ordered, values, "right")) / (2.0 * others.size)


def delong_covariance(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (r,) and their DeLong covariance (r, r) for score rows (r, n); Sun & Xu (2014), Algorithm 1.

    A tie counts as 1/2 (the Mann-Whitney AUC, equal to scikit-learn's ``roc_auc_score``).
    """
    v10, v01 = placement_values(truth, scores)
    m, n = v10.shape[1], v01.shape[1]
    aucs = v10.mean(1)
    r = scores.shape[0]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.full((r, r), np.nan)
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.full((r, r), np.nan)
    return aucs, s10 / m + s01 / n


def roc_auc(truth, scores) -> AucResult:
    """ROC AUC with a DeLong 95% confidence interval.

    Parameters
    ----------
    truth : array_like of bool or 0/1, shape (n,)
    scores : array_like of float, shape (n,)
        Higher means more likely positive (model confidence, or an ordinal reader confidence score).

    Returns
    -------
    AucResult
        ``value`` equals ``sklearn.metrics.roc_auc_score``; ``se`` is the square root of DeLong's
        (1988) variance computed with the fast algorithm of Sun & Xu (2014); ``ci`` is the plain normal
        interval ``auc +- 1.96 se`` clipped to [0, 1] (not logit-transformed). With a single positive or
        negative case the variance cannot be estimated and ``se``/``ci`` are NaN.

    Raises
    ------
    ValueError
        Different lengths, non-binary truth, only one class present, non-finite scores.
    """
    t, s = scores_for(truth, [scores], ["scores"])
    aucs, cov = delong_covariance(t, s)
    auc = float(aucs[0])
    var = float(cov[0, 0])
    se = math.sqrt(var) if var >= 0 else math.nan
    ci = (max(0.0, auc - Z_975 * se), min(1.0, auc + Z_975 * se)) if math.isfinite(se) else NAN_CI
    n_pos = int(np.count_nonzero(t))
    return AucResult(
        auc,
        se,
        ci,
        n_pos,
        t.shape[0] - n_pos,
        "DeLong (1988) variance, fast algorithm of Sun & Xu (2014); normal CI clipped to [0, 1]",
    )
