"""Reading: drafts, submission, corrections, and the agreement check when the second read arrives."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

import access
from geometry import box_inside
from annotation.agreement import ReadItem, compare_reads
from annotation.models import (
    Adjudication, AdjudicationItem, Assignment, Case, Finding, GroundTruthItem, Instance, Read, ReviewAction, Role,
    Source, box_fields
)
from annotation.schema import SchemaError, finding_specs, finding_validate, negative_values
from annotation.services.audit import audit_log

# Time on task may grow by at most the wall-clock time since the last save plus this much, so that a buggy or
# hostile client cannot inflate reading times.
ACTIVE_SECONDS_SLACK = 5.0


class ReadingError(Exception):
    """A request that cannot be honoured; `status_code` is the HTTP status the API answers with."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class FindingInput(ReadItem):
    """A reader's finding as the API hands it in: a read's item, and what it does with a model finding."""

    review_action: str = ""
    model_finding_id: int | None = None


def _review_action(finding: FindingInput, model, shown_model: bool) -> str:
    """What the reader did with the model's suggestion, decided here from the two findings (never taken from the
    browser, whose word would make the automation-bias figures the client's to choose)."""
    if model is None:
        return ReviewAction.ADDED if shown_model else ReviewAction.NONE
    if finding.review_action == ReviewAction.DELETED:
        return ReviewAction.DELETED
    same_box = (finding.box is None and model.box is None) or (
        finding.box is not None and model.box is not None and finding.instance_id == model.instance_id
        and all(abs(a - b) < 0.5 for a, b in zip(finding.box, model.box)))
    same = (finding.disc_level, finding.finding_type, str(finding.value)) == (
        model.disc_level, model.finding_type, model.value)
    return ReviewAction.ACCEPTED if same and same_box else ReviewAction.EDITED


def _validated_findings(case: Case, findings: list[FindingInput], *, context: str, schema: dict) -> list[Finding]:
    """Checks every finding against the read's schema version and the case's images; builds unsaved rows."""
    # An autosave usually has neither boxes nor model findings: no query is built for an empty set (building
    # one costs as much as the rest of the check, and the autosave is the API's most frequent call).
    instance_ids = {f.instance_id for f in findings if f.instance_id is not None}
    instances = {i.pk: i for i in Instance.objects.filter(
        pk__in=instance_ids, series__case=case)} if instance_ids else {}
    model_ids = {f.model_finding_id for f in findings if f.model_finding_id is not None}
    may_refer = access.model_finding_ids_allowed(case=case, context=context)
    if model_ids and not may_refer:
        raise ReadingError("the unaided arm shows no model findings to accept or edit")
    model_findings = {m.pk: m for m in Finding.objects.filter(
        pk__in=model_ids, case=case, source=Source.MODEL)} if model_ids else {}
    shown_model = may_refer and Finding.objects.filter(case=case, source=Source.MODEL, read__isnull=True).exists()
    rows = []
    seen_values = set()
    for index, finding in enumerate(findings):
        where = f"finding {index}"
        try:
            finding_validate(schema, disc_level=finding.disc_level, finding_type=finding.finding_type,
                             value=finding.value)
        except SchemaError as error:
            raise ReadingError(f"{where}: {error}")
        if finding.review_action not in ReviewAction.values:
            raise ReadingError(f"{where}: unknown review action {finding.review_action!r}")
        if finding.model_finding_id is not None and finding.model_finding_id not in model_findings:
            raise ReadingError(f"{where}: model finding {finding.model_finding_id} is not a pre-annotation of this case")
        if finding.review_action == ReviewAction.DELETED and finding.model_finding_id is None:
            raise ReadingError(f"{where}: only a model pre-annotation can be deleted")
        box = finding.box
        if box is not None:
            instance = instances.get(finding.instance_id)
            if instance is None:
                raise ReadingError(f"{where}: a box needs an image of this case")
            if not box_inside(box, instance.columns, instance.rows):
                raise ReadingError(
                    f"{where}: box {list(box)} is not inside the {instance.columns}x{instance.rows} image"
                )
        elif finding.finding_type and finding.review_action != ReviewAction.DELETED:
            key = (finding.disc_level, finding.finding_type)
            if key in seen_values:
                raise ReadingError(f"{where}: {finding.finding_type} at {finding.disc_level} given twice")
            seen_values.add(key)
        rows.append(Finding(
            case=case, disc_level=finding.disc_level, finding_type=finding.finding_type, value=str(finding.value),
            instance_id=finding.instance_id if box is not None else None, **box_fields(box),
            source=Source.HUMAN,
            review_action=_review_action(finding, model_findings.get(finding.model_finding_id), shown_model),
            model_finding_id=finding.model_finding_id,
        ))
    return rows


