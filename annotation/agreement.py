"""The agreement engine: compares two reads of one case item by item.

Pure Python (numpy/scipy, no Django), so the rules are unit-tested on plain data. A read is a list of
`ReadItem`s: a value for a (disc level, finding) with no box, or a box on one image tied to a level and
finding. Values agree when equal; boxes of the same level and finding on the same image are paired one-to-one
by IoU (Hungarian matching, maximising total IoU) and agree when the pair's IoU reaches the project threshold.
Value disagreements and box disagreements are separate items, so the senior decides each once.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ReadItem:
    disc_level: str
    finding_type: str
    value: str
    instance_id: int | None = None
    box: Box | None = None


# What both reads agree on has the same shape as one read's item.
AgreedItem = ReadItem


@dataclass(frozen=True)
class DisagreementItem:
    """One thing the senior must decide. For a value: value_a/value_b (None = not given). For a box: box_a and
    box_b are the two unmatched or poorly overlapping boxes, one of them None when only one reader drew it."""

    kind: str  # "value" or "box"
    disc_level: str
    finding_type: str
    value_a: str | None = None
    value_b: str | None = None
    instance_id: int | None = None
    box_a: Box | None = None
    box_b: Box | None = None


@dataclass(frozen=True)
class Comparison:
    agreed: list[AgreedItem]
    disagreements: list[DisagreementItem]


def box_iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (n x 4, x0 y0 x1 y1) with every box in b (m x 4)."""
    if len(boxes_a) == 0 or len(boxes_b) == 0:
        return np.zeros((len(boxes_a), len(boxes_b)))
    x0 = np.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0])
    y0 = np.maximum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    x1 = np.minimum(boxes_a[:, None, 2], boxes_b[None, :, 2])
    y1 = np.minimum(boxes_a[:, None, 3], boxes_b[None, :, 3])
    intersection = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1])
    area_b = (boxes_b[:, 2] - boxes_b[:, 0]) * (boxes_b[:, 3] - boxes_b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def match_boxes(boxes_a: list[Box], boxes_b: list[Box], iou_threshold: float) -> tuple[list, list, list]:
    """One-to-one pairs (i, j) with IoU >= threshold, maximising total IoU; then the unmatched of a and of b."""
    iou = box_iou_matrix(np.asarray(boxes_a, float).reshape(-1, 4), np.asarray(boxes_b, float).reshape(-1, 4))
    pairs = []
    if iou.size:
        rows, cols = linear_sum_assignment(-iou)
        pairs = [(i, j) for i, j in zip(rows, cols) if iou[i, j] >= iou_threshold]
    matched_a, matched_b = {i for i, _ in pairs}, {j for _, j in pairs}
    return (
        pairs,
        [i for i in range(len(boxes_a)) if i not in matched_a],
        [j for j in range(len(boxes_b)) if j not in matched_b],
    )


def compare_reads(
    read_a: list[ReadItem],
    read_b: list[ReadItem],
    *,
    iou_threshold: float = 0.5,
    negative_values: dict[str, str] | None = None,
) -> Comparison:
    """Compares two reads.

    Args:
        negative_values: for positive-only projects, the value that a missing finding stands for (e.g.
            {"herniation": "none", "hiz": "absent"}); a finding absent from both reads is then no item at all.
            In exhaustive projects leave it None: a value one reader gave and the other did not is a
            disagreement.
    """
    negative_values = negative_values or {}
    agreed: list[AgreedItem] = []
    disagreements: list[DisagreementItem] = []

    values_a = {(i.disc_level, i.finding_type): i.value for i in read_a if i.box is None}
    values_b = {(i.disc_level, i.finding_type): i.value for i in read_b if i.box is None}
    for key in sorted(set(values_a) | set(values_b)):
        level, finding = key
        a = values_a.get(key, negative_values.get(finding))
        b = values_b.get(key, negative_values.get(finding))
        if a == b:
            agreed.append(AgreedItem(level, finding, a))
        else:
            disagreements.append(DisagreementItem("value", level, finding, value_a=a, value_b=b))

    boxes_a, boxes_b = defaultdict(list), defaultdict(list)
    for item in read_a:
        if item.box is not None:
            boxes_a[(item.disc_level, item.finding_type, item.instance_id)].append(item)
    for item in read_b:
        if item.box is not None:
            boxes_b[(item.disc_level, item.finding_type, item.instance_id)].append(item)
    for key in sorted(set(boxes_a) | set(boxes_b), key=lambda k: (k[0], k[1], k[2] or 0)):
        level, finding, instance_id = key
        items_a, items_b = boxes_a.get(key, []), boxes_b.get(key, [])
        pairs, only_a, only_b = match_boxes([i.box for i in items_a], [i.box for i in items_b], iou_threshold)
        for i, j in pairs:
            box = tuple(float(v) for v in (np.asarray(items_a[i].box) + np.asarray(items_b[j].box)) / 2)
            # Boxes agree on where; if their values differ, the value item above carries that disagreement and
            # the ground truth box takes the final value ("" until then).
            value = items_a[i].value if items_a[i].value == items_b[j].value else ""
            agreed.append(AgreedItem(level, finding, value, instance_id, box))
        for i in only_a:
            disagreements.append(DisagreementItem("box", level, finding, value_a=items_a[i].value,
                                                  instance_id=instance_id, box_a=items_a[i].box))
        for j in only_b:
            disagreements.append(DisagreementItem("box", level, finding, value_b=items_b[j].value,
                                                  instance_id=instance_id, box_b=items_b[j].box))
    return Comparison(agreed=agreed, disagreements=disagreements)
