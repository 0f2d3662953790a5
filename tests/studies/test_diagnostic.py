"""Diagnostic accuracy, McNemar, AUC/DeLong, reading times and the cluster bootstrap.

References: scikit-learn (``confusion_matrix``, ``f1_score``, ``precision_recall_fscore_support``,
``roc_auc_score``); statsmodels 0.15 (``proportion_confint(method="wilson")``,
``confint_proportions_2indep(method="newcomb")``, ``contingency_tables.mcnemar``); scipy (``ttest_rel``,
``wilcoxon``); DeLong et al. 1988 (doi:10.2307/2531595) written out as an O(m n) loop below. No Django.
"""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from studies._results import wilson_ci
from studies.agreement import cohen_kappa
from studies.diagnostic import (
    binary_metrics,
    bootstrap_binary_metrics,
    bootstrap_ci,
    bootstrap_cohen_kappa,
    delong_test,
    mcnemar,
    multiclass_metrics,
    paired_times,
    roc_auc,
)

PFIRRMANN = ["1", "2", "3", "4", "5"]


def reader_calls(seed, n=300, prevalence=0.3, sensitivity=0.8, specificity=0.9):
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < prevalence
    pred = np.where(truth, rng.random(n) < sensitivity, rng.random(n) > specificity)
    return truth, pred


# ------------------------------------------------------------------------------------------------------
# Binary metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_sklearn_and_statsmodels(seed):
    truth, pred = reader_calls(seed)
    res = binary_metrics(truth, pred)
    # scikit-learn confusion_matrix(labels=[0, 1]).ravel() -> tn, fp, fn, tp
    tn, fp, fn, tp = confusion_matrix(truth, pred, labels=[False, True]).ravel()
    assert (res.tp, res.fp, res.tn, res.fn, res.n) == (tp, fp, tn, fn, 300)
    expected = {
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "accuracy": (tp + tn, 300),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
    }
    for name, (num, den) in expected.items():
        metric = getattr(res, name)
        assert metric.value == pytest.approx(num / den, abs=1e-15), name
        assert (metric.numerator, metric.denominator) == (num, den)
        assert metric.fraction == f"{num}/{den}"
        # statsmodels 0.15 proportion_confint(count, nobs, alpha=0.05, method="wilson")
        assert metric.ci == pytest.approx(proportion_confint(num, den, method="wilson"), abs=1e-12), name

    assert res.f1.value == pytest.approx(f1_score(truth, pred), abs=1e-15)  # scikit-learn f1_score
    assert res.f1.fraction == f"{2 * tp}/{2 * tp + fp + fn}"
    j_low, j_high = proportion_confint(tp, tp + fp + fn, method="wilson")
    assert res.f1.ci == pytest.approx((2 * j_low / (1 + j_low), 2 * j_high / (1 + j_high)), abs=1e-12)
    assert res.f1.ci[0] <= res.f1.value <= res.f1.ci[1]

    assert res.youden.value == pytest.approx(tp / (tp + fn) + tn / (tn + fp) - 1, abs=1e-15)
    # statsmodels confint_proportions_2indep(..., method="newcomb", compare="diff"): Newcombe 1998 method 10
    newcombe = confint_proportions_2indep(tp, tp + fn, fp, fp + tn, method="newcomb", compare="diff")
    assert res.youden.ci == pytest.approx(newcombe, abs=1e-12)
    assert res.youden.numerator is None and res.youden.fraction == ""


def test_binary_metrics_worked_example():
    # 180 of 198 positives found, 20 false alarms among 302 negatives.
    truth = [1] * 198 + [0] * 302
    pred = [1] * 180 + [0] * 18 + [1] * 20 + [0] * 282
    res = binary_metrics(truth, pred)
    assert res.sensitivity.fraction == "180/198"
    assert res.sensitivity.value == pytest.approx(0.90909, abs=1e-5)
    assert res.specificity.fraction == "282/302"
    assert res.ppv.fraction == "180/200"
    assert res.npv.fraction == "282/300"
    assert res.accuracy.fraction == "462/500"
    assert str(res.sensitivity).endswith("180/198")


