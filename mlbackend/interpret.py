"""From detections to clinical findings. Pure functions: no Django, no model.

Levels: a box gets its disc level from its position along the spine. On a sagittal image the anchor boxes
(the finding every disc has a class for, the Pfirrmann grade) are ordered top to bottom and the lowest of them
is the last level of the schema (L5/S1), which holds however many thoracic discs the field of view shows;
every other box takes the level of the nearest anchor (a slip, the level of the disc below the slipped
vertebra). An axial slice is one level: slices ordered by position along the series' normal, caudal first.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from annotation.schema import SchemaError, anchor_finding, class_to_finding, finding_specs
from geometry import iou_matrix



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


def structure_groups(detections, threshold: float = 0.45) -> list[list]:
    """Greedy grouping of boxes of any class that cover the same structure (highest score first): a box joins
    the first group whose leading box it overlaps with IoU >= `threshold`."""
    ordered = sorted(detections, key=lambda d: -d.score)
    overlap = iou_matrix([d.box for d in ordered], [d.box for d in ordered])
    leaders: list[int] = []
    groups: list[list] = []
    for index, detection in enumerate(ordered):
        for group, leader in zip(groups, leaders):
            if overlap[leader, index] >= threshold:
                group.append(detection)
                break
        else:
            leaders.append(index)
            groups.append([detection])
    return groups


def _centre_y(box) -> float:
    return (box[1] + box[3]) / 2


def _mapped(schema: dict, image: ImageDetections) -> list[tuple]:
    """(detection, finding, value) for the boxes whose class the schema knows and whose finding the schema
    reads on this image's plane."""
    specs = finding_specs(schema)
    mapped = []
    for detection in image.detections:
        try:
            finding_type, value = class_to_finding(schema, detection.class_name)
        except SchemaError:
            continue
        if image.plane in ("sagittal", "axial") and image.plane not in specs[finding_type].planes:
            continue  # e.g. a Pfirrmann grade on an axial slice: the schema reads it on sagittal images only
        mapped.append((detection, finding_type, value))
    return mapped


def _axial_level(levels: list[str], image: ImageDetections) -> str:
    """An axial slice's level from its rank, caudal first; a series of another length is spread over them."""
    if image.series_length == len(levels):
        return levels[::-1][image.rank]
    scale = (len(levels) - 1) / max(image.series_length - 1, 1)
    return levels[::-1][min(len(levels) - 1, round(image.rank * scale))]


def axial_rank(levels: list[str], level: str, series_length: int) -> int:
    """The rank (caudal first) of the axial slice _axial_level gives `level`: the first that names it, else the
    nearest one."""
    caudal_first = levels[::-1].index(level)
    if series_length == len(levels):
        return caudal_first
    scale = (len(levels) - 1) / max(series_length - 1, 1)
    return min(range(series_length), key=lambda rank: abs(rank * scale - caudal_first))


def _sagittal_levels(schema: dict, mapped: list[tuple]) -> list[tuple]:
    """(detection, level, finding, value) on a sagittal image: levels from the order of the anchor boxes, the
    lowest one the schema's last level; nothing when no anchor box was found."""
    levels, specs = list(schema["levels"]), finding_specs(schema)
    anchor = anchor_finding(schema)
    discs = [group[0] for group in structure_groups([d for d, f, _ in mapped if f == anchor])]
    discs.sort(key=lambda d: _centre_y(d.box))
    discs = discs[-len(levels):]
    if not discs:
        return []
    disc_levels = levels[len(levels) - len(discs):]
    centres = [_centre_y(d.box) for d in discs]
    kept_discs = {id(d) for d in discs}
    levelled = []
    for detection, finding_type, value in mapped:
        y = _centre_y(detection.box)
        if finding_type == anchor and id(detection) not in kept_discs:
            continue  # a disc above the schema's levels (T12/L1), or a weaker grade of a disc already placed
        if specs[finding_type].level_from == "disc_below":
            below = [i for i, c in enumerate(centres) if c >= y]
            index = below[0] if below else len(centres) - 1
        else:
            index = min(range(len(centres)), key=lambda i: abs(centres[i] - y))
        levelled.append((detection, disc_levels[index], finding_type, value))
    return levelled


def place_findings(schema: dict, image: ImageDetections) -> list[PlacedFinding]:
    """Findings with levels for one image; boxes that cannot be placed (no disc found on a sagittal image, a
    class outside the schema, a finding the schema reads on the other plane) are dropped, and each (level,
    finding) keeps its highest-scoring box."""
    mapped = _mapped(schema, image)
    if image.plane == "axial":
        level = _axial_level(list(schema["levels"]), image)
        levelled = [(detection, level, finding_type, value) for detection, finding_type, value in mapped]
    else:
        levelled = _sagittal_levels(schema, mapped)
    placed: dict[tuple[str, str], PlacedFinding] = {}
    for detection, level, finding_type, value in levelled:
        key = (level, finding_type)
        if key not in placed or placed[key].score < detection.score:
            placed[key] = PlacedFinding(image.instance_id, level, finding_type, value, detection.score, detection.box)
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


def disc_boxes(schema: dict, images: list[ImageDetections]) -> dict[str, PlacedFinding]:
    """Per level the disc box (the anchor finding's) on the sagittal images: from the middle slice first (where
    readers box), then the slice with the most confident boxes."""
    anchor = anchor_finding(schema)
    sagittal = sorted((image for image in images if image.plane == "sagittal"),
                      key=lambda image: (image.rank != image.series_length // 2,
                                         -sum(d.score for d in image.detections)))
    discs: dict[str, PlacedFinding] = {}
    for image in sagittal:
        for p in place_findings(schema, image):
            if p.finding_type == anchor:
                discs.setdefault(p.disc_level, p)
    return discs


def confident(image: ImageDetections, threshold: float) -> ImageDetections:
    """The image with only the boxes scoring at least `threshold`."""
    return replace(image, detections=tuple(d for d in image.detections if d.score >= threshold))