def _reader_assignment(case: Case, reader) -> Assignment:
    assignment = Assignment.objects.filter(case=case, user=reader, role=Role.READER).first()
    if assignment is None:
        raise ReadingError("this case is not assigned to you as a reader", 404)
    return assignment


def _audit_read(*, actor, reader, action: str, read: Read, payload: dict) -> None:
    """Audit row of a read's change; done for a reader by someone else (the ML client), it names both."""
    actor = actor if actor is not None else reader
    audit_log(actor=actor, action=action, target=read, payload=payload,
              on_behalf_of=reader if actor.pk != reader.pk else None)


@transaction.atomic
def read_open(*, case: Case, reader, context: str = "", actor=None,
              origin: str = Read.Origin.PLATFORM) -> Read:
    """The reader's current read of the case: the open draft, else the latest submitted version, else a new
    draft (the reading clock starts here).

    ``context`` "" is the project's double reading and needs a reader assignment. Any other context is a
    reader-study session (e.g. "study:7:aided:1"): the caller (the studies app's service) has checked that the
    reader holds that session, and such a read never changes the case's status or its ground truth."""
    if not context:
        _reader_assignment(case, reader)
    latest = Read.objects.filter(case=case, reader=reader, context=context).order_by("-version").first()
    if latest is not None:
        return latest
    read = Read.objects.create(case=case, reader=reader, version=1, context=context, opened_at=timezone.now(),
                               origin=Read.Origin(origin).value, schema_version=case.project.schema_version)
    if not context and case.status == Case.Status.UNREAD:
        Case.objects.filter(pk=case.pk, status=Case.Status.UNREAD).update(status=Case.Status.IN_READING)
    _audit_read(actor=actor, reader=reader, action="read_open", read=read,
                payload={"case": case.pk, "version": 1, "origin": read.origin,
                         **({"context": context} if context else {})})
    return read


def _draft_check(reader_id: int, status: str, reader) -> None:
    if reader_id != reader.pk:
        raise ReadingError("not your read", 404)
    if status != Read.Status.DRAFT:
        raise ReadingError("this read is submitted and cannot change; ask for a correction instead", 409)


def _locked_draft(read: Read, reader) -> Read:
    read = Read.objects.select_for_update(of=("self",)).select_related("case__project").get(pk=read.pk)
    _draft_check(read.reader_id, read.status, reader)
    return read


def _read_schema(read: Read) -> dict:
    """The read's label schema; without a query when it is the project's current version, whose schema the
    project row holds (project_create and project_schema_new_version write the two together, and a version's
    row never changes)."""
    project = read.case.project
    return project.label_schema if read.schema_version == project.schema_version else read.label_schema()


def _store_findings(read: Read, findings: list[FindingInput], active_seconds: float | None) -> None:
    rows = _validated_findings(read.case, findings, context=read.context, schema=_read_schema(read))
    read.findings.all().delete()
    for row in rows:
        row.read_id = read.pk
    Finding.objects.bulk_create(rows)
    if active_seconds is not None:
        elapsed = (timezone.now() - read.updated_at).total_seconds()
        allowed = read.active_seconds + max(elapsed, 0) + ACTIVE_SECONDS_SLACK
        read.active_seconds = max(read.active_seconds, min(float(active_seconds), allowed))


