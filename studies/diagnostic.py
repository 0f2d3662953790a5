"""Diagnostic accuracy of readers and the model against ground truth, reading times, and cluster bootstrap.

Pure numpy/scipy, no Django. Every function validates its input and raises ValueError with a message
that names the problem; metrics whose denominator is zero are NaN with a ``(nan, nan)`` interval rather
than 0 or 1.

References
----------
Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat Assoc
1927;22(158):209-212. doi:10.1080/01621459.1927.10502953
Newcombe RG. Interval estimation for the difference between independent proportions: comparison of eleven
methods. Stat Med 1998;17(8):873-890. doi:10.1002/(SICI)1097-0258(19980430)17:8<873::AID-SIM779>3.0.CO;2-I
Youden WJ. Index for rating diagnostic tests. Cancer 1950;3(1):32-35.
doi:10.1002/1097-0142(1950)3:1<32::AID-CNCR2820030106>3.0.CO;2-3
McNemar Q. Note on the sampling error of the difference between correlated proportions or percentages.
Psychometrika 1947;12(2):153-157. doi:10.1007/BF02295996
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated receiver
operating characteristic curves: a nonparametric approach. Biometrics 1988;44(3):837-845.
doi:10.2307/2531595
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated receiver
operating characteristic curves. IEEE Signal Process Lett 2014;21(11):1389-1393.
doi:10.1109/LSP.2014.2337313
Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B 2007;69(3):369-390.
doi:10.1111/j.1467-9868.2007.00593.x
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import stats
from scipy.special import ndtr, stdtr, stdtrit
from threadpoolctl import ThreadpoolController

from studies._results import (
    NAN_CI,
    Z_975,
    Proportion,
    as_label_array,
    concat_labels,
    encode_labels,
    proportion,
    wilson_ci,
)
# Kappa's labels and weights have one owner; the bootstrap reuses them rather than a second definition.
from studies.agreement import _agreement_weights, _pair_codes

__all__ = [
    "AucResult",
    "BinaryMetrics",
    "BootstrapResult",
    "ClassMetrics",
    "DelongResult",
    "McNemarResult",
    "MulticlassMetrics",
    "PairedTimesResult",
    "Proportion",
    "binary_metrics",
    "bootstrap_binary_metrics",
    "bootstrap_ci",
    "bootstrap_cohen_kappa",
    "delong_test",
    "mcnemar",
    "multiclass_metrics",
    "paired_times",
    "roc_auc",
]


def _as_binary(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind in "iuf":
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ValueError(f"{name} contains missing values (NaN)")
        positive = arr == 1
        if not np.all(positive | (arr == 0)):
            bad = arr[~(positive | (arr == 0))][0].item()
            raise ValueError(f"{name} must be binary (True/False or 1/0), found {bad!r}")
        return positive
    if arr.dtype.kind == "O":
        items = arr.tolist()
        if any(v is None for v in items):
            raise ValueError(f"{name} contains missing values (None)")
        converted = np.asarray(items)  # e.g. a pandas object column of 0/1
        if converted.dtype.kind in "biuf":
            return _as_binary(converted, name)
    raise ValueError(f"{name} must be binary (True/False or 1/0), got dtype {arr.dtype}")


def _same_length(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name_a} has {a.shape[0]} values and {name_b} has {b.shape[0]}; they must be paired")


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
    t = _as_binary(truth, "truth")
    p = _as_binary(pred, "pred")
    _same_length("truth", t, "pred", p)
    n = t.shape[0]
    if n == 0:
        raise ValueError("binary_metrics got no cases (empty input)")
    tp = int(np.count_nonzero(t & p))
    fn = int(np.count_nonzero(t)) - tp
    fp = int(np.count_nonzero(p)) - tp
    tn = n - tp - fn - fp

    sensitivity = proportion(tp, tp + fn)
    specificity = proportion(tn, tn + fp)
    non_negative = tp + fp + fn
    if non_negative == 0:
        f1 = Proportion(math.nan, NAN_CI, 2 * tp, 2 * tp + fp + fn, "wilson on J=tp/(tp+fp+fn), F1=2J/(1+J)")
    else:
        j_low, j_high = wilson_ci(tp, non_negative)
        f1 = Proportion(
            2 * tp / (2 * tp + fp + fn),
            (2 * j_low / (1 + j_low), 2 * j_high / (1 + j_high)),
            2 * tp,
            2 * tp + fp + fn,
            "wilson on J=tp/(tp+fp+fn), F1=2J/(1+J)",
        )
    return BinaryMetrics(
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        n=n,
        sensitivity=sensitivity,
        specificity=specificity,
        accuracy=proportion(tp + tn, n),
        ppv=proportion(tp, tp + fp),
        npv=proportion(tn, tn + fn),
        f1=f1,
        youden=_youden(tp, fn, fp, tn),
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
    t = as_label_array(truth, "truth")
    p = as_label_array(pred, "pred")
    _same_length("truth", t, "pred", p)
    n = t.shape[0]
    if n == 0:
        raise ValueError("multiclass_metrics got no cases (empty input)")
    if labels is None:
        raise ValueError("labels is required: the full list of grades in order")
    codes, cats = encode_labels(concat_labels([t, p], ["truth", "pred"]), labels, "grades")
    code_t, code_p = codes[:n], codes[n:]
    k = len(cats)
    confusion = np.bincount(code_t * k + code_p, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    support = confusion.sum(1)
    predicted = confusion.sum(0)
    fp = predicted - tp
    fn = support - tp
    tn = n - tp - fp - fn
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    specificity = _ratio(tn, tn + fp)
    per_class = {
        label: ClassMetrics(
            label,
            float(precision[i]),
            float(recall[i]),
            float(f1[i]),
            float(recall[i]),
            float(specificity[i]),
            int(support[i]),
        )
        for i, label in enumerate(cats)
    }
    metrics = {"precision": precision, "recall": recall, "f1": f1, "specificity": specificity}
    macro = {name: _nan_average(values) for name, values in metrics.items()}
    weighted = {name: _nan_average(values, support.astype(float)) for name, values in metrics.items()}
    off = None
    if ordinal:
        off = proportion(int(np.count_nonzero(np.abs(code_t - code_p) > 1)), n)
    return MulticlassMetrics(
        labels=cats,
        confusion=confusion,
        per_class=per_class,
        accuracy=proportion(int(tp.sum()), n),
        macro=macro,
        weighted=weighted,
        n=n,
        off_by_more_than_one=off,
    )


# --------------------------------------------------------------------------------------------------------
# McNemar


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired correctness. ``b``: A right and B wrong; ``c``: A wrong and B right."""

    statistic: float
    p_value: float
    b: int
    c: int
    n: int
    method: str

    @property
    def p(self) -> float:
        return self.p_value


