"""Model output enters the case store here: pre-annotation findings and active-learning priorities.

The ML backend computes them; these services store them, kept apart from human labels (source=model, no read).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from annotation.agreement import ReadItem
from geometry import box_clamp
from annotation.models import Case, Finding, Instance, Source, box_fields
from annotation.schema import SchemaError, finding_validate
from annotation.services.audit import audit_log


@dataclass(frozen=True)
class ModelFindingInput(ReadItem):
    """A model's finding: where and what (as a read's item), with the model's confidence."""

    score: float | None = None


# Another model's predictions, imported to be scored beside ours (mlbackend.services.external): never shown to
# the double reading's readers as pre-annotations, never replaced by our model's, nor ours by them.
EXTERNAL_MODEL_PREFIX = "external:"


@transaction.atomic
def model_findings_replace(*, case: Case, model_version: str, findings: list[ModelFindingInput]) -> list[Finding]:
    """Replaces the case's model pre-annotations with those of `model_version` (an external model's only its own
    earlier import). Findings that readers already reviewed stay (their review points at them), so a reader's
    accepted/edited/deleted record keeps its source."""
    schema = case.project.label_schema
    instances = {i.pk: i for i in Instance.objects.filter(series__case=case)}
    rows = []
    for finding in findings:
        try:
            finding_validate(schema, disc_level=finding.disc_level, finding_type=finding.finding_type,
                             value=finding.value)
        except SchemaError as error:
            raise ValueError(f"model finding does not fit the project's schema: {error}")
        box = finding.box
        if box is not None:
            instance = instances.get(finding.instance_id)
            if instance is None:
                raise ValueError(f"instance {finding.instance_id} is not part of case {case.pk}")
            box = box_clamp(box, instance.columns, instance.rows)  # a model's box may run past the edge
        rows.append(Finding(
            case=case, disc_level=finding.disc_level, finding_type=finding.finding_type, value=str(finding.value),
            instance_id=finding.instance_id if box else None, **box_fields(box), source=Source.MODEL, model_version=model_version, score=finding.score,
        ))
    replaced = Finding.objects.filter(case=case, source=Source.MODEL, read__isnull=True, reviews__isnull=True)
    if model_version.startswith(EXTERNAL_MODEL_PREFIX):
        replaced = replaced.filter(model_version=model_version)
    else:
        replaced = replaced.exclude(model_version__startswith=EXTERNAL_MODEL_PREFIX)
    replaced.delete()
    created = Finding.objects.bulk_create(rows)
    audit_log(actor=None, action="model_findings_replace", target=case,
              payload={"model_version": model_version, "findings": len(rows)})
    return created


@transaction.atomic
def case_priorities_set(*, priorities: dict[int, float], reason: str) -> int:
    """Sets worklist priorities (higher is read first), e.g. from active learning; returns the cases changed."""
    cases = list(Case.objects.filter(pk__in=priorities))
    for case in cases:
        case.priority = float(priorities[case.pk])
    Case.objects.bulk_update(cases, ["priority"])
    if cases:
        audit_log(actor=None, action="case_priorities_set", target=cases[0].project,
                  payload={"cases": len(cases), "reason": reason})
    return len(cases)