@transaction.atomic
def read_save_draft(*, read: Read, reader, findings: list[FindingInput], active_seconds: float | None = None,
                    actor=None) -> Read:
    """Replaces the draft's findings (all validated first: a bad finding stores nothing)."""
    # The autosave's path, every few seconds per reader: the row is locked (a submit may be under way) and
    # what may have changed since the caller fetched it is read back, but the case and project the caller
    # loaded are kept (a read never changes case; the project's schema pair is checked in _read_schema).
    read.reader_id, read.status, read.active_seconds, read.updated_at = (
        Read.objects.select_for_update().values_list("reader_id", "status", "active_seconds", "updated_at")
        .get(pk=read.pk))
    _draft_check(read.reader_id, read.status, reader)
    _store_findings(read, findings, active_seconds)
    read.save(update_fields=["active_seconds", "updated_at"])
    _audit_read(actor=actor, reader=reader, action="read_save_draft", read=read,
                payload={"findings": len(findings), "active_seconds": round(read.active_seconds, 1)})
    return read


@transaction.atomic
def read_submit(*, read: Read, reader, findings: list[FindingInput] | None = None,
                active_seconds: float | None = None, actor=None) -> Read:
    """Submits the draft; it is immutable from now on. When this completes the second read of the case, the
    reads are compared: agreement becomes ground truth, disagreement opens an adjudication."""
    read = _locked_draft(read, reader)
    refusal = access.read_correction_refusal(read) if read.supersedes_id and not read.context else None
    if refusal:
        raise ReadingError(refusal, 409)
    if findings is not None:
        _store_findings(read, findings, active_seconds)
    project = read.case.project
    if project.labelling_mode == project.LabellingMode.EXHAUSTIVE:
        given = {(f.disc_level, f.finding_type) for f in read.findings.filter(instance__isnull=True)
                 .exclude(review_action=ReviewAction.DELETED)}
        schema = read.label_schema()
        missing = [f"{level} {name}" for level in schema["levels"] for name in finding_specs(schema)
                   if (level, name) not in given]
        if missing:
            raise ReadingError(f"exhaustive project: {len(missing)} findings missing, e.g. {', '.join(missing[:3])}")
    read.status = Read.Status.SUBMITTED
    read.submitted_at = timezone.now()
    read.save()
    _audit_read(actor=actor, reader=reader, action="read_submit", read=read,
                payload={"case": read.case_id, "version": read.version,
                         "active_seconds": round(read.active_seconds, 1)})
    if not read.context:  # a reader-study session's read never makes ground truth
        case_evaluate_agreement(case=read.case)
    return read


@transaction.atomic
def read_correct(*, read: Read, reader) -> Read:
    """A new draft version copying a submitted read; the submitted one is kept unchanged. Allowed before the
    second read arrives or after the ground truth is final (the correction is kept; the ground truth stays), never
    while the case awaits adjudication (``access.read_correction_refusal``)."""
    read = Read.objects.select_for_update().select_related("case").get(pk=read.pk)
    if read.reader_id != reader.pk:
        raise ReadingError("not your read", 404)
    if read.status != Read.Status.SUBMITTED or Read.objects.filter(supersedes=read).exists():
        raise ReadingError("only the latest submitted read can be corrected", 409)
    refusal = access.read_correction_refusal(read)
    if refusal:
        raise ReadingError(refusal, 409)
    correction = Read.objects.create(case=read.case, reader=reader, context=read.context, version=read.version + 1,
                                     supersedes=read, schema_version=read.schema_version,
                                     opened_at=timezone.now(), active_seconds=0.0)
    Finding.objects.bulk_create([
        Finding(case=read.case, read=correction, disc_level=f.disc_level, finding_type=f.finding_type,
                value=f.value, instance_id=f.instance_id, **box_fields(f.box), source=f.source,
                review_action=f.review_action, model_finding_id=f.model_finding_id)
        for f in read.findings.all()
    ])
    audit_log(actor=reader, action="read_correct", target=correction, payload={"supersedes": read.pk})
    return correction