def mcnemar(truth, pred_a, pred_b) -> McNemarResult:
    """McNemar's test: do two readers (or a reader and the model) differ in accuracy on the same cases?

    Parameters
    ----------
    truth, pred_a, pred_b : array_like, shape (n,)
        Ground truth and the two calls per case (any labels: binary findings or grades; a call is correct
        when it equals the truth).

    Returns
    -------
    McNemarResult
        ``b``/``c`` discordant counts; with ``b + c < 25`` the exact binomial test (``method="exact"``,
        ``statistic = min(b, c)``, p = min(1, 2 P(X <= min(b, c))) with X ~ Bin(b + c, 1/2)), otherwise the
        chi-square test with continuity correction (``method="chi2"``, ``statistic = (|b-c|-1)^2/(b+c)``, 1
        df). Both equal ``statsmodels.stats.contingency_tables.mcnemar(table, exact=..., correction=True)``.
        With no discordant pairs p is 1.

    Raises
    ------
    ValueError
        Empty input, different lengths, missing values.
    """
    t = as_label_array(truth, "truth")
    a = as_label_array(pred_a, "pred_a")
    b_arr = as_label_array(pred_b, "pred_b")
    _same_length("truth", t, "pred_a", a)
    _same_length("truth", t, "pred_b", b_arr)
    n = t.shape[0]
    if n == 0:
        raise ValueError("mcnemar got no cases (empty input)")
    codes, _ = encode_labels(concat_labels([t, a, b_arr], ["truth", "pred_a", "pred_b"]), None, "labels")
    correct_a = codes[n : 2 * n] == codes[:n]
    correct_b = codes[2 * n :] == codes[:n]
    b = int(np.count_nonzero(correct_a & ~correct_b))
    c = int(np.count_nonzero(~correct_a & correct_b))
    if b + c < 25:
        statistic = float(min(b, c))
        p_value = float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), b + c, 0.5)))
        method = "exact"
    else:
        statistic = (abs(b - c) - 1.0) ** 2 / (b + c)
        p_value = float(stats.chi2.sf(statistic, 1))
        method = "chi2"
    return McNemarResult(statistic, p_value, b, c, n, method)


