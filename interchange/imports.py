"""Import of reads made in Label Studio (its JSON export: a list of tasks with annotations).

The tasks follow the shape ``formats.label_studio.label_studio_tasks`` writes: ``data.case_id`` (or
``data.study_instance_uid``) names the case, ``data.instance_id`` (or ``data.sop_instance_uid``) the image;
``rectanglelabels`` results carry a detector class and the disc level in ``meta.text``; ``choices`` results
named "<finding>__<L4-L5>" carry per-level values. Each case's results become one submitted read of the given
reader, written through the reading services (so schema checks, exhaustiveness and, in the primary context,
the agreement check all apply). All or nothing: any problem raises ValueError and stores nothing.
"""
from __future__ import annotations

from django.db import transaction

import access
from annotation import services
from annotation.models import Case, Instance, Project, Read
from annotation.schema import SchemaError, class_to_finding
from annotation.services import FindingInput, ReadingError
from interchange.formats.label_studio import LabelStudioFormatError, ParsedResult, level_from_ls, result_parse


def _fail(message: str):
    raise ValueError(f"Label Studio import: {message}")


def _tasks_list(tasks) -> list[dict]:
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list) or not tasks:
        _fail("expected a non-empty list of tasks")
    for i, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            _fail(f"task {i} has no 'data' object")
        if not isinstance(task.get("annotations", []), list):
            _fail(f"task {i}: 'annotations' must be a list")
    return tasks


class _CaseLookup:
    """The project's cases the tasks name, by id or by Study Instance UID, in two queries."""

    def __init__(self, project: Project, tasks: list[dict]):
        self.project = project
        datas = [t["data"] for t in tasks]
        ids = [d["case_id"] for d in datas if isinstance(d.get("case_id"), int)]
        uids = {d.get("study_instance_uid") for d in datas if d.get("case_id") is None}
        self.by_id = {c.pk: c for c in Case.objects.filter(project=project, pk__in=ids)}
        self.by_uid = {c.study_instance_uid: c for c in Case.objects.filter(project=project,
                                                                            study_instance_uid__in=uids)}

    def case_for(self, i: int, data: dict) -> Case:
        if data.get("case_id") is not None:
            case = self.by_id.get(data["case_id"])
        else:
            case = self.by_uid.get(data.get("study_instance_uid"))
        if case is None:
            _fail(f"task {i} refers to no case of project {self.project.slug} "
                  f"(case_id={data.get('case_id')!r}, study_instance_uid={data.get('study_instance_uid')!r})")
        return case


def _task_instance(i: int, data: dict, case: Case) -> Instance:
    image = ({"pk": data["instance_id"]} if data.get("instance_id") is not None
             else {"sop_instance_uid": data.get("sop_instance_uid")})
    instance = Instance.objects.filter(series__case=case).filter(**image).first()
    if instance is None:
        _fail(f"task {i}: its image is not an instance of case {case.pk}")
    return instance


def _task_findings(i: int, data: dict, case: Case, parsed: ParsedResult, schema: dict) -> list[FindingInput]:
    levels = list(schema["levels"])
    findings = []
    instance = _task_instance(i, data, case) if parsed.rectangles else None
    try:
        for region in parsed.rectangles:
            if not region.level:
                raise LabelStudioFormatError("a box needs its disc level in meta.text")
            finding, value = class_to_finding(schema, region.label)
            findings.append(FindingInput(disc_level=level_from_ls(region.level, levels), finding_type=finding,
                                         value=value, instance_id=instance.pk,
                                         box=region.box(instance.columns, instance.rows)))
        for choice in parsed.choices:
            findings.append(FindingInput(disc_level=level_from_ls(choice.level, levels),
                                         finding_type=choice.finding, value=choice.value))
    except (LabelStudioFormatError, SchemaError) as error:
        _fail(f"task {i}: {error}")
    return findings


def _findings_by_case(project: Project, tasks: list[dict]) -> tuple[dict[int, Case], dict[int, list[FindingInput]]]:
    lookup = _CaseLookup(project, tasks)
    cases: dict[int, Case] = {}
    per_case: dict[int, list[FindingInput]] = {}
    for i, task in enumerate(tasks):
        case = lookup.case_for(i, task["data"])
        annotations = [a for a in task.get("annotations", []) if isinstance(a, dict) and not a.get("was_cancelled")]
        if not annotations:
            continue
        try:
            parsed = result_parse(annotations[-1].get("result"))
        except LabelStudioFormatError as error:
            _fail(f"task {i}: {error}")
        cases[case.pk] = case
        per_case.setdefault(case.pk, []).extend(_task_findings(i, task["data"], case, parsed,
                                                               project.label_schema))
    return cases, per_case


@transaction.atomic
def label_studio_import(*, project: Project, tasks, reader, context: str = "", actor=None) -> dict:
    """Returns {"reads": [read ids], "cases": n, "findings": n}. The reads are the reader's, written by the actor
    (their audit rows name both); never into a reader study's context, which only its sessions write."""
    if not access.context_writable_by_import(context):
        _fail(f"context {context!r} belongs to a reader study; study reads come only from its sessions")
    cases, per_case = _findings_by_case(project, _tasks_list(tasks))
    read_ids, total = [], 0
    for case_id, findings in per_case.items():
        try:
            read = services.read_open(case=cases[case_id], reader=reader, context=context, actor=actor,
                                      origin=Read.Origin.IMPORT)
            read = services.read_submit(read=read, reader=reader, findings=findings, actor=actor)
        except ReadingError as error:
            _fail(f"case {case_id}: {error}")
        read_ids.append(read.pk)
        total += len(findings)
    services.audit_log(actor=actor, action="label_studio_import", target=project,
                       payload={"reader": reader.username, "context": context, "reads": read_ids})
    return {"reads": read_ids, "cases": len(read_ids), "findings": total}
