"""Import of reads made in Label Studio (its JSON export: a list of tasks with annotations).

The tasks follow the shape ``exports.label_studio_tasks`` writes: ``data.case_id`` (or
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


def _level_name(text: str, levels: list[str]) -> str:
    level = text.replace("-", "/")
    if level not in levels:
        _fail(f"unknown disc level {text!r}; expected one of {levels}")
    return level


@transaction.atomic
def label_studio_import(*, project: Project, tasks, reader, context: str = "", actor=None) -> dict:
    """Returns {"reads": [read ids], "cases": n, "findings": n}. The reads are the reader's, written by the actor
    (their audit rows name both); never into a reader study's context, which only its sessions write."""
    if not access.context_writable_by_import(context):
        _fail(f"context {context!r} belongs to a reader study; study reads come only from its sessions")
    tasks = _tasks_list(tasks)
    schema = project.label_schema
    levels = list(schema["levels"])
    case_ids = {t["data"].get("case_id") for t in tasks if t["data"].get("case_id") is not None}
    uids = {t["data"].get("study_instance_uid") for t in tasks if t["data"].get("case_id") is None}
    cases = {c.pk: c for c in Case.objects.filter(project=project, pk__in=[c for c in case_ids if isinstance(c, int)])}
    by_uid = {c.study_instance_uid: c for c in Case.objects.filter(project=project, study_instance_uid__in=uids)}
    per_case: dict[int, list[FindingInput]] = {}
    for i, task in enumerate(tasks):
        data = task["data"]
        case = cases.get(data.get("case_id")) if data.get("case_id") is not None else by_uid.get(
            data.get("study_instance_uid"))
        if case is None:
            _fail(f"task {i} refers to no case of project {project.slug} "
                  f"(case_id={data.get('case_id')!r}, study_instance_uid={data.get('study_instance_uid')!r})")
        annotations = [a for a in task.get("annotations", []) if isinstance(a, dict) and not a.get("was_cancelled")]
        if not annotations:
            continue
        result = annotations[-1].get("result")
        if not isinstance(result, list):
            _fail(f"task {i}: annotation 'result' must be a list")
        instance = None
        findings = per_case.setdefault(case.pk, [])
        for j, region in enumerate(result):
            where = f"task {i} result {j}"
            if not isinstance(region, dict) or not isinstance(region.get("value"), dict):
                _fail(f"{where}: malformed region")
            kind, value = region.get("type"), region["value"]
            if kind == "rectanglelabels":
                if instance is None:
                    instance = Instance.objects.filter(series__case=case).filter(
                        **({"pk": data["instance_id"]} if data.get("instance_id") is not None
                           else {"sop_instance_uid": data.get("sop_instance_uid")})).first()
                    if instance is None:
                        _fail(f"task {i}: its image is not an instance of case {case.pk}")
                try:
                    labels = value["rectanglelabels"]
                    finding, finding_value = class_to_finding(schema, labels[0])
                    x, y, w, h = (float(value[k]) for k in ("x", "y", "width", "height"))
                    level_text = (region.get("meta") or {}).get("text", [None])[0]
                except (KeyError, IndexError, TypeError, ValueError, SchemaError) as error:
                    _fail(f"{where}: {error}")
                if not level_text:
                    _fail(f"{where}: a box needs its disc level in meta.text")
                columns, rows = instance.columns, instance.rows
                box = (x * columns / 100, y * rows / 100, (x + w) * columns / 100, (y + h) * rows / 100)
                findings.append(FindingInput(disc_level=_level_name(level_text, levels), finding_type=finding,
                                             value=finding_value, instance_id=instance.pk, box=box))
            elif kind == "choices":
                name = str(region.get("from_name", ""))
                if "__" not in name or not value.get("choices"):
                    _fail(f"{where}: choices must be named '<finding>__<level>' and hold one choice")
                finding, level_text = name.split("__", 1)
                findings.append(FindingInput(disc_level=_level_name(level_text, levels), finding_type=finding,
                                             value=str(value["choices"][0])))
            else:
                _fail(f"{where}: unsupported result type {kind!r}")
    read_ids, total = [], 0
    for case_id, findings in per_case.items():
        case = cases.get(case_id) or next(c for c in by_uid.values() if c.pk == case_id)
        try:
            read = services.read_open(case=case, reader=reader, context=context, actor=actor,
                                      origin=Read.Origin.IMPORT)
            read = services.read_submit(read=read, reader=reader, findings=findings, actor=actor)
        except ReadingError as error:
            _fail(f"case {case_id}: {error}")
        read_ids.append(read.pk)
        total += len(findings)
    services.audit_log(actor=actor, action="label_studio_import", target=project,
                       payload={"reader": reader.username, "context": context, "reads": read_ids})
    return {"reads": read_ids, "cases": len(read_ids), "findings": total}
