"""Adjudication: the senior decides each disagreeing item; the decision is final ground truth."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

import access
from geometry import box_inside
from annotation.models import Adjudication, AdjudicationItem, Case, GroundTruthItem, box_fields
from annotation.schema import SchemaError, finding_validate
from annotation.services.audit import audit_log
from annotation.services.reading import ReadingError

PROVENANCE = {
    AdjudicationItem.Decision.READER_A: GroundTruthItem.Provenance.READER_A,
    AdjudicationItem.Decision.READER_B: GroundTruthItem.Provenance.READER_B,
    AdjudicationItem.Decision.SENIOR: GroundTruthItem.Provenance.SENIOR,
}


class AdjudicationConflict(ReadingError):
    def __init__(self, message: str):
        super().__init__(message, 409)


@dataclass(frozen=True)
class DecisionInput:
    item_id: int
    choice: str  # reader_a, reader_b or senior
    value: str | None = None
    box: tuple[float, float, float, float] | None = None
    reason: str = ""


def _decided(item: AdjudicationItem, decision: DecisionInput, schema: dict) -> tuple[str | None, list | None]:
    """The value and box that a decision stands for, validated."""
    if decision.choice == AdjudicationItem.Decision.READER_A:
        return item.value_a, item.box_a
    if decision.choice == AdjudicationItem.Decision.READER_B:
        return item.value_b, item.box_b
    if decision.choice != AdjudicationItem.Decision.SENIOR:
        raise ReadingError(f"item {item.pk}: choice must be reader_a, reader_b or senior")
    value = decision.value if decision.value is not None else (item.value_a or item.value_b)
    try:
        finding_validate(schema, disc_level=item.disc_level, finding_type=item.finding_type, value=value)
    except SchemaError as error:
        raise ReadingError(f"item {item.pk}: {error}")
    if item.kind == AdjudicationItem.Kind.VALUE:
        return value, None
    if decision.box is None:
        return value, None  # the senior's own decision may be "no box here"
    instance = item.instance
    if not box_inside(decision.box, instance.columns, instance.rows):
        raise ReadingError(f"item {item.pk}: box {list(decision.box)} is not inside the image")
    return value, list(decision.box)


@transaction.atomic
def adjudication_resolve(*, adjudication: Adjudication, senior, decisions: list[DecisionInput]) -> Adjudication:
    """Writes the senior's decisions as ground truth with provenance per item.

    Every disagreeing item needs exactly one decision. When two seniors submit the same case at once, exactly
    one wins; the other gets AdjudicationConflict (409) and nothing of theirs is stored.
    """
    case = adjudication.case
    if not access.may_resolve(senior, adjudication):
        raise ReadingError("this case is not assigned to you as a senior", 404)
    items = {item.pk: item for item in adjudication.items.select_related("instance")}
    by_item = {}
    for decision in decisions:
        if decision.item_id not in items:
            raise ReadingError(f"item {decision.item_id} is not part of this adjudication")
        if decision.item_id in by_item:
            raise ReadingError(f"item {decision.item_id} decided twice")
        by_item[decision.item_id] = decision
    undecided = sorted(set(items) - set(by_item))
    if undecided:
        raise ReadingError(f"every item needs a decision; undecided: {undecided}")
    schema = case.project.label_schema
    outcomes = {pk: _decided(items[pk], by_item[pk], schema) for pk in items}

    # The conditional update is the lock: of two concurrent submissions only one finds the row still open.
    won = Adjudication.objects.filter(pk=adjudication.pk, status=Adjudication.Status.OPEN).update(
        status=Adjudication.Status.RESOLVED, resolved_by=senior, resolved_at=timezone.now()
    )
    if not won:
        raise AdjudicationConflict("another senior has already resolved this case")

    ground_truth = []
    for pk, item in items.items():
        decision, (value, box) = by_item[pk], outcomes[pk]
        item.decision, item.decided_value, item.decided_box, item.reason = (
            decision.choice, value, box, decision.reason)
        if item.kind == AdjudicationItem.Kind.VALUE and value is None:
            continue  # the chosen reader gave no value: nothing to record
        if item.kind == AdjudicationItem.Kind.BOX and box is None:
            continue  # the chosen side drew no box here
        ground_truth.append(GroundTruthItem(
            case=case, disc_level=item.disc_level, finding_type=item.finding_type, value=value or "",
            instance_id=item.instance_id if box else None, **box_fields(box),
            provenance=PROVENANCE[decision.choice], decided_by=senior,
            reason=decision.reason,
        ))
    AdjudicationItem.objects.bulk_update(items.values(), ["decision", "decided_value", "decided_box", "reason"])
    GroundTruthItem.objects.bulk_create(ground_truth)
    _fill_box_values(case)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.GROUND_TRUTH)
    audit_log(actor=senior, action="adjudication_resolve", target=adjudication,
              payload={"case": case.pk, "decisions": {str(pk): d.choice for pk, d in by_item.items()}})
    adjudication.refresh_from_db()
    return adjudication


def _fill_box_values(case: Case) -> None:
    """Agreed boxes whose readers gave different values take the final value of their level and finding."""
    final = {(g.disc_level, g.finding_type): g.value
             for g in GroundTruthItem.objects.filter(case=case, instance__isnull=True)}
    for box in GroundTruthItem.objects.filter(case=case, instance__isnull=False, value=""):
        box.value = final.get((box.disc_level, box.finding_type), "")
        box.save(update_fields=["value"])
