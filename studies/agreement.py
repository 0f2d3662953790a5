"""Inter-reader agreement: Cohen's and Fleiss' kappa, Krippendorff's alpha, ICC and percent agreement.

Pure numpy/scipy, no Django: selectors build the label arrays, these functions return small frozen result
records (:class:`studies._results.KappaResult`, :class:`~studies._results.AgreementResult`,
:class:`IccResult`), each with ``value``, ``se``, ``ci`` (95%), ``n`` and a Landis-Koch ``band``.

Labels may be ints, strings ("1".."5", "bulge") or booleans. Ordinal scales (Pfirrmann 1-5, Meyerding 0-4)
keep their order: pass ``categories`` in clinical order (categories absent from the data are kept, which
matters for weighted kappa); without it the sorted unique labels are used. Invalid input raises ValueError
with a message that says what is wrong; a coefficient that is undefined for valid input (one category
only) is NaN, documented per function.

The implementations are vectorised re-derivations, checked in ``tests/studies/test_agreement.py`` against
scikit-learn, statsmodels, krippendorff and pingouin; they avoid those libraries' per-call overhead (pandas
frames, result bunches) because the dashboard computes thousands of coefficients per page.

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
Krippendorff K. Content Analysis: An Introduction to Its Methodology, 4th ed. Sage, 2019 (ch. 12).
Hayes AF, Krippendorff K. Answering the call for a standard reliability measure for coding data.
Commun Methods Meas 2007;1(1):77-89. doi:10.1080/19312450709336664
Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater reliability. Psychol Bull
1979;86(2):420-428. doi:10.1037/0033-2909.86.2.420
McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients. Psychol Methods
1996;1(1):30-46. doi:10.1037/1082-989X.1.1.30
Efron B. The Jackknife, the Bootstrap and Other Resampling Plans. SIAM, 1982. doi:10.1137/1.9781611970319
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import fdtrc, fdtri, ndtr

from studies._results import (
    NAN_CI,
    Z_975,
    AgreementResult,
    KappaResult,
    as_label_array,
    concat_labels,
    encode_labels,
    landis_koch_band,
    missing_mask,
    wilson_ci,
)

__all__ = [
    "AgreementResult",
    "IccResult",
    "KappaResult",
    "cohen_kappa",
    "fleiss_kappa",
    "icc",
    "krippendorff_alpha",
    "percent_agreement",
]

_WEIGHTS = (None, "linear", "quadratic")
_ALPHA_LEVELS = ("nominal", "ordinal", "interval")
_ICC_KINDS = {k.lower(): k for k in ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")}


def _two_sided_p(z: float) -> float:
    return float(2.0 * ndtr(-abs(z))) if math.isfinite(z) else math.nan


def _wald_ci(value: float, se: float) -> tuple[float, float]:
    if not (math.isfinite(value) and math.isfinite(se)):
        return NAN_CI
    return (float(value - Z_975 * se), float(value + Z_975 * se))


def _pair_codes(a, b, categories, caller: str) -> tuple[np.ndarray, np.ndarray, tuple]:
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
        1; use :func:`studies.diagnostic.bootstrap_ci` for a resampling interval); ``se_null``, ``z`` and a
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
    if weights not in _WEIGHTS:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    code_a, code_b, cats = _pair_codes(a, b, categories, "cohen_kappa")
    k = len(cats)
    table = np.bincount(code_a * k + code_b, minlength=k * k).reshape(k, k)
    return _cohen_from_table(table, weights, cats)


def _agreement_weights(k: int, weights: str | None) -> np.ndarray:
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
        return KappaResult(
            math.nan,
            math.nan,
            NAN_CI,
            nobs,
            "undefined",
            method,
            1.0,
            1.0,
            categories=cats,
            weights=weights,
        )
    w = _agreement_weights(len(cats), weights)
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
    z = kappa / se_null if se_null > 0 else math.nan
    return KappaResult(
        kappa,
        se,
        _wald_ci(kappa, se),
        nobs,
        landis_koch_band(kappa),
        method,
        observed_agreement=po,
        expected_agreement=pe,
        se_null=se_null,
        z=z,
        p_value=_two_sided_p(z),
        categories=cats,
        weights=weights,
    )


# --------------------------------------------------------------------------------------------------------
# Fleiss' kappa


def _rating_matrix(ratings, name: str) -> np.ndarray:
    try:
        arr = np.asarray(ratings)
    except ValueError:
        raise ValueError(f"{name} must be rectangular (the same number of ratings for every subject)") from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be two-dimensional and rectangular, got shape {arr.shape}"
            + (" (ragged rows?)" if arr.ndim == 1 and arr.dtype.kind == "O" else "")
        )
    return arr


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
    arr = _rating_matrix(ratings, "ratings")
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
        return KappaResult(
            math.nan,
            math.nan,
            NAN_CI,
            n_subjects,
            "undefined",
            method,
            p_bar,
            pe,
            categories=cats,
        )
    kappa = (p_bar - pe) / (1.0 - pe)

    # Jackknife: leave subject i out, recompute P-bar and the category shares in closed form.
    if n_subjects > 1:
        p_bar_loo = (p_subject.sum() - p_subject) / (n_subjects - 1)
        p_cat_loo = (col[None, :] - counts) / ((n_subjects - 1) * m)
        pe_loo = (p_cat_loo**2).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            kappa_loo = (p_bar_loo - pe_loo) / (1.0 - pe_loo)
        if np.all(np.isfinite(kappa_loo)):
            se = math.sqrt((n_subjects - 1) / n_subjects * ((kappa_loo - kappa_loo.mean()) ** 2).sum())
        else:  # some leave-one-out sample has a single category
            se = math.nan
    else:
        se = math.nan

    pq = p_cat * (1.0 - p_cat)
    spq = pq.sum()
    var0 = 2.0 / (spq**2 * n_subjects * m * (m - 1.0)) * (spq**2 - (pq * (1.0 - 2.0 * p_cat)).sum())
    se_null = math.sqrt(var0) if var0 > 0 else math.nan
    z = kappa / se_null if se_null > 0 else math.nan
    return KappaResult(
        kappa,
        se,
        _wald_ci(kappa, se),
        n_subjects,
        landis_koch_band(kappa),
        method,
        observed_agreement=p_bar,
        expected_agreement=pe,
        se_null=se_null,
        z=z,
        p_value=_two_sided_p(z),
        categories=cats,
    )


# --------------------------------------------------------------------------------------------------------
# Krippendorff's alpha


def krippendorff_alpha(ratings, level: str = "nominal", categories: Sequence | None = None) -> AgreementResult:
    """Krippendorff's alpha for any number of raters, with missing ratings.

    Parameters
    ----------
    ratings : array_like, shape (n_raters, n_subjects)
        Reliability data in Krippendorff's layout (one row per rater); None or NaN where a rater did not
        rate a subject. Subjects with fewer than two ratings are not pairable and do not count.
    level : {"nominal", "ordinal", "interval"}
        Metric: nominal (0/1), ordinal (rank-based, uses the order of ``categories``; categories absent from
        the data get zero frequency and do not change the value), interval (squared difference of the
        numeric labels).
    categories : sequence, optional
        Category order (required in practice for ordinal string labels such as "none" < "bulge"); labels
        outside it raise. Default: sorted unique labels.

    Returns
    -------
    AgreementResult
        ``value`` equals ``krippendorff.alpha(ratings, level_of_measurement=level, value_domain=...)``;
        ``n`` is the number of pairable subjects. ``se`` is the delete-one-subject jackknife standard error
        (Efron 1982; deterministic, no seed), ``ci`` the Wald interval ``alpha +- 1.96 se``. Hayes &
        Krippendorff (2007) bootstrap pairable values instead; for a resampling interval by patient use
        :func:`studies.diagnostic.bootstrap_ci`.

    Raises
    ------
    ValueError
        Non-rectangular input, unknown level, no subject rated by two raters, labels outside
        ``categories``, non-numeric labels with ``level="interval"``.

    Notes
    -----
    With a single value in all pairable data the expected disagreement is 0 and alpha is NaN
    (``band = "undefined"``), as for kappa.
    """
    if level not in _ALPHA_LEVELS:
        raise ValueError(f"level must be one of {_ALPHA_LEVELS}, got {level!r}")
    arr = _rating_matrix(ratings, "ratings")
    n_raters, n_units = arr.shape
    if arr.size == 0:
        raise ValueError("krippendorff_alpha got no ratings (empty input)")
    flat = arr.ravel()
    present = ~missing_mask(flat)
    codes, cats = encode_labels(flat[present], categories, "ratings")
    v = len(cats)
    unit = np.tile(np.arange(n_units), n_raters)[present]
    counts = np.bincount(unit * v + codes, minlength=n_units * v).reshape(n_units, v).astype(float)
    m_u = counts.sum(1)
    pairable = m_u >= 2
    if not pairable.any():
        raise ValueError("krippendorff_alpha needs at least one subject rated by two or more raters")
    counts = counts[pairable]
    m_u = m_u[pairable]
    if level == "interval":
        try:
            values = np.asarray(cats, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("level='interval' needs numeric labels") from None
    else:
        values = None

    scaled = counts / (m_u - 1.0)[:, None]
    o = counts.T @ scaled - np.diag(scaled.sum(0))  # coincidence matrix
    n_c = o.sum(0)
    alpha = float(_alpha_from(o[None], n_c[None], level, values)[0])
    method = "Wald CI with the delete-one-subject jackknife SE"
    n_pairable = int(pairable.sum())
    if not math.isfinite(alpha):
        return AgreementResult(math.nan, math.nan, NAN_CI, n_pairable, "undefined", method)

    se = math.nan
    if n_pairable > 1:
        loo = np.empty(n_pairable)
        # Chunks bound the (chunk, v, v) temporaries for many categories.
        chunk = max(1, 2_000_000 // (v * v))
        for start in range(0, n_pairable, chunk):
            stop = min(start + chunk, n_pairable)
            own = counts[start:stop, :, None] * scaled[start:stop, None, :]
            idx = np.arange(v)
            own[:, idx, idx] -= scaled[start:stop]
            loo[start:stop] = _alpha_from(o[None] - own, n_c[None] - counts[start:stop], level, values)
        if np.all(np.isfinite(loo)):
            se = math.sqrt((n_pairable - 1) / n_pairable * ((loo - loo.mean()) ** 2).sum())
    return AgreementResult(alpha, se, _wald_ci(alpha, se), n_pairable, landis_koch_band(alpha), method)


def _alpha_from(o: np.ndarray, n_c: np.ndarray, level: str, values: np.ndarray | None) -> np.ndarray:
    """Alpha for a stack of coincidence matrices ``o`` (b, v, v) with marginals ``n_c`` (b, v)."""
    v = n_c.shape[1]
    if level == "nominal":
        d = (1.0 - np.eye(v))[None]
    elif level == "interval":
        d = ((values[:, None] - values[None, :]) ** 2)[None]
    else:
        # Ordinal: (sum_{g=c..k} n_g - (n_c + n_k)/2)^2 for c <= k (Krippendorff 2019, sec. 12.4).
        cum = np.cumsum(n_c, axis=1)
        lo = np.minimum.outer(np.arange(v), np.arange(v))
        hi = np.maximum.outer(np.arange(v), np.arange(v))
        d = (cum[:, hi] - cum[:, lo] + (n_c[:, lo] - n_c[:, hi]) / 2.0) ** 2
    n = n_c.sum(1)
    observed = (o * d).sum((1, 2))
    expected = np.einsum("bc,bck,bk->b", n_c, np.broadcast_to(d, o.shape), n_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > 0, 1.0 - (n - 1.0) * observed / expected, np.nan)


# --------------------------------------------------------------------------------------------------------
# ICC


@dataclass(frozen=True)
class IccResult(AgreementResult):
    """Intraclass correlation; ``kind`` is the Shrout-Fleiss form, ``f_statistic``/``df1``/``df2``/
    ``p_value`` the F test of H0: ICC = 0."""

    kind: str = "ICC2"
    f_statistic: float = math.nan
    df1: float = math.nan
    df2: float = math.nan
    p_value: float = math.nan


def icc(scores, kind: str = "ICC2") -> IccResult:
    """Intraclass correlation coefficient for scores on an ordinal or interval scale.

    Parameters
    ----------
    scores : array_like, shape (n_subjects, n_raters)
        Numeric scores (e.g. Pfirrmann grades 1-5 as numbers); every rater scores every subject; no NaN.
    kind : {"ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"}
        Shrout & Fleiss (1979) forms; pingouin's names. ICC2 (two-way random, absolute agreement, single
        rater; McGraw & Wong's ICC(A,1)) is the usual choice when the readers stand for a population of
        radiologists. ICC3 is consistency with fixed raters; the ``k`` forms are for the mean of k raters.

    Returns
    -------
    IccResult
        ``value`` and ``ci`` equal ``pingouin.intraclass_corr`` (ICC and CI95 for ``kind``); the interval is
        the exact F-based one (ICC1/ICC3) or McGraw & Wong's approximate-df one (ICC2), not Wald, so ``se``
        is NaN. ``band`` uses Landis-Koch like the kappas (Koo & Li 2016, doi:10.1016/j.jcm.2016.02.012,
        propose ICC-specific cut-offs of 0.5/0.75/0.9). ``n`` is the number of subjects.

    Raises
    ------
    ValueError
        Not a 2-D numeric matrix, fewer than 2 subjects or raters, missing values, unknown kind.

    Notes
    -----
    Computed from the two-way ANOVA mean squares in numpy (the formulas pingouin uses) instead of calling
    pingouin, which builds a long pandas frame and an ANOVA table per call. If every score is identical the
    mean squares are 0 and the ICC is NaN.
    """
    key = str(kind).lower()
    if key not in _ICC_KINDS:
        raise ValueError(f"kind must be one of {list(_ICC_KINDS.values())}, got {kind!r}")
    kind = _ICC_KINDS[key]
    try:
        x = np.asarray(scores, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("icc needs a rectangular numeric matrix (subjects x raters)") from None
    if x.ndim != 2:
        raise ValueError(f"icc needs a subjects x raters matrix, got shape {x.shape}")
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"icc needs at least 2 subjects and 2 raters, got {n} x {k}")
    if np.isnan(x).any():
        raise ValueError("scores contain missing values (NaN)")

    grand = x.mean()
    ss_rows = k * ((x.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(0) - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ss_error = ss_total - ss_rows - ss_cols
    df1, df_cols, df_error, df_within = n - 1, k - 1, (n - 1) * (k - 1), n * (k - 1)
    msb = ss_rows / df1
    msj = ss_cols / df_cols
    mse = ss_error / df_error
    msw = (ss_cols + ss_error) / df_within
    method = "F-distribution CI (Shrout & Fleiss 1979; McGraw & Wong 1996)"
    if ss_total == 0:
        return IccResult(math.nan, math.nan, NAN_CI, n, "undefined", method, kind=kind)

    with np.errstate(invalid="ignore", divide="ignore"):
        if kind in ("ICC1", "ICC1k"):
            f_stat, df2 = msb / msw, df_within
            fl = f_stat / fdtri(df1, df2, 0.975)
            fu = f_stat * fdtri(df2, df1, 0.975)
            if kind == "ICC1":
                value = (msb - msw) / (msb + (k - 1) * msw)
                ci = ((fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1))
            else:
                value = (msb - msw) / msb
                ci = (1 - 1 / fl, 1 - 1 / fu)
        elif kind in ("ICC3", "ICC3k"):
            f_stat, df2 = msb / mse, df_error
            fl = f_stat / fdtri(df1, df2, 0.975)
            fu = f_stat * fdtri(df2, df1, 0.975)
            if kind == "ICC3":
                value = (msb - mse) / (msb + (k - 1) * mse)
                ci = ((fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1))
            else:
                value = (msb - mse) / msb
                ci = (1 - 1 / fl, 1 - 1 / fu)
        else:
            f_stat, df2 = msb / mse, df_error
            icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
            fj = msj / mse
            vn = df_error * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
            vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
            v = vn / vd
            f2u = fdtri(n - 1, v, 0.975)
            f2l = fdtri(v, n - 1, 0.975)
            low = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
            high = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
            if kind == "ICC2":
                value = icc2
                ci = (low, high)
            else:
                value = (msb - mse) / (msb + (msj - mse) / n)
                ci = (low * k / (1 + low * (k - 1)), high * k / (1 + high * (k - 1)))
        p_value = fdtrc(df1, df2, f_stat)
    value = float(value)
    return IccResult(
        value,
        math.nan,
        (float(ci[0]), float(ci[1])),
        n,
        landis_koch_band(value),
        method,
        kind=kind,
        f_statistic=float(f_stat),
        df1=float(df1),
        df2=float(df2),
        p_value=float(p_value),
    )


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
    code_a, code_b, _ = _pair_codes(a, b, categories, "percent_agreement")
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
