"""MRMC tables: Obuchowski-Rockette analysis (Hillis' df, jackknife covariance; ``stats.mrmc``) per finding, of
the aided against the unaided readings and of the readers against the model, all discs pooled and per patient.

The analysis needs every reader to have read every case in both modalities, so each row uses the units (discs
or patients) with a truth value that all of its readers rated in both; its ``n`` says how many. Readers give no
confidence, so their grade is the ordinal score the empirical AUC ranks. In "readers_vs_model" the model is
each reader's second modality with the same scores for every reader (its between-reader variance is zero): the
question is whether the readers, as a random sample of readers, reach the model's AUC on these cases.
Pooled-disc rows treat discs as independent cases (the patient rows do not need that assumption).
"""
from __future__ import annotations

import numpy as np

from stats.mrmc import mrmc_analysis
from studies.dashboard.cells import num, rater_scores, safe, scope_arrays
from studies.dashboard.data import ALL_LEVELS, StudyData


def mrmc_table(data: StudyData, tables: dict) -> None:
    rows = tables["mrmc"]["rows"]
    raters = data.raters
    first = {arm: {r.name: i for i, r in enumerate(raters) if r.kind == "reader" and r.arm == arm
                   and r.repetition == 1} for arm in data.study["arms"]}
    model = next((i for i, r in enumerate(raters) if r.kind == "model"), None)
    both = sorted(set(first.get("unaided", {})) & set(first.get("aided", {})))
    for name, finding in data.findings.items():
        for scope, level, truth, ratings, scores, _ in scope_arrays(data, finding):
            if level != ALL_LEVELS:
                continue  # per level the crossed subsets are small and the page would run 5x the analyses
            base = {"finding": name, "scope": scope, "level": level}
            if len(both) >= 2:
                blocks = {"unaided": ratings[[first["unaided"][n] for n in both]].astype(float),
                          "aided": ratings[[first["aided"][n] for n in both]].astype(float)}
                row = _row(truth, finding.positive_from, both, blocks)
                if row:
                    rows.append({**base, "comparison": "aided_vs_unaided", "arm": "", **row})
            if model is None:
                continue
            model_scores = rater_scores(raters[model], ratings[model], scores)
            for arm, members in first.items():
                names = sorted(members)
                if len(names) < 2:
                    continue
                block = ratings[[members[n] for n in names]].astype(float)
                model_block = np.where(ratings[model] >= 0, model_scores, -1.0)
                blocks = {arm: block, "model": np.broadcast_to(model_block, block.shape)}
                row = _row(truth, finding.positive_from, names, blocks)
                if row:
                    rows.append({**base, "comparison": "readers_vs_model", "arm": arm, **row})


def _row(truth: np.ndarray, positive_from: int, readers: list, blocks: dict) -> dict | None:
    """One MRMC row over the units every reader rated in every modality of ``blocks`` ({modality: (readers,
    units) scores, -1 where not rated}); None where the analysis is undefined (one class, too few units)."""
    crossed = truth >= 0
    for block in blocks.values():
        crossed &= (block >= 0).all(0)
    units = np.flatnonzero(crossed)
    positive = truth[units] >= positive_from
    if units.size < 4 or positive.all() or not positive.any():
        return None
    modalities = list(blocks)
    n_readers, n_units = len(readers), units.size
    reader = np.tile(np.repeat(np.arange(n_readers), n_units), len(modalities))
    modality = np.repeat(np.arange(len(modalities)), n_readers * n_units)
    case = np.tile(units, n_readers * len(modalities))
    score = np.concatenate([blocks[m][:, units].reshape(-1) for m in modalities])
    result = safe(mrmc_analysis, reader, modality, case, np.tile(positive, n_readers * len(modalities)), score,
                  modality_order=[0, 1])
    if result is None:
        return None
    mean = result.fom_mean
    components = result.var_components
    return {
        "modality_a": modalities[0], "modality_b": modalities[1], "readers": n_readers,
        "auc_a": num(mean[0]), "auc_b": num(mean[1]), "difference": num(result.difference),
        "ci_low": num(result.ci[0]), "ci_high": num(result.ci[1]), "F": num(result.F), "ndf": result.ndf,
        "ddf": num(result.ddf), "p_value": num(result.p_value),
        "fixed_readers_p": num(result.fixed_readers.p_value), "fixed_cases_p": num(result.fixed_cases.p_value),
        "var_r": num(components.var_r), "var_tr": num(components.var_tr), "cov1": num(components.cov1),
        "cov2": num(components.cov2), "cov3": num(components.cov3), "var_error": num(components.var_error),
        "n_positive": result.n_positive, "n_negative": result.n_negative, "n": n_units,
    }
