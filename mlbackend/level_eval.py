"""Per-level calls and their metrics, for any model: what the promotion gate of a two-stage model and
bench/level_classifier.py compare. Pure functions: no Django, no model.

A call is (value, positive score) per (level, finding): the value the model gives the finding at that level
(None when it gave none) and its score for the finding being positive (at or beyond the schema's
positive_from). The anchor finding (every value has a class: the Pfirrmann grade) is scored by quadratic-
weighted kappa against the truth, every other finding by the AUC of its positive score.
"""
from __future__ import annotations

import math

import numpy as np

from annotation.schema import anchor_finding, finding_specs
from mlbackend.interpret import ImageDetections, place_findings

Calls = dict[tuple[str, str], tuple[str | None, float]]


def _positive(spec, value: str) -> bool:
    return spec.values.index(value) >= spec.values.index(spec.positive_from)


def detector_calls(schema: dict, images: list[ImageDetections]) -> Calls:
    """A detector's calls: per (level, finding) its best-scoring placed box's value, and as positive score the
    best score of a box with a positive value (0 without one)."""
    specs = finding_specs(schema)
    best: dict[tuple[str, str], tuple[str, float]] = {}
    positive: dict[tuple[str, str], float] = {}
    for image in images:
        for p in place_findings(schema, image):
            key = (p.disc_level, p.finding_type)
            if key not in best or best[key][1] < p.score:
                best[key] = (p.value, p.score)
            if _positive(specs[p.finding_type], p.value):
                positive[key] = max(positive.get(key, 0.0), p.score)
    return {key: (value, positive.get(key, 0.0)) for key, (value, _) in best.items()}


def classifier_calls(schema: dict, probabilities: dict[str, dict[str, np.ndarray]],
                     heads: dict[str, list[str]]) -> Calls:
    """A level classifier's calls from {level: {finding: probabilities of heads[finding]}}: the most likely
    value, and the summed probability of the positive values."""
    specs = finding_specs(schema)
    calls = {}
    for level, found in probabilities.items():
        for name, p in found.items():
            if name not in specs or specs[name].values != tuple(heads[name]):
                continue  # a finding the schema dropped or changed since the model was trained
            values = heads[name]
            score = float(sum(p[i] for i, value in enumerate(values) if _positive(specs[name], value)))
            calls[(level, name)] = (values[int(np.argmax(p))], score)
    return calls


def level_metrics(schema: dict, calls: list[Calls], truths: list[dict[tuple[str, str], str]]) -> dict:
    """{finding: {"qwk" or "auc": value or None, "n": levels scored, "positives": ...}, "level_score": the mean
    of the defined figures} over the cases' levels that have a truth. A level the model gave no value for is
    the schema's middle grade for the kappa and a score of 0 for the AUC."""
    from stats.accuracy import roc_auc
    from stats.agreement.kappa import cohen_kappa

    specs, anchor = finding_specs(schema), anchor_finding(schema)
    out: dict = {}
    for name, spec in specs.items():
        truth, predicted, scores = [], [], []
        for case_calls, case_truth in zip(calls, truths):
            for level in schema["levels"]:
                value = case_truth.get((level, name))
                if value is None:
                    continue
                call, score = case_calls.get((level, name), (None, 0.0))
                truth.append(value)
                predicted.append(call if call is not None else spec.values[len(spec.values) // 2])
                scores.append(score)
        if name == anchor:
            figure = cohen_kappa(truth, predicted, weights="quadratic", categories=list(spec.values)).value \
                if truth else math.nan
            out[name] = {"qwk": _rounded(figure), "n": len(truth)}
        else:
            positive = np.array([_positive(spec, v) for v in truth], dtype=bool)
            figure = roc_auc(positive, np.array(scores)).value if 0 < positive.sum() < len(positive) else math.nan
            out[name] = {"auc": _rounded(figure), "n": len(truth), "positives": int(positive.sum())}
    figures = [v for result in out.values() for key, v in result.items() if key in ("qwk", "auc") and v is not None]
    out["level_score"] = round(float(np.mean(figures)), 5) if figures else None
    return out


def _rounded(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 5)
