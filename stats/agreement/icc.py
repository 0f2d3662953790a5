"""Intraclass correlation (Shrout & Fleiss forms) for scores on an ordinal or interval scale.

References
----------
Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater reliability. Psychol Bull
1979;86(2):420-428. doi:10.1037/0033-2909.86.2.420
McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients. Psychol Methods
1996;1(1):30-46. doi:10.1037/1082-989X.1.1.30
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import fdtrc, fdtri

from stats.results import NAN_CI, AgreementResult, landis_koch_band

_ICC_KINDS = {k.lower(): k for k in ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")}


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
    x = _score_matrix(scores)
    n, k = x.shape
    method = "F-distribution CI (Shrout & Fleiss 1979; McGraw & Wong 1996)"
    if ((x - x.mean()) ** 2).sum() == 0:
        return IccResult(math.nan, math.nan, NAN_CI, n, "undefined", method, kind=kind)
    ms = _mean_squares(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind in ("ICC1", "ICC1k"):
            value, ci, f_stat, df2 = _icc_one_way(kind, ms, k)
        elif kind in ("ICC3", "ICC3k"):
            value, ci, f_stat, df2 = _icc_consistency(kind, ms, k)
        else:
            value, ci, f_stat, df2 = _icc_absolute(kind, ms, n, k)
        p_value = fdtrc(ms.df1, df2, f_stat)
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
        df1=float(ms.df1),
        df2=float(df2),
        p_value=float(p_value),
    )


def _score_matrix(scores) -> np.ndarray:
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
    return x


@dataclass(frozen=True)
class _MeanSquares:
    """Two-way ANOVA of a subjects x raters matrix: between subjects (msb), between raters (msj), residual
    (mse), within subjects (msw), and their degrees of freedom."""

    msb: float
    msj: float
    mse: float
    msw: float
    df1: int
    df_error: int
    df_within: int


def _mean_squares(x: np.ndarray) -> _MeanSquares:
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * ((x.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(0) - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ss_error = ss_total - ss_rows - ss_cols
    df1, df_cols, df_error, df_within = n - 1, k - 1, (n - 1) * (k - 1), n * (k - 1)
    return _MeanSquares(ss_rows / df1, ss_cols / df_cols, ss_error / df_error, (ss_cols + ss_error) / df_within,
                        df1, df_error, df_within)


def _exact_f_icc(kind: str, msb: float, ms_residual: float, f_stat: float, df1: int, df2: int, k: int):
    """ICC1/ICC3 (single) or ICC1k/ICC3k (mean of k) and their exact F-based interval (Shrout & Fleiss 1979)."""
    fl = f_stat / fdtri(df1, df2, 0.975)
    fu = f_stat * fdtri(df2, df1, 0.975)
    if not kind.endswith("k"):
        value = (msb - ms_residual) / (msb + (k - 1) * ms_residual)
        return value, ((fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1))
    return (msb - ms_residual) / msb, (1 - 1 / fl, 1 - 1 / fu)


def _icc_one_way(kind: str, ms: _MeanSquares, k: int):
    f_stat = ms.msb / ms.msw
    value, ci = _exact_f_icc(kind, ms.msb, ms.msw, f_stat, ms.df1, ms.df_within, k)
    return value, ci, f_stat, ms.df_within


def _icc_consistency(kind: str, ms: _MeanSquares, k: int):
    f_stat = ms.msb / ms.mse
    value, ci = _exact_f_icc(kind, ms.msb, ms.mse, f_stat, ms.df1, ms.df_error, k)
    return value, ci, f_stat, ms.df_error


def _icc_absolute(kind: str, ms: _MeanSquares, n: int, k: int):
    """ICC2/ICC2k with McGraw & Wong's (1996) approximate-df interval."""
    msb, msj, mse = ms.msb, ms.msj, ms.mse
    f_stat = msb / mse
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    fj = msj / mse
    vn = ms.df_error * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = ms.df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = fdtri(n - 1, v, 0.975)
    f2l = fdtri(v, n - 1, 0.975)
    low = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
    high = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
    if kind == "ICC2":
        return icc2, (low, high), f_stat, ms.df_error
    value = (msb - mse) / (msb + (msj - mse) / n)
    return value, (low * k / (1 + low * (k - 1)), high * k / (1 + high * (k - 1))), f_stat, ms.df_error
