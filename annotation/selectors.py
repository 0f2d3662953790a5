"""Reads of the case store: worklists, viewer payloads, progress. Who may see what is decided in `access`;
these take objects the caller has already obtained through it."""
from __future__ import annotations

import hashlib

from django.db.models import Count, Prefetch, QuerySet

from annotation.services.model_output import EXTERNAL_MODEL_PREFIX
from annotation.models import (
    Adjudication, AdjudicationItem, Assignment, Case, Finding, GroundTruthItem, Instance, Project, Read, Role, Source
)


def case_list_with_counts(cases: QuerySet[Case]) -> QuerySet[Case]:
    return cases.annotate(series_count=Count("series", distinct=True), instance_count=Count("series__instances"))


def case_viewer_series(case: Case, *, instances: QuerySet[Instance]) -> list[dict]:
    """What the viewer needs of a case's images (``instances``: those the viewer may show, from
    ``access.instances_visible_to``): series with their instances in slice order, sagittal first (the plane
    readers grade on)."""
    order = {"sagittal": 0, "axial": 1}
    series = [
        {"id": s.pk, "plane": s.plane, "description": s.description,
         "instances": [{"id": i.pk, "url": f"/api/instances/{i.pk}/dicom", "rows": i.rows, "columns": i.columns}
                       for i in s.instances.all()]}
        for s in case.series.prefetch_related(Prefetch("instances", queryset=instances))
    ]
    return sorted([s for s in series if s["instances"]], key=lambda s: order.get(s["plane"], 2))


def case_detail(case: Case, *, instances: QuerySet[Instance]) -> Case:
    """The case with its series and the given instances (those the user may see) in slice order, in three
    queries."""
    return (Case.objects.prefetch_related(Prefetch("series__instances", queryset=instances))
            .select_related("project").get(pk=case.pk))


def burned_in_pending(project: Project) -> QuerySet[Instance]:
    return (Instance.objects.filter(series__case__project=project, burned_in=Instance.BurnedIn.PENDING)
            .select_related("series").order_by("series__case_id", "series_id", "id"))


# Reading ------------------------------------------------------------------------------------------------------

def current_read_for(user, case: Case) -> Read | None:
    return Read.objects.filter(case=case, reader=user, context="").order_by("-version").first()


def model_findings_for(case: Case, *, model_version: str | None = None) -> QuerySet[Finding]:
    """Model pre-annotations of a case (callers have checked access): of one model version, or by default those
    the double reading shows (never an imported external model's)."""
    findings = Finding.objects.filter(case=case, source=Source.MODEL, read__isnull=True)
    if model_version is not None:
        findings = findings.filter(model_version=model_version)
    else:
        findings = findings.exclude(model_version__startswith=EXTERNAL_MODEL_PREFIX)
    return findings.order_by("disc_level", "finding_type", "id")


def worklist_for_reader(user) -> list[dict]:
    """The reader's assigned cases with their state (to_read, in_progress, submitted), in each project's order:
    priority (set by active learning) or a random order fixed per reader."""
    assignments = Assignment.objects.filter(user=user, role=Role.READER).select_related("case__project")
    latest = {}
    for read in Read.objects.filter(reader=user, context="", case__in=[a.case_id for a in assignments]).order_by("version"):
        latest[read.case_id] = read
    rows = []
    for assignment in assignments:
        case, read = assignment.case, latest.get(assignment.case_id)
        state = "to_read" if read is None else ("in_progress" if read.status == Read.Status.DRAFT else "submitted")
        if case.project.case_order == case.project.CaseOrder.RANDOM:
            order = (keyed_order(user.pk, case.pk),)
        else:
            order = (-case.priority, case.pk)
        rows.append({"case": case, "state": state, "read": read, "order": (case.project.slug, *order)})
    rows.sort(key=lambda row: row["order"])
    return rows


def reading_schema(user, case: Case) -> dict:
    """The schema the reader's page shows: that of their latest double-reading read of the case (a read keeps the
    version it was opened under), or the project's current one before they open it."""
    read = current_read_for(user, case)
    return read.label_schema() if read is not None else case.project.label_schema


def next_case_for_reader(user, after_case: Case) -> Case | None:
    """The case to open after `after_case`: the first one after it in the reader's worklist order that is not
    submitted yet, else the first such case before it; None when every other case is submitted."""
    rows = worklist_for_reader(user)
    index = next((i for i, row in enumerate(rows) if row["case"].pk == after_case.pk), -1)
    for row in rows[index + 1:] + rows[:max(index, 0)]:
        if row["state"] != "submitted" and row["case"].pk != after_case.pk:
            return row["case"]
    return None


