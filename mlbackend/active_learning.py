"""The active-learning strategy: how much labelling a case would teach the model, from its detections.

Pure functions: no Django, no model. Worklists read the unread cases in descending `informativeness` score
(services/preannotation.py stores it); Label Studio sorts its tasks on `task_score`.
"""
from __future__ import annotations

import math

from annotation.schema import anchor_finding, finding_specs, rare_findings
from mlbackend.interpret import ImageDetections, PlacedFinding, place_findings, structure_groups

WEIGHTS = {"uncertainty": 1.0, "plane_disagreement": 0.5, "rare_bonus": 0.5}
RARE_FLOOR = 0.05  # a rare value's probability counts from here, as a detector's boxes from its predict conf


def _normalised_entropy(scores: list[float]) -> float:
    """Entropy of the class scores of one structure plus a background share (1 - top score), in [0, 1]."""
    background = max(0.0, 1.0 - max(scores))
    mass = [s for s in scores if s > 0] + ([background] if background > 0 else [])
    total = sum(mass)
    if total <= 0 or len(mass) < 2:
        return 0.0
    probabilities = [m / total for m in mass]
    return -sum(p * math.log(p) for p in probabilities) / math.log(len(probabilities) + 1)


def _structure_entropy(group) -> float:
    """One structure's entropy over its classes, each class counted at its best score."""
    per_class: dict[str, float] = {}
    for detection in group:
        per_class[detection.class_name] = max(per_class.get(detection.class_name, 0.0), detection.score)
    return _normalised_entropy(list(per_class.values()))


def _uncertainty(schema: dict, placed: list[tuple[ImageDetections, list[PlacedFinding]]]) -> float:
    """Mean entropy over the structures found; with a sagittal image read, a disc level the model found
    nothing for counts as fully uncertain. Nothing found at all is 1."""
    anchor = anchor_finding(schema)
    entropies = [_structure_entropy(group) for image, _ in placed for group in structure_groups(image.detections)]
    sagittal = [findings for image, findings in placed if image.plane == "sagittal"]
    if sagittal:
        found = {p.disc_level for findings in sagittal for p in findings if p.finding_type == anchor}
        entropies.extend([1.0] * (len(schema["levels"]) - len(found)))
    return sum(entropies) / len(entropies) if entropies else 1.0


def _plane_disagreement(schema: dict, placed: list[tuple[ImageDetections, list[PlacedFinding]]]) -> float:
    """Share of levels where the sagittal and axial images disagree on a finding read on both planes; 0 when no
    axial image placed anything."""
    by_plane: dict[str, dict[str, set]] = {"sagittal": {}, "axial": {}}
    for image, findings in placed:
        if image.plane in by_plane:
            for p in findings:
                by_plane[image.plane].setdefault(p.disc_level, set()).add((p.finding_type, p.value))
    if not by_plane["axial"]:
        return 0.0
    both_planes = {name for name, spec in finding_specs(schema).items() if {"sagittal", "axial"} <= set(spec.planes)}
    disagreements = 0
    for level in schema["levels"]:
        sagittal = {item for item in by_plane["sagittal"].get(level, set()) if item[0] in both_planes}
        axial = {item for item in by_plane["axial"].get(level, set()) if item[0] in both_planes}
        disagreements += bool(sagittal ^ axial)
    return disagreements / len(schema["levels"])


def _rare_bonus(schema: dict, placed: list[tuple[ImageDetections, list[PlacedFinding]]]) -> float:
    """Summed scores of likely rare findings (the classes the published datasets lack), capped at 1."""
    rare = rare_findings(schema)
    return min(1.0, sum(p.score for _, findings in placed for p in findings if (p.finding_type, p.value) in rare))


def informativeness(schema: dict, images: list[ImageDetections]) -> dict:
    """How much labelling this case would teach the model: detection uncertainty (entropy of class scores per
    structure; a disc level the model found nothing for counts as fully uncertain), sagittal/axial disagreement
    on findings boxed in both planes, and a bonus for likely rare findings. Returns the parts and their
    weighted sum `score`."""
    placed = [(image, place_findings(schema, image)) for image in images]
    uncertainty = _uncertainty(schema, placed)
    plane_disagreement = _plane_disagreement(schema, placed)
    rare_bonus = _rare_bonus(schema, placed)
    score = (WEIGHTS["uncertainty"] * uncertainty + WEIGHTS["plane_disagreement"] * plane_disagreement
             + WEIGHTS["rare_bonus"] * rare_bonus)
    return {"score": round(score, 6), "uncertainty": round(uncertainty, 6),
            "plane_disagreement": round(plane_disagreement, 6), "rare_bonus": round(rare_bonus, 6)}


def level_informativeness(schema: dict, probabilities: dict[str, dict], heads: dict[str, list[str]]) -> dict:
    """The two-stage model's informativeness, from its level classifier ({level: {finding: probabilities of
    heads[finding]}}): the mean normalised entropy over every level and finding (a level the detector did not
    find counts as fully uncertain), plus the bonus for the likely rare values (their summed probabilities from
    RARE_FLOOR, capped at 1)."""
    rare = rare_findings(schema)
    entropies, rare_mass = [], 0.0
    for level in schema["levels"]:
        found = probabilities.get(level)
        if found is None:
            entropies.append(1.0)
            continue
        for name, p in found.items():
            p = [float(v) for v in p if v > 0]
            entropies.append(-sum(v * math.log(v) for v in p) / math.log(len(heads[name])) if len(p) > 1 else 0.0)
            rare_mass += sum(float(v) for value, v in zip(heads[name], found[name])
                             if (name, value) in rare and v >= RARE_FLOOR)
    uncertainty = sum(entropies) / len(entropies) if entropies else 1.0
    rare_bonus = min(1.0, rare_mass)
    score = WEIGHTS["uncertainty"] * uncertainty + WEIGHTS["rare_bonus"] * rare_bonus
    return {"score": round(score, 6), "uncertainty": round(uncertainty, 6), "plane_disagreement": 0.0,
            "rare_bonus": round(rare_bonus, 6)}


def task_score(detections) -> float:
    """Label Studio's task-level score (it sorts uncertainty queues on it): mean box confidence, 0 when none."""
    return round(sum(d.score for d in detections) / len(detections), 4) if detections else 0.0
