"""Accuracy rows (each reader and the model against ground truth), per-class figures, against the statistics core
run on the simulation's own values."""
from __future__ import annotations

import numpy as np
import pytest

from stats.accuracy import binary_metrics, multiclass_metrics, roc_auc
from stats.agreement import cohen_kappa
from stats.bootstrap import bootstrap_binary_metrics, bootstrap_cohen_kappa, bootstrap_roc_auc
from studies.dashboard.accuracy_tables import roc_curve
from tests.studies.simulated_study import (ACCURACY, MODEL_FINDINGS, MODEL_VERSION, POSITIVE_FROM, SPECS, UNDEFINED,
                                           boot_cells, one_row, patients_of, rows_of, units_of, worst_per_case)

# The package fixture builds its study in the test database, which pytest-django sets up for marked tests
# only.
pytestmark = pytest.mark.django_db

READERS = list(ACCURACY)
MODEL_NAME = f"model {MODEL_VERSION}"


def test_reader_rows_match_the_core(dashboard_and_sim):
    dashboard, sim = dashboard_and_sim
    for name, spec in SPECS.items():
        for arm in ("unaided", "aided"):
            for level in (None, "L4/L5"):
                for reader in READERS:
                    _check_reader(dashboard, sim, name, spec, arm, level, reader)


def _check_reader(dashboard, sim, name, spec, arm, level, reader):
    weights = "quadratic" if spec.scale == "ordinal" else None
    positive = spec.values.index(POSITIVE_FROM[name])
    units = units_of(sim["truth"], name, level)
    pred = [sim["reads"][(reader, arm, 1)][u] for u in units]
    t = [sim["truth"][u] for u in units]
    t_pos = [spec.values.index(v) >= positive for v in t]
    p_pos = [spec.values.index(v) >= positive for v in pred]
    metrics = binary_metrics(t_pos, p_pos)
    row = one_row(dashboard, "accuracy", finding=name, scope="disc", level=level or "all", arm=arm, rater=reader)
    assert (row["tp"], row["fp"], row["tn"], row["fn"], row["n"]) == (
        metrics.tp, metrics.fp, metrics.tn, metrics.fn, len(units))
    assert row["sensitivity"] == metrics.sensitivity.value or (
        row["sensitivity"] is None and np.isnan(metrics.sensitivity.value))
    assert row["specificity_n"] == metrics.specificity.fraction
    assert row["accuracy"] == metrics.accuracy.value
    assert (row["accuracy_ci_low"], row["accuracy_ci_high"]) == metrics.accuracy.ci
    assert row["f1"] == metrics.f1.value or (row["f1"] is None and np.isnan(metrics.f1.value))
    assert row["kappa_vs_truth"] == cohen_kappa(t, pred, weights=weights, categories=spec.values).value
    # Patient bootstrap on every disc row: all levels pooled and each level (clusters are the patients either way).
    patients = patients_of(sim, units)
    boot = bootstrap_binary_metrics(t_pos, p_pos, patients)
    for metric in ("sensitivity", "specificity", "accuracy", "ppv", "npv", "f1"):
        expected = tuple(UNDEFINED if np.isnan(x) else x for x in boot[metric].ci)
        assert boot_cells(row, f"{metric}_") == expected, metric
    assert boot_cells(row, "kappa_") == bootstrap_cohen_kappa(
        t, pred, patients, weights=weights, categories=spec.values).ci
    if 0 < sum(t_pos) < len(t_pos):
        auc_boot = bootstrap_roc_auc(t_pos, [float(spec.values.index(v)) for v in pred], patients)
        assert boot_cells(row, "auc_") == pytest.approx(auc_boot.ci, abs=1e-12)
    assert "youden_boot_ci_low" not in row
    if spec.scale == "ordinal":
        multi = multiclass_metrics(t, pred, labels=spec.values, ordinal=True)
        assert row["off_by_more_than_one"] == multi.off_by_more_than_one.value
    if 0 < sum(t_pos) < len(t_pos):
        assert row["auc"] == roc_auc(t_pos, [spec.values.index(v) for v in pred]).value