# --------------------------------------------------------------------------------------------------------
# ROC AUC and DeLong


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


@dataclass(frozen=True)
class DelongResult:
    """DeLong test of two correlated AUCs; ``diff = auc_a - auc_b`` with its SE and 95% interval."""

    auc_a: float
    auc_b: float
    diff: float
    se_diff: float
    ci: tuple[float, float]
    z: float
    p_value: float
    n_positive: int
    n_negative: int

    @property
    def p(self) -> float:
        return self.p_value


def _scores_for(truth, score_arrays: Sequence, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    t = _as_binary(truth, "truth")
    rows = []
    for values, name in zip(score_arrays, names, strict=True):
        try:
            s = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric") from None
        if s.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {s.shape}")
        _same_length("truth", t, name, s)
        if not np.all(np.isfinite(s)):
            raise ValueError(f"{name} contains missing or infinite values")
        rows.append(s)
    n_pos = int(np.count_nonzero(t))
    if n_pos == 0 or n_pos == t.shape[0]:
        raise ValueError(f"AUC needs both positive and negative cases, got {n_pos} positive of {t.shape[0]}")
    return t, np.vstack(rows)


def _fast_delong(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (r,) and their DeLong covariance (r, r) for score rows (r, n); Sun & Xu (2014), Algorithm 1.

    Midranks handle ties, so each AUC counts a tie as 1/2 (the Mann-Whitney AUC, equal to scikit-learn's
    ``roc_auc_score``).
    """
    positives = scores[:, truth]
    negatives = scores[:, ~truth]
    m, n = positives.shape[1], negatives.shape[1]
    tx = stats.rankdata(positives, axis=1)
    ty = stats.rankdata(negatives, axis=1)
    tz = stats.rankdata(np.hstack([positives, negatives]), axis=1)
    aucs = tz[:, :m].sum(1) / (m * n) - (m + 1.0) / (2.0 * n)
    v10 = (tz[:, :m] - tx) / n  # structural components of the positives
    v01 = 1.0 - (tz[:, m:] - ty) / m  # ... and of the negatives
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
    t, s = _scores_for(truth, [scores], ["scores"])
    aucs, cov = _fast_delong(t, s)
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


def delong_test(truth, scores_a, scores_b) -> DelongResult:
    """DeLong's test for the difference of two correlated AUCs (same cases, two readers or reader vs model).

    Parameters
    ----------
    truth : array_like of bool or 0/1, shape (n,)
    scores_a, scores_b : array_like of float, shape (n,)

    Returns
    -------
    DelongResult
        ``auc_a``, ``auc_b``, ``diff = auc_a - auc_b``, ``se_diff = sqrt(V_a + V_b - 2 C_ab)`` from the DeLong
        covariance (Sun & Xu 2014 fast algorithm), ``ci`` the normal 95% interval of ``diff``, ``z`` and the
        two-sided ``p_value``. Identical score vectors give ``diff = 0``, ``z = 0`` and ``p_value = 1``.

    Raises
    ------
    ValueError
        As :func:`roc_auc`.
    """
    t, s = _scores_for(truth, [scores_a, scores_b], ["scores_a", "scores_b"])
    aucs, cov = _fast_delong(t, s)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    n_pos = int(np.count_nonzero(t))
    if math.isfinite(var) and var > 1e-300:
        se = math.sqrt(var)
        z = diff / se
        p_value = float(2.0 * ndtr(-abs(z)))
        ci = (diff - Z_975 * se, diff + Z_975 * se)
    elif math.isfinite(var) and diff == 0.0:
        se, z, p_value, ci = 0.0, 0.0, 1.0, (0.0, 0.0)
    else:
        se, z, p_value, ci = math.nan, math.nan, math.nan, NAN_CI
    return DelongResult(float(aucs[0]), float(aucs[1]), diff, se, ci, z, p_value, n_pos, t.shape[0] - n_pos)


# --------------------------------------------------------------------------------------------------------
# Reading times


@dataclass(frozen=True)
class PairedTimesResult:
    """Paired comparison of reading times (seconds), ``a - b`` per case."""

    mean_a: float
    mean_b: float
    mean_difference: float
    ci: tuple[float, float]
    median_difference: float
    t_statistic: float
    t_p_value: float
    wilcoxon_statistic: float
    wilcoxon_p_value: float
    n: int

    @property
    def value(self) -> float:
        return self.mean_difference


def paired_times(times_a, times_b) -> PairedTimesResult:
    """Compare reading times of the same cases in two arms (e.g. without vs with model help).

    Parameters
    ----------
    times_a, times_b : array_like of float, shape (n,)
        Seconds per case, paired by case (and reader).

    Returns
    -------
    PairedTimesResult
        ``mean_difference`` (a - b) with its t-based 95% ``ci``; the paired t-test (equal to
        ``scipy.stats.ttest_rel(a, b)``) and the Wilcoxon signed-rank test (``scipy.stats.wilcoxon(a - b)``
        with its defaults: zero differences dropped, exact distribution for small n without ties). Reading
        times are skewed, so report the Wilcoxon p alongside the t p. When every difference is 0 the tests
        are undefined: statistics and p-values are NaN.

    Raises
    ------
    ValueError
        Fewer than 2 pairs, different lengths, missing or infinite times.
    """
    try:
        a = np.asarray(times_a, dtype=float)
        b = np.asarray(times_b, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("reading times must be numeric seconds") from None
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("times_a and times_b must be one-dimensional")
    _same_length("times_a", a, "times_b", b)
    n = a.shape[0]
    if n < 2:
        raise ValueError(f"paired_times needs at least 2 paired cases, got {n}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("reading times contain missing or infinite values")
    d = a - b
    mean_d = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd > 0:
        se = sd / math.sqrt(n)
        t_stat = mean_d / se
        t_p = float(2.0 * stdtr(n - 1, -abs(t_stat)))
        half = float(stdtrit(n - 1, 0.975)) * se
        ci = (mean_d - half, mean_d + half)
    else:
        t_stat, t_p = math.nan, math.nan
        ci = (mean_d, mean_d)
    if np.any(d != 0):
        with warnings.catch_warnings():
            # scipy warns about ties/zeros switching to the normal approximation; that is expected here.
            warnings.simplefilter("ignore", UserWarning)
            w = stats.wilcoxon(d)
        w_stat, w_p = float(w.statistic), float(w.pvalue)
    else:
        w_stat, w_p = math.nan, math.nan
    return PairedTimesResult(
        float(a.mean()),
        float(b.mean()),
        mean_d,
        ci,
        float(np.median(d)),
        float(t_stat),
        t_p,
        w_stat,
        w_p,
        n,
    )


# --------------------------------------------------------------------------------------------------------
# Cluster bootstrap


@dataclass(frozen=True)
class BootstrapResult:
    """Percentile bootstrap interval. ``value`` is ``fn`` on the original data; ``se`` the standard deviation
    of the replicates; ``n_valid`` the replicates that gave a finite number (others are dropped)."""

    value: float
    ci: tuple[float, float]
    se: float
    n_boot: int
    n_valid: int
    n_clusters: int
    method: str = "percentile bootstrap, resampling clusters with replacement"
    replicates: np.ndarray = field(default=None, repr=False, compare=False)


def bootstrap_ci(
    fn: Callable,
    data,
    cluster=None,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapResult:
    """Percentile bootstrap confidence interval that resamples whole patients, not rows.

    Several discs of one patient are correlated, so resampling rows understates the variance; resampling
    clusters with replacement (Field & Welsh 2007) keeps each patient's discs together.

    Parameters
    ----------
    fn : callable
        ``fn(sample) -> float`` where ``sample`` has the type of ``data`` (dict of arrays or DataFrame).
    data : dict of array_like, or pandas.DataFrame
        Equal-length columns, one row per observation (e.g. per disc level and reader).
    cluster : str or array_like, optional
        Column name in ``data`` or an array of cluster ids (patient ids), one per row. None: every row is
        its own cluster (the ordinary bootstrap).
    n_boot : int
        Number of bootstrap replicates.
    seed : int
        Seed for ``numpy.random.default_rng``; the same seed gives the same interval.
    alpha : float
        1 - confidence level.

    Returns
    -------
    BootstrapResult
        ``ci`` = the ``alpha/2`` and ``1 - alpha/2`` quantiles (numpy's linear interpolation) of the
        finite replicates; NaN if none is finite. A resampled patient drawn twice appears twice with the same
        id, so ``fn`` should not group by the cluster id.

    Raises
    ------
    ValueError
        Unsupported ``data`` type, unequal column lengths, no rows, a cluster column/array that does not
        fit, missing cluster ids, ``n_boot < 1`` or ``alpha`` outside (0, 1).
    """
    _check_boot(n_boot, alpha)
    if isinstance(data, dict):
        columns = {key: np.asarray(values) for key, values in data.items()}
        lengths = {key: col.shape[0] if col.ndim else -1 for key, col in columns.items()}
        if not columns:
            raise ValueError("data has no columns")
        if len(set(lengths.values())) != 1 or -1 in lengths.values():
            raise ValueError(f"data columns must be arrays of equal length, got lengths {lengths}")
        n = next(iter(lengths.values()))

        def take(rows: np.ndarray):
            return {key: col[rows] for key, col in columns.items()}

    elif hasattr(data, "iloc") and hasattr(data, "columns"):
        columns = None
        n = len(data)

        def take(rows: np.ndarray):
            return data.iloc[rows]

    else:
        raise ValueError(f"data must be a dict of arrays or a pandas DataFrame, got {type(data).__name__}")
    if n == 0:
        raise ValueError("bootstrap_ci got no rows (empty data)")

    if cluster is None:
        cluster_ids = np.arange(n)
    elif isinstance(cluster, str):
        if columns is not None:
            if cluster not in columns:
                raise ValueError(f"cluster column {cluster!r} is not in data")
            cluster_ids = columns[cluster]
        else:
            if cluster not in data.columns:
                raise ValueError(f"cluster column {cluster!r} is not in data")
            cluster_ids = data[cluster].to_numpy()
    else:
        cluster_ids = np.asarray(cluster)
        if cluster_ids.ndim != 1 or cluster_ids.shape[0] != n:
            raise ValueError(f"cluster must have one id per row ({n}), got shape {cluster_ids.shape}")
    cluster_codes, n_clusters = _cluster_codes(cluster_ids)
    order = np.argsort(cluster_codes, kind="stable")
    sizes = np.bincount(cluster_codes, minlength=n_clusters)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    value = float(fn(data))
    draws = _cluster_draws(n_clusters, n_boot, seed)
    replicates = np.empty(n_boot)
    for i in range(n_boot):
        chosen = draws[i]
        chosen_sizes = sizes[chosen]
        total = int(chosen_sizes.sum())
        # Row positions of the chosen clusters, concatenated: start of each cluster + 0..size-1.
        offsets = np.arange(total) - np.repeat(np.cumsum(chosen_sizes) - chosen_sizes, chosen_sizes)
        rows = order[np.repeat(starts[chosen], chosen_sizes) + offsets]
        replicates[i] = fn(take(rows))
    return _percentile_result(value, replicates, n_clusters, alpha)


def _check_boot(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _cluster_codes(cluster_ids) -> tuple[np.ndarray, int]:
    """Codes 0..n_clusters-1 in the sorted order of the ids; the order fixes which cluster each draw picks."""
    cluster_ids = as_label_array(cluster_ids, "cluster")
    if cluster_ids.dtype.kind in "iu":
        # Integer ids cannot be missing: skip encode_labels' per-label checks (a dashboard passes 1,000s).
        codes = np.unique(cluster_ids, return_inverse=True)[1]
    else:
        codes, _ = encode_labels(cluster_ids, None, "cluster ids")
    return codes, int(codes.max()) + 1


def _cluster_draws(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_clusters) cluster codes drawn with replacement: the one draw every bootstrap here shares."""
    return np.random.default_rng(seed).integers(0, n_clusters, size=(n_boot, n_clusters))


def _percentile_result(value: float, replicates: np.ndarray, n_clusters: int, alpha: float) -> BootstrapResult:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        ci, se = NAN_CI, math.nan
    else:
        low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
        ci = (float(low), float(high))
        se = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return BootstrapResult(float(value), ci, se, replicates.size, int(finite.size), n_clusters,
                           replicates=replicates)


# --------------------------------------------------------------------------------------------------------
# Fast patient bootstrap of pooled-disc metrics, from per-patient counts


@lru_cache(maxsize=4)
def _draw_counts(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_clusters) times each cluster is drawn in each replicate, for the draws of :func:`bootstrap_ci`.

    Cached (read-only) because a dashboard bootstraps dozens of metrics over the same patients. float32 halves
    the memory that each ``draw_counts @ per_patient_counts`` reads; its sums of counts are exact below 2**24."""
    draws = _cluster_draws(n_clusters, n_boot, seed)
    flat = (draws + n_clusters * np.arange(n_boot)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_clusters).reshape(n_boot, n_clusters).astype(np.float32)
    counts.flags.writeable = False
    return counts


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """Made once, on first use: making one scans every loaded library (milliseconds with torch loaded)."""
    return ThreadpoolController()


def _resampled_sums(per_cluster: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Row 0: the column sums of the per-patient counts (n_clusters, m); rows 1..n_boot: each replicate's."""
    draw_counts = _draw_counts(per_cluster.shape[0], n_boot, seed)
    # A replicate's sum is at most n_clusters times the largest count.
    exact = np.float32 if per_cluster.shape[0] * per_cluster.max() < 2**24 else np.float64
    # One BLAS thread: the product takes milliseconds, and idle OpenBLAS threads keep spinning after it, which
    # slowed the rest of the dashboard by more than the bootstrap itself when the cores were busy (bench/stats.py).
    with _blas_controller().limit(limits=1, user_api="blas"):
        replicates = draw_counts.astype(exact, copy=False) @ per_cluster.astype(exact)
    return np.vstack([per_cluster.sum(0), replicates]).astype(float)


def _stacked(x, y, patient, rows, caller: str):
    """The paired labels and the row mask broadcast to (r, n), the (entry, row) positions used, and the cluster
    code of each row's patient."""
    x, y = np.asarray(x), np.asarray(y)
    rows = np.ones((1, 1), bool) if rows is None else np.asarray(rows, bool)
    shapes = (x.shape, y.shape, rows.shape)
    if not all(len(shape) in (1, 2) for shape in shapes):
        raise ValueError(f"{caller} takes arrays of shape (n,) or (r, n), got shapes {shapes}")
    try:
        x, y, rows = np.broadcast_arrays(np.atleast_2d(x), np.atleast_2d(y), np.atleast_2d(rows))
    except ValueError:
        raise ValueError(f"{caller} needs paired rows, got shapes {shapes} that do not match") from None
    patient = np.asarray(patient)
    n = x.shape[1]
    if patient.shape != (n,):
        raise ValueError(f"{caller}: patient must have one id per row ({n}), got shape {patient.shape}")
    entry, row = np.nonzero(rows)
    empty = np.flatnonzero(~rows.any(1))
    if n == 0 or empty.size:
        raise ValueError(f"{caller} got no rows" + (f" for entry {empty[0]}" if n else " (empty input)"))
    codes, _ = _cluster_codes(patient)
    return x, y, entry, row, codes


def _resampled_counts(entry, patient_codes, cells, n_entries: int, n_cells: int, n_boot: int, seed: int):
    """Per entry, its cell counts on the data and in each replicate, shape (n_entries, 1 + n_boot, n_cells), and
    its number of patients. Each used row (``entry``, ``patient_codes`` and ``cells`` of shape (m, c)) adds one
    to each of its c cells.

    Each entry resamples the patients it has rows for, with the draws :func:`bootstrap_ci` makes for that many
    clusters; entries with the same patients share one matrix product."""
    n_patients = int(patient_codes.max()) + 1
    index = ((entry * n_patients + patient_codes)[:, None] * n_cells + cells).ravel()
    per_patient = np.bincount(index, minlength=n_entries * n_patients * n_cells).reshape(n_entries, n_patients,
                                                                                          n_cells)
    present = per_patient.any(2)
    counts = np.empty((n_entries, 1 + n_boot, n_cells))
    groups: dict[bytes, list] = {}
    for e, key in enumerate(np.packbits(present, axis=1)):
        groups.setdefault(key.tobytes(), []).append(e)
    for members in groups.values():
        patients = present[members[0]]
        block = per_patient[members][:, patients].transpose(1, 0, 2).reshape(int(patients.sum()), -1)
        sums = _resampled_sums(block, n_boot, seed)
        counts[members] = sums.reshape(1 + n_boot, len(members), n_cells).transpose(1, 0, 2)
    return counts, present.sum(1)


def bootstrap_binary_metrics(
    truth, pred, patient, rows=None, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> dict[str, BootstrapResult] | list[dict[str, BootstrapResult]]:
    """Patient-bootstrap intervals of sensitivity, specificity, accuracy, PPV and NPV over pooled disc levels.

    The replicates are those of :func:`bootstrap_ci` with the same ``seed``, ``cluster=patient`` and ``fn`` the
    metric of :func:`binary_metrics`, so the interval is the same, exactly; but they come from per-patient
    TP/FN/FP/TN counts: a replicate's counts are the times each patient is drawn times its counts, one matrix
    product for all replicates (and all stacked readers) instead of one Python call per replicate.

    Parameters
    ----------
    truth, pred : array_like of bool or 0/1, shape (n,) or (r, n)
        Ground truth and the reader's (or model's) call, one row per disc level; a stack of r readers
        (broadcast, so one truth row serves them all) is resampled in one go.
    patient : array_like, shape (n,)
        Patient id of each row; a patient's rows are resampled together.
    rows : array_like of bool, shape (n,) or (r, n), optional
        The rows each entry uses (e.g. where the reader gave a value); others are ignored, values included.
        An entry resamples the patients it has rows for, as :func:`bootstrap_ci` on those rows would.
    n_boot, seed, alpha
        As for :func:`bootstrap_ci`.

    Returns
    -------
    dict of str to BootstrapResult, or a list of r of them for stacked input
        Keys ``sensitivity``, ``specificity``, ``accuracy``, ``ppv``, ``npv``; ``value`` is the metric on the
        data. Replicates with a zero denominator (no positive discs drawn) are NaN and dropped.

    Raises
    ------
    ValueError
        No rows (for an entry), shapes that do not pair, non-binary or missing values in the rows used, missing
        patient ids, ``n_boot < 1``, ``alpha`` outside (0, 1).
    """
    _check_boot(n_boot, alpha)
    t, p, entry, row, codes = _stacked(truth, pred, patient, rows, "bootstrap_binary_metrics")
    t_used = _as_binary(t[entry, row], "truth").astype(np.intp)
    p_used = _as_binary(p[entry, row], "pred").astype(np.intp)
    counts, n_clusters = _resampled_counts(entry, codes[row], (2 * t_used + p_used)[:, None], t.shape[0], 4,
                                           n_boot, seed)
    tn, fp, fn, tp = counts.transpose(2, 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        metrics = {"sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp),
                   "accuracy": (tp + tn) / (tp + tn + fp + fn), "ppv": tp / (tp + fp), "npv": tn / (tn + fn)}
    results = [{name: _percentile_result(values[e, 0], values[e, 1:], n_clusters[e], alpha)
                for name, values in metrics.items()} for e in range(t.shape[0])]
    return results if _is_stack(truth, pred, rows) else results[0]


def bootstrap_cohen_kappa(
    a, b, patient, weights: str | None = None, categories: Sequence | None = None, rows=None, n_boot: int = 2000,
    seed: int = 0, alpha: float = 0.05
) -> BootstrapResult | list[BootstrapResult]:
    """Patient-bootstrap interval of Cohen's kappa (a rater against ground truth, or two raters) over pooled discs.

    Kappa is :func:`studies.agreement.cohen_kappa` (same weights, categories, and NaN when one category holds
    every rating), computed per replicate from the drawn patients' summed counts (agreements by distance between
    the two labels, and each rater's margins). The replicates are those of :func:`bootstrap_ci` with the same
    ``seed``, ``cluster=patient`` and ``fn`` = ``cohen_kappa(...).kappa``, equal up to floating-point rounding
    (about 1e-15).

    Parameters
    ----------
    a, b : array_like, shape (n,) or (r, n)
        One label per disc level from each rater (or the truth); a stack of r pairs is resampled in one go.
    patient : array_like, shape (n,)
        Patient id of each row.
    weights, categories
        As for :func:`studies.agreement.cohen_kappa`.
    rows, n_boot, seed, alpha
        As for :func:`bootstrap_binary_metrics`.

    Returns
    -------
    BootstrapResult, or a list of r of them for stacked input
        NaN replicates (one category only in the drawn patients) are dropped and counted in ``n_valid``.

    Raises
    ------
    ValueError
        As :func:`studies.agreement.cohen_kappa` for the rows used, plus no rows (for an entry), shapes that do
        not pair, missing patient ids, ``n_boot < 1``, ``alpha`` outside (0, 1).
    """
    _check_boot(n_boot, alpha)
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    x, y, entry, row, codes = _stacked(a, b, patient, rows, "bootstrap_cohen_kappa")
    code_x, code_y, cats = _pair_codes(x[entry, row], y[entry, row], categories, "bootstrap_cohen_kappa")
    k = len(cats)
    # Sufficient for kappa, and 3k columns to resample instead of a k x k table's k**2: the agreements by distance
    # |i - j| (agreement weights depend on nothing else) and the two raters' margins.
    cells = np.stack([np.abs(code_x - code_y), k + code_x, 2 * k + code_y], axis=1)
    counts, n_clusters = _resampled_counts(entry, codes[row], cells, x.shape[0], 3 * k, n_boot, seed)
    kappa = _kappa_of_counts(counts, _agreement_weights(k, weights))
    results = [_percentile_result(kappa[e, 0], kappa[e, 1:], n_clusters[e], alpha) for e in range(x.shape[0])]
    return results if _is_stack(a, b, rows) else results[0]


def _is_stack(*arrays) -> bool:
    return any(np.ndim(x) == 2 for x in arrays if x is not None)


def _kappa_of_counts(counts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cohen's kappa from counts (..., 3k): agreements by distance, then margins (see bootstrap_cohen_kappa);
    ``studies.agreement``'s po and pe, on counts."""
    k = w.shape[0]
    by_distance, margin_a, margin_b = counts[..., :k], counts[..., k : 2 * k], counts[..., 2 * k :]
    nobs = margin_a.sum(-1)
    # einsum, not matmul: for these thin products BLAS's thread start-up costs more than the arithmetic.
    po = np.einsum("...d,d->...", by_distance, w[0]) / nobs
    pe = (np.einsum("...i,ij->...j", margin_a, w) * margin_b).sum(-1) / nobs**2
    # Expected agreement exactly 1 (both raters used one and the same category throughout): undefined, as in
    # cohen_kappa.
    undefined = (by_distance[..., 0] == nobs) & (margin_a.max(-1) == nobs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(undefined, np.nan, (po - pe) / (1.0 - pe))
