"""The reader-study dashboard: arrays in, result tables out. Pure numpy, no Django.

``studies.selectors.study_data`` builds a :class:`StudyData` from the database; :func:`study_dashboard` runs
every statistic through the core modules (``agreement``, ``diagnostic``, ``detection``) and returns plain
dicts (JSON-ready: NaN becomes None), so the page, the API, the report and the CSVs show the same numbers.

Units of analysis ("scope"):
- ``disc``: one disc level of one case; ``level`` is a level name or "all" (every level pooled);
- ``patient``: one case, its worst value over the levels (the highest grade, "present" at any level);
- ``slice``: one image, for boxes (detection metrics, fROC).

Rows of all discs pooled also carry 95% CIs from a bootstrap that resamples patients (``*boot_ci*``), because the
discs of one patient are not independent; the per-row Wilson and analytic intervals assume they are.

The model is one more reader (arm "model"): it has no reading time and no arms, its values come from its
findings of the pinned version, and its scores feed ROC AUC and fROC. Readers have no confidence scores; their
AUC uses their grade as an ordinal score (for a binary finding that is the single operating point).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from studies.agreement import cohen_kappa, fleiss_kappa, icc, krippendorff_alpha
from studies.detection import average_precision, detection_prf, froc
from studies.diagnostic import (binary_metrics, bootstrap_binary_metrics, bootstrap_cohen_kappa, delong_test, mcnemar,
                                multiclass_metrics, paired_times, roc_auc)

MODEL_ARM = "model"
ALL_LEVELS = "all"
# First positive value per finding for sensitivity/specificity/AUC when the study does not say otherwise:
# herniation means protrusion or worse (a bulge is not a herniation, design.md), a degenerated disc is
# Pfirrmann 4 or 5, any Meyerding slip counts; binary findings use their second value.
DEFAULT_POSITIVE_FROM = {"pfirrmann": "4", "herniation": "protrusion", "listhesis": "1"}
# Accuracy metrics that get a patient-bootstrap interval on pooled discs (the core computes PPV and NPV too).
BOOTSTRAPPED = ("sensitivity", "specificity", "accuracy")


@dataclass(frozen=True)
class Rater:
    key: str  # "username|arm|repetition" or "model"
    name: str
    kind: str  # "reader" or "model"
    arm: str  # "unaided", "aided" or MODEL_ARM
    repetition: int = 1
    years_experience: int | None = None


@dataclass
class FindingData:
    """One finding's values as codes into ``values`` (clinical order); -1 where nothing was recorded."""

    name: str
    label: str
    values: tuple
    scale: str  # ordinal, nominal, binary
    positive_from: int  # codes >= this count as positive
    truth: np.ndarray  # (n_cases, n_levels)
    ratings: np.ndarray  # (n_raters, n_cases, n_levels)
    model_scores: np.ndarray | None = None  # (n_cases, n_levels) model's P(positive); NaN where none


@dataclass
class StudyData:
    study: dict
    case_ids: np.ndarray
    patient_keys: list
    levels: list
    findings: dict  # name -> FindingData
    raters: list  # Rater, in the order of FindingData.ratings' first axis
    seconds: np.ndarray  # (n_raters, n_cases) active reading seconds; NaN where not read (always for the model)
    review_counts: dict = field(default_factory=dict)  # (rater key, finding) -> {action: count, "suggested": n}
    # Per image: {"instance": id, "case": id, "truth": [(cls, box)], "pred": {rater key: [(cls, box, score)]}}
    images: list = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------
# Helpers