def test_patient_rows_take_the_worst_value_over_the_levels(dashboard_and_sim):
    dashboard, sim = dashboard_and_sim
    for name, spec in SPECS.items():
        positive = spec.values.index(POSITIVE_FROM[name])
        for arm in ("unaided", "aided"):
            worst_truth = worst_per_case(sim["truth"], name)
            worst_reader = worst_per_case(sim["reads"][(READERS[0], arm, 1)], name)
            cases = sorted(worst_truth)
            metrics = binary_metrics([spec.values.index(worst_truth[c]) >= positive for c in cases],
                                     [spec.values.index(worst_reader[c]) >= positive for c in cases])
            row = one_row(dashboard, "accuracy", finding=name, scope="patient", level="all", arm=arm,
                          rater=READERS[0])
            assert (row["tp"], row["fp"], row["tn"], row["fn"], row["n"]) == (
                metrics.tp, metrics.fp, metrics.tn, metrics.fn, 20)


def test_the_model_is_one_more_rater_with_scores(dashboard_and_sim):
    dashboard, sim = dashboard_and_sim
    truth = sim["truth"]
    for name in MODEL_FINDINGS:
        spec = SPECS[name]
        positive = spec.values.index(POSITIVE_FROM[name])
        units = units_of(truth, name)
        t_pos = [spec.values.index(truth[u]) >= positive for u in units]
        m_pos = [spec.values.index(sim["model"][u]) >= positive for u in units]
        p_pos = [sim["scores"][u] if m else 1 - sim["scores"][u] for u, m in zip(units, m_pos)]
        row = one_row(dashboard, "accuracy", finding=name, scope="disc", level="all", arm="model", rater=MODEL_NAME)
        metrics = binary_metrics(t_pos, m_pos)
        assert row["sensitivity"] == metrics.sensitivity.value and row["n"] == len(units)
        boot = bootstrap_binary_metrics(t_pos, m_pos, patients_of(sim, units))
        assert boot_cells(row, "specificity_") == boot["specificity"].ci and boot["specificity"].n_clusters == 10
        assert boot_cells(row, "kappa_") == bootstrap_cohen_kappa(
            [truth[u] for u in units], [sim["model"][u] for u in units], patients_of(sim, units),
            weights="quadratic" if spec.scale == "ordinal" else None, categories=spec.values).ci
        auc = roc_auc(t_pos, p_pos)
        assert row["auc"] == auc.value and (row["auc_ci_low"], row["auc_ci_high"]) == auc.ci
        curve = next(c for f in dashboard["figures"]["roc"] if f["finding"] == name for c in f["curves"])
        fpr, tpr = roc_curve(np.array(t_pos), np.array(p_pos))
        assert (curve["fpr"], curve["tpr"], curve["auc"]) == (fpr.tolist(), tpr.tolist(), auc.value)
    # The model has no Pfirrmann output: it does not appear for that finding.
    assert not rows_of(dashboard, "accuracy", finding="pfirrmann", rater=MODEL_NAME)


def test_confusion_figure_and_per_class_rows(dashboard_and_sim):
    """One confusion figure per rater and finding, with its n, and the same counts in long format."""
    dashboard, sim = dashboard_and_sim
    grades = SPECS["pfirrmann"].values
    figure = next(f for f in dashboard["figures"]["confusion"]
                  if f["finding"] == "pfirrmann" and f["rater"] == READERS[2] and f["arm"] == "unaided")
    units = units_of(sim["truth"], "pfirrmann")
    multi = multiclass_metrics([sim["truth"][u] for u in units], [sim["reads"][(READERS[2], "unaided", 1)][u]
                                                                  for u in units], labels=grades)
    assert figure["matrix"] == multi.confusion.tolist() and figure["n"] == 100
    cells = rows_of(dashboard, "confusion", finding="pfirrmann", rater=READERS[2], arm="unaided")
    assert [c["count"] for c in cells] == multi.confusion.reshape(-1).tolist()
    for grade in grades:
        row = one_row(dashboard, "per_class", finding="pfirrmann", rater=READERS[2], arm="unaided", **{"class": grade})
        assert row["support"] == multi.per_class[grade].support and row["n"] == 100


def test_roc_curve_steps_through_each_distinct_score():
    fpr, tpr = roc_curve(np.array([True, False, True, False]), np.array([0.9, 0.8, 0.8, 0.1]))
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 1.0, 1.0]


def test_simulated_accuracy_orders_the_readers(dashboard_and_sim):
    """Readers simulated at 95%, 80% and 60% exact-value accuracy come out in that order."""
    dashboard, _sim = dashboard_and_sim
    kappas = [one_row(dashboard, "accuracy", finding="pfirrmann", scope="disc", level="all", arm="unaided",
                      rater=name)["kappa_vs_truth"] for name in READERS]
    assert kappas == sorted(kappas, reverse=True)
