"""Comparisons on the same cases: McNemar, DeLong's test of two AUCs, paired reading times.

References: statsmodels 0.15 ``contingency_tables.mcnemar``; scipy (``ttest_rel``, ``wilcoxon``); DeLong et al.
1988 (doi:10.2307/2531595) written out as an O(m n) loop in ``reference_delong.py``. No Django.
"""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from stats.comparisons import delong_test, mcnemar, paired_times
from tests.stats.reference_delong import model_scores, slow_delong


# ------------------------------------------------------------------------------------------------------
# McNemar


@pytest.mark.parametrize(("seed", "n"), [(0, 40), (1, 60), (2, 400), (3, 1000)])
def test_mcnemar_matches_statsmodels(seed, n):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    reader = np.where(rng.random(n) < 0.85, truth, 1 - truth)
    model = np.where(rng.random(n) < 0.78, truth, 1 - truth)
    res = mcnemar(truth, reader, model)
    a_ok, b_ok = reader == truth, model == truth
    table = [[np.sum(a_ok & b_ok), np.sum(a_ok & ~b_ok)], [np.sum(~a_ok & b_ok), np.sum(~a_ok & ~b_ok)]]
    assert (res.b, res.c) == (table[0][1], table[1][0])
    exact = res.b + res.c < 25
    assert res.method == ("exact" if exact else "chi2")
    # statsmodels 0.15 contingency_tables.mcnemar(table, exact=..., correction=True)
    sm = sm_mcnemar(table, exact=exact, correction=True)
    assert res.statistic == pytest.approx(sm.statistic, rel=1e-12)
    assert res.p == pytest.approx(sm.pvalue, rel=1e-12)


def test_mcnemar_both_regimes_and_no_discordance():
    truth = [1] * 50
    # b = 20, c = 4 -> exact; b = 20, c = 5 -> chi2 (b + c = 25).
    a = [1] * 20 + [0] * 4 + [1] * 26
    m = [0] * 20 + [1] * 4 + [1] * 26
    assert mcnemar(truth, a, m).method == "exact"
    a2 = [1] * 20 + [0] * 5 + [1] * 25
    m2 = [0] * 20 + [1] * 5 + [1] * 25
    res = mcnemar(truth, a2, m2)
    assert res.method == "chi2" and res.statistic == pytest.approx((15 - 1) ** 2 / 25)
    same = mcnemar(truth, a, a)
    assert (same.b, same.c, same.p_value) == (0, 0, 1.0)


def test_mcnemar_multiclass_grades_and_errors():
    res = mcnemar(["1", "2", "3"], ["1", "2", "2"], ["1", "3", "3"])
    assert (res.b, res.c) == (1, 1)
    with pytest.raises(ValueError, match="truth has 3 values and pred_b has 2"):
        mcnemar([1, 0, 1], [1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="no cases"):
        mcnemar([], [], [])


# ------------------------------------------------------------------------------------------------------
# DeLong


@pytest.mark.parametrize("ties", [False, True])
def test_delong_test_matches_slow_delong(ties):
    truth, a, b = model_scores(5, ties=ties)
    res = delong_test(truth, a, b)
    aucs, cov = slow_delong(truth, [a, b])
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert (res.auc_a, res.auc_b) == pytest.approx(tuple(aucs), abs=1e-12)
    assert res.diff == pytest.approx(aucs[0] - aucs[1], abs=1e-12)
    assert res.se_diff == pytest.approx(se, abs=1e-12)
    z = (aucs[0] - aucs[1]) / se
    assert res.z == pytest.approx(z, rel=1e-9)
    assert res.p == pytest.approx(2 * scipy_stats.norm.sf(abs(z)), rel=1e-9)



def test_delong_identical_scores():
    truth, a, _ = model_scores(6)
    same = delong_test(truth, a, a)
    assert (same.diff, same.z, same.p_value) == (0.0, 0.0, 1.0)


# ------------------------------------------------------------------------------------------------------
# Reading times


@pytest.mark.parametrize("n", [12, 80])
def test_paired_times_match_scipy(n):
    rng = np.random.default_rng(n)
    without_ai = rng.lognormal(4.0, 0.4, n)
    with_ai = without_ai * rng.lognormal(-0.15, 0.2, n)
    res = paired_times(without_ai, with_ai)
    t = scipy_stats.ttest_rel(without_ai, with_ai)  # scipy.stats.ttest_rel
    assert res.t_statistic == pytest.approx(t.statistic, rel=1e-12)
    assert res.t_p_value == pytest.approx(t.pvalue, rel=1e-9)
    ci = t.confidence_interval(0.95)
    assert res.ci == pytest.approx((ci.low, ci.high), rel=1e-12)
    w = scipy_stats.wilcoxon(without_ai - with_ai)  # scipy.stats.wilcoxon, default zero_method/method
    assert res.wilcoxon_statistic == pytest.approx(w.statistic) and res.wilcoxon_p_value == pytest.approx(w.pvalue)
    assert res.mean_difference == pytest.approx(np.mean(without_ai - with_ai), rel=1e-12)
    assert res.value == res.mean_difference and res.n == n


def test_paired_times_no_difference_is_nan_not_error():
    res = paired_times([10.0, 20.0, 30.0], [10.0, 20.0, 30.0])
    assert res.mean_difference == 0.0 and math.isnan(res.t_p_value) and math.isnan(res.wilcoxon_p_value)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([1.0], [2.0], "at least 2 paired cases"),
        ([1.0, 2.0], [1.0], "times_a has 2 values and times_b has 1"),
        ([1.0, np.nan], [1.0, 2.0], "missing or infinite"),
        (["a", "b"], [1.0, 2.0], "numeric seconds"),
    ],
)
def test_paired_times_degenerate_input_raises(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_times(a, b)
