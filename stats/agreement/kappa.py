"""Cohen's and Fleiss' kappa and percent agreement: chance-corrected and raw agreement on categorical labels.

See :mod:`stats.agreement` for the conventions (labels, ``categories``, NaN for undefined coefficients).

References
----------
Cohen J. A coefficient of agreement for nominal scales. Educ Psychol Meas 1960;20(1):37-46.
doi:10.1177/001316446002000104
Cohen J. Weighted kappa. Psychol Bull 1968;70(4):213-220. doi:10.1037/h0026256
Fleiss JL, Cohen J, Everitt BS. Large sample standard errors of kappa and weighted kappa. Psychol Bull
1969;72(5):323-327. doi:10.1037/h0028106
Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull 1971;76(5):378-382.
doi:10.1037/h0031619
Fleiss JL, Nee JCM, Landis JR. Large sample variance of kappa in the case of different sets of raters.
Psychol Bull 1979;86(5):974-977. doi:10.1037/0033-2909.86.5.974
Efron B. The Jackknife, the Bootstrap and Other Resampling Plans. SIAM, 1982. doi:10.1137/1.9781611970319
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from stats.results import (
    AgreementResult,
    KappaResult,
    as_label_array,
    concat_labels,
    encode_labels,
    landis_koch_band,
    rating_matrix,
    two_sided_p,
    wald_ci,
    wilson_ci,
)

WEIGHTS = (None, "linear", "quadratic")


def check_weights(weights) -> None:
    """Raise ValueError unless ``weights`` is None, "linear" or "quadratic"."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def pair_codes(a, b, categories, caller: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Two raters' labels as integer codes in one category order (also what the kappa bootstrap resamples)."""
    a = as_label_array(a, "a")
    b = as_label_array(b, "b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{caller} needs one label per subject from each rater: a has {a.shape[0]}, b has {b.shape[0]}"
        )
    if a.shape[0] == 0:
        raise ValueError(f"{caller} got no ratings (empty input)")
    codes, cats = encode_labels(concat_labels([a, b], ["a", "b"]), categories, "ratings")
    n = a.shape[0]
    return codes[:n], codes[n:], cats


# --------------------------------------------------------------------------------------------------------
# Cohen's kappa


def cohen_kappa(a, b, weights: str | None = None, categories: Sequence | None = None) -> KappaResult:
    """Cohen's kappa for two raters, unweighted or weighted, with its large-sample standard error.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        One label per subject from each rater (ints, strings or booleans). No missing values.
    weights : {None, "linear", "quadratic"}
        None for nominal findings; "quadratic" for ordinal grades (Pfirrmann, Meyerding). Disagreement
        weights are ``|i-j|/(k-1)`` and ``(i-j)^2/(k-1)^2`` on category positions ``i, j`` (Cohen 1968).
    categories : sequence, optional
        Category order; for weighted kappa this defines the distances, so pass ordinal scales in clinical
        order ("1".."5" sorts correctly, "none" < "bulge" < ... does not). Categories absent from the data
        are kept (they change weighted kappa through ``k``). Default: sorted unique labels.

    Returns
    -------
    KappaResult
        ``kappa``/``value``; ``se`` is the large-sample standard error of Fleiss, Cohen & Everitt (1969),
        the same as ``statsmodels.stats.inter_rater.cohens_kappa(table, wt=...).std_kappa``; ``ci`` is the
        Wald interval ``kappa +- 1.96 se`` (not clipped, so it can pass 1 for a small sample with kappa near
        1; use :func:`stats.bootstrap.bootstrap_cohen_kappa` for a resampling interval); ``se_null``, ``z`` and a
        two-sided ``p_value`` test H0: kappa = 0; ``observed_agreement``/``expected_agreement`` are the
        (weighted) po and pe.

    Raises
    ------
    ValueError
        Empty input, different lengths, missing values, a label not in ``categories``, unknown weights.

    Notes
    -----
    Kappa is undefined when the expected agreement is 1, which happens exactly when both raters used one
    and the same category for every subject (``categories`` listing more does not help: the data carry no
    information about chance agreement). The result then has ``kappa = nan``, ``se = nan``,
    ``ci = (nan, nan)`` and ``band = "undefined"`` rather than an arbitrary 0 or 1.

    Both kinds are computed with agreement weights ``w = 1 - disagreement weight`` (identity for the
    unweighted kappa); the Fleiss-Cohen-Everitt variance with ``w = I`` reduces to their unweighted formula.
    """
    check_weights(weights)
    code_a, code_b, cats = pair_codes(a, b, categories, "cohen_kappa")
    k = len(cats)
    table = np.bincount(code_a * k + code_b, minlength=k * k).reshape(k, k)
    return _cohen_from_table(table, weights, cats)


