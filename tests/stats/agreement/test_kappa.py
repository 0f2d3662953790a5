"""Cohen's and Fleiss' kappa and percent agreement against independent implementations and published examples.

References used below: scikit-learn ``cohen_kappa_score``; statsmodels 0.15 ``stats.inter_rater``
(``cohens_kappa``, ``fleiss_kappa``, and the SAS printout and Fleiss 1971 data in its
``tests/test_inter_rater.py``) and ``proportion_confint``; R irr ``kappam.fleiss`` output quoted by statsmodels.
No Django needed.
"""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from stats.agreement import cohen_kappa, fleiss_kappa, percent_agreement
from tests.stats.agreement.ratings import HERNIATION, correlated_grades

PFIRRMANN = [1, 2, 3, 4, 5]


def ratings_from_table(table):
    """Expand a rater-a x rater-b contingency table into paired label arrays (codes 0..k-1)."""
    table = np.asarray(table)
    a, b = [], []
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            a += [i] * int(table[i, j])
            b += [j] * int(table[i, j])
    return np.array(a), np.array(b)


def sm_table(a, b, categories):
    k = len(categories)
    pos = {c: i for i, c in enumerate(categories)}
    table = np.zeros((k, k))
    for x, y in zip(a, b):
        table[pos[x], pos[y]] += 1
    return table


# ------------------------------------------------------------------------------------------------------
# Cohen's kappa: literature


def test_cohen_textbook_2x2_kappa_040():
    # Classic 2x2 example: a=20 (yes/yes), b=5, c=10, d=15 -> po=0.70, pe=0.50, kappa=0.40.
    a, b = ratings_from_table([[20, 5], [10, 15]])
    res = cohen_kappa(a, b)
    assert res.observed_agreement == pytest.approx(0.70, abs=1e-12)
    assert res.expected_agreement == pytest.approx(0.50, abs=1e-12)
    assert res.kappa == pytest.approx(0.40, abs=1e-12)
    assert res.value == res.kappa
    assert res.n == 50
    assert res.band == "fair"  # 0.40 is the upper edge of "fair" in Landis & Koch's table


# SAS PROC FREQ printout quoted in statsmodels 0.15 tests/test_inter_rater.py (TestUnweightedCohens,
# TestWeightedCohens), table10 = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]; 4 decimals.
TABLE10 = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (None, [0.4842, 0.1380, 0.2137, 0.7547, 0.1484, 3.2626, 0.0011]),
        ("linear", [0.4701, 0.1457, 0.1845, 0.7558, 0.1426, 3.2971, 0.0010]),
    ],
)
def test_cohen_matches_sas_printout(weights, expected):
    a, b = ratings_from_table(TABLE10)
    res = cohen_kappa(a, b, weights=weights)
    got = [res.kappa, res.se, res.ci[0], res.ci[1], res.se_null, res.z, res.p_value]
    np.testing.assert_allclose(got, expected, atol=6e-5)


