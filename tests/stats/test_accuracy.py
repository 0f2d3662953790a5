"""Diagnostic accuracy against ground truth: binary and multi-class metrics, ROC AUC.

References: scikit-learn (``confusion_matrix``, ``f1_score``, ``precision_recall_fscore_support``,
``roc_auc_score``); statsmodels 0.15 (``proportion_confint(method="wilson")``,
``confint_proportions_2indep(method="newcomb")``); DeLong et al. 1988 (doi:10.2307/2531595) written out as an
O(m n) loop in ``reference_delong.py``. No Django.
"""

import math

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from stats.accuracy import binary_metrics, multiclass_metrics, roc_auc
from tests.stats.reference_delong import model_scores, slow_delong

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
# ROC AUC


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



def test_roc_auc_perfect_separation():
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