def test_binary_metrics_zero_denominator_gives_nan():
    res = binary_metrics([0, 0, 0, 0], [0, 1, 0, 0])  # no positive cases
    assert math.isnan(res.sensitivity.value) and all(math.isnan(x) for x in res.sensitivity.ci)
    assert res.sensitivity.fraction == "0/0"
    assert math.isnan(res.youden.value) and all(math.isnan(x) for x in res.youden.ci)
    assert res.specificity.value == pytest.approx(0.75)
    assert res.ppv.value == 0.0 and res.ppv.fraction == "0/1"
    all_negative = binary_metrics([0, 0], [0, 0])
    assert math.isnan(all_negative.f1.value) and math.isnan(all_negative.ppv.value)


@pytest.mark.parametrize(
    ("truth", "pred", "message"),
    [
        ([], [], "no cases"),
        ([1, 0, 1], [1, 0], "truth has 3 values and pred has 2"),
        ([1, 0, 2], [1, 0, 1], "truth must be binary .* found 2"),
        ([1.0, np.nan], [1, 0], "truth contains missing values"),
        ([1, None], [1, 0], "truth contains missing values"),
        (["yes", "no"], [1, 0], "truth must be binary"),
        ([[1, 0]], [[1, 0]], "one-dimensional"),
    ],
)
def test_binary_metrics_degenerate_input_raises(truth, pred, message):
    with pytest.raises(ValueError, match=message):
        binary_metrics(truth, pred)


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


# ------------------------------------------------------------------------------------------------------
# Multi-class


def graded(seed, n=500):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, n)
    step = rng.choice([-2, -1, 0, 0, 0, 0, 1, 2], n)
    pred = np.clip(truth + step, 1, 5)
    return np.array([str(x) for x in truth]), np.array([str(x) for x in pred])


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_matches_sklearn(seed):
    truth, pred = graded(seed)
    res = multiclass_metrics(truth, pred, labels=PFIRRMANN, ordinal=True)
    # scikit-learn confusion_matrix(labels=...), rows truth, columns prediction
    np.testing.assert_array_equal(res.confusion, confusion_matrix(truth, pred, labels=PFIRRMANN))
    # scikit-learn precision_recall_fscore_support(labels=..., zero_division=np.nan)
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=PFIRRMANN, zero_division=np.nan)
    for i, label in enumerate(PFIRRMANN):
        c = res.per_class[label]
        assert (c.precision, c.recall, c.f1, c.support) == pytest.approx((p[i], r[i], f[i], s[i]), abs=1e-15)
        assert c.sensitivity == c.recall
        negatives = truth != label
        assert c.specificity == pytest.approx(np.mean(pred[negatives] != label), abs=1e-15)
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            truth, pred, labels=PFIRRMANN, average=average, zero_division=np.nan
        )
        got = getattr(res, average)
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f), abs=1e-15)
    assert res.accuracy.value == pytest.approx(np.mean(truth == pred), abs=1e-15)
    off = np.abs(truth.astype(int) - pred.astype(int)) > 1
    assert res.off_by_more_than_one.value == pytest.approx(off.mean(), abs=1e-15)
    assert res.off_by_more_than_one.fraction == f"{off.sum()}/500"


def test_multiclass_absent_class_and_nan_averages():
    # Nobody has grade 5 and nobody is graded 1: NaN where undefined, excluded from the macro mean
    # (scikit-learn zero_division=np.nan convention).
    truth = ["1", "2", "3", "4", "2", "3"]
    pred = ["2", "2", "3", "4", "3", "3"]
    res = multiclass_metrics(truth, pred, labels=PFIRRMANN)
    assert res.confusion.shape == (5, 5) and res.confusion[4].sum() == 0
    assert math.isnan(res.per_class["1"].precision)  # never predicted
    assert res.per_class["1"].recall == 0.0
    assert math.isnan(res.per_class["5"].recall) and math.isnan(res.per_class["5"].f1)
    assert res.off_by_more_than_one is None  # ordinal=False
    _, _, f, _ = precision_recall_fscore_support(truth, pred, labels=PFIRRMANN, average="macro", zero_division=np.nan)
    assert res.macro["f1"] == pytest.approx(f, abs=1e-15)


