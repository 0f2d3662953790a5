"""How the tables cut the data and write numbers: units of analysis, JSON-ready cells, patient-bootstrap calls.

Shared by the table modules so that every table pools discs, clusters patients and rounds the same way.
"""
from __future__ import annotations

import math

import numpy as np

from stats.bootstrap import bootstrap_cohen_kappa
from studies.dashboard.data import ALL_LEVELS, FindingData, Rater, StudyData


def num(value, digits: int | None = None):
    """JSON-ready number: NaN/inf -> None. Unrounded (the report rounds for display), so the API's numbers
    equal the core functions' exactly."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return value if digits is None else round(value, digits)


def ci_cells(ci) -> tuple:
    return num(ci[0]), num(ci[1])


def boot_ci_cells(result) -> tuple:
    return ci_cells(result.ci) if result is not None else (None, None)


def safe(fn, *args, **kwargs):
    """The core functions raise ValueError for input they cannot score (e.g. AUC with one class): no row."""
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


def kappa_row(result, boot=None) -> dict:
    boot_low, boot_high = boot_ci_cells(boot)
    return {"value": num(result.value), "se": num(result.se), "ci_low": ci_cells(result.ci)[0],
            "ci_high": ci_cells(result.ci)[1], "boot_ci_low": boot_low, "boot_ci_high": boot_high,
            "band": result.band, "n": result.n}


def ac_cells(result, weights) -> dict:
    """Gwet's AC1 (AC2 with the kappa's weights) beside a kappa row: value and its 95% CI; all None without a
    result (rows over all readers, whose Gwet coefficient is a row of its own)."""
    if result is None:
        return dict.fromkeys(("ac_statistic", "ac_value", "ac_ci_low", "ac_ci_high"))
    return {"ac_statistic": "gwet_ac2_quadratic" if weights else "gwet_ac1", "ac_value": num(result.value),
            "ac_ci_low": ci_cells(result.ci)[0], "ac_ci_high": ci_cells(result.ci)[1]}


def kappa_boots(keys: list, a_rows: np.ndarray, b_rows: np.ndarray, patients: np.ndarray, weights, cats) -> dict:
    """Patient-bootstrap Cohen's kappa of each pair of code rows (where both have a value), by key: one core call
    for all pairs, since its cost is resampling the patients, not the pairs."""
    rows = (a_rows >= 0) & (b_rows >= 0)
    keep = rows.any(1)
    if not keep.any():
        return {}
    results = bootstrap_cohen_kappa(a_rows[keep], b_rows[keep], patients, weights=weights, categories=cats,
                                    rows=rows[keep])
    return dict(zip([key for key, kept in zip(keys, keep) if kept], results))


def scope_arrays(data: StudyData, finding: FindingData):
    """Yields (scope, level, truth (n,), ratings (r, n), scores (n,) or None, case index (n,))."""
    n_cases, n_levels = finding.truth.shape
    case_index = np.repeat(np.arange(n_cases), n_levels)
    scores = finding.model_scores
    yield ("disc", ALL_LEVELS, finding.truth.reshape(-1), finding.ratings.reshape(len(data.raters), -1),
           None if scores is None else scores.reshape(-1), case_index)
    for li, level in enumerate(data.levels):
        yield ("disc", level, finding.truth[:, li], finding.ratings[:, :, li],
               None if scores is None else scores[:, li], np.arange(n_cases))
    # Patient: the worst value over the levels (codes are in clinical order, -1 = missing loses to any value).
    patient_scores = None
    if scores is not None:
        with np.errstate(all="ignore"):
            patient_scores = np.where(np.isnan(scores).all(1), np.nan, np.nanmax(np.where(
                np.isnan(scores), -np.inf, scores), axis=1))
    yield ("patient", ALL_LEVELS, finding.truth.max(1), finding.ratings.max(2), patient_scores, np.arange(n_cases))


def patient_codes(data: StudyData) -> np.ndarray:
    """Per case, an integer code of its patient: cases of one patient (follow-ups) are one bootstrap cluster."""
    return np.unique(np.asarray(data.patient_keys, dtype=str), return_inverse=True)[1]


def pooled(scope: str, level: str) -> bool:
    """Rows over all disc levels pooled: several discs per patient, so they get the patient bootstrap."""
    return scope == "disc" and level == ALL_LEVELS


def kappa_weights(finding: FindingData):
    return "quadratic" if finding.scale == "ordinal" else None



def rater_scores(rater: Rater, ratings_row: np.ndarray, scores) -> np.ndarray:
    """What ROC ranks for a rater: the model's P(positive) where it has scores, else the grade as an ordinal
    score (readers give no confidence)."""
    if rater.kind == "model" and scores is not None and np.isfinite(scores).any():
        return np.where(np.isfinite(scores), scores, 0.0)
    return ratings_row.astype(float)
