"""Paired comparisons on the same units: each reader against the model (McNemar on correctness, DeLong on AUC)
and each reader's aided against unaided reading (McNemar)."""
from __future__ import annotations

import numpy as np

from stats.accuracy import binary_metrics
from stats.comparisons import delong_test, mcnemar
from studies.dashboard.cells import num, rater_scores, safe, scope_arrays
from studies.dashboard.data import ALL_LEVELS, StudyData


def reader_vs_model_table(data: StudyData, tables: dict) -> None:
    rows = tables["reader_vs_model"]["rows"]
    raters = data.raters
    model = next((i for i, r in enumerate(raters) if r.kind == "model"), None)
    if model is None:
        return
    for name, finding in data.findings.items():
        for scope, level, truth, ratings, scores, _ in scope_arrays(data, finding):
            truth_pos = truth >= finding.positive_from
            model_scores = rater_scores(raters[model], ratings[model], scores)
            for i, rater in enumerate(raters):
                both = (truth >= 0) & (ratings[i] >= 0) & (ratings[model] >= 0)
                if rater.kind != "reader" or rater.repetition != 1 or not both.any():
                    continue
                r_pos = ratings[i][both] >= finding.positive_from
                m_pos = ratings[model][both] >= finding.positive_from
                test = mcnemar(truth_pos[both], r_pos, m_pos)
                # DeLong on pooled discs and per patient only: per level it would add hundreds of rank-based
                # tests to each page view (bench/stats.py) for intervals too wide to use.
                delong = None
                if level == ALL_LEVELS:
                    delong = safe(delong_test, truth_pos[both], ratings[i][both].astype(float), model_scores[both])
                rows.append({
                    "finding": name, "scope": scope, "level": level, "arm": rater.arm, "reader": rater.name,
                    "model": raters[model].name, "reader_accuracy": num(np.mean(r_pos == truth_pos[both])),
                    "model_accuracy": num(np.mean(m_pos == truth_pos[both])),
                    "b_reader_only_correct": test.b, "c_model_only_correct": test.c,
                    "statistic": num(test.statistic), "p_value": num(test.p_value), "method": test.method,
                    "auc_difference": num(delong.diff) if delong else None,
                    "delong_p": num(delong.p_value) if delong else None, "n": test.n})


def _aided_pairs(raters: list) -> list:
    """(reader name, unaided row, aided row) of each reader's first readings in both arms."""
    pairs = []
    for i, rater in enumerate(raters):
        if rater.kind == "reader" and rater.arm == "unaided" and rater.repetition == 1:
            j = next((j for j, r in enumerate(raters) if r.kind == "reader" and r.name == rater.name
                      and r.arm == "aided" and r.repetition == 1), None)
            if j is not None:
                pairs.append((rater.name, i, j))
    return pairs


def aided_tables(data: StudyData, tables: dict) -> None:
    rows = tables["aided_vs_unaided"]["rows"]
    pairs = _aided_pairs(data.raters)
    for name, finding in data.findings.items():
        for scope, level, truth, ratings, _scores, _ in scope_arrays(data, finding):
            truth_pos = truth >= finding.positive_from
            for reader, i, j in pairs:
                mask = (truth >= 0) & (ratings[i] >= 0) & (ratings[j] >= 0)
                if not mask.any():
                    continue
                unaided = ratings[i][mask] >= finding.positive_from
                aided = ratings[j][mask] >= finding.positive_from
                m_u, m_a = binary_metrics(truth_pos[mask], unaided), binary_metrics(truth_pos[mask], aided)
                test = mcnemar(truth_pos[mask], unaided, aided)
                rows.append({
                    "finding": name, "scope": scope, "level": level, "reader": reader,
                    "accuracy_unaided": num(m_u.accuracy.value), "accuracy_aided": num(m_a.accuracy.value),
                    "sensitivity_unaided": num(m_u.sensitivity.value), "sensitivity_aided": num(m_a.sensitivity.value),
                    "specificity_unaided": num(m_u.specificity.value), "specificity_aided": num(m_a.specificity.value),
                    "b_unaided_only_correct": test.b, "c_aided_only_correct": test.c,
                    "mcnemar_p": num(test.p_value), "method": test.method, "n": test.n})