def test_multiclass_ordinal_string_order():
    labels = ["none", "bulge", "protrusion", "extrusion", "sequestration"]
    truth = ["none", "bulge", "protrusion", "extrusion", "sequestration", "none"]
    pred = ["bulge", "bulge", "sequestration", "none", "sequestration", "protrusion"]
    res = multiclass_metrics(truth, pred, labels=labels, ordinal=True)
    # Off by >1 step along the given order: protrusion->sequestration (2), extrusion->none (3),
    # none->protrusion (2) = 3 of 6.
    assert res.off_by_more_than_one.fraction == "3/6"
    assert res.labels == tuple(labels)


@pytest.mark.parametrize(
    ("truth", "pred", "labels", "message"),
    [
        ([], [], PFIRRMANN, "no cases"),
        (["1", "2"], ["1"], PFIRRMANN, "truth has 2 values and pred has 1"),
        (["1", "6"], ["1", "2"], PFIRRMANN, "grades contain label '6', which is not in categories"),
        (["1", None], ["1", "2"], PFIRRMANN, "missing values"),
        (["1", "2"], ["1", "2"], None, "labels is required"),
    ],
)
def test_multiclass_degenerate_input_raises(truth, pred, labels, message):
    with pytest.raises(ValueError, match=message):
        multiclass_metrics(truth, pred, labels=labels)


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
# ROC AUC and DeLong


def slow_delong(truth, score_rows):
    """DeLong et al. (1988) directly: psi kernel over all positive-negative pairs, O(m n)."""
    truth = np.asarray(truth, bool)
    v10, v01, aucs = [], [], []
    for scores in score_rows:
        x, y = np.asarray(scores)[truth], np.asarray(scores)[~truth]
        psi = np.array([[1.0 if xi > yj else 0.5 if xi == yj else 0.0 for yj in y] for xi in x])
        aucs.append(psi.mean())
        v10.append(psi.mean(1))
        v01.append(psi.mean(0))
    m, n = truth.sum(), (~truth).sum()
    r = len(score_rows)
    s10 = np.array([[np.sum((v10[i] - aucs[i]) * (v10[j] - aucs[j])) / (m - 1) for j in range(r)] for i in range(r)])
    s01 = np.array([[np.sum((v01[i] - aucs[i]) * (v01[j] - aucs[j])) / (n - 1) for j in range(r)] for i in range(r)])
    return np.array(aucs), s10 / m + s01 / n


def model_scores(seed, n=150, ties=False):
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.35
    a = truth * 1.0 + rng.normal(0, 0.9, n)
    b = truth * 0.6 + 0.5 * a + rng.normal(0, 0.8, n)
    if ties:  # reader confidence on a 1-5 scale
        a = np.digitize(a, [-0.5, 0.2, 0.8, 1.4]) + 1.0
        b = np.digitize(b, [-0.5, 0.2, 0.8, 1.4]) + 1.0
    return truth, a, b


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_roc_auc_matches_sklearn_and_slow_delong(seed, ties):
    truth, a, _ = model_scores(seed, ties=ties)
    res = roc_auc(truth, a)
    assert res.auc == pytest.approx(roc_auc_score(truth, a), abs=1e-12)  # scikit-learn roc_auc_score
    aucs, cov = slow_delong(truth, [a])
    assert res.value == pytest.approx(aucs[0], abs=1e-12)
    assert res.se == pytest.approx(math.sqrt(cov[0, 0]), abs=1e-12)
    assert res.ci == pytest.approx(
        (res.auc - 1.959963984540054 * res.se, min(1.0, res.auc + 1.959963984540054 * res.se))
    )
    assert (res.n_positive, res.n_negative) == (truth.sum(), (~truth).sum())


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
    assert res.p == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


def test_delong_identical_scores_and_perfect_separation():
    truth, a, _ = model_scores(6)
    same = delong_test(truth, a, a)
    assert (same.diff, same.z, same.p_value) == (0.0, 0.0, 1.0)
    perfect = roc_auc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    assert perfect.auc == 1.0 and perfect.ci[1] == 1.0