def worklist_position(user, case: Case) -> tuple[int, int] | None:
    """(n, N): the case is the n-th of the reader's N worklist cases; None when it is not on the worklist."""
    rows = worklist_for_reader(user)
    index = next((i for i, row in enumerate(rows) if row["case"].pk == case.pk), None)
    return None if index is None else (index + 1, len(rows))


def keyed_order(user_id: int, case_id: int) -> str:
    return hashlib.sha256(f"{user_id}:{case_id}".encode()).hexdigest()


def project_progress(project: Project) -> dict:
    """Coordinator's overview: cases by state, who holds what, and raw agreement so far per finding."""
    by_status = dict(project.cases.values_list("status").annotate(n=Count("id")))
    submitted = Read.objects.filter(case__project=project, status=Read.Status.SUBMITTED)
    per_case = submitted.values("case").annotate(readers=Count("reader", distinct=True))
    read_once = sum(1 for row in per_case if row["readers"] == 1)
    read_twice = sum(1 for row in per_case if row["readers"] >= 2)
    read_done = dict(submitted.filter(context="").values_list("reader__username")
                     .annotate(n=Count("case", distinct=True)))
    adjudicated = dict(Adjudication.objects.filter(case__project=project, resolved_by__isnull=False)
                       .values_list("resolved_by__username").annotate(n=Count("id")))
    holders = [
        {"user": row["user__username"], "role": row["role"], "assigned": row["assigned"],
         "done": (read_done if row["role"] == Role.READER else adjudicated).get(row["user__username"], 0)}
        for row in (Assignment.objects.filter(case__project=project).values("user__username", "role")
                    .annotate(assigned=Count("case", distinct=True)).order_by("role", "user__username"))
    ]
    agreed = dict(GroundTruthItem.objects.filter(case__project=project, instance__isnull=True,
                                                 provenance=GroundTruthItem.Provenance.AGREEMENT)
                  .values_list("finding_type").annotate(n=Count("id")))
    disagreed = dict(AdjudicationItem.objects.filter(adjudication__case__project=project,
                                                     kind=AdjudicationItem.Kind.VALUE)
                     .values_list("finding_type").annotate(n=Count("id")))
    agreement = []
    for finding in sorted(set(agreed) | set(disagreed)):
        total = agreed.get(finding, 0) + disagreed.get(finding, 0)
        agreement.append({"finding_type": finding, "agreed": agreed.get(finding, 0), "compared": total,
                          "percent": round(100 * agreed.get(finding, 0) / total, 1) if total else None})
    return {
        "cases": project.cases.count(),
        "by_status": {status: by_status.get(status, 0) for status in Case.Status.values},
        "read_once": read_once,
        "read_twice": read_twice,
        "adjudicated": Adjudication.objects.filter(case__project=project,
                                                   status=Adjudication.Status.RESOLVED).count(),
        "ground_truth": by_status.get(Case.Status.GROUND_TRUTH, 0),
        "holders": holders,
        "agreement": agreement,
    }


def users_with_role(usernames: list[str], role: str, *, project: Project) -> list:
    """The users named, each of whom must hold the role on this project (the People page gives it); raises
    ValueError naming those who do not. Work on a project goes only to the people its coordinators chose."""
    users = {u.username: u for u in project_members(project, role).filter(username__in=usernames, groups__name=role)}
    missing = [name for name in usernames if name not in users]
    if missing:
        raise ValueError(f"not a {role} of project {project.slug}: {', '.join(missing)}")
    return [users[name] for name in usernames]


def user_named(username: str):
    """The user of that name (the holder of an assignment being moved away, whatever roles they hold now);
    raises ValueError in words."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValueError(f"no user {username!r}")
    return user


def project_members(project: Project, role: str) -> QuerySet:
    """The users who hold this role on this project (ProjectMembership), by username: who the project's
    assignment form offers. Nobody is offered from outside the project."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(memberships__project=project, memberships__role=role).order_by("username")


def project_memberships(project: Project) -> QuerySet:
    """Every role held on the project, with the user and their reader profile (the people page)."""
    from annotation.models import ProjectMembership

    return (ProjectMembership.objects.filter(project=project).select_related("user__reader_profile")
            .order_by("user__username", "role"))


def project_schema_history(project: Project) -> QuerySet:
    """The project's schema versions, newest first, with who made each."""
    return project.schema_versions.select_related("created_by").order_by("-version")


def users_in_role(role: str) -> QuerySet:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(groups__name=role).order_by("username")
