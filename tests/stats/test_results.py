"""The shared pieces of the statistics: Landis-Koch bands, Wilson and Wald intervals, proportions, input checks
and label encoding.

References: Landis & Koch 1977 (Biometrics 33:159, doi:10.2307/2529310) for the bands; statsmodels 0.15
``proportion_confint(method="wilson")`` for the Wilson interval. No Django.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from stats.results import (
    Z_975,
    as_binary,
    concat_labels,
    encode_labels,
    landis_koch_band,
    missing_mask,
    proportion,
    rating_matrix,
    same_length,
    two_sided_p,
    wald_ci,
    wilson_ci,
)


# ------------------------------------------------------------------------------------------------------
# Landis-Koch


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (-0.05, "poor"),
        (0.0, "slight"),
        (0.20, "slight"),
        (0.21, "fair"),
        (0.40, "fair"),
        (0.41, "moderate"),
        (0.6000000000000001, "moderate"),  # float noise on an edge stays in the lower band
        (0.61, "substantial"),
        (0.80, "substantial"),
        (0.81, "almost perfect"),
        (1.0, "almost perfect"),
        (math.nan, "undefined"),
    ],
)
def test_landis_koch_bands(value, band):
    # Landis & Koch 1977, Biometrics 33:159, table of kappa ranges.
    assert landis_koch_band(value) == band



# ------------------------------------------------------------------------------------------------------
# Wilson and Wald intervals, proportions


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_ci_contains_estimate_and_lies_in_unit_interval(count_nobs):
    k, n = count_nobs
    low, high = wilson_ci(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    # statsmodels 0.15 proportion_confint(method="wilson"), which does not clip; ours clips to [0, 1]
    sm_low, sm_high = proportion_confint(k, n, method="wilson")
    assert (low, high) == pytest.approx((max(sm_low, 0.0), min(sm_high, 1.0)), abs=1e-12)


def test_wilson_ci_vectorised_and_zero_trials():
    low, high = wilson_ci(np.array([0, 5, 10]), np.array([10, 10, 0]))
    assert low[0] == 0.0 and 0 < low[1] < 0.5 < high[1] < 1 and math.isnan(low[2])




def test_proportion_and_its_text():
    p = proportion(180, 198)
    assert (p.value, p.ci) == (180 / 198, wilson_ci(180, 198))
    assert p.fraction == "180/198" and str(p) == f"{180 / 198:.3f} ({p.ci[0]:.3f}-{p.ci[1]:.3f}) 180/198"
    empty = proportion(0, 0)
    assert math.isnan(empty.value) and all(math.isnan(x) for x in empty.ci) and empty.fraction == "0/0"


def test_wald_ci_and_two_sided_p():
    assert wald_ci(0.5, 0.1) == pytest.approx((0.5 - 0.1959963984540054, 0.5 + 0.1959963984540054), abs=1e-15)
    assert Z_975 == pytest.approx(1.959963984540054, abs=1e-15)  # scipy.stats.norm.ppf(0.975)
    assert all(math.isnan(x) for x in wald_ci(0.5, math.nan))
    assert two_sided_p(1.959963984540054) == pytest.approx(0.05, abs=1e-12)
    assert two_sided_p(0.0) == 1.0 and math.isnan(two_sided_p(math.nan))


# ------------------------------------------------------------------------------------------------------
# Input checks and label encoding


def test_as_binary_accepts_booleans_numbers_and_object_columns():
    expected = np.array([True, False, True])
    for values in ([True, False, True], [1, 0, 1], [1.0, 0.0, 1.0], np.array([1, 0, 1], dtype=object)):
        np.testing.assert_array_equal(as_binary(values, "truth"), expected)
    with pytest.raises(ValueError, match="truth must be binary .* found 2"):
        as_binary([1, 2], "truth")
    with pytest.raises(ValueError, match="truth contains missing values"):
        as_binary([1, None], "truth")
    with pytest.raises(ValueError, match="one-dimensional"):
        as_binary([[1]], "truth")
    with pytest.raises(ValueError, match="a has 2 values and b has 1; they must be paired"):
        same_length("a", np.zeros(2), "b", np.zeros(1))


def test_encode_labels_follows_categories_and_keeps_absent_ones():
    codes, cats = encode_labels(np.array(["3", "1", "3"]), ["1", "2", "3"], "grades")
    assert codes.tolist() == [2, 0, 2] and cats == ("1", "2", "3")
    codes, cats = encode_labels(np.array([5, 2, 5]), None, "grades")
    assert codes.tolist() == [1, 0, 1] and cats == (2, 5)
    # Codes 0..k-1 with categories range(k) (the dashboard's) come back as they are, absent ones kept.
    codes, cats = encode_labels(np.array([2, 0, 2], dtype=np.int8), [0, 1, 2, 3], "grades")
    assert codes.tolist() == [2, 0, 2] and codes.dtype == np.intp and cats == (0, 1, 2, 3)
    # A declared "nan" category is a label, not a missing value.
    assert encode_labels(np.array(["nan", "x"]), ["nan", "x"], "grades")[0].tolist() == [0, 1]


@pytest.mark.parametrize(
    ("flat", "categories", "message"),
    [
        (np.array(["1", "nan"]), None, "grades contain missing values"),
        (np.array([1, None], dtype=object), None, "grades contain missing values"),
        (np.array([1, "a"], dtype=object), None, "cannot be ordered"),
        (np.array(["1", "9"]), ["1", "2"], "label '9', which is not in categories"),
        (np.array([0, 7, 3, -1]), [0, 1, 2], r"label -1, which is not in categories \[0, 1, 2\]"),
        (np.array(["1"]), [], "categories is empty"),
        (np.array(["1"]), ["1", None], "must not contain None or NaN"),
        (np.array(["1"]), ["1", "1"], "categories contain duplicates"),
    ],
)
def test_encode_labels_rejects(flat, categories, message):
    with pytest.raises(ValueError, match=message):
        encode_labels(flat, categories, "grades")


def test_missing_mask_and_label_checks():
    np.testing.assert_array_equal(missing_mask(np.array([1.0, np.nan])), [False, True])
    np.testing.assert_array_equal(missing_mask(np.array(["a", "nan", "None"])), [False, True, True])
    np.testing.assert_array_equal(missing_mask(np.array([None, 1, float("nan")], dtype=object)), [True, False, True])
    np.testing.assert_array_equal(missing_mask(np.array([1, 2])), [False, False])
    with pytest.raises(ValueError, match="a holds numbers and b holds strings"):
        concat_labels([np.array([1]), np.array(["1"])], ["a", "b"])
    with pytest.raises(ValueError, match="rectangular"):
        rating_matrix([[1, 2], [1]], "ratings")
    assert rating_matrix([[1, 2], [3, 4]], "ratings").shape == (2, 2)
