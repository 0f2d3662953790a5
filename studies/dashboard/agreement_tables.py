"""Agreement tables: inter-reader (Cohen per pair, Fleiss, Krippendorff, ICC per arm) and intra-reader, with Gwet's
AC1 (AC2 with quadratic weights for ordinal grades) beside every kappa: kappa collapses for rare findings (HIZ,
Schmorl's nodes: the "kappa paradox"), AC1 does not."""
from __future__ import annotations

from itertools import combinations

import numpy as np

from stats.agreement import cohen_kappa, fleiss_kappa, gwet_ac1, gwet_ac1_raters, icc, krippendorff_alpha
from studies.dashboard.cells import (ac_cells, kappa_boots, kappa_row, kappa_weights, patient_codes, pooled, safe,
                                     scope_arrays)
from studies.dashboard.data import FindingData, StudyData


def agreement_tables(data: StudyData, tables: dict) -> None:
    """Fills ``inter_reader`` and ``intra_reader``: per finding and unit of analysis, the readers' first readings of
    each arm (and the model, as one more reader) against each other, and each reading against its repeat."""
    inter, intra = tables["inter_reader"]["rows"], tables["intra_reader"]["rows"]
    raters = data.raters
    primary = {arm: [i for i, r in enumerate(raters) if r.kind == "reader" and r.arm == arm and r.repetition == 1]
               for arm in data.study["arms"]}
    model = [i for i, r in enumerate(raters) if r.kind == "model"]
    repeats = _repeat_pairs(raters)
    patient_of_case = patient_codes(data)
    for name, finding in data.findings.items():
        statistic = "cohen_quadratic" if kappa_weights(finding) else "cohen"
        for scope, level, _truth, ratings, _scores, case_index in scope_arrays(data, finding):
            base = {"finding": name, "scope": scope, "level": level}
            patients = patient_of_case[case_index] if pooled(scope, level) else None
            for arm, members in primary.items():
                for a, b, cells in _cohen_pairs(finding, ratings, list(combinations(members + model, 2)), patients):
                    inter.append({**base, "arm": arm, "statistic": statistic, "raters": 2,
                                  "rater_a": raters[a].name, "rater_b": raters[b].name, **cells})
                inter.extend({**base, "arm": arm, **row} for row in _all_reader_rows(finding, ratings[members]))
            for _first, i, cells in _cohen_pairs(finding, ratings, repeats, patients):
                intra.append({**base, "arm": raters[i].arm, "reader": raters[i].name, "statistic": statistic,
                              **cells})


def _repeat_pairs(raters: list) -> list:
    """Intra-reader: (first reading, repeat after washout) of the same reader and arm."""
    return [(next(j for j, r in enumerate(raters) if r.kind == "reader" and r.name == rater.name
                  and r.arm == rater.arm and r.repetition == 1), i)
            for i, rater in enumerate(raters) if rater.kind == "reader" and rater.repetition == 2]


def _cohen_pairs(finding: FindingData, ratings: np.ndarray, pairs: list, patients) -> list:
    """(a, b, kappa cells) of Cohen's kappa for each pair of rater rows, on the units both rated; with
    ``patients`` (pooled discs) also the patient-bootstrap CI."""
    weights, cats = kappa_weights(finding), list(range(len(finding.values)))
    boots = {}
    if patients is not None:
        boots = kappa_boots(pairs, ratings[[a for a, _ in pairs]], ratings[[b for _, b in pairs]], patients,
                            weights, cats)
    rows = []
    for a, b in pairs:
        mask = (ratings[a] >= 0) & (ratings[b] >= 0)
        if not mask.any():
            continue
        result = cohen_kappa(ratings[a][mask], ratings[b][mask], weights=weights, categories=cats)
        ac = gwet_ac1(ratings[a][mask], ratings[b][mask], weights=weights, categories=cats)
        rows.append((a, b, {**kappa_row(result, boots.get((a, b))), **ac_cells(ac, weights)}))
    return rows


def _all_reader_rows(finding: FindingData, block: np.ndarray) -> list[dict]:
    """Fleiss (three readers or more), Krippendorff and, for ordinal grades, ICC(2,1) over an arm's readers
    (``block``: their code rows)."""
    n_readers = block.shape[0]
    cats = list(range(len(finding.values)))
    results = []
    if n_readers >= 3:
        complete = (block >= 0).all(0)
        if complete.any():
            results.append(("fleiss", fleiss_kappa(block[:, complete].T, categories=cats)))
    if n_readers >= 2:
        # Codes as floats, NaN where unrated: the core functions' fast path (an object array with None is ~10x
        # slower to encode).
        values = block.astype(float)
        values[values < 0] = np.nan
        weights = kappa_weights(finding)
        results.append(("gwet_ac2_quadratic" if weights else "gwet_ac1",
                        safe(gwet_ac1_raters, values.T, weights=weights, categories=cats)))
        level_of = "ordinal" if finding.scale == "ordinal" else "nominal"
        alpha = safe(krippendorff_alpha, values, level=level_of, categories=cats)
        results.append((f"krippendorff_{level_of}", alpha))
    if n_readers >= 2 and finding.scale == "ordinal":
        # ICC(2,1) on the grades as numbers, over the discs every reader graded.
        complete = (block >= 0).all(0)
        results.append(("icc2", safe(icc, block[:, complete].T.astype(float), kind="ICC2")))
    return [{"statistic": statistic, "raters": n_readers, "rater_a": "all readers", "rater_b": "",
             **kappa_row(result), **ac_cells(None, None)} for statistic, result in results if result is not None]
