"""Gwet's AC1 (nominal) and AC2 (weighted): chance-corrected agreement that stays stable when one category is rare.

Kappa's chance agreement grows with the imbalance of the categories, so two readers who agree on 96% of discs
about a finding that 5% of discs have can get a kappa near 0.3 (the "kappa paradox", Feinstein & Cicchetti
1990). Gwet's chance agreement ``pe = sum_k pi_k (1 - pi_k) / (q - 1)`` is small exactly then, and AC1 stays close
to the observed agreement. Report it next to kappa, not instead of it.

The estimates, standard errors, intervals and p-values are those of the R package irrCAC (Gwet, version 1.0,
github.com/kgwet/irrCAC): :func:`gwet_ac1` follows ``gwet.ac1.table`` (two raters), :func:`gwet_ac1_raters`
follows ``gwet.ac1.raw`` (any number of raters, missing ratings allowed). Both variances are conditional on the
raters (subjects are the sampled units), and the intervals use Student's t with ``n - 1`` degrees of freedom.

References
----------
Gwet KL. Computing inter-rater reliability and its variance in the presence of high agreement. Br J Math Stat
Psychol 2008;61(1):29-48. doi:10.1348/000711006X126600
Gwet KL. Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics, 2014 (ch. 2-3 and 5).
ISBN 978-0970806284
Feinstein AR, Cicchetti DV. High agreement but low kappa: I. The problems of two paradoxes. J Clin Epidemiol
1990;43(6):543-549. doi:10.1016/0895-4356(90)90158-L
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import stdtr, stdtrit

from stats.agreement.kappa import agreement_weights, pair_codes
from stats.results import (
    NAN_CI,
    KappaResult,
    category_counts,
    landis_koch_band,
    rating_matrix,
)

__all__ = ["GWET_WEIGHTS", "check_gwet_weights", "gwet_ac1", "gwet_ac1_raters", "gwet_weights"]

GWET_WEIGHTS = (None, "linear", "quadratic", "ordinal")


def check_gwet_weights(weights) -> None:
    """Raise ValueError unless ``weights`` is None, "linear", "quadratic" or "ordinal"."""
    if weights not in GWET_WEIGHTS:
        raise ValueError(f"weights must be None, 'linear', 'quadratic' or 'ordinal', got {weights!r}")


def gwet_weights(k: int, weights: str | None) -> np.ndarray:
    """(k, k) agreement weights for AC2: kappa's linear and quadratic weights, or irrCAC's ordinal weights.

    Ordinal weights (irrCAC ``ordinal.weights``, Gwet 2014 ch. 3) count the categories spanned:
    ``1 - C(|i - j| + 1, 2) / C(k, 2)``, so two grades apart weighs less than twice one grade apart.
    Linear and quadratic weights use category positions; irrCAC uses the label values when they are numbers,
    which is the same for consecutive grades (Pfirrmann 1-5, Meyerding 0-4) but not for, say, 1, 2, 5.
    """
    if weights != "ordinal" or k == 1:
        return agreement_weights(k, weights)
    spanned = np.abs(np.arange(k)[:, None] - np.arange(k)[None, :]) + 1.0
    pairs = spanned * (spanned - 1.0) / 2.0
    return 1.0 - pairs / pairs.max()


def _chance_factor(w: np.ndarray) -> float:
    """``sum(w) / (q (q - 1))``: Gwet's chance agreement is this times ``sum_k pi_k (1 - pi_k)``."""
    q = w.shape[0]
    return float(w.sum()) / (q * (q - 1.0))


def gwet_ac1(a, b, weights: str | None = None, categories: Sequence | None = None) -> KappaResult:
    """Gwet's AC1 (unweighted) or AC2 (weighted) for two raters, as irrCAC's ``gwet.ac1.table`` computes it.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        One label per subject from each rater (ints, strings or booleans); no missing values (use
        :func:`gwet_ac1_raters` for those).
    weights : {None, "linear", "quadratic", "ordinal"}
        None gives AC1; the others AC2 with the weights of :func:`gwet_weights` on category positions.
    categories : sequence, optional
        Category order, as for :func:`stats.agreement.cohen_kappa`. Categories absent from the data are kept and
        change AC1 (``pe`` divides by ``q - 1``): pass the full scale.

    Returns
    -------
    KappaResult
        ``value`` is AC1/AC2 ``(pa - pe) / (1 - pe)`` with ``pa`` the (weighted) observed agreement and
        ``pe = sum(w) / (q (q - 1)) * sum_k pi_k (1 - pi_k)``, ``pi_k`` the mean of the two raters' shares of
        category k (``observed_agreement`` and ``expected_agreement``). ``se`` is Gwet's (2008) variance
        conditional on the raters with divisor n; ``ci`` is ``value +- t(0.975, n - 1) se`` with the upper limit
        capped at 1 (not the lower one), as irrCAC prints it; ``z`` is the t statistic ``value / se`` and
        ``p_value`` its two-sided p-value on ``n - 1`` degrees of freedom (irrCAC 1.0's ``gwet.ac1.table``
        prints the one-sided one, half of it for a positive AC1). ``se_null`` is NaN: Gwet gives no separate
        variance under the null.

    Raises
    ------
    ValueError
        Empty input, different lengths, missing values, a label not in ``categories``, unknown weights.

    Notes
    -----
    With a single category (``q = 1``) ``pe`` is 0/0 and the result is NaN (``band = "undefined"``); irrCAC
    returns 1 there. With two or more categories AC1 is defined even when both raters used one category
    throughout (it is then 1), unlike kappa.

    The same ratings through :func:`gwet_ac1_raters` give the same AC1 and an SE larger by
    ``sqrt(n / (n - 1))`` (irrCAC's raw-data variance divides by ``n - 1``).
    """
    check_gwet_weights(weights)
    code_a, code_b, cats = pair_codes(a, b, categories, "gwet_ac1")
    k = len(cats)
    n = code_a.shape[0]
    method = "Gwet (2008) variance conditional on the raters (irrCAC gwet.ac1.table); t interval, df = n - 1"
    if k == 1:
        return _ac1_result(math.nan, math.nan, n, method, 1.0, math.nan, cats, weights)
    table = np.bincount(code_a * k + code_b, minlength=k * k).reshape(k, k)
    w = gwet_weights(k, weights)
    p = table / n
    pi = (p.sum(1) + p.sum(0)) / 2.0
    factor = _chance_factor(w)
    pa = float((w * p).sum())
    pe = factor * float((pi * (1.0 - pi)).sum())
    ac1 = (pa - pe) / (1.0 - pe)
    # Gwet (2008) eq. 6 for two raters, with irrCAC's weighted terms.
    centred = w - 2.0 * (1.0 - ac1) * factor * (1.0 - (pi[:, None] + pi[None, :]) / 2.0)
    var = ((p * centred**2).sum() - (pa - 2.0 * (1.0 - ac1) * pe) ** 2) / (n * (1.0 - pe) ** 2)
    return _ac1_result(ac1, math.sqrt(max(var, 0.0)), n, method, pa, pe, cats, weights)


