"""From detections to clinical findings and an informativeness score. Pure functions: no Django, no model.

Levels: a box gets its disc level from its position along the spine. On a sagittal image the anchor boxes
(the finding every disc has a class for, the Pfirrmann grade) are ordered top to bottom and the lowest of them
is the last level of the schema (L5/S1), which holds however many thoracic discs the field of view shows;
every other box takes the level of the nearest anchor (a slip, the level of the disc below the slipped
vertebra). An axial slice is one level: slices ordered by position along the series' normal, caudal first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from annotation.schema import class_to_finding

# Classes the published datasets lack: active learning gives a bonus for cases likely to show them.
RARE_FINDINGS = {("pfirrmann", "1"), ("pfirrmann", "5"), ("hiz", "present"), ("schmorl", "present"),
                 ("listhesis", "1"), ("listhesis", "2"), ("listhesis", "3"), ("listhesis", "4")}
WEIGHTS = {"uncertainty": 1.0, "plane_disagreement": 0.5, "rare_bonus": 0.5}


@dataclass(frozen=True)
class ImageDetections:
    """What the model found on one image: `detections` are adapter.Detection objects."""

    instance_id: int
    plane: str                 # sagittal | axial | other
    rank: int                  # position in its series, caudal/left first
    series_length: int
    detections: tuple
    image_height: int = 0


@dataclass(frozen=True)
class PlacedFinding:
    instance_id: int
    disc_level: str
    finding_type: str
    value: str
    score: float
    box: tuple[float, float, float, float]


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def anchor_finding(schema: dict) -> str | None:
    """The finding every value of which has a detector class (the disc itself: Pfirrmann)."""
    for finding in schema["findings"]:
        if finding.get("classes") and set(finding["classes"]) == set(finding["values"]):
            return finding["name"]
    return None


def _clusters(detections, threshold: float = 0.45) -> list[list]:
    """Greedy grouping of boxes of any class that cover the same structure (highest score first)."""
    groups: list[list] = []
    for detection in sorted(detections, key=lambda d: -d.score):
        for group in groups:
            if _iou(group[0].box, detection.box) >= threshold:
                group.append(detection)
                break
        else:
            groups.append([detection])
    return groups


def _centre_y(box) -> float:
    return (box[1] + box[3]) / 2


def place_findings(schema: dict, image: ImageDetections) -> list[PlacedFinding]:
    """Findings with levels for one image; boxes that cannot be placed (no disc found on a sagittal image, a
    class outside the schema, a finding the schema reads on the other plane) are dropped, and each (level,
    finding) keeps its highest-scoring box."""
    levels = list(schema["levels"])
    anchor = anchor_finding(schema)
    planes = {finding["name"]: finding.get("planes") for finding in schema["findings"]}
    mapped = []
    for detection in image.detections:
        try:
            finding_type, value = class_to_finding(schema, detection.class_name)
        except ValueError:
            continue
        read_on = planes.get(finding_type)
        if image.plane in ("sagittal", "axial") and read_on and image.plane not in read_on:
            continue  # e.g. a Pfirrmann grade on an axial slice: the schema reads it on sagittal images only
        mapped.append((detection, finding_type, value))
    placed: dict[tuple[str, str], PlacedFinding] = {}

    def keep(detection, level, finding_type, value):
        key = (level, finding_type)
        if key not in placed or placed[key].score < detection.score:
            placed[key] = PlacedFinding(image.instance_id, level, finding_type, value, detection.score, detection.box)

    if image.plane == "axial":
        if image.series_length == len(levels):
            level = levels[::-1][image.rank]
        else:
            scale = (len(levels) - 1) / max(image.series_length - 1, 1)
            level = levels[::-1][min(len(levels) - 1, round(image.rank * scale))]
        for detection, finding_type, value in mapped:
            keep(detection, level, finding_type, value)
        return list(placed.values())
    discs = [group[0] for group in _clusters([d for d, f, _ in mapped if f == anchor])]
    discs.sort(key=lambda d: _centre_y(d.box))
    discs = discs[-len(levels):]
    if not discs:
        return []
    disc_levels = levels[len(levels) - len(discs):]
    centres = [_centre_y(d.box) for d in discs]
    kept_discs = {id(d) for d in discs}
    for detection, finding_type, value in mapped:
        y = _centre_y(detection.box)
        if finding_type == anchor and id(detection) not in kept_discs:
            continue  # a disc above the schema's levels (T12/L1), or a weaker grade of a disc already placed
        if finding_type == "listhesis":  # the slipped vertebra sits above the disc that names the level
            below = [i for i, c in enumerate(centres) if c >= y]
            index = below[0] if below else len(centres) - 1
        else:
            index = min(range(len(centres)), key=lambda i: abs(centres[i] - y))
        keep(detection, disc_levels[index], finding_type, value)
    return list(placed.values())


def case_findings(schema: dict, images: list[ImageDetections], threshold: float) -> list[PlacedFinding]:
    """What readers are shown for a case: the boxes scoring at least `threshold`, placed, and per plane one box
    per level and finding (the model reads three sagittal slices; a reader grades each disc once). The middle
    slice, where the viewer opens and readers box, gives its boxes, then the slice with the most confident
    findings; the others add only what those lack."""
    placed_per_image = [(image, place_findings(schema, confident(image, threshold))) for image in images]
    placed_per_image.sort(key=lambda item: (item[0].rank != item[0].series_length // 2,
                                            -sum(p.score for p in item[1])))
    shown: dict[tuple[str, str, str], PlacedFinding] = {}
    for image, placed in placed_per_image:
        for finding in placed:
            shown.setdefault((image.plane, finding.disc_level, finding.finding_type), finding)
    return list(shown.values())


def confident(image: ImageDetections, threshold: float) -> ImageDetections:
    """The image with only the boxes scoring at least `threshold`."""
    return replace(image, detections=tuple(d for d in image.detections if d.score >= threshold))


def _normalised_entropy(scores: list[float]) -> float:
    """Entropy of the class scores of one structure plus a background share (1 - top score), in [0, 1]."""
    background = max(0.0, 1.0 - max(scores))
    mass = [s for s in scores if s > 0] + ([background] if background > 0 else [])
    total = sum(mass)
    if total <= 0 or len(mass) < 2:
        return 0.0
    probabilities = [m / total for m in mass]
    return -sum(p * math.log(p) for p in probabilities) / math.log(len(probabilities) + 1)


def informativeness(schema: dict, images: list[ImageDetections]) -> dict:
    """How much labelling this case would teach the model: detection uncertainty (entropy of class scores per
    structure; a disc level the model found nothing for counts as fully uncertain), sagittal/axial disagreement
    on findings boxed in both planes, and a bonus for likely rare findings. Returns the parts and their
    weighted sum `score`."""
    anchor = anchor_finding(schema)
    entropies: list[float] = []
    sagittal_levels_found: set[str] = set()
    sagittal_images = 0
    by_plane: dict[str, dict[str, set]] = {"sagittal": {}, "axial": {}}
    rare = 0.0
    for image in images:
        for group in _clusters(image.detections):
            per_class: dict[str, float] = {}
            for detection in group:
                per_class[detection.class_name] = max(per_class.get(detection.class_name, 0.0), detection.score)
            entropies.append(_normalised_entropy(list(per_class.values())))
        placed = place_findings(schema, image)
        if image.plane == "sagittal":
            sagittal_images += 1
            sagittal_levels_found |= {p.disc_level for p in placed if p.finding_type == anchor}
        for p in placed:
            if image.plane in by_plane:
                by_plane[image.plane].setdefault(p.disc_level, set()).add((p.finding_type, p.value))
            if (p.finding_type, p.value) in RARE_FINDINGS:
                rare += p.score
    if sagittal_images:
        entropies.extend([1.0] * (len(schema["levels"]) - len(sagittal_levels_found)))
    uncertainty = sum(entropies) / len(entropies) if entropies else 1.0
    both_planes = {f["name"] for f in schema["findings"] if {"sagittal", "axial"} <= set(f.get("planes", []))}
    disagreements = 0
    for level in schema["levels"]:
        sagittal = {item for item in by_plane["sagittal"].get(level, set()) if item[0] in both_planes}
        axial = {item for item in by_plane["axial"].get(level, set()) if item[0] in both_planes}
        disagreements += bool(sagittal ^ axial)
    plane_disagreement = disagreements / len(schema["levels"]) if by_plane["axial"] else 0.0
    rare_bonus = min(1.0, rare)
    score = (WEIGHTS["uncertainty"] * uncertainty + WEIGHTS["plane_disagreement"] * plane_disagreement
             + WEIGHTS["rare_bonus"] * rare_bonus)
    return {"score": round(score, 6), "uncertainty": round(uncertainty, 6),
            "plane_disagreement": round(plane_disagreement, 6), "rare_bonus": round(rare_bonus, 6)}


def task_score(detections) -> float:
    """Label Studio's task-level score (it sorts uncertainty queues on it): mean box confidence, 0 when none."""
    return round(sum(d.score for d in detections) / len(detections), 4) if detections else 0.0