def _num(value, digits: int | None = None):
    """JSON-ready number: NaN/inf -> None. Unrounded (the report rounds for display), so the API's numbers
    equal the core functions' exactly."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return value if digits is None else round(value, digits)


def _ci(ci) -> tuple:
    return _num(ci[0]), _num(ci[1])


def _scope_arrays(data: StudyData, finding: FindingData):
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


def _kappa_row(result, boot=None) -> dict:
    boot_low, boot_high = _boot_ci(boot)
    return {"value": _num(result.value), "se": _num(result.se), "ci_low": _ci(result.ci)[0],
            "ci_high": _ci(result.ci)[1], "boot_ci_low": boot_low, "boot_ci_high": boot_high,
            "band": result.band, "n": result.n}


def _kappa_boots(keys: list, a_rows: np.ndarray, b_rows: np.ndarray, patients: np.ndarray, weights, cats) -> dict:
    """Patient-bootstrap Cohen's kappa of each pair of code rows (where both have a value), by key: one core call
    for all pairs, since its cost is resampling the patients, not the pairs."""
    rows = (a_rows >= 0) & (b_rows >= 0)
    keep = rows.any(1)
    if not keep.any():
        return {}
    results = bootstrap_cohen_kappa(a_rows[keep], b_rows[keep], patients, weights=weights, categories=cats,
                                    rows=rows[keep])
    return dict(zip([key for key, kept in zip(keys, keep) if kept], results))


def _accuracy_boots(finding: FindingData, raters: list, truth, ratings, patients, weights, cats) -> dict:
    """Per rater index (first readings): patient-bootstrap binary metrics and kappa against the truth."""
    first = [i for i, r in enumerate(raters) if r.repetition == 1]
    kappas = _kappa_boots(first, np.broadcast_to(truth, (len(first), truth.size)), ratings[first], patients,
                          weights, cats)
    if not kappas:
        return {}
    read = list(kappas)
    binary = bootstrap_binary_metrics(truth >= finding.positive_from, ratings[read] >= finding.positive_from,
                                      patients, rows=(truth >= 0) & (ratings[read] >= 0))
    return {i: (metrics, kappas[i]) for i, metrics in zip(read, binary)}


def _boot_ci(result) -> tuple:
    return _ci(result.ci) if result is not None else (None, None)


def _patients(data: StudyData) -> np.ndarray:
    """Per case, an integer code of its patient: cases of one patient (follow-ups) are one bootstrap cluster."""
    return np.unique(np.asarray(data.patient_keys, dtype=str), return_inverse=True)[1]


def _pooled(scope: str, level: str) -> bool:
    """Rows over all disc levels pooled: several discs per patient, so they get the patient bootstrap."""
    return scope == "disc" and level == ALL_LEVELS


def _weights(finding: FindingData):
    return "quadratic" if finding.scale == "ordinal" else None


def _safe(fn, *args, **kwargs):
    """The core functions raise ValueError for input they cannot score (e.g. AUC with one class): no row."""
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------------------
# The tables


def _agreement_tables(data: StudyData, tables: dict) -> None:
    inter, intra = tables["inter_reader"]["rows"], tables["intra_reader"]["rows"]
    raters = data.raters
    primary = {arm: [i for i, r in enumerate(raters) if r.kind == "reader" and r.arm == arm and r.repetition == 1]
               for arm in data.study["arms"]}
    model = [i for i, r in enumerate(raters) if r.kind == "model"]
    patient_of_case = _patients(data)
    for name, finding in data.findings.items():
        k = len(finding.values)
        cats = list(range(k))
        weights = _weights(finding)
        statistic = "cohen_quadratic" if weights else "cohen"
        for scope, level, _truth, ratings, _scores, case_index in _scope_arrays(data, finding):
            base = {"finding": name, "scope": scope, "level": level}
            pooled, patients = _pooled(scope, level), patient_of_case[case_index]
            for arm, members in primary.items():
                pairs = list(combinations(members + model, 2))
                boots = {}
                if pooled:
                    boots = _kappa_boots(pairs, ratings[[a for a, _ in pairs]], ratings[[b for _, b in pairs]],
                                         patients, weights, cats)
                for a, b in pairs:
                    mask = (ratings[a] >= 0) & (ratings[b] >= 0)
                    if not mask.any():
                        continue
                    result = cohen_kappa(ratings[a][mask], ratings[b][mask], weights=weights, categories=cats)
                    inter.append({**base, "arm": arm, "statistic": statistic, "raters": 2,
                                  "rater_a": raters[a].name, "rater_b": raters[b].name,
                                  **_kappa_row(result, boots.get((a, b)))})
                if len(members) >= 3:
                    block = ratings[members]
                    complete = (block >= 0).all(0)
                    if complete.any():
                        result = fleiss_kappa(block[:, complete].T, categories=cats)
                        inter.append({**base, "arm": arm, "statistic": "fleiss", "raters": len(members),
                                      "rater_a": "all readers", "rater_b": "", **_kappa_row(result)})
                if len(members) >= 2:
                    block = ratings[members].astype(float)
                    block[block < 0] = np.nan
                    level_of = "ordinal" if finding.scale == "ordinal" else "nominal"
                    result = _safe(krippendorff_alpha, block, level=level_of, categories=cats)
                    if result is not None:
                        inter.append({**base, "arm": arm, "statistic": f"krippendorff_{level_of}",
                                      "raters": len(members), "rater_a": "all readers", "rater_b": "",
                                      **_kappa_row(result)})
                if len(members) >= 2 and finding.scale == "ordinal":
                    # ICC(2,1) on the grades as numbers, over the discs every reader graded.
                    block = ratings[members]
                    complete = (block >= 0).all(0)
                    result = _safe(icc, block[:, complete].T.astype(float), kind="ICC2")
                    if result is not None:
                        inter.append({**base, "arm": arm, "statistic": "icc2", "raters": len(members),
                                      "rater_a": "all readers", "rater_b": "", **_kappa_row(result)})
            # Intra-reader: the same reader, arm and case, first reading against the repeat after washout.
            repeats = [(next(j for j, r in enumerate(raters) if r.kind == "reader" and r.name == rater.name
                             and r.arm == rater.arm and r.repetition == 1), i)
                       for i, rater in enumerate(raters) if rater.kind == "reader" and rater.repetition == 2]
            boots = {}
            if pooled:
                boots = _kappa_boots(repeats, ratings[[f for f, _ in repeats]], ratings[[i for _, i in repeats]],
                                     patients, weights, cats)
            for first, i in repeats:
                mask = (ratings[first] >= 0) & (ratings[i] >= 0)
                if not mask.any():
                    continue
                result = cohen_kappa(ratings[first][mask], ratings[i][mask], weights=weights, categories=cats)
                intra.append({**base, "arm": raters[i].arm, "reader": raters[i].name, "statistic": statistic,
                              **_kappa_row(result, boots.get((first, i)))})


def _rater_scores(finding: FindingData, rater: Rater, ratings_row: np.ndarray, scores) -> np.ndarray:
    if rater.kind == "model" and scores is not None and np.isfinite(scores).any():
        return np.where(np.isfinite(scores), scores, 0.0)
    return ratings_row.astype(float)


def _accuracy_tables(data: StudyData, tables: dict, figures: dict) -> None:
    accuracy, vs_model, per_class = (tables[t]["rows"] for t in ("accuracy", "reader_vs_model", "per_class"))
    confusion = tables["confusion"]["rows"]
    raters = data.raters
    model = next((i for i, r in enumerate(raters) if r.kind == "model"), None)
    patient_of_case = _patients(data)
    for name, finding in data.findings.items():
        k = len(finding.values)
        cats = list(range(k))
        weights = _weights(finding)
        for scope, level, truth, ratings, scores, case_index in _scope_arrays(data, finding):
            base = {"finding": name, "scope": scope, "level": level}
            truth_pos = truth >= finding.positive_from
            boots = {}
            if _pooled(scope, level):
                boots = _accuracy_boots(finding, raters, truth, ratings, patient_of_case[case_index], weights, cats)
            for i, rater in enumerate(raters):
                if rater.repetition != 1:
                    continue
                mask = (truth >= 0) & (ratings[i] >= 0)
                n = int(mask.sum())
                if n == 0:
                    continue
                pred = ratings[i][mask]
                pred_pos = pred >= finding.positive_from
                metrics = binary_metrics(truth_pos[mask], pred_pos)
                kappa = cohen_kappa(truth[mask], pred, weights=weights, categories=cats)
                boot, kappa_boot = boots.get(i, (None, None))
                rater_scores = _rater_scores(finding, rater, ratings[i], scores)[mask]
                auc = _safe(roc_auc, truth_pos[mask], rater_scores)
                row = {**base, "arm": rater.arm, "rater": rater.name, "kind": rater.kind,
                       "tp": metrics.tp, "fp": metrics.fp, "tn": metrics.tn, "fn": metrics.fn, "n": n}
                for metric in ("sensitivity", "specificity", "accuracy", "ppv", "npv", "f1", "youden"):
                    value = getattr(metrics, metric)
                    row[metric] = _num(value.value)
                    row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = _ci(value.ci)
                    if metric in BOOTSTRAPPED:
                        row[f"{metric}_boot_ci_low"], row[f"{metric}_boot_ci_high"] = _boot_ci(
                            boot[metric] if boot else None)
                        row[f"{metric}_n"] = value.fraction
                row["auc"] = _num(auc.value) if auc else None
                row["auc_ci_low"], row["auc_ci_high"] = _ci(auc.ci) if auc else (None, None)
                row["kappa_vs_truth"] = _num(kappa.value)
                row["kappa_ci_low"], row["kappa_ci_high"] = _ci(kappa.ci)
                row["kappa_boot_ci_low"], row["kappa_boot_ci_high"] = _boot_ci(kappa_boot)
                multi = None
                if finding.scale != "binary":
                    multi = multiclass_metrics(truth[mask], pred, labels=cats, ordinal=finding.scale == "ordinal")
                    off = multi.off_by_more_than_one
                    row["off_by_more_than_one"] = _num(off.value) if off else None
                else:
                    row["off_by_more_than_one"] = None
                accuracy.append(row)
                if scope == "disc" and level == ALL_LEVELS:
                    if multi is None:
                        multi = multiclass_metrics(truth[mask], pred, labels=cats)
                    for ci_, cls in enumerate(finding.values):
                        m = multi.per_class[ci_]
                        per_class.append({"finding": name, "arm": rater.arm, "rater": rater.name, "class": cls,
                                          "precision": _num(m.precision), "recall": _num(m.recall),
                                          "f1": _num(m.f1), "specificity": _num(m.specificity),
                                          "support": m.support, "n": n})
                        for cj, pred_cls in enumerate(finding.values):
                            confusion.append({"finding": name, "arm": rater.arm, "rater": rater.name,
                                              "truth": cls, "predicted": pred_cls,
                                              "count": int(multi.confusion[ci_, cj]), "n": n})
                    figures["confusion"].append({"finding": name, "arm": rater.arm, "rater": rater.name,
                                                 "labels": list(finding.values), "n": n,
                                                 "matrix": multi.confusion.tolist()})
                    figures["roc"].setdefault(name, {"finding": name, "label": finding.label, "curves": [],
                                                     "points": []})
                    if rater.kind == "model" and auc is not None:
                        fpr, tpr = roc_curve(truth_pos[mask], rater_scores)
                        figures["roc"][name]["curves"].append({
                            "rater": rater.name, "fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": _num(auc.value),
                            "n_positive": auc.n_positive, "n_negative": auc.n_negative})
                    figures["roc"][name]["points"].append({
                        "rater": rater.name, "arm": rater.arm, "fpr": _num(1 - metrics.specificity.value),
                        "tpr": _num(metrics.sensitivity.value), "n": n})
                # McNemar and DeLong: each reader against the model on the same units.
                if rater.kind == "reader" and model is not None:
                    both = mask & (ratings[model] >= 0)
                    if both.any():
                        r_pos = ratings[i][both] >= finding.positive_from
                        m_pos = ratings[model][both] >= finding.positive_from
                        test = mcnemar(truth_pos[both], r_pos, m_pos)
                        # DeLong on pooled discs and per patient only: per level it would add hundreds of
                        # rank-based tests to each page view (bench/stats.py) for intervals too wide to use.
                        delong = None
                        if level == ALL_LEVELS:
                            delong = _safe(delong_test, truth_pos[both], ratings[i][both].astype(float),
                                           _rater_scores(finding, raters[model], ratings[model], scores)[both])
                        vs_model.append({
                            **base, "arm": rater.arm, "reader": rater.name, "model": raters[model].name,
                            "reader_accuracy": _num(np.mean(r_pos == truth_pos[both])),
                            "model_accuracy": _num(np.mean(m_pos == truth_pos[both])),
                            "b_reader_only_correct": test.b, "c_model_only_correct": test.c,
                            "statistic": _num(test.statistic), "p_value": _num(test.p_value), "method": test.method,
                            "auc_difference": _num(delong.diff) if delong else None,
                            "delong_p": _num(delong.p_value) if delong else None, "n": test.n})


def _aided_tables(data: StudyData, tables: dict) -> None:
    rows = tables["aided_vs_unaided"]["rows"]
    raters = data.raters
    pairs = []
    for i, rater in enumerate(raters):
        if rater.kind == "reader" and rater.arm == "unaided" and rater.repetition == 1:
            j = next((j for j, r in enumerate(raters) if r.kind == "reader" and r.name == rater.name
                      and r.arm == "aided" and r.repetition == 1), None)
            if j is not None:
                pairs.append((rater.name, i, j))
    for name, finding in data.findings.items():
        for scope, level, truth, ratings, _scores, _ in _scope_arrays(data, finding):
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
                    "accuracy_unaided": _num(m_u.accuracy.value), "accuracy_aided": _num(m_a.accuracy.value),
                    "sensitivity_unaided": _num(m_u.sensitivity.value), "sensitivity_aided": _num(m_a.sensitivity.value),
                    "specificity_unaided": _num(m_u.specificity.value), "specificity_aided": _num(m_a.specificity.value),
                    "b_unaided_only_correct": test.b, "c_aided_only_correct": test.c,
                    "mcnemar_p": _num(test.p_value), "method": test.method, "n": test.n})


def _time_tables(data: StudyData, tables: dict) -> None:
    times, paired = tables["reading_time"]["rows"], tables["reading_time_paired"]["rows"]
    by_key = {}
    for i, rater in enumerate(data.raters):
        if rater.kind != "reader":
            continue
        seconds = data.seconds[i]
        read = seconds[np.isfinite(seconds)]
        by_key[(rater.name, rater.arm, rater.repetition)] = seconds
        times.append({"reader": rater.name, "arm": rater.arm, "repetition": rater.repetition, "n": int(read.size),
                      "mean_s": _num(read.mean()) if read.size else None,
                      "median_s": _num(np.median(read)) if read.size else None,
                      "sd_s": _num(read.std(ddof=1)) if read.size > 1 else None,
                      "total_s": _num(read.sum())})
    for (name, arm, repetition), unaided in by_key.items():
        aided = by_key.get((name, "aided", repetition))
        if arm != "unaided" or aided is None:
            continue
        mask = np.isfinite(unaided) & np.isfinite(aided)
        result = _safe(paired_times, unaided[mask], aided[mask])
        if result is None:
            continue
        paired.append({"reader": name, "repetition": repetition, "mean_unaided_s": _num(result.mean_a),
                       "mean_aided_s": _num(result.mean_b), "mean_difference_s": _num(result.mean_difference),
                       "ci_low": _num(result.ci[0]), "ci_high": _num(result.ci[1]),
                       "t_p": _num(result.t_p_value), "wilcoxon_p": _num(result.wilcoxon_p_value), "n": result.n})


def _review_table(data: StudyData, tables: dict) -> None:
    rows = tables["model_review"]["rows"]
    names = {r.key: r for r in data.raters}
    for (key, finding), counts in sorted(data.review_counts.items()):
        rater = names.get(key)
        if rater is None:
            continue
        suggested = counts.get("suggested", 0)
        reviewed = sum(counts.get(a, 0) for a in ("accepted", "edited", "deleted"))
        rows.append({"reader": rater.name, "arm": rater.arm, "repetition": rater.repetition, "finding": finding,
                     "suggested": suggested, "accepted": counts.get("accepted", 0),
                     "edited": counts.get("edited", 0), "deleted": counts.get("deleted", 0),
                     "added": counts.get("added", 0), "not_reviewed": max(suggested - reviewed, 0),
                     "accepted_share": _num(counts.get("accepted", 0) / suggested) if suggested else None,
                     "n": suggested})


def _detection_tables(data: StudyData, tables: dict, figures: dict) -> None:
    if not data.images:
        return
    rows = tables["detection"]["rows"]
    raters = [r for r in data.raters if r.repetition == 1]
    for rater in raters:
        images = [{"truth": image["truth"], "pred": image["pred"].get(rater.key, [])} for image in data.images]
        if not any(image["pred"] for image in images):
            continue
        result = detection_prf(images, iou_threshold=0.5)
        classes = sorted(set(result.per_class))
        for cls in classes + ["all"]:
            prf = result.overall if cls == "all" else result.per_class[cls]
            ap = None
            if rater.kind == "model" and cls != "all":
                ap = _num(_safe(average_precision, images, cls, iou_threshold=0.5))
            rows.append({"arm": rater.arm, "rater": rater.name, "class": cls, "tp": prf.tp, "fp": prf.fp,
                         "fn": prf.fn, "precision": _num(prf.precision), "recall": _num(prf.recall),
                         "f1": _num(prf.f1), "ap50": ap, "n_images": result.n_images})
        if rater.kind == "model":
            curve = froc(images, iou_threshold=0.5)
            figures["froc"] = {"rater": rater.name, "fp_per_image": curve.fp_per_image.tolist(),
                               "sensitivity": [_num(s) for s in curve.sensitivity.tolist()],
                               "fp_rates": list(curve.fp_rates),
                               "sensitivity_at": [_num(s) for s in curve.sensitivity_at.tolist()],
                               "cpm": _num(curve.cpm), "n_images": curve.n_images, "n_truth": curve.n_truth}


def roc_curve(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC points (fpr, tpr) at each distinct score, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], truth[order]
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    tp, fp = np.cumsum(t)[last], np.cumsum(~t)[last]
    n_pos, n_neg = max(int(t.sum()), 1), max(int((~t).sum()), 1)
    return np.concatenate([[0.0], fp / n_neg]), np.concatenate([[0.0], tp / n_pos])


TABLES = {
    "inter_reader": "Inter-reader agreement (Cohen per pair, quadratic-weighted for ordinal grades; Fleiss and "
                    "Krippendorff for all readers of an arm; the model as one more reader; boot_ci: Cohen's "
                    "95% CI (patient bootstrap), all discs pooled)",
    "intra_reader": "Intra-reader agreement (first reading against the repeat after washout; boot_ci: 95% CI "
                    "(patient bootstrap), all discs pooled)",
    "accuracy": "Each reader and the model against ground truth (Wilson CIs; AUC with DeLong CI; *_boot_ci: "
                "95% CI (patient bootstrap), all discs pooled)",
    "reader_vs_model": "Reader versus model on the same units (McNemar on correctness; DeLong on AUC)",
    "aided_vs_unaided": "Aided versus unaided, per reader (McNemar on correctness)",
    "reading_time": "Reading time per case (active seconds)",
    "reading_time_paired": "Reading time, unaided minus aided, per reader (paired t-test and Wilcoxon)",
    "model_review": "What readers did with the model's pre-annotations (aided arm)",
    "per_class": "Per-class precision, recall, F1 and specificity (all discs)",
    "confusion": "Confusion matrices against ground truth (all discs), long format",
    "detection": "Box detection per image at IoU 0.5 (slice level)",
}


def study_dashboard(data: StudyData) -> dict:
    """Every statistic of the study: ``{"study", "tables": {name: {"title", "columns", "rows"}}, "figures"}``.

    Every row carries its ``n`` (units, cases or images behind the number)."""
    tables = {name: {"title": title, "rows": []} for name, title in TABLES.items()}
    figures = {"confusion": [], "roc": {}, "froc": None}
    _agreement_tables(data, tables)
    _accuracy_tables(data, tables, figures)
    _aided_tables(data, tables)
    _time_tables(data, tables)
    _review_table(data, tables)
    _detection_tables(data, tables, figures)
    for table in tables.values():
        table["columns"] = list(table["rows"][0]) if table["rows"] else []
    figures["roc"] = list(figures["roc"].values())
    raters = [{"key": r.key, "name": r.name, "kind": r.kind, "arm": r.arm, "repetition": r.repetition,
               "years_experience": r.years_experience} for r in data.raters]
    return {"study": data.study, "raters": raters, "levels": list(data.levels),
            "findings": {name: {"label": f.label, "values": list(f.values), "scale": f.scale,
                                "positive_from": f.values[f.positive_from]} for name, f in data.findings.items()},
            "n_cases": int(len(data.case_ids)), "tables": tables, "figures": figures}