# ------------------------------------------------------------------------------------------------------
# Cohen's kappa: against scikit-learn and statsmodels on random data


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cohen_matches_sklearn_and_statsmodels(weights, seed):
    a, b = correlated_grades(seed)
    res = cohen_kappa(a, b, weights=weights)
    # scikit-learn 1.x cohen_kappa_score(weights=...): same estimator.
    assert res.kappa == pytest.approx(cohen_kappa_score(a, b, weights=weights), abs=1e-12)
    # statsmodels 0.15 cohens_kappa(table, wt=...): Fleiss-Cohen-Everitt SE, SE under H0, z, p, CI.
    sm = (
        sm_cohens_kappa(sm_table(a, b, PFIRRMANN), wt=weights)
        if weights
        else sm_cohens_kappa(sm_table(a, b, PFIRRMANN))
    )
    assert res.kappa == pytest.approx(sm.kappa, abs=1e-12)
    assert res.se == pytest.approx(sm.std_kappa, abs=1e-12)
    assert res.se_null == pytest.approx(sm.std_kappa0, abs=1e-12)
    assert res.z == pytest.approx(sm.z_value, rel=1e-9)
    assert res.p_value == pytest.approx(sm.pvalue_two_sided, rel=1e-9, abs=1e-300)
    assert res.ci == pytest.approx((sm.kappa_low, sm.kappa_upp), abs=1e-12)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_absent_category_kept_in_weight_matrix(weights):
    # Readers never used grade 3; with categories=1..5, grades 2 and 4 are two steps apart, not one.
    a, b = correlated_grades(3, k=4)
    a, b = np.array([0, 1, 2, 4, 5])[a], np.array([0, 1, 2, 4, 5])[b]
    res = cohen_kappa(a, b, weights=weights, categories=PFIRRMANN)
    assert res.categories == (1, 2, 3, 4, 5)
    expected = cohen_kappa_score(a, b, weights=weights, labels=PFIRRMANN)  # scikit-learn with labels=
    assert res.kappa == pytest.approx(expected, abs=1e-12)
    sm = (
        sm_cohens_kappa(sm_table(a, b, PFIRRMANN), wt=weights)
        if weights
        else sm_cohens_kappa(sm_table(a, b, PFIRRMANN))
    )
    assert res.se == pytest.approx(sm.std_kappa, abs=1e-12)
    if weights is not None:
        # Without the category, 2 and 4 become neighbours and the value changes.
        assert cohen_kappa(a, b, weights=weights).kappa != pytest.approx(res.kappa, abs=1e-6)


def test_cohen_string_labels_follow_given_order_not_alphabet():
    a, b = correlated_grades(4)
    a_str = [HERNIATION[x - 1] for x in a]
    b_str = [HERNIATION[x - 1] for x in b]
    ordered = cohen_kappa(a_str, b_str, weights="quadratic", categories=HERNIATION)
    assert ordered.kappa == pytest.approx(cohen_kappa(a, b, weights="quadratic").kappa, abs=1e-12)
    assert ordered.se == pytest.approx(cohen_kappa(a, b, weights="quadratic").se, abs=1e-12)
    alphabetical = cohen_kappa(a_str, b_str, weights="quadratic")
    assert alphabetical.categories == tuple(sorted(HERNIATION))
    assert alphabetical.kappa != pytest.approx(ordered.kappa, abs=1e-6)


def test_cohen_accepts_lists_object_arrays_and_strings_alike():
    a, b = correlated_grades(5)
    reference = cohen_kappa(a, b, weights="quadratic")
    as_str = [str(x) for x in a], [str(x) for x in b]
    for x, y in [
        (a.tolist(), b.tolist()),
        as_str,
        (np.array(as_str[0], dtype=object), np.array(as_str[1], dtype=object)),
        (pd.Series(a), pd.Series(b)),
    ]:
        assert cohen_kappa(x, y, weights="quadratic").kappa == pytest.approx(reference.kappa, abs=1e-12)


def test_cohen_perfect_agreement():
    res = cohen_kappa([1, 2, 3, 3, 2], [1, 2, 3, 3, 2], weights="quadratic")
    assert res.kappa == pytest.approx(1.0)
    assert res.se == pytest.approx(0.0, abs=1e-12)
    assert res.band == "almost perfect"


def test_cohen_single_category_is_nan_not_a_number():
    # Both readers graded every disc "absent": expected agreement 1, kappa 0/0 (documented NaN).
    res = cohen_kappa(["absent"] * 20, ["absent"] * 20, categories=["absent", "present"])
    assert math.isnan(res.kappa) and math.isnan(res.se)
    assert all(math.isnan(x) for x in res.ci)
    assert res.band == "undefined"
    assert res.expected_agreement == 1.0


