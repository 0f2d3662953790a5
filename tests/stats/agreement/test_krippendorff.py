"""Krippendorff's alpha against the krippendorff package and the published example.

References used below: ``krippendorff`` 0.9 ``alpha``; Krippendorff (2011) "Computing Krippendorff's
alpha-reliability". No Django needed.
"""

import math

import krippendorff
import numpy as np
import pytest

from stats.agreement import cohen_kappa, krippendorff_alpha
from tests.stats.agreement.ratings import HERNIATION, correlated_grades


# ------------------------------------------------------------------------------------------------------
# Krippendorff's alpha

# Krippendorff (2011) "Computing Krippendorff's alpha-reliability", the 4 observers x 12 units example
# (also the krippendorff package's docstring): nominal 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_published_example(level, expected):
    res = krippendorff_alpha(KRIPPENDORFF_EXAMPLE, level=level)
    assert res.value == pytest.approx(expected, abs=5e-4)
    assert res.n == 11  # unit 12 has a single rating and is not pairable


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", [0, 1])
def test_krippendorff_matches_package_random_with_missing(level, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, 70)
    data = np.where(rng.random((4, 70)) < 0.3, rng.integers(1, 6, (4, 70)), truth[None, :]).astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan
    res = krippendorff_alpha(data, level=level)
    # krippendorff 0.9 alpha(reliability_data, level_of_measurement=level)
    assert res.value == pytest.approx(krippendorff.alpha(data, level_of_measurement=level), abs=1e-12)
    # With a declared (larger) value domain, ordinal/nominal do not change; same as value_domain=.
    res6 = krippendorff_alpha(data, level=level, categories=[1, 2, 3, 4, 5, 6])
    expected6 = krippendorff.alpha(data, level_of_measurement=level, value_domain=[1, 2, 3, 4, 5, 6])
    assert res6.value == pytest.approx(expected6, abs=1e-12)


def test_krippendorff_string_categories_with_none():
    data = [["none", "bulge", None, "extrusion"], ["none", "protrusion", "bulge", "extrusion"]]
    res = krippendorff_alpha(data, level="ordinal", categories=HERNIATION)
    codes = [[np.nan if x is None else HERNIATION.index(x) for x in row] for row in data]
    expected = krippendorff.alpha(codes, level_of_measurement="ordinal", value_domain=range(5))
    assert res.value == pytest.approx(expected, abs=1e-12)


def test_krippendorff_nominal_two_raters_no_missing_relates_to_cohen():
    # With 2 raters and no missing data nominal alpha is Scott's pi times a small-sample factor, so it lies
    # close to Cohen's kappa when the raters' marginals are similar.
    a, b = correlated_grades(9)
    res = krippendorff_alpha([a, b], level="nominal")
    assert res.value == pytest.approx(krippendorff.alpha([a, b], level_of_measurement="nominal"), abs=1e-12)
    assert res.value == pytest.approx(cohen_kappa(a, b).kappa, abs=0.01)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_jackknife_se_matches_slow_loop(level):
    rng = np.random.default_rng(21)
    truth = rng.integers(1, 5, 30)
    data = np.where(rng.random((3, 30)) < 0.4, rng.integers(1, 5, (3, 30)), truth[None, :]).astype(float)
    data[rng.random(data.shape) < 0.15] = np.nan
    res = krippendorff_alpha(data, level=level)
    pairable = (~np.isnan(data)).sum(0) >= 2
    units = np.flatnonzero(pairable)
    # Independent jackknife: the krippendorff package on each leave-one-pairable-unit-out data set.
    loo = np.array(
        [
            krippendorff.alpha(np.delete(data, u, axis=1), level_of_measurement=level, value_domain=[1, 2, 3, 4])
            for u in units
        ]
    )
    n = units.size
    assert res.n == n
    assert res.se == pytest.approx(math.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum()), abs=1e-12)


def test_krippendorff_single_value_is_nan():
    res = krippendorff_alpha([[1, 1, None], [1, 1, 1]])
    assert math.isnan(res.value) and res.band == "undefined"


@pytest.mark.parametrize(
    ("ratings", "kwargs", "message"),
    [
        ([[1, None, 3], [None, 2, None]], {}, "at least one subject rated by two or more raters"),
        ([[1, 2], [1, 2]], {"level": "ratio"}, "level must be one of"),
        ([["a", "b"], ["a", "a"]], {"level": "interval"}, "numeric labels"),
        ([[1, 2, 3], [1, 2]], {}, "rectangular"),
        ([[1, 2], [1, 7]], {"categories": [1, 2, 3]}, "label 7, which is not in categories"),
    ],
)
def test_krippendorff_degenerate_input_raises(ratings, kwargs, message):
    with pytest.raises(ValueError, match=message):
        krippendorff_alpha(ratings, **kwargs)


# ------------------------------------------------------------------------------------------------------
