"""Small pieces shared by the statistics modules: result records, Landis-Koch bands, Wilson and Wald intervals,
input checks and label encoding.

Pure numpy/scipy; no Django. The statistics themselves live in ``stats.agreement``, ``stats.accuracy``,
``stats.comparisons``, ``stats.bootstrap`` and ``stats.detection``; the result dataclasses here are what their
callers receive.

References
----------
Landis JR, Koch GG. The measurement of observer agreement for categorical data. Biometrics
1977;33(1):159-174. doi:10.2307/2529310
Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat Assoc
1927;22(158):209-212. doi:10.1080/01621459.1927.10502953
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

# Two-sided 95%: norm.ppf(0.975), computed once (scipy.stats.norm.ppf costs ~50 us per call).
Z_975 = float(ndtri(0.975))

NAN_CI: tuple[float, float] = (math.nan, math.nan)

# Upper limits (inclusive) of the Landis-Koch bands, as printed in their Table: 0.00-0.20 slight,
# 0.21-0.40 fair, 0.41-0.60 moderate, 0.61-0.80 substantial, 0.81-1.00 almost perfect; below 0 poor.
_LANDIS_KOCH = ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"))


def landis_koch_band(value: float) -> str:
    """Landis-Koch (1977) label for a chance-corrected agreement coefficient.

    Parameters
    ----------
    value : float
        Kappa, alpha or an ICC.

    Returns
    -------
    str
        ``"poor"`` (< 0), ``"slight"`` (0-0.20), ``"fair"`` (0.21-0.40), ``"moderate"`` (0.41-0.60),
        ``"substantial"`` (0.61-0.80), ``"almost perfect"`` (0.81-1), or ``"undefined"`` for NaN.

    Notes
    -----
    The published bands have two-decimal edges; an edge belongs to the lower band (0.40 is "fair"). The value
    is rounded to 12 decimals first so that floating-point noise (0.6000000000000001) cannot move a kappa
    that is exactly on an edge into the next band.
    """
    if value is None or math.isnan(value):
        return "undefined"
    value = round(float(value), 12)
    if value < 0:
        return "poor"
    for upper, label in _LANDIS_KOCH:
        if value <= upper:
            return label
    return "almost perfect"


def two_sided_p(z: float) -> float:
    """Two-sided normal p-value of a z statistic; NaN for a non-finite z."""
    return float(2.0 * ndtr(-abs(z))) if math.isfinite(z) else math.nan


def wald_ci(value: float, se: float) -> tuple[float, float]:
    """``value +- 1.96 se``; ``(nan, nan)`` when either is not finite."""
    if not (math.isfinite(value) and math.isfinite(se)):
        return NAN_CI
    return (float(value - Z_975 * se), float(value + Z_975 * se))


def wilson_ci(successes, trials, z: float = Z_975):
    """Wilson score interval for a binomial proportion, vectorised.

    Parameters
    ----------
    successes, trials : array_like
        Counts; broadcast together.
    z : float
        Standard normal quantile, 1.959963984540054 for 95%.

    Returns
    -------
    low, high : ndarray or float
        Interval limits in [0, 1]; NaN where ``trials == 0``. Identical (to rounding) to
        ``statsmodels.stats.proportion.proportion_confint(k, n, method="wilson")``.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
        # At k = 0 and k = n the exact limits are 0 and 1; rounding would leave 1e-18 outside the estimate.
        low = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
        high = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))
        low = np.where(n > 0, low, np.nan)
        high = np.where(n > 0, high, np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


@dataclass(frozen=True)
class Proportion:
    """A count-based metric with its Wilson 95% interval.

    ``numerator``/``denominator`` are the counts behind ``value`` (e.g. 180/198 for a sensitivity);
    ``None`` for metrics that are not a single ratio (Youden's J). A zero denominator gives NaN and
    ``(nan, nan)``.
    """

    value: float
    ci: tuple[float, float]
    numerator: int | None = None
    denominator: int | None = None
    method: str = "wilson"

    @property
    def fraction(self) -> str:
        """``"180/198"``; empty when the metric is not a single ratio."""
        if self.numerator is None or self.denominator is None:
            return ""
        return f"{self.numerator}/{self.denominator}"

    def __str__(self) -> str:
        return f"{self.value:.3f} ({self.ci[0]:.3f}-{self.ci[1]:.3f}) {self.fraction}".rstrip()


def proportion(numerator: int, denominator: int) -> Proportion:
    """Build a :class:`Proportion` with a Wilson interval; NaN when the denominator is 0."""
    numerator, denominator = int(numerator), int(denominator)
    if denominator == 0:
        return Proportion(math.nan, NAN_CI, numerator, denominator)
    return Proportion(numerator / denominator, wilson_ci(numerator, denominator), numerator, denominator)


@dataclass(frozen=True)
class AgreementResult:
    """An agreement coefficient with its uncertainty.

    Attributes
    ----------
    value : float
        The coefficient (kappa, alpha, ICC or proportion of agreement).
    se : float
        Standard error used for ``ci`` (NaN where the interval is not Wald-type, see ``method``).
    ci : tuple of float
        95% confidence interval (low, high).
    n : int
        Number of subjects (pairs of ratings for two raters).
    band : str or None
        Landis-Koch label (see :func:`landis_koch_band`); None for raw percent agreement, which is not
        chance-corrected.
    method : str
        How ``se`` and ``ci`` were obtained, in words.
    """

    value: float
    se: float
    ci: tuple[float, float]
    n: int
    band: str | None
    method: str


@dataclass(frozen=True)
class KappaResult(AgreementResult):
    """Cohen's or Fleiss' kappa; ``kappa`` is ``value``.

    Extra attributes: ``observed_agreement`` (po) and ``expected_agreement`` (pe; weighted versions for a
    weighted kappa), ``se_null`` (standard error under H0: kappa = 0), ``z`` (kappa / se_null) and
    ``p_value`` (two-sided), ``categories`` (the category order used), ``weights`` (None, "linear" or
    "quadratic").
    """

    observed_agreement: float = math.nan
    expected_agreement: float = math.nan
    se_null: float = math.nan
    z: float = math.nan
    p_value: float = math.nan
    categories: tuple = field(default=())
    weights: str | None = None

    @property
    def kappa(self) -> float:
        return self.value


# --------------------------------------------------------------------------------------------------------
# Input checks shared by the accuracy, comparison and bootstrap functions


def as_binary(values, name: str) -> np.ndarray:
    """Boolean array of a 1-D binary input (booleans, 0/1 numbers, or an object column of them).

    Raises ValueError naming ``name`` for other values, missing values or another shape.
    """
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
            return as_binary(converted, name)
    raise ValueError(f"{name} must be binary (True/False or 1/0), got dtype {arr.dtype}")


def same_length(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """Raise ValueError unless the two paired inputs have as many values."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name_a} has {a.shape[0]} values and {name_b} has {b.shape[0]}; they must be paired")


def rating_matrix(ratings, name: str) -> np.ndarray:
    """A subjects x ratings (or raters x subjects) matrix as a 2-D array; ValueError when ragged or not 2-D."""
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


# --------------------------------------------------------------------------------------------------------
# Label encoding: turn rater labels (ints, strings such as "1".."5" or "bulge", booleans) into integer codes
# 0..k-1 in the category order. Done on the unique values (a handful) so that long inputs cost one np.unique.


def _is_missing_scalar(value) -> bool:
    return value is None or (isinstance(value, float | np.floating) and value != value)


# np.asarray(["1", np.nan]) silently turns NaN into the string "nan"; such a label is treated as missing
# unless "nan" is a declared category.
_NAN_STRINGS = frozenset({"nan", "NaN", "None"})


def as_label_array(values, name: str) -> np.ndarray:
    """1-D array of labels (None/NaN kept; :func:`encode_labels` rejects or :func:`missing_mask` masks them)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def concat_labels(arrays: Sequence[np.ndarray], names: Sequence[str]) -> np.ndarray:
    """Concatenate label arrays, refusing to mix numbers with strings (numpy would silently turn 1 into
    "1" and make the two raters agree)."""
    kinds = {}
    for arr, name in zip(arrays, names, strict=True):
        if arr.dtype.kind in "biuf":
            kinds.setdefault("numbers", name)
        elif arr.dtype.kind in "US":
            kinds.setdefault("strings", name)
    if len(kinds) > 1:
        raise ValueError(f"{kinds['numbers']} holds numbers and {kinds['strings']} holds strings; use one label type")
    return np.concatenate(arrays)


def _homogeneous(arr: np.ndarray) -> np.ndarray:
    """Object arrays of only str (or only int) become str (int) arrays: np.unique on Python objects is
    ~10x slower. Anything else (None, NaN, mixed types) stays object for the checks in encode_labels."""
    if arr.dtype.kind != "O" or arr.size == 0:
        return arr
    items = arr.tolist()
    first = type(items[0])
    if first is str or first is int:
        if all(type(x) is first for x in items):
            try:
                return np.array(items, dtype=str if first is str else np.int64).reshape(arr.shape)
            except OverflowError:  # ints beyond int64 stay Python objects
                return arr
    return arr


def missing_mask(arr: np.ndarray) -> np.ndarray:
    """Boolean mask of missing labels (None, NaN, and "nan"/"None" in string arrays)."""
    kind = arr.dtype.kind
    if kind == "f":
        return np.isnan(arr)
    if kind == "O":
        # Element-wise comparisons in C: None is None, and only NaN differs from itself.
        return np.equal(arr, None) | np.not_equal(arr, arr)
    if kind in "US":
        return np.isin(arr, list(_NAN_STRINGS))
    return np.zeros(arr.shape, dtype=bool)


def _check_unique_categories(categories: Sequence) -> tuple:
    cats = tuple(categories)
    if len(cats) == 0:
        raise ValueError("categories is empty")
    if any(_is_missing_scalar(c) for c in cats):
        raise ValueError("categories must not contain None or NaN")
    if len(set(cats)) != len(cats):
        raise ValueError(f"categories contain duplicates: {list(cats)}")
    return cats


def encode_labels(flat: np.ndarray, categories: Sequence | None, what: str) -> tuple[np.ndarray, tuple]:
    """Integer codes of ``flat`` (no missing values allowed) and the category tuple.

    With ``categories`` the codes follow that order (categories absent from the data are kept); without,
    the sorted unique labels. A label outside ``categories`` raises ValueError.
    """
    flat = _homogeneous(flat)
    if categories is not None and flat.dtype.kind in "iu":
        cats = _check_unique_categories(categories)
        if cats == tuple(range(len(cats))):
            # Already codes (the dashboard's thousands of calls): no sort and no per-label look-up.
            outside = (flat < 0) | (flat >= len(cats))
            if outside.any():
                label = np.unique(flat[outside])[0].item()
                raise ValueError(f"{what} contain label {label!r}, which is not in categories {list(cats)}")
            return flat.astype(np.intp, copy=False), cats
    try:
        uniques, inverse = np.unique(flat, return_inverse=True)
    except TypeError:
        if missing_mask(flat).any():
            raise ValueError(f"{what} contain missing values (None/NaN)") from None
        raise ValueError(
            f"{what} mix label types that cannot be ordered; pass categories= in the intended order"
        ) from None
    unique_list = uniques.tolist()
    # Integers and booleans cannot be missing: no look at each of (say) 5,000 case ids.
    if (uniques.dtype.kind in "fcO" and any(_is_missing_scalar(u) for u in unique_list)) or (
        uniques.dtype.kind in "US"
        and any(u in _NAN_STRINGS for u in unique_list)
        and not (categories is not None and any(u in _NAN_STRINGS for u in categories))
    ):
        raise ValueError(f"{what} contain missing values (None/NaN)")
    if categories is None:
        return inverse.reshape(flat.shape).astype(np.intp, copy=False), tuple(uniques.tolist())
    cats = _check_unique_categories(categories)
    position = {c: i for i, c in enumerate(cats)}
    lookup = np.empty(len(uniques), dtype=np.intp)
    for i, u in enumerate(unique_list):
        code = position.get(u)
        if code is None:
            raise ValueError(f"{what} contain label {u!r}, which is not in categories {list(cats)}")
        lookup[i] = code
    return lookup[inverse.reshape(flat.shape)], cats


def category_counts(arr: np.ndarray, categories: Sequence | None, caller: str) -> tuple[np.ndarray, tuple]:
    """Per unit (row of ``arr``, shape (units, raters), missing labels allowed) the number of its ratings in each
    category, shape (units, categories) as float, and the categories."""
    if arr.size == 0:
        raise ValueError(f"{caller} got no ratings (empty input)")
    flat = arr.ravel()
    present = ~missing_mask(flat)
    codes, cats = encode_labels(flat[present], categories, "ratings")
    k = len(cats)
    unit = np.repeat(np.arange(arr.shape[0]), arr.shape[1])[present]
    return np.bincount(unit * k + codes, minlength=arr.shape[0] * k).reshape(arr.shape[0], k).astype(float), cats
