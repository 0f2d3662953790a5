"""Accuracy against ground truth: each reader's first readings and the model, per unit of analysis; on all discs
pooled also per class, the confusion matrices and the ROC figure."""
from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from stats.accuracy import AucResult, BinaryMetrics, binary_metrics, multiclass_metrics, roc_auc
from stats.agreement import cohen_kappa, gwet_ac1
from stats.bootstrap import bootstrap_binary_metrics, bootstrap_roc_auc
from studies.dashboard.cells import (boot_ci_cells, ci_cells, kappa_boots, kappa_weights, num, patient_codes, pooled,
                                     rater_scores, safe, scope_arrays)
from studies.dashboard.data import FindingData, Rater, StudyData

PROPORTIONS = ("sensitivity", "specificity", "accuracy", "ppv", "npv", "f1", "youden")
# Accuracy metrics that get a patient-bootstrap interval on every disc row, pooled and per level (Youden's J,
# a difference of two of them, has none).
BOOTSTRAPPED = ("sensitivity", "specificity", "accuracy", "ppv", "npv", "f1")


@dataclass(frozen=True)
class _Graded:
    """One rater's values on the units where both it and the truth have one."""

    truth: np.ndarray  # codes
    pred: np.ndarray  # codes
    truth_pos: np.ndarray
    pred_pos: np.ndarray
    scores: np.ndarray  # what the ROC ranks (rater_scores)
    metrics: BinaryMetrics
    auc: AucResult | None  # None where the AUC is undefined (one class)

    @property
    def n(self) -> int:
        return int(self.truth.size)


def _graded(finding: FindingData, truth: np.ndarray, pred: np.ndarray, scores: np.ndarray) -> _Graded:
    truth_pos, pred_pos = truth >= finding.positive_from, pred >= finding.positive_from
    return _Graded(truth, pred, truth_pos, pred_pos, scores, binary_metrics(truth_pos, pred_pos),
                   safe(roc_auc, truth_pos, scores))


def accuracy_boots(data: StudyData, executor: Executor) -> dict:
    """Starts the patient bootstraps of every disc row on ``executor``: {(finding, level): future of
    :func:`_accuracy_boots`}. They are most of the dashboard's time, and numpy runs them mostly outside the GIL,
    so they overlap with the tables computed meanwhile."""
    patient_of_case = patient_codes(data)
    return {(name, level): executor.submit(_accuracy_boots, finding, data.raters, truth, ratings, scores,
                                           patient_of_case[case_index])
            for name, finding in data.findings.items()
            for scope, level, truth, ratings, scores, case_index in scope_arrays(data, finding) if scope == "disc"}


def accuracy_tables(data: StudyData, tables: dict, figures: dict, boot_futures: dict) -> None:
    """Fills ``accuracy``, ``per_class`` and ``confusion``, and the confusion and ROC figures; ``boot_futures``
    as :func:`accuracy_boots` returns them."""
    for name, finding in data.findings.items():
        cats = list(range(len(finding.values)))
        for scope, level, truth, ratings, scores, case_index in scope_arrays(data, finding):
            base = {"finding": name, "scope": scope, "level": level}
            all_discs = pooled(scope, level)
            boots = {}
            if scope == "disc":
                boots = boot_futures[(name, level)].result()
            for i, rater in enumerate(data.raters):
                mask = (truth >= 0) & (ratings[i] >= 0)
                if rater.repetition != 1 or not mask.any():
                    continue
                graded = _graded(finding, truth[mask], ratings[i][mask], rater_scores(rater, ratings[i], scores)[mask])
                multi = None
                if finding.scale != "binary" or all_discs:
                    multi = multiclass_metrics(graded.truth, graded.pred, labels=cats,
                                               ordinal=finding.scale == "ordinal")
                tables["accuracy"]["rows"].append(
                    _accuracy_row(base, finding, rater, graded, multi, boots.get(i, (None, None, None))))
                if all_discs:
                    _class_rows(tables, name, finding, rater, graded.n, multi)
                    _figures(figures, name, finding, rater, graded, multi)


def _accuracy_boots(finding: FindingData, raters: list, truth, ratings, scores, patients) -> dict:
    """Per rater index (first readings): patient-bootstrap binary metrics, kappa against the truth and AUC."""
    weights, cats = kappa_weights(finding), list(range(len(finding.values)))
    first = [i for i, r in enumerate(raters) if r.repetition == 1]
    kappas = kappa_boots(first, np.broadcast_to(truth, (len(first), truth.size)), ratings[first], patients,
                         weights, cats)
    if not kappas:
        return {}
    read = list(kappas)
    masks = (truth >= 0) & (ratings[read] >= 0)
    truth_pos = truth >= finding.positive_from
    binary = bootstrap_binary_metrics(truth_pos, ratings[read] >= finding.positive_from, patients, rows=masks)
    # The AUC where a rater's rows hold both classes: one call for all of them (the readers' grades share one
    # resampling).
    scored = [j for j, mask in enumerate(masks) if 0 < truth_pos[mask].sum() < mask.sum()]
    aucs = {}
    if scored:
        rater_rows = np.stack([rater_scores(raters[read[j]], ratings[read[j]], scores) for j in scored])
        aucs = dict(zip(scored, bootstrap_roc_auc(truth_pos, rater_rows, patients, rows=masks[scored])))
    return {i: (metrics, kappas[i], aucs.get(j)) for j, (i, metrics) in enumerate(zip(read, binary))}


