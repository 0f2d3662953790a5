"""Comparisons on the same cases: McNemar's test of two readers' accuracy, DeLong's test of two correlated AUCs,
and paired reading times.

Pure numpy/scipy, no Django; invalid input raises ValueError with a message that names the problem.

References
----------
McNemar Q. Note on the sampling error of the difference between correlated proportions or percentages.
Psychometrika 1947;12(2):153-157. doi:10.1007/BF02295996
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated receiver
operating characteristic curves: a nonparametric approach. Biometrics 1988;44(3):837-845.
doi:10.2307/2531595
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated receiver
operating characteristic curves. IEEE Signal Process Lett 2014;21(11):1389-1393.
doi:10.1109/LSP.2014.2337313
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr, stdtrit
from scipy.stats import binom, chi2, wilcoxon

from stats.accuracy import delong_covariance, scores_for
from stats.results import NAN_CI, Z_975, as_label_array, concat_labels, encode_labels, same_length, two_sided_p

__all__ = ["DelongResult", "McNemarResult", "PairedTimesResult", "delong_test", "mcnemar", "paired_times"]


# --------------------------------------------------------------------------------------------------------
# McNemar


class _PValueAlias:
    """``result.p``, short for ``result.p_value``."""

    @property
    def p(self) -> float:
        return self.p_value


@dataclass(frozen=True)
class McNemarResult(_PValueAlias):
    """McNemar's test on paired correctness. ``b``: A right and B wrong; ``c``: A wrong and B right."""

    statistic: float
    p_value: float
    b: int
    c: int
    n: int
    method: str


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
    same_length("truth", t, "pred_a", a)
    same_length("truth", t, "pred_b", b_arr)
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
        p_value = float(min(1.0, 2.0 * binom.cdf(min(b, c), b + c, 0.5)))
        method = "exact"
    else:
        statistic = (abs(b - c) - 1.0) ** 2 / (b + c)
        p_value = float(chi2.sf(statistic, 1))
        method = "chi2"
    return McNemarResult(statistic, p_value, b, c, n, method)


# --------------------------------------------------------------------------------------------------------
# DeLong


@dataclass(frozen=True)
class DelongResult(_PValueAlias):
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
        As :func:`stats.accuracy.roc_auc`.
    """
    t, s = scores_for(truth, [scores_a, scores_b], ["scores_a", "scores_b"])
    aucs, cov = delong_covariance(t, s)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    n_pos = int(np.count_nonzero(t))
    if math.isfinite(var) and var > 1e-300:
        se = math.sqrt(var)
        z = diff / se
        p_value = two_sided_p(z)
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
    same_length("times_a", a, "times_b", b)
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
            w = wilcoxon(d)
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