def agreement_weights(k: int, weights: str | None) -> np.ndarray:
    """(k, k) agreement weights ``1 - disagreement weight`` of Cohen (1968); the identity when unweighted."""
    if weights is None or k == 1:
        return np.eye(k)
    positions = np.arange(k, dtype=float)
    distance = np.abs(positions[:, None] - positions[None, :]) / (k - 1)
    return 1.0 - (distance if weights == "linear" else distance**2)


def _cohen_from_table(table: np.ndarray, weights: str | None, cats: tuple) -> KappaResult:
    nobs = int(table.sum())
    method = "Wald CI with the Fleiss-Cohen-Everitt (1969) large-sample SE"
    row_nonzero = np.flatnonzero(table.sum(1))
    col_nonzero = np.flatnonzero(table.sum(0))
    if row_nonzero.size == 1 and col_nonzero.size == 1 and row_nonzero[0] == col_nonzero[0]:
        # Expected agreement is exactly 1: 0/0 (see Notes of cohen_kappa).
        return _kappa_result(math.nan, math.nan, math.nan, nobs, method, 1.0, 1.0, cats, weights)
    w = agreement_weights(len(cats), weights)
    p = table / nobs
    p_row = p.sum(1)
    p_col = p.sum(0)
    po = float((w * p).sum())
    expected = p_row[:, None] * p_col[None, :]
    pe = float((w * expected).sum())
    kappa = (po - pe) / (1.0 - pe)
    # Fleiss, Cohen & Everitt (1969), eq. for weighted kappa; w_bar_i. and w_bar_.j as in their notation.
    w_row = w @ p_col  # sum_j p_.j w_ij
    w_col = p_row @ w  # sum_i p_i. w_ij
    centred = w - (w_row[:, None] + w_col[None, :]) * (1.0 - kappa)
    fac = 1.0 / ((1.0 - pe) ** 2 * nobs)
    var = ((p * centred**2).sum() - (kappa - pe * (1.0 - kappa)) ** 2) * fac
    var0 = ((expected * (w - (w_row[:, None] + w_col[None, :])) ** 2).sum() - pe**2) * fac
    se = math.sqrt(max(var, 0.0))  # exact 0 at kappa = 1 can round to -1e-18
    se_null = math.sqrt(max(var0, 0.0))
    return _kappa_result(kappa, se, se_null, nobs, method, po, pe, cats, weights)


# --------------------------------------------------------------------------------------------------------
# Fleiss' kappa


def fleiss_kappa(ratings, categories: Sequence | None = None) -> KappaResult:
    """Fleiss' kappa for a fixed number of raters per subject (Fleiss 1971).

    Parameters
    ----------
    ratings : array_like, shape (n_subjects, n_raters_per_subject)
        One row per subject holding its labels (one per rater). The raters need not be the same people
        for every subject, but every subject needs the same number of ratings (>= 2); no missing values.
        Use :func:`krippendorff_alpha` when ratings are missing.
    categories : sequence, optional
        Category order (matters only for the order of ``categories`` in the result); labels outside it raise.

    Returns
    -------
    KappaResult
        ``kappa``/``value`` equals ``statsmodels.stats.inter_rater.fleiss_kappa`` on the subjects x
        categories count table. ``se`` is the delete-one-subject jackknife standard error (Efron 1982), a
        deterministic estimate that is valid away from kappa = 0, and ``ci`` the Wald interval
        ``kappa +- 1.96 se``. ``se_null`` is the asymptotic standard error under H0: kappa = 0 of Fleiss,
        Nee & Landis (1979) (what R's ``irr::kappam.fleiss`` reports), and ``z``/``p_value`` test that null.
        The null SE is not used for the interval because it is only correct at kappa = 0.
        ``observed_agreement`` is P-bar and ``expected_agreement`` P-bar_e.

    Raises
    ------
    ValueError
        Empty input, ragged rows, fewer than two ratings per subject, missing values, labels outside
        ``categories``.

    Notes
    -----
    When every rating falls in one category the expected agreement is 1 and kappa is undefined: the result
    holds NaN (value, SEs, interval) and ``band = "undefined"``. The jackknife is undefined, and ``se`` and
    ``ci`` are NaN, with one subject or when leaving out one subject leaves a single category (a finding
    that only one subject has).
    """
    arr = rating_matrix(ratings, "ratings")
    n_subjects, n_raters = arr.shape
    if n_subjects == 0:
        raise ValueError("fleiss_kappa got no subjects (empty input)")
    if n_raters < 2:
        raise ValueError(f"fleiss_kappa needs at least two ratings per subject, got {n_raters}")
    codes, cats = encode_labels(arr.ravel(), categories, "ratings")
    k = len(cats)
    subject = np.repeat(np.arange(n_subjects), n_raters)
    counts = np.bincount(subject * k + codes, minlength=n_subjects * k).reshape(n_subjects, k).astype(float)
    return _fleiss_from_counts(counts, n_raters, cats)