def test_cohen_constant_but_different_raters_is_zero():
    res = cohen_kappa([1] * 10, [2] * 10)
    assert res.kappa == pytest.approx(0.0)
    assert res.kappa == pytest.approx(cohen_kappa_score([1] * 10, [2] * 10))


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        ([], [], {}, "no ratings"),
        ([1, 2, 3], [1, 2], {}, "a has 3, b has 2"),
        ([1, None, 3], [1, 2, 3], {}, "missing values"),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], {}, "missing values"),
        (["1", np.nan, "3"], ["1", "2", "3"], {}, "missing values"),
        ([1, 2, 7], [1, 2, 3], {"categories": PFIRRMANN}, r"label 7, which is not in categories"),
        (["1", "2"], ["1", "2"], {"categories": PFIRRMANN}, "label '1', which is not in categories"),
        ([1, 2, 3], ["1", "2", "3"], {}, "a holds numbers and b holds strings"),
        ([1, 2], [1, 2], {"weights": "squared"}, "weights must be None, 'linear' or 'quadratic'"),
        ([1, 2], [1, 2], {"categories": [1, 2, 2]}, "categories contain duplicates"),
        ([[1, 2]], [[1, 2]], {}, "one-dimensional"),
        ([1, "a"], [1, 2], {}, "holds numbers and .* holds strings|cannot be ordered"),
    ],
)
def test_cohen_degenerate_input_raises(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cohen_kappa(a, b, **kwargs)


# ------------------------------------------------------------------------------------------------------
# Cohen's kappa: properties

labels_pairs = st.integers(2, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n), st.lists(st.integers(0, 4), min_size=n, max_size=n)
    )
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=60), st.sampled_from([None, "linear", "quadratic"]))
def test_identical_raters_give_one(labels, weights):
    res = cohen_kappa(labels, labels, weights=weights)
    if len(set(labels)) > 1:
        assert res.kappa == pytest.approx(1.0, abs=1e-12)
    else:
        assert math.isnan(res.kappa)


@settings(max_examples=150, deadline=None)
@given(labels_pairs, st.sampled_from([None, "linear", "quadratic"]))
def test_kappa_symmetric_in_raters(pair, weights):
    a, b = pair
    ab = cohen_kappa(a, b, weights=weights, categories=range(5))
    ba = cohen_kappa(b, a, weights=weights, categories=range(5))
    # Variances, not SEs: a variance of 1e-16 (rounding around 0) has a square root of 1e-8.
    np.testing.assert_allclose([ab.kappa, ab.se**2, ab.se_null**2], [ba.kappa, ba.se**2, ba.se_null**2], atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(labels_pairs, st.permutations(["p", "q", "r", "s", "t"]))
def test_unweighted_kappa_invariant_to_relabelling(pair, names):
    a, b = pair
    original = cohen_kappa(a, b)
    relabelled = cohen_kappa([names[x] for x in a], [names[x] for x in b])
    np.testing.assert_allclose([original.kappa, original.se**2], [relabelled.kappa, relabelled.se**2], atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    labels_pairs,
    st.lists(st.integers(1, 50), min_size=5, max_size=5),
    st.sampled_from(["linear", "quadratic"]),
)
def test_weighted_kappa_invariant_to_order_preserving_relabelling(pair, gaps, weights):
    # Weights depend on category positions, so any strictly increasing recoding leaves kappa unchanged.
    a, b = pair
    new_values = np.cumsum(gaps)
    original = cohen_kappa(a, b, weights=weights, categories=range(5))
    recoded = cohen_kappa(new_values[a], new_values[b], weights=weights, categories=new_values.tolist())
    np.testing.assert_allclose([original.kappa, original.se**2], [recoded.kappa, recoded.se**2], atol=1e-12)


# ------------------------------------------------------------------------------------------------------
# Fleiss' kappa

# Wikipedia "Fleiss' kappa" worked example (10 subjects, 14 raters, 5 categories), kappa = 0.210;
# the same table is statsmodels' table1 (test_fleiss_kappa).
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Fleiss 1971 psychiatric diagnoses, 30 patients x 6 raters (statsmodels' `diagnoses`, R irr's `diagnoses`).
DIAGNOSES = np.array(
    [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ]
)


def test_fleiss_wikipedia_example():
    ratings = [[c for c, count in enumerate(row) for _ in range(count)] for row in WIKIPEDIA_FLEISS]
    res = fleiss_kappa(ratings)
    assert res.kappa == pytest.approx(0.210, abs=5e-4)  # Wikipedia: 0.210
    assert res.kappa == pytest.approx(sm_fleiss_kappa(np.array(WIKIPEDIA_FLEISS)), abs=1e-12)
    assert res.observed_agreement == pytest.approx(0.378, abs=5e-4)  # Wikipedia: P-bar = 0.378
    assert res.expected_agreement == pytest.approx(0.213, abs=5e-4)  # Wikipedia: P-bar_e = 0.213
    assert res.band == "fair"


def test_fleiss_1971_diagnoses_matches_irr():
    # R irr::kappam.fleiss(diagnoses): Kappa = 0.4302445, z = 17.65183 (quoted in statsmodels'
    # test_fleiss_kappa_irr); irr's z uses the Fleiss-Nee-Landis (1979) SE under H0.
    res = fleiss_kappa(DIAGNOSES)
    assert res.kappa == pytest.approx(0.4302445, abs=1e-7)
    assert res.z == pytest.approx(17.65183, abs=1e-5)
    assert res.band == "moderate"
    assert res.n == 30


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fleiss_matches_statsmodels_random(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 80)
    ratings = np.where(rng.random((80, 4)) < 0.3, rng.integers(0, 4, (80, 4)), truth[:, None])
    res = fleiss_kappa(ratings)
    # statsmodels 0.15 fleiss_kappa(aggregate_raters(data)[0])
    assert res.kappa == pytest.approx(sm_fleiss_kappa(aggregate_raters(ratings)[0]), abs=1e-12)


def test_fleiss_jackknife_se_matches_slow_loop():
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 3, 40)
    ratings = np.where(rng.random((40, 5)) < 0.4, rng.integers(0, 3, (40, 5)), truth[:, None])
    res = fleiss_kappa(ratings)
    # Independent jackknife: statsmodels fleiss_kappa on each leave-one-subject-out count table.
    counts = aggregate_raters(ratings, n_cat=3)[0]
    loo = np.array([sm_fleiss_kappa(np.delete(counts, i, axis=0)) for i in range(40)])
    se = math.sqrt(39 / 40 * ((loo - loo.mean()) ** 2).sum())
    assert res.se == pytest.approx(se, abs=1e-12)
    assert res.ci == pytest.approx((res.kappa - 1.959963984540054 * se, res.kappa + 1.959963984540054 * se))


