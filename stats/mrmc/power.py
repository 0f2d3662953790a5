"""Power and sample size of a two-modality OR study from a pilot's variance components.

Hillis SL, Obuchowski NA, Berbaum KS. Power estimation for multireader ROC methods: an updated and unified
approach. Acad Radiol 2011;18(2):129-142. doi:10.1016/j.acra.2010.09.007
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from stats.mrmc.analysis import VarianceComponents

ANALYSES = ("random", "fixed_readers", "fixed_cases")


@dataclass(frozen=True)
class PowerResult:
    """Power of the OR test of two modalities for ``n_readers`` readers and ``n_cases`` cases.

    ``ncp`` is the non-centrality of the F(1, ``ddf``) statistic under the alternative, ``f_critical`` its
    1 - alpha quantile under the null.
    """

    power: float
    n_readers: int
    n_cases: int
    effect_size: float
    analysis: str
    ncp: float
    ndf: int
    ddf: float
    f_critical: float


def _power_terms(effect_size, n_readers, n_cases, components, pilot_cases, analysis):
    """ncp and ddf arrays over ``n_cases`` (Hillis, Obuchowski & Berbaum 2011, two modalities)."""
    c = components
    scale = pilot_cases / np.asarray(n_cases, dtype=float)  # case-sampling variance shrinks as 1 / K
    var_tr = max(c.var_tr, 0.0)
    reader_cov = max(c.cov2 - c.cov3, 0.0)
    j = n_readers
    if analysis == "random":
        den = var_tr + scale * (c.var_error - c.cov1 + (j - 1) * reader_cov)
        ddf = den**2 / ((var_tr + scale * (c.var_error - c.cov1 - reader_cov)) ** 2 / (j - 1))
    elif analysis == "fixed_readers":
        den = scale * (c.var_error - c.cov1 + (j - 1) * reader_cov)
        # RJafroc's SsPowerGivenJK uses K - 1 denominator df here (its published sample sizes depend on it).
        ddf = np.asarray(n_cases, dtype=float) - 1
    else:
        den = var_tr + scale * (c.var_error - c.cov1 - reader_cov)
        ddf = np.full(np.shape(scale), j - 1.0)
    if not np.all(den > 0):
        raise ValueError("the variance components give a non-positive variance of the modality difference; "
                         "check the pilot analysis")
    # Two modalities differing by d: sum over modalities of (tau_i - tau_mean)^2 = d^2 / 2.
    ncp = j * effect_size**2 / 2 / den
    return ncp, ddf


def _check_power_args(effect_size, n_readers, components, pilot_cases, alpha, analysis):
    if analysis not in ANALYSES:
        raise ValueError(f"analysis must be one of {ANALYSES}, got {analysis!r}")
    if not isinstance(components, VarianceComponents):
        raise ValueError("components must be the VarianceComponents of a pilot analysis")
    if not math.isfinite(effect_size) or effect_size == 0:
        raise ValueError(f"effect_size must be a finite, non-zero FOM difference, got {effect_size}")
    if int(n_readers) != n_readers or n_readers < 2:
        raise ValueError(f"n_readers must be an integer >= 2, got {n_readers}")
    if int(pilot_cases) != pilot_cases or pilot_cases < 2:
        raise ValueError(f"pilot_cases must be the pilot study's number of cases (>= 2), got {pilot_cases}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")


def _power(ncp, ddf, alpha):
    f_crit = sps.f.ppf(1 - alpha, 1, ddf)
    return sps.ncf.sf(f_crit, 1, ddf, ncp), f_crit


def or_power(effect_size: float, n_readers: int, n_cases: int, components: VarianceComponents, pilot_cases: int,
             *, alpha: float = 0.05, analysis: str = "random") -> PowerResult:
    """Power of a two-modality OR study from pilot variance components (Hillis, Obuchowski & Berbaum 2011).

    Parameters
    ----------
    effect_size : float
        The FOM difference between the modalities the planned study should detect (e.g. 0.05 in AUC).
    n_readers, n_cases : int
        Size of the planned (pivotal) study.
    components : VarianceComponents
        From the pilot's :func:`mrmc_analysis` (``result.var_components``).
    pilot_cases : int
        The pilot's number of cases (``result.n_cases``): Var, Cov1-3 are scaled by pilot_cases / n_cases.
    alpha : float
        Two-sided significance level.
    analysis : {"random", "fixed_readers", "fixed_cases"}
        The generalisation the planned study will claim.

    Returns
    -------
    PowerResult
        As RJafroc's ``SsPowerGivenJK(method = "ORH")``: non-central F with ncp = J d^2 / 2 / den and, for
        random readers, Hillis' ddf; sigma^2_TR and Cov2 - Cov3 truncated at 0.

    Raises
    ------
    ValueError
        Unknown analysis, zero/non-finite effect size, fewer than 2 readers or cases, alpha outside (0, 1).
    """
    _check_power_args(effect_size, n_readers, components, pilot_cases, alpha, analysis)
    if int(n_cases) != n_cases or n_cases < 2:
        raise ValueError(f"n_cases must be an integer >= 2, got {n_cases}")
    ncp, ddf = _power_terms(effect_size, int(n_readers), n_cases, components, int(pilot_cases), analysis)
    power, f_crit = _power(float(ncp), float(ddf), alpha)
    return PowerResult(float(power), int(n_readers), int(n_cases), float(effect_size), analysis, float(ncp), 1,
                       float(ddf), float(f_crit))


def or_sample_size(effect_size: float, n_readers: int, components: VarianceComponents, pilot_cases: int, *,
                   power: float = 0.8, alpha: float = 0.05, analysis: str = "random",
                   max_cases: int = 100_000) -> PowerResult:
    """Fewest cases for which :func:`or_power` reaches ``power`` with ``n_readers`` readers.

    The scan covers 2..``max_cases`` cases (RJafroc's ``SsSampleSizeKGivenJ`` steps K upwards from 2 in the
    same way). Returns the :class:`PowerResult` at that number of cases.

    Raises
    ------
    ValueError
        As :func:`or_power`; ``power`` outside (0, 1); and when even ``max_cases`` cases fall short (with
        random readers the power is bounded by the reader variance: more readers are needed, not more cases).
    """
    _check_power_args(effect_size, n_readers, components, pilot_cases, alpha, analysis)
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power}")
    for start in range(2, int(max_cases) + 1, 4096):
        ks = np.arange(start, min(start + 4096, int(max_cases) + 1))
        ncp, ddf = _power_terms(effect_size, int(n_readers), ks, components, int(pilot_cases), analysis)
        powers, _ = _power(ncp, ddf, alpha)
        reached = np.flatnonzero(powers >= power)
        if reached.size:
            return or_power(effect_size, n_readers, int(ks[reached[0]]), components, pilot_cases, alpha=alpha,
                            analysis=analysis)
    raise ValueError(f"{n_readers} readers do not reach power {power} with up to {max_cases} cases "
                     f"({analysis} analysis); add readers")
