"""Gwet's AC1/AC2 against the outputs irrCAC publishes, and against kappa where the paradox shows.

Published values: the R package irrCAC 1.0 (Gwet, github.com/kgwet/irrCAC), its README ("Computing agreement
coefficients": ``gwet.ac1.table(cont3x3abstractors)``, ``gwet.ac1.raw(cac.raw4raters)``,
``gwet.ac1.dist(distrib.6raters)``) and its vignette "Weighted Chance-corrected Agreement Coefficients" (the same
data with quadratic weights). The datasets are copied below from those printouts. No Django needed.
"""

import math

import numpy as np
import pytest

from stats.agreement import cohen_kappa, gwet_ac1, gwet_ac1_raters
from stats.agreement.gwet import gwet_weights
from tests.stats.agreement.test_kappa import ratings_from_table

# irrCAC's cont3x3abstractors: rows rater 1, columns rater 2 (Ectopic, AIU, NIU).
CONT3X3 = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]
NA = math.nan
# irrCAC's cac.raw4raters: 12 subjects, 4 raters, categories 1-5, no rater rated every subject.
RAW4RATERS = [[1, 1, NA, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
              [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [NA, 5, 5, 5], [NA, NA, 1, 1], [NA, NA, 3, NA]]
# irrCAC's distrib.6raters: 15 patients, the number of 6 psychiatrists per diagnosis.
DISTRIB6 = [[0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0], [2, 0, 4, 0, 0],
            [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6], [1, 0, 0, 5, 0], [1, 1, 0, 4, 0],
            [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1]]


def raters_from_distribution(distribution):
    """One row per subject, one column per rater, from the counts of raters per category."""
    return np.array([[k for k, count in enumerate(row) for _ in range(count)] for row in distribution], float)


# ------------------------------------------------------------------------------------------------------
# irrCAC's published outputs


@pytest.mark.parametrize(
    ("weights", "value", "se", "ci"),
    [
        (None, 0.8493305, 0.04321747, (0.764, 0.935)),  # README, gwet.ac1.table
        ("quadratic", 0.9402369, 0.01792019, (0.905, 0.976)),  # weighting vignette, quadratic.weights(1:3)
    ],
)
def test_two_raters_match_irrcac_table(weights, value, se, ci):
    a, b = ratings_from_table(CONT3X3)
    res = gwet_ac1(a, b, weights=weights, categories=[0, 1, 2])
    assert res.value == pytest.approx(value, abs=5e-8)
    assert res.se == pytest.approx(se, abs=5e-9)
    assert res.ci == pytest.approx(ci, abs=5e-4)
    assert res.n == 100 and res.weights == weights


@pytest.mark.parametrize(
    ("weights", "pa", "pe", "value", "se", "ci", "p_value"),
    [
        (None, 0.8181818, 0.1903212, 0.77544, 0.14295, (0.461, 1.0), 0.000208721),  # README
        ("quadratic", 0.9753788, 0.7137044, 0.914, 0.10396, (0.685, 1.0), 2.634438e-06),  # weighting vignette
    ],
)
def test_raters_with_missing_ratings_match_irrcac_raw(weights, pa, pe, value, se, ci, p_value):
    res = gwet_ac1_raters(RAW4RATERS, weights=weights, categories=[1, 2, 3, 4, 5])
    assert res.observed_agreement == pytest.approx(pa, abs=5e-8)
    assert res.expected_agreement == pytest.approx(pe, abs=5e-8)
    assert res.value == pytest.approx(value, abs=5e-6)  # irrCAC rounds coeff.val to 5 decimals
    assert res.se == pytest.approx(se, abs=5e-6)
    assert res.ci == pytest.approx(ci, abs=5e-4)
    assert res.p_value == pytest.approx(p_value, rel=1e-5)
    assert res.n == 12


@pytest.mark.parametrize(
    ("weights", "value", "se", "ci", "p_value", "pa", "pe"),
    [
        (None, 0.4448007, 0.08418757, (0.264, 0.625), 0.0001155927, 0.5511111, 0.1914815),  # README
        ("quadratic", 0.4837438, 0.1058227, (0.257, 0.711), 0.0004356618, 0.8544444, 0.7180556),  # vignette
    ],
)
def test_six_raters_match_irrcac_distribution(weights, value, se, ci, p_value, pa, pe):
    res = gwet_ac1_raters(raters_from_distribution(DISTRIB6), weights=weights, categories=[0, 1, 2, 3, 4])
    assert res.value == pytest.approx(value, abs=5e-8)
    assert res.se == pytest.approx(se, abs=5e-8)
    assert res.ci == pytest.approx(ci, abs=5e-4)
    assert res.p_value == pytest.approx(p_value, rel=1e-6)
    assert (res.observed_agreement, res.expected_agreement) == (pytest.approx(pa, abs=5e-8),
                                                               pytest.approx(pe, abs=5e-8))


def test_ordinal_weights_are_irrcacs():
    # irrCAC ordinal.weights(1:3), weighting vignette: 1, 0.6667, 0 off the diagonal.
    np.testing.assert_allclose(gwet_weights(3, "ordinal"),
                               [[1, 2 / 3, 0], [2 / 3, 1, 2 / 3], [0, 2 / 3, 1]], atol=1e-12)
    np.testing.assert_allclose(gwet_weights(3, "quadratic"), [[1, 0.75, 0], [0.75, 1, 0.75], [0, 0.75, 1]])


# ------------------------------------------------------------------------------------------------------
# Behaviour


def test_ac1_stays_near_agreement_where_kappa_collapses():
    # The kappa paradox: 96 of 100 discs agree, the finding is rare (HIZ-like), kappa is low, AC1 is not.
    a, b = ratings_from_table([[94, 2], [2, 2]])
    kappa, ac1 = cohen_kappa(a, b), gwet_ac1(a, b, categories=[0, 1])
    assert kappa.value == pytest.approx(0.479, abs=1e-3)
    assert ac1.value > 0.95 and ac1.observed_agreement == pytest.approx(0.96)


def test_two_raters_through_either_function_agree():
    a, b = ratings_from_table(CONT3X3)
    table, raw = gwet_ac1(a, b, categories=[0, 1, 2]), gwet_ac1_raters(np.stack([a, b], 1), categories=[0, 1, 2])
    assert raw.value == pytest.approx(table.value, abs=1e-14)
    # irrCAC's raw-data variance divides by n - 1, its table variance by n.
    assert raw.se == pytest.approx(table.se * math.sqrt(100 / 99), rel=1e-12)


def test_one_category_used_throughout_is_one_with_the_full_scale_and_nan_without():
    assert gwet_ac1([0, 0, 0], [0, 0, 0], categories=[0, 1]).value == 1.0
    res = gwet_ac1([0, 0, 0], [0, 0, 0])
    assert math.isnan(res.value) and res.band == "undefined"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gwet_ac1([1, 2], [1, 2], weights="cubic"), "weights must be None"),
        (lambda: gwet_ac1([1, 2], [1]), "one label per subject"),
        (lambda: gwet_ac1([1, None], [1, 2]), "missing"),
        (lambda: gwet_ac1([1, 7], [1, 2], categories=[1, 2]), "not in categories"),
        (lambda: gwet_ac1_raters([[1, NA], [2, NA]]), "rated by two or more"),
        (lambda: gwet_ac1_raters([1, 2, 3]), "two-dimensional|shape"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