def read_items(read: Read) -> list[ReadItem]:
    return [
        ReadItem(f.disc_level, f.finding_type, f.value, f.instance_id, f.box)
        for f in read.findings.exclude(review_action=ReviewAction.DELETED)
    ]


def latest_submitted_reads(case: Case) -> list[Read]:
    """The latest submitted read of each of the case's first two assigned readers, in order of submission."""
    readers = list(Assignment.objects.filter(case=case, role=Role.READER).order_by("assigned_at", "id")
                   .values_list("user_id", flat=True)[:2])
    reads = []
    for reader_id in readers:
        read = (Read.objects.filter(case=case, reader_id=reader_id, context="", status=Read.Status.SUBMITTED)
                .order_by("-version").first())
        if read is not None:
            reads.append(read)
    return sorted(reads, key=lambda r: (r.submitted_at, r.pk))


def case_evaluate_agreement(*, case: Case) -> Adjudication | None:
    """Once both reads are in: ground truth by agreement for what agrees; an adjudication for the rest."""
    case = Case.objects.select_for_update().select_related("project").get(pk=case.pk)
    # A senior's open adjudication is theirs to decide: nothing re-runs the comparison under it.
    if case.status in (Case.Status.GROUND_TRUTH, Case.Status.ADJUDICATION):
        return None
    reads = latest_submitted_reads(case)
    if len(reads) < 2:
        return None
    project = case.project
    # In a positive-only project an unannotated finding stands for its negative value (the schema says which).
    positive_only = project.labelling_mode == project.LabellingMode.POSITIVE_ONLY
    negatives = negative_values(project.label_schema) if positive_only else {}
    comparison = compare_reads(read_items(reads[0]), read_items(reads[1]),
                               iou_threshold=project.box_iou_threshold, negative_values=negatives)
    # A correction re-runs the comparison: what an earlier run wrote is replaced.
    GroundTruthItem.objects.filter(case=case).delete()
    Adjudication.objects.filter(case=case, status=Adjudication.Status.OPEN).delete()
    GroundTruthItem.objects.bulk_create([
        GroundTruthItem(case=case, disc_level=a.disc_level, finding_type=a.finding_type, value=a.value,
                        instance_id=a.instance_id, **box_fields(a.box), provenance=GroundTruthItem.Provenance.AGREEMENT)
        for a in comparison.agreed
    ])
    if not comparison.disagreements:
        case.status = Case.Status.GROUND_TRUTH
        case.save(update_fields=["status"])
        audit_log(actor=None, action="ground_truth_by_agreement", target=case,
                  payload={"items": len(comparison.agreed), "reads": [r.pk for r in reads]})
        return None
    adjudication = Adjudication.objects.create(case=case, read_a=reads[0], read_b=reads[1])
    AdjudicationItem.objects.bulk_create([
        AdjudicationItem(adjudication=adjudication, kind=d.kind, disc_level=d.disc_level,
                         finding_type=d.finding_type, value_a=d.value_a, value_b=d.value_b,
                         instance_id=d.instance_id, box_a=list(d.box_a) if d.box_a else None,
                         box_b=list(d.box_b) if d.box_b else None)
        for d in comparison.disagreements
    ])
    case.status = Case.Status.ADJUDICATION
    case.save(update_fields=["status"])
    audit_log(actor=None, action="adjudication_open", target=adjudication,
              payload={"case": case.pk, "items": len(comparison.disagreements)})
    return adjudication