def test_fleiss_two_raters_close_to_cohen():
    # Fleiss' kappa with 2 raters is Scott's pi, not Cohen's kappa, but is close when marginals match.
    a, b = correlated_grades(8)
    assert fleiss_kappa(np.column_stack([a, b])).kappa == pytest.approx(cohen_kappa(a, b).kappa, abs=0.01)


def test_fleiss_single_category_is_nan():
    res = fleiss_kappa([["absent"] * 3] * 5, categories=["absent", "present"])
    assert math.isnan(res.kappa) and res.band == "undefined"


@pytest.mark.parametrize(
    ("ratings", "message"),
    [
        ([], "two-dimensional"),
        ([[1, 2, 3], [1, 2]], "rectangular"),
        ([[1], [2]], "at least two ratings per subject"),
        ([[1, None], [2, 2]], "missing values"),
        ([[1, 9], [2, 2]], "label 9, which is not in categories"),
    ],
)
def test_fleiss_degenerate_input_raises(ratings, message):
    kwargs = {"categories": [1, 2, 3]} if "categories" in message else {}
    with pytest.raises(ValueError, match=message):
        fleiss_kappa(ratings, **kwargs)


# ------------------------------------------------------------------------------------------------------
# Percent agreement


def test_percent_agreement_with_wilson_ci():
    a, b = correlated_grades(10, n=137)
    res = percent_agreement(a, b)
    agree = int((a == b).sum())
    assert res.value == pytest.approx(agree / 137, abs=1e-15)
    # statsmodels 0.15 proportion_confint(count, nobs, method="wilson")
    assert res.ci == pytest.approx(proportion_confint(agree, 137, method="wilson"), abs=1e-12)
    assert res.se == pytest.approx(math.sqrt(res.value * (1 - res.value) / 137))
    assert res.band is None  # not chance-corrected
    assert res.n == 137


def test_percent_agreement_raises_on_mismatch():
    with pytest.raises(ValueError, match="a has 2, b has 1"):
        percent_agreement([1, 2], [1])