def _accuracy_row(base: dict, finding: FindingData, rater: Rater, graded: _Graded, multi, boots: tuple) -> dict:
    boot, kappa_boot, auc_boot = boots
    metrics, auc = graded.metrics, graded.auc
    kappa = cohen_kappa(graded.truth, graded.pred, weights=kappa_weights(finding),
                        categories=list(range(len(finding.values))))
    row = {**base, "arm": rater.arm, "rater": rater.name, "kind": rater.kind,
           "tp": metrics.tp, "fp": metrics.fp, "tn": metrics.tn, "fn": metrics.fn, "n": graded.n}
    for metric in PROPORTIONS:
        value = getattr(metrics, metric)
        row[metric] = num(value.value)
        row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = ci_cells(value.ci)
        if metric in BOOTSTRAPPED:
            row[f"{metric}_boot_ci_low"], row[f"{metric}_boot_ci_high"] = boot_ci_cells(
                boot[metric] if boot else None)
            row[f"{metric}_n"] = value.fraction
    row["auc"] = num(auc.value) if auc else None
    row["auc_ci_low"], row["auc_ci_high"] = ci_cells(auc.ci) if auc else (None, None)
    row["auc_boot_ci_low"], row["auc_boot_ci_high"] = boot_ci_cells(auc_boot)
    row["kappa_vs_truth"] = num(kappa.value)
    row["kappa_ci_low"], row["kappa_ci_high"] = ci_cells(kappa.ci)
    row["kappa_boot_ci_low"], row["kappa_boot_ci_high"] = boot_ci_cells(kappa_boot)
    ac = gwet_ac1(graded.truth, graded.pred, weights=kappa_weights(finding),
                  categories=list(range(len(finding.values))))
    row["ac_vs_truth"] = num(ac.value)
    row["ac_ci_low"], row["ac_ci_high"] = ci_cells(ac.ci)
    off = multi.off_by_more_than_one if finding.scale != "binary" else None
    row["off_by_more_than_one"] = num(off.value) if off else None
    return row


def _class_rows(tables: dict, name: str, finding: FindingData, rater: Rater, n: int, multi) -> None:
    """Per-class metrics and the confusion matrix in long format (all discs pooled)."""
    for ci_, cls in enumerate(finding.values):
        m = multi.per_class[ci_]
        tables["per_class"]["rows"].append({
            "finding": name, "arm": rater.arm, "rater": rater.name, "class": cls, "precision": num(m.precision),
            "recall": num(m.recall), "f1": num(m.f1), "specificity": num(m.specificity), "support": m.support,
            "n": n})
        for cj, pred_cls in enumerate(finding.values):
            tables["confusion"]["rows"].append({"finding": name, "arm": rater.arm, "rater": rater.name,
                                                "truth": cls, "predicted": pred_cls,
                                                "count": int(multi.confusion[ci_, cj]), "n": n})


def _figures(figures: dict, name: str, finding: FindingData, rater: Rater, graded: _Graded, multi) -> None:
    """The confusion panel, the model's ROC curve and every rater's operating point (all discs pooled)."""
    metrics, auc = graded.metrics, graded.auc
    figures["confusion"].append({"finding": name, "arm": rater.arm, "rater": rater.name,
                                 "labels": list(finding.values), "n": graded.n, "matrix": multi.confusion.tolist()})
    roc = figures["roc"].setdefault(name, {"finding": name, "label": finding.label, "curves": [], "points": []})
    if rater.kind == "model" and auc is not None:
        fpr, tpr = roc_curve(graded.truth_pos, graded.scores)
        roc["curves"].append({"rater": rater.name, "fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": num(auc.value),
                              "n_positive": auc.n_positive, "n_negative": auc.n_negative})
    roc["points"].append({"rater": rater.name, "arm": rater.arm, "fpr": num(1 - metrics.specificity.value),
                          "tpr": num(metrics.sensitivity.value), "n": graded.n})


def roc_curve(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC points (fpr, tpr) at each distinct score, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], truth[order]
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    tp, fp = np.cumsum(t)[last], np.cumsum(~t)[last]
    n_pos, n_neg = max(int(t.sum()), 1), max(int((~t).sum()), 1)
    return np.concatenate([[0.0], fp / n_neg]), np.concatenate([[0.0], tp / n_pos])