def gwet_ac1_raters(ratings, weights: str | None = None, categories: Sequence | None = None) -> KappaResult:
    """Gwet's AC1/AC2 for any number of raters with missing ratings, as irrCAC's ``gwet.ac1.raw`` computes it.

    Parameters
    ----------
    ratings : array_like, shape (n_subjects, n_raters)
        One row per subject, one column per rater; None or NaN where the rater did not rate the subject. Rows
        without any rating are dropped (irrCAC asks its caller to drop them).
    weights, categories
        As for :func:`gwet_ac1`.

    Returns
    -------
    KappaResult
        As :func:`gwet_ac1`. ``pa`` averages the subjects with two ratings or more; ``pi_k`` (and so ``pe``)
        averages every subject's share of category k, so a subject rated once still counts there. ``n`` is the
        number of subjects with at least one rating; the variance is Gwet's (2008) linearisation over those
        subjects with divisor ``n (n - 1)``.

    Raises
    ------
    ValueError
        Not two-dimensional, no subject rated twice, labels outside ``categories``, unknown weights.

    Notes
    -----
    NaN (``band = "undefined"``) with a single category, as for :func:`gwet_ac1`; the SE and interval are NaN
    with a single subject.
    """
    check_gwet_weights(weights)
    counts, cats = category_counts(rating_matrix(ratings, "ratings"), categories, "gwet_ac1_raters")
    k = len(cats)
    counts = counts[counts.sum(1) > 0]
    r = counts.sum(1)
    paired = r >= 2
    if not paired.any():
        raise ValueError("gwet_ac1_raters needs at least one subject rated by two or more raters")
    n = counts.shape[0]
    method = "Gwet (2008) variance conditional on the raters (irrCAC gwet.ac1.raw); t interval, df = n - 1"
    if k == 1:
        return _ac1_result(math.nan, math.nan, n, method, 1.0, math.nan, cats, weights)
    w = gwet_weights(k, weights)
    # Weighted agreeing pairs per subject, each ordered pair of ratings once.
    agreeing = (counts * (counts @ w.T - 1.0)).sum(1)
    pairs = np.where(paired, r * (r - 1.0), 1.0)
    pa_subject = np.where(paired, agreeing / pairs, 0.0)
    n_paired = int(paired.sum())
    pa = float(pa_subject.sum() / n_paired)
    pi = (counts / r[:, None]).mean(0)
    factor = _chance_factor(w)
    pe = factor * float((pi * (1.0 - pi)).sum())
    ac1 = (pa - pe) / (1.0 - pe)
    if n < 2:
        return _ac1_result(ac1, math.nan, n, method, pa, pe, cats, weights)
    # Gwet (2008) section 4: each subject's linearised contribution to AC1.
    ac1_subject = (n / n_paired) * (pa_subject - pe * paired) / (1.0 - pe)
    pe_subject = factor * (counts @ (1.0 - pi)) / r
    linearised = ac1_subject - 2.0 * (1.0 - ac1) * (pe_subject - pe) / (1.0 - pe)
    var = ((linearised - ac1) ** 2).sum() / (n * (n - 1.0))
    return _ac1_result(ac1, math.sqrt(var), n, method, pa, pe, cats, weights)


def _ac1_result(ac1: float, se: float, n: int, method: str, pa: float, pe: float, cats: tuple,
                weights: str | None) -> KappaResult:
    """The AC1 record: irrCAC's t interval (upper limit capped at 1) and the two-sided t test of AC1 = 0."""
    if math.isfinite(ac1) and math.isfinite(se) and n >= 2:
        half = float(stdtrit(n - 1, 0.975)) * se
        ci = (ac1 - half, min(1.0, ac1 + half))
        t = ac1 / se if se > 0 else math.nan
        p_value = float(2.0 * stdtr(n - 1, -abs(t))) if math.isfinite(t) else math.nan
    else:
        ci, t, p_value = NAN_CI, math.nan, math.nan
    return KappaResult(
        ac1,
        se,
        ci,
        n,
        landis_koch_band(ac1),
        method,
        observed_agreement=pa,
        expected_agreement=pe,
        se_null=math.nan,
        z=t,
        p_value=p_value,
        categories=cats,
        weights=weights,
    )
