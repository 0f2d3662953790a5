"""The agreement engine: compares two reads of one case item by item.

Pure Python (numpy/scipy, no Django), so the rules are unit-tested on plain data. A read is a list of
`ReadItem`s: a value for a (disc level, finding) with no box, or a box on one image tied to a level and
finding. Values agree when equal; boxes of the same level and finding on the same image are paired one-to-one
by the project's matching rule at its IoU threshold (geometry.match_boxes: most pairs, then largest total IoU)
and a matched pair agrees.
Value disagreements and box disagreements are separate items, so the senior decides each once.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from geometry import Box, box_mean, match_boxes


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
        matching = match_boxes([i.box for i in items_a], [i.box for i in items_b], iou_threshold)
        for i, j in matching.pairs:
            box = box_mean(items_a[i].box, items_b[j].box)
            # Boxes agree on where; if their values differ, the value item above carries that disagreement and
            # the ground truth box takes the final value ("" until then).
            value = items_a[i].value if items_a[i].value == items_b[j].value else ""
            agreed.append(AgreedItem(level, finding, value, instance_id, box))
        for i in matching.unmatched_a:
            disagreements.append(DisagreementItem("box", level, finding, value_a=items_a[i].value,
                                                  instance_id=instance_id, box_a=items_a[i].box))
        for j in matching.unmatched_b:
            disagreements.append(DisagreementItem("box", level, finding, value_b=items_b[j].value,
                                                  instance_id=instance_id, box_b=items_b[j].box))
    return Comparison(agreed=agreed, disagreements=disagreements)
