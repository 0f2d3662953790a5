"""Krippendorff's alpha: agreement of any number of raters with missing ratings, at nominal, ordinal or interval
level.

References
----------
Krippendorff K. Content Analysis: An Introduction to Its Methodology, 4th ed. Sage, 2019 (ch. 12).
Hayes AF, Krippendorff K. Answering the call for a standard reliability measure for coding data.
Commun Methods Meas 2007;1(1):77-89. doi:10.1080/19312450709336664
Efron B. The Jackknife, the Bootstrap and Other Resampling Plans. SIAM, 1982. doi:10.1137/1.9781611970319
Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B 2007;69(3):369-390.
doi:10.1111/j.1467-9868.2007.00593.x
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from stats.results import (
    NAN_CI,
    AgreementResult,
    category_counts,
    landis_koch_band,
    rating_matrix,
    wald_ci,
)

_ALPHA_LEVELS = ("nominal", "ordinal", "interval")


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
        Krippendorff (2007) bootstrap pairable values instead; for a resampling interval by patient, resample
        whole patients (Field & Welsh 2007) as :mod:`stats.bootstrap` does for kappa.

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
    counts, cats = _pairable_counts(ratings, categories)
    if level == "interval":
        try:
            values = np.asarray(cats, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("level='interval' needs numeric labels") from None
    else:
        values = None

    scaled = counts / (counts.sum(1) - 1.0)[:, None]
    o = counts.T @ scaled - np.diag(scaled.sum(0))  # coincidence matrix
    alpha = float(_alpha_from(o[None], o.sum(0)[None], level, values)[0])
    method = "Wald CI with the delete-one-subject jackknife SE"
    n_pairable = counts.shape[0]
    if not math.isfinite(alpha):
        return AgreementResult(math.nan, math.nan, NAN_CI, n_pairable, "undefined", method)
    se = _alpha_jackknife_se(counts, scaled, o, level, values)
    return AgreementResult(alpha, se, wald_ci(alpha, se), n_pairable, landis_koch_band(alpha), method)


def _pairable_counts(ratings, categories: Sequence | None) -> tuple[np.ndarray, tuple]:
    """(pairable subjects, categories) counts of each category per subject rated by two or more raters, and the
    categories."""
    counts, cats = category_counts(rating_matrix(ratings, "ratings").T, categories, "krippendorff_alpha")
    pairable = counts.sum(1) >= 2
    if not pairable.any():
        raise ValueError("krippendorff_alpha needs at least one subject rated by two or more raters")
    return counts[pairable], cats


def _alpha_jackknife_se(counts: np.ndarray, scaled: np.ndarray, o: np.ndarray, level: str,
                        values: np.ndarray | None) -> float:
    """Delete-one-subject jackknife SE: each subject's share is taken out of the coincidence matrix ``o``."""
    n_pairable, v = counts.shape
    if n_pairable < 2:
        return math.nan
    n_c = o.sum(0)
    loo = np.empty(n_pairable)
    # Chunks bound the (chunk, v, v) temporaries for many categories.
    chunk = max(1, 2_000_000 // (v * v))
    for start in range(0, n_pairable, chunk):
        stop = min(start + chunk, n_pairable)
        own = counts[start:stop, :, None] * scaled[start:stop, None, :]
        idx = np.arange(v)
        own[:, idx, idx] -= scaled[start:stop]
        loo[start:stop] = _alpha_from(o[None] - own, n_c[None] - counts[start:stop], level, values)
    if not np.all(np.isfinite(loo)):
        return math.nan
    return math.sqrt((n_pairable - 1) / n_pairable * ((loo - loo.mean()) ** 2).sum())


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

