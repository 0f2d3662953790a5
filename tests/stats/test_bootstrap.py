"""The patient bootstrap: the reference percentile cluster bootstrap (``reference_bootstrap.py``) on known draws,
and the fast per-patient-count bootstraps of ``stats.bootstrap`` against it, replicate by replicate.

References: Field & Welsh 2007 (doi:10.1111/j.1467-9868.2007.00593.x) for resampling whole patients. No Django.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stats.accuracy import binary_metrics, roc_auc
from stats.agreement import cohen_kappa, gwet_ac1
from stats.bootstrap import (bootstrap_binary_metrics, bootstrap_cohen_kappa, bootstrap_gwet_ac1, bootstrap_roc_auc,
                             percentile_results)
from tests.stats.reference_bootstrap import bootstrap_ci

PFIRRMANN = ["1", "2", "3", "4", "5"]


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
# Fast patient bootstrap from per-patient counts: the reference is bootstrap_ci (same seed, same draws)
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


# ------------------------------------------------------------------------------------------------------
# Gwet's AC1/AC2 and the ROC AUC


@pytest.mark.parametrize("weights", [None, "linear", "quadratic", "ordinal"])
def test_fast_ac1_bootstrap_equals_bootstrap_ci(weights):
    patient, truth, pred = graded_discs(5, prevalence=0.4)
    fast = bootstrap_gwet_ac1(truth, pred, patient, weights=weights, categories=PFIRRMANN, n_boot=300, seed=3)
    slow = bootstrap_ci(lambda s: gwet_ac1(s["a"], s["b"], weights=weights, categories=PFIRRMANN).value,
                        {"a": truth, "b": pred}, cluster=patient, n_boot=300, seed=3)
    np.testing.assert_allclose(fast.replicates, slow.replicates, rtol=0, atol=1e-12)
    assert fast.ci == pytest.approx(slow.ci, abs=1e-12)
    assert fast.value == pytest.approx(gwet_ac1(truth, pred, weights=weights, categories=PFIRRMANN).value,
                                       abs=1e-14)


def _slow_auc(s):
    truth = s["truth"]
    return roc_auc(truth, s["score"]).value if 0 < truth.sum() < truth.size else np.nan


@pytest.mark.parametrize("kind", ["grades", "model scores", "untied model scores"])
def test_fast_auc_bootstrap_equals_bootstrap_ci(kind):
    """Both paths: a reader's grades (few score levels, per-patient counts) and a model's continuous scores (many
    levels, weighted ranks), ties included; rare positives, so some replicates draw none and are NaN."""
    patient, truth, pred = graded_discs(6, n_patients=30, prevalence=0.08)
    positive = truth.astype(int) >= 4
    score = pred.astype(float)
    if kind == "model scores":
        rng = np.random.default_rng(6)
        score = np.round(score / 5 + rng.normal(0, 0.1, score.size), 2)  # rounded: ties across patients
        assert np.unique(score).size > 64
    if kind == "untied model scores":
        score = score / 5 + np.random.default_rng(6).normal(0, 0.1, score.size)
        assert np.unique(score).size == score.size
    fast = bootstrap_roc_auc(positive, score, patient, n_boot=300, seed=8)
    slow = bootstrap_ci(_slow_auc, {"truth": positive, "score": score}, cluster=patient, n_boot=300, seed=8)
    np.testing.assert_array_equal(np.isnan(fast.replicates), np.isnan(slow.replicates))
    np.testing.assert_allclose(fast.replicates, slow.replicates, rtol=0, atol=1e-12)
    assert fast.value == pytest.approx(roc_auc(positive, score).value, abs=1e-14)
    assert fast.n_valid == slow.n_valid < 300 and fast.ci == pytest.approx(slow.ci, abs=1e-12)


def test_stacked_auc_entries_equal_one_call_each_on_their_rows():
    """The dashboard's call: readers' grades (one shared matrix product, each with its own rows and score levels)
    and the model's continuous scores stacked; each entry equals the 1-D call on its rows, which equals
    bootstrap_ci (above)."""
    patient, truth, pred = graded_discs(4, prevalence=0.4)
    positive = truth.astype(int) >= 4
    rng = np.random.default_rng(4)
    model = pred.astype(float) / 5 + rng.normal(0, 0.1, pred.size)
    binary_reader = (pred.astype(int) >= 4).astype(float)  # two score levels beside the other's five
    scores = np.stack([pred.astype(float), binary_reader, model])
    rows = np.ones(scores.shape, bool)
    rows[1, np.isin(patient, ["p00", "p01"])] = False
    rows[2, ::7] = False
    stacked = bootstrap_roc_auc(positive, scores, patient, rows=rows, n_boot=300, seed=5)
    assert len(stacked) == 3
    for entry in range(3):
        used = rows[entry]
        single = bootstrap_roc_auc(positive[used], scores[entry, used], patient[used], n_boot=300, seed=5)
        np.testing.assert_allclose(stacked[entry].replicates, single.replicates, rtol=0, atol=1e-15)
        assert stacked[entry].value == single.value
        assert single.value == pytest.approx(roc_auc(positive[used], scores[entry, used]).value, abs=1e-14)
        assert stacked[entry].n_clusters == single.n_clusters
    assert stacked[1].n_clusters == 28


def test_stacked_auc_with_one_class_in_an_entrys_rows_raises():
    patient, truth, pred = graded_discs(4, prevalence=0.4)
    positive = truth.astype(int) >= 4
    rows = np.ones((2, patient.size), bool)
    rows[1] = ~positive  # the second entry's rows hold no positive disc
    with pytest.raises(ValueError, match="both positive and negative"):
        bootstrap_roc_auc(positive, np.stack([pred.astype(float)] * 2), patient, rows=rows, n_boot=50)


def test_f1_bootstrap_equals_bootstrap_ci():
    patient, truth, pred = graded_discs(7, prevalence=0.4)
    fast = bootstrap_binary_metrics(truth.astype(int) >= 4, pred.astype(int) >= 4, patient, n_boot=200, seed=4)
    slow = bootstrap_ci(_slow_binary("f1"), {"truth": truth, "pred": pred}, cluster=patient, n_boot=200, seed=4)
    np.testing.assert_allclose(fast["f1"].replicates, slow.replicates, rtol=0, atol=1e-15)
    assert fast["f1"].value == binary_metrics(truth.astype(int) >= 4, pred.astype(int) >= 4).f1.value


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_gwet_ac1([1, 2], [1, 2], [1, 2], weights="cubic"), "weights must be None"),
        (lambda: bootstrap_gwet_ac1([1, 2], [1, None], [1, 2]), "missing values"),
        (lambda: bootstrap_roc_auc([1, 1], [0.2, 0.4], [1, 2]), "both"),
        (lambda: bootstrap_roc_auc([1, 0], [0.2, np.nan], [1, 2]), "finite"),
        (lambda: bootstrap_roc_auc([1, 0], [0.2, 0.4], [1, 2, 3]), r"one id per row \(2\)"),
        (lambda: bootstrap_roc_auc([1, 0], [0.2, 0.4], [1, 2], n_boot=0), "n_boot must be at least 1"),
    ],
)
def test_ac1_and_auc_bootstrap_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_percentile_results_equal_numpy_quantile_row_by_row():
    """The vectorised intervals behind every fast path: numpy.quantile's linear method exactly, NaN and inf
    replicates dropped, rows with one or no finite replicate handled as percentile_result documents."""
    rng = np.random.default_rng(11)
    values = rng.normal(size=(6, 1 + 257))
    values[1, rng.choice(np.arange(1, 258), 40, replace=False)] = np.nan
    values[2, 1:5] = [np.inf, -np.inf, np.nan, np.inf]
    values[3, 2:] = np.nan  # one finite replicate
    values[4, 1:] = np.nan  # none
    values[5, 1:] = np.round(values[5, 1:], 1)  # ties
    results = percentile_results(values, [10, 11, 12, 13, 14, 15], 0.05)
    for row, result in zip(values, results):
        finite = row[1:][np.isfinite(row[1:])]
        assert result.value == row[0] and result.n_boot == 257 and result.n_valid == finite.size
        if finite.size == 0:
            assert np.isnan(result.ci).all() and np.isnan(result.se)
            continue
        assert result.ci == tuple(np.quantile(finite, [0.025, 0.975]))
        if finite.size == 1:
            assert np.isnan(result.se)
        else:
            assert result.se == pytest.approx(finite.std(ddof=1), rel=1e-12)
    assert [r.n_clusters for r in results] == [10, 11, 12, 13, 14, 15]