def _fleiss_from_counts(counts: np.ndarray, m: int, cats: tuple) -> KappaResult:
    n_subjects = counts.shape[0]
    method = "Wald CI with the delete-one-subject jackknife SE; se_null from Fleiss, Nee & Landis (1979)"
    col = counts.sum(0)
    p_cat = col / (n_subjects * m)
    pe = float((p_cat**2).sum())
    p_subject = ((counts**2).sum(1) - m) / (m * (m - 1.0))
    p_bar = float(p_subject.mean())
    if np.count_nonzero(col) == 1:
        return _kappa_result(math.nan, math.nan, math.nan, n_subjects, method, p_bar, pe, cats)
    kappa = (p_bar - pe) / (1.0 - pe)
    se = _fleiss_jackknife_se(counts, p_subject, m)
    pq = p_cat * (1.0 - p_cat)
    spq = pq.sum()
    var0 = 2.0 / (spq**2 * n_subjects * m * (m - 1.0)) * (spq**2 - (pq * (1.0 - 2.0 * p_cat)).sum())
    se_null = math.sqrt(var0) if var0 > 0 else math.nan
    return _kappa_result(kappa, se, se_null, n_subjects, method, p_bar, pe, cats)


def _kappa_result(kappa: float, se: float, se_null: float, n: int, method: str, po: float, pe: float, cats: tuple,
                  weights: str | None = None) -> KappaResult:
    """The kappa record: the Wald interval from ``se``, the test of H0: kappa = 0 from ``se_null``; NaN kappa is
    the undefined one (band "undefined", NaN interval and test)."""
    z = kappa / se_null if se_null > 0 else math.nan
    return KappaResult(
        kappa,
        se,
        wald_ci(kappa, se),
        n,
        landis_koch_band(kappa),
        method,
        observed_agreement=po,
        expected_agreement=pe,
        se_null=se_null,
        z=z,
        p_value=two_sided_p(z),
        categories=cats,
        weights=weights,
    )


def _fleiss_jackknife_se(counts: np.ndarray, p_subject: np.ndarray, m: int) -> float:
    """Delete-one-subject jackknife SE of Fleiss' kappa; NaN with one subject or when a leave-one-out sample has a
    single category."""
    n_subjects = counts.shape[0]
    if n_subjects < 2:
        return math.nan
    # Jackknife: leave subject i out, recompute P-bar and the category shares in closed form.
    col = counts.sum(0)
    p_bar_loo = (p_subject.sum() - p_subject) / (n_subjects - 1)
    p_cat_loo = (col[None, :] - counts) / ((n_subjects - 1) * m)
    pe_loo = (p_cat_loo**2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa_loo = (p_bar_loo - pe_loo) / (1.0 - pe_loo)
    if not np.all(np.isfinite(kappa_loo)):  # some leave-one-out sample has a single category
        return math.nan
    return math.sqrt((n_subjects - 1) / n_subjects * ((kappa_loo - kappa_loo.mean()) ** 2).sum())


# --------------------------------------------------------------------------------------------------------
# Percent agreement


def percent_agreement(a, b, categories: Sequence | None = None) -> AgreementResult:
    """Share of subjects on which two raters give the same label.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        One label per subject from each rater; no missing values.
    categories : sequence, optional
        If given, labels outside it raise (a typo check); it does not change the value.

    Returns
    -------
    AgreementResult
        ``value`` is the proportion (0-1) of exact agreement; ``se = sqrt(p(1-p)/n)``; ``ci`` is the Wilson
        95% interval; ``band`` is None because Landis-Koch labels apply to chance-corrected coefficients
        (95% raw agreement on a finding with 95% prevalence is no agreement beyond chance).

    Raises
    ------
    ValueError
        Empty input, different lengths, missing values, labels outside ``categories``.
    """
    code_a, code_b, _ = pair_codes(a, b, categories, "percent_agreement")
    n = code_a.shape[0]
    agree = int(np.count_nonzero(code_a == code_b))
    p = agree / n
    return AgreementResult(
        p,
        math.sqrt(p * (1.0 - p) / n),
        wilson_ci(agree, n),
        n,
        None,
        "Wilson score interval",
    )