@pytest.mark.parametrize(
    ("truth", "scores", "message"),
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "both positive and negative cases, got 3 positive of 3"),
        ([0, 1, 1], [0.1, 0.2], "truth has 3 values and scores has 2"),
        ([0, 1], [0.1, np.nan], "missing or infinite"),
        ([0, 2], [0.1, 0.2], "truth must be binary"),
        ([0, 1], ["a", "b"], "scores must be numeric"),
    ],
)
def test_roc_auc_degenerate_input_raises(truth, scores, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(truth, scores)


def test_roc_auc_single_positive_has_no_variance():
    res = roc_auc([0, 0, 0, 1], [0.1, 0.5, 0.3, 0.4])
    assert res.auc == pytest.approx(roc_auc_score([0, 0, 0, 1], [0.1, 0.5, 0.3, 0.4]))
    assert math.isnan(res.se) and all(math.isnan(x) for x in res.ci)


# ------------------------------------------------------------------------------------------------------
# Reading times


@pytest.mark.parametrize("n", [12, 80])
def test_paired_times_match_scipy(n):
    rng = np.random.default_rng(n)
    without_ai = rng.lognormal(4.0, 0.4, n)
    with_ai = without_ai * rng.lognormal(-0.15, 0.2, n)
    res = paired_times(without_ai, with_ai)
    t = stats.ttest_rel(without_ai, with_ai)  # scipy.stats.ttest_rel
    assert res.t_statistic == pytest.approx(t.statistic, rel=1e-12)
    assert res.t_p_value == pytest.approx(t.pvalue, rel=1e-9)
    ci = t.confidence_interval(0.95)
    assert res.ci == pytest.approx((ci.low, ci.high), rel=1e-12)
    w = stats.wilcoxon(without_ai - with_ai)  # scipy.stats.wilcoxon, default zero_method/method
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


# ------------------------------------------------------------------------------------------------------
# Cluster bootstrap


def discs_by_patient(seed, n_patients=40, discs=5):
    rng = np.random.default_rng(seed)
    patient_effect = rng.normal(0, 1, n_patients)
    patient = np.repeat(np.arange(n_patients), discs)
    value = patient_effect[patient] + rng.normal(0, 0.2, n_patients * discs)
    return {"patient": patient, "value": value}


def test_bootstrap_resamples_whole_patients():
    data = discs_by_patient(0)

    def mean_with_check(sample):
        # Each drawn patient brings all 5 of its discs, so every patient count is a multiple of 5.
        counts = np.bincount(sample["patient"])
        assert np.all(counts % 5 == 0) and len(sample["value"]) == 200
        return float(sample["value"].mean())

    res = bootstrap_ci(mean_with_check, data, cluster="patient", n_boot=200, seed=3)
    assert res.n_clusters == 40 and res.n_valid == 200


def test_bootstrap_equals_hand_resampling_of_patient_means():
    # With equal cluster sizes, the mean over resampled discs equals the mean of the resampled patient
    # means; replicate the documented draws (default_rng(seed).integers(0, n_clusters, (n_boot, n_clusters))).
    data = discs_by_patient(1)
    res = bootstrap_ci(lambda s: float(np.mean(s["value"])), data, cluster="patient", n_boot=500, seed=7)
    patient_means = data["value"].reshape(40, 5).mean(1)
    draws = np.random.default_rng(7).integers(0, 40, size=(500, 40))
    replicates = patient_means[draws].mean(1)
    assert res.ci == pytest.approx(tuple(np.quantile(replicates, [0.025, 0.975])), abs=1e-12)
    assert res.se == pytest.approx(replicates.std(ddof=1), abs=1e-12)
    assert res.value == pytest.approx(data["value"].mean())


def test_bootstrap_by_patient_is_wider_than_by_row():
    data = discs_by_patient(2)

    def fn(s):
        return float(np.mean(s["value"]))

    by_patient = bootstrap_ci(fn, data, cluster="patient", n_boot=1000)
    by_row = bootstrap_ci(fn, data, n_boot=1000)
    assert (by_patient.ci[1] - by_patient.ci[0]) > 1.8 * (by_row.ci[1] - by_row.ci[0])


def test_bootstrap_dataframe_and_array_cluster_and_seed():
    data = discs_by_patient(3)
    frame = pd.DataFrame(data)

    def fn_frame(df):
        return float(df["value"].mean())

    def fn_dict(d):
        return float(d["value"].mean())

    a = bootstrap_ci(fn_frame, frame, cluster="patient", n_boot=300, seed=1)
    b = bootstrap_ci(fn_dict, data, cluster=data["patient"], n_boot=300, seed=1)
    c = bootstrap_ci(fn_dict, data, cluster="patient", n_boot=300, seed=2)
    assert a.ci == pytest.approx(b.ci, abs=1e-12)
    assert a.ci != c.ci


def test_bootstrap_with_agreement_statistic_drops_nan_replicates():
    # kappa per resample; a resample can be degenerate (NaN), which is dropped and counted.
    data = {"a": np.array([1, 1, 1, 1, 2, 1]), "b": np.array([1, 1, 1, 1, 2, 2]), "patient": np.arange(6)}
    res = bootstrap_ci(lambda s: cohen_kappa(s["a"], s["b"]).kappa, data, cluster="patient", n_boot=300)
    assert res.n_valid < 300 and res.n_valid > 100
    assert res.ci[0] <= res.ci[1]


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        ({"x": [1, 2, 3], "y": [1, 2]}, {}, "equal length"),
        ({"x": [1, 2]}, {"cluster": "patient"}, "cluster column 'patient' is not in data"),
        ({"x": [1, 2]}, {"cluster": [1, 2, 3]}, "one id per row"),
        ({"x": [1, 2]}, {"cluster": [1, None]}, "missing values"),
        ({"x": [1, 2]}, {"n_boot": 0}, "n_boot must be at least 1"),
        ({"x": [1, 2]}, {"alpha": 1.5}, r"alpha must be in \(0, 1\)"),
        ({"x": []}, {}, "no rows"),
        ([1, 2, 3], {}, "dict of arrays or a pandas DataFrame"),
    ],
)
def test_bootstrap_degenerate_input_raises(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(lambda s: 0.0, data, **kwargs)


# ------------------------------------------------------------------------------------------------------
# Fast patient bootstrap from per-patient counts: the reference is bootstrap_ci above (same seed, same draws)
# with binary_metrics / cohen_kappa as fn.

BINARY_METRICS = ("sensitivity", "specificity", "accuracy", "ppv", "npv")


def graded_discs(seed, n_patients=30, prevalence=0.15):
    """Patients with 3 to 5 graded discs each, rows shuffled, string patient ids; positives (grade >= 4) rare, so
    some replicates draw no positive disc and sensitivity is NaN there."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 6, n_patients)
    patient = np.repeat([f"p{i:02d}" for i in range(n_patients)], sizes)
    sick = np.repeat(rng.random(n_patients) < prevalence, sizes)
    truth = np.where(sick & (rng.random(patient.size) < 0.7), rng.integers(4, 6, patient.size),
                     rng.integers(1, 4, patient.size))
    pred = np.clip(truth + rng.choice([-1, 0, 0, 0, 1], patient.size), 1, 5)
    order = rng.permutation(patient.size)
    return patient[order], truth[order].astype(str), pred[order].astype(str)


def _slow_binary(metric):
    return lambda s: getattr(binary_metrics(s["truth"].astype(int) >= 4, s["pred"].astype(int) >= 4), metric).value


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_binary_bootstrap_equals_bootstrap_ci(seed):
    patient, truth, pred = graded_discs(seed)
    fast = bootstrap_binary_metrics(truth.astype(int) >= 4, pred.astype(int) >= 4, patient, n_boot=400, seed=11)
    for metric in BINARY_METRICS:
        slow = bootstrap_ci(_slow_binary(metric), {"truth": truth, "pred": pred}, cluster=patient, n_boot=400,
                            seed=11)
        # Same draws and integer counts: the same floats, NaN replicates (no positive drawn) included.
        np.testing.assert_array_equal(fast[metric].replicates, slow.replicates)
        assert (fast[metric].value, fast[metric].ci, fast[metric].se) == (slow.value, slow.ci, slow.se)
        assert (fast[metric].n_valid, fast[metric].n_clusters) == (slow.n_valid, 30)
    assert fast["sensitivity"].n_valid < 400  # the NaN replicates are exercised


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_fast_kappa_bootstrap_equals_bootstrap_ci(weights):
    patient, truth, pred = graded_discs(2, prevalence=0.4)
    fast = bootstrap_cohen_kappa(truth, pred, patient, weights=weights, categories=PFIRRMANN, n_boot=400, seed=5)
    slow = bootstrap_ci(lambda s: cohen_kappa(s["a"], s["b"], weights=weights, categories=PFIRRMANN).kappa,
                        {"a": truth, "b": pred}, cluster=patient, n_boot=400, seed=5)
    # Kappa from summed counts rather than a table of proportions: equal up to rounding.
    np.testing.assert_allclose(fast.replicates, slow.replicates, rtol=0, atol=1e-12)
    assert fast.ci == pytest.approx(slow.ci, abs=1e-12) and fast.se == pytest.approx(slow.se, abs=1e-12)
    assert fast.value == pytest.approx(cohen_kappa(truth, pred, weights=weights, categories=PFIRRMANN).kappa,
                                       abs=1e-15)
    assert (fast.n_valid, fast.n_clusters) == (400, 30)


def test_fast_kappa_bootstrap_drops_the_same_nan_replicates():
    # The data of test_bootstrap_with_agreement_statistic_drops_nan_replicates: some resamples hold one category.
    a, b = np.array([1, 1, 1, 1, 2, 1]), np.array([1, 1, 1, 1, 2, 2])
    fast = bootstrap_cohen_kappa(a, b, np.arange(6), n_boot=300)
    slow = bootstrap_ci(lambda s: cohen_kappa(s["a"], s["b"]).kappa, {"a": a, "b": b}, cluster=np.arange(6),
                        n_boot=300)
    np.testing.assert_array_equal(np.isnan(fast.replicates), np.isnan(slow.replicates))
    assert fast.n_valid == slow.n_valid < 300 and fast.ci == pytest.approx(slow.ci, abs=1e-12)


def test_stacked_entries_equal_one_call_each_on_their_rows():
    """Several readers in one call (the dashboard's use): each entry equals the 1-D call on the rows it uses, also
    when its rows leave out whole patients (then it resamples fewer patients, as bootstrap_ci would)."""
    patient, truth, pred = graded_discs(3, prevalence=0.4)
    rng = np.random.default_rng(3)
    other = np.clip(pred.astype(int) + rng.choice([-1, 0, 1], pred.size), 1, 5).astype(str)
    rows = np.ones((2, patient.size), bool)
    rows[1, np.isin(patient, ["p00", "p01"])] = False  # the second reader did not read two patients
    rows[1, :3] = False
    stacked = bootstrap_cohen_kappa(truth, np.stack([pred, other]), patient, weights="quadratic",
                                    categories=PFIRRMANN, rows=rows, n_boot=300, seed=2)
    binary = bootstrap_binary_metrics(truth.astype(int) >= 4, np.stack([pred, other]).astype(int) >= 4, patient,
                                      rows=rows, n_boot=300, seed=2)
    for entry, labels in enumerate((pred, other)):
        used = rows[entry]
        single = bootstrap_cohen_kappa(truth[used], labels[used], patient[used], weights="quadratic",
                                       categories=PFIRRMANN, n_boot=300, seed=2)
        np.testing.assert_array_equal(stacked[entry].replicates, single.replicates)
        assert stacked[entry].n_clusters == single.n_clusters == (30, 28)[entry]
        single = bootstrap_binary_metrics(truth[used].astype(int) >= 4, labels[used].astype(int) >= 4,
                                          patient[used], n_boot=300, seed=2)
        for metric in BINARY_METRICS:
            np.testing.assert_array_equal(binary[entry][metric].replicates, single[metric].replicates)


def clustered_discs(seed, n_patients=40, discs=5):
    """Every disc of a patient shares the patient's truth, and the reader either gets all of a patient's discs
    right or all wrong: the extreme of within-patient correlation."""
    rng = np.random.default_rng(seed)
    patient = np.repeat(np.arange(n_patients), discs)
    truth = np.repeat(rng.random(n_patients) < 0.5, discs)
    right = np.repeat(rng.random(n_patients) < 0.75, discs)
    return patient, truth, np.where(right, truth, ~truth)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_patient_bootstrap_is_wider_than_row_bootstrap_for_clustered_discs(seed):
    patient, truth, pred = clustered_discs(seed)
    rows = np.arange(truth.size)  # every disc its own cluster: the ordinary bootstrap

    def width(result):
        return result.ci[1] - result.ci[0]

    by_patient, by_row = bootstrap_binary_metrics(truth, pred, patient), bootstrap_binary_metrics(truth, pred, rows)
    for metric in ("sensitivity", "specificity", "accuracy"):
        # Five identical discs per patient carry the information of one: about sqrt(5) = 2.2 times wider.
        assert width(by_patient[metric]) > 1.7 * width(by_row[metric]), metric
    kappa_patient, kappa_row = bootstrap_cohen_kappa(truth, pred, patient), bootstrap_cohen_kappa(truth, pred, rows)
    assert width(kappa_patient) > 1.7 * width(kappa_row)


def test_fast_bootstrap_is_reproducible_and_seeded():
    patient, truth, pred = graded_discs(4, prevalence=0.4)
    first = bootstrap_cohen_kappa(truth, pred, patient, categories=PFIRRMANN, n_boot=200, seed=1)
    again = bootstrap_cohen_kappa(truth, pred, patient, categories=PFIRRMANN, n_boot=200, seed=1)
    other = bootstrap_cohen_kappa(truth, pred, patient, categories=PFIRRMANN, n_boot=200, seed=2)
    assert first.ci == again.ci and first.ci != other.ci and first.n_boot == 200


@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=40),
    st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_fast_bootstrap_matches_bootstrap_ci_on_any_data(discs, seed):
    patient, a, b = (np.array(column) for column in zip(*discs))
    fast = bootstrap_cohen_kappa(a, b, patient, weights="linear", categories=[0, 1, 2], n_boot=30, seed=seed)
    slow = bootstrap_ci(lambda s: cohen_kappa(s["a"], s["b"], weights="linear", categories=[0, 1, 2]).kappa,
                        {"a": a, "b": b}, cluster=patient, n_boot=30, seed=seed)
    np.testing.assert_allclose(fast.replicates, slow.replicates, rtol=0, atol=1e-12)
    binary = bootstrap_binary_metrics(a > 0, b > 0, patient, n_boot=30, seed=seed)["specificity"]
    slow = bootstrap_ci(lambda s: binary_metrics(s["a"] > 0, s["b"] > 0).specificity.value, {"a": a, "b": b},
                        cluster=patient, n_boot=30, seed=seed)
    np.testing.assert_array_equal(binary.replicates, slow.replicates)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_binary_metrics([1, 0, 1], [1, 0], [1, 1, 2]), "paired rows"),
        (lambda: bootstrap_binary_metrics([1, 0], [1, 0], [1, 2, 3]), r"one id per row \(2\)"),
        (lambda: bootstrap_binary_metrics([1, 0], [1, 0], ["p1", None]), "missing values"),
        (lambda: bootstrap_binary_metrics([1, 0], [1, 2], [1, 2]), "pred must be binary"),
        (lambda: bootstrap_binary_metrics([], [], []), r"no rows \(empty input\)"),
        (lambda: bootstrap_binary_metrics([1, 0], [1, 0], [1, 2], n_boot=0), "n_boot must be at least 1"),
        (lambda: bootstrap_binary_metrics([1, 0], [1, 0], [1, 2], alpha=1), r"alpha must be in \(0, 1\)"),
        (lambda: bootstrap_binary_metrics([[[1]]], [[[1]]], [1]), r"shape \(n,\) or \(r, n\)"),
        (lambda: bootstrap_binary_metrics([1, 0], [[1, 0], [0, 1]], [1, 2], rows=[[True, True], [False, False]]),
         "no rows for entry 1"),
        (lambda: bootstrap_cohen_kappa(["1", "6"], ["1", "2"], [1, 2], categories=PFIRRMANN),
         r"label '6', which is not in categories"),
        (lambda: bootstrap_cohen_kappa([1, 2], [1, 2], [1, 2], weights="cubic"), "weights must be None"),
        (lambda: bootstrap_cohen_kappa([1, 2], [1, None], [1, 2]), "missing values"),
    ],
)
def test_fast_bootstrap_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
