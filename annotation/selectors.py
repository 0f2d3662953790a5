"""Reads, and the one place that decides who may see what.

Every view and page goes through `*_visible_to` / `*_get_for`; nothing else filters cases by user. A reader or
senior sees only the cases assigned to them; a coordinator (or superuser) sees every case.
"""
from __future__ import annotations

import hashlib

from django.db.models import Count, QuerySet
from django.http import Http404

from annotation.models import (
    Adjudication,
    AdjudicationItem,
    Assignment,
    Case,
    Finding,
    GroundTruthItem,
    Instance,
    Project,
    Read,
    Role,
    Source,
)


def user_roles(user) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    if not hasattr(user, "_spineread_roles"):
        roles = set(user.groups.values_list("name", flat=True)) & {r.value for r in Role}
        if user.is_superuser:
            roles.add(Role.COORDINATOR.value)
        user._spineread_roles = roles
    return user._spineread_roles


def is_coordinator(user) -> bool:
    return Role.COORDINATOR.value in user_roles(user)


def projects_visible_to(user) -> QuerySet[Project]:
    if is_coordinator(user):
        return Project.objects.all().order_by("slug")
    return Project.objects.filter(cases__assignments__user=user).distinct().order_by("slug")


def cases_visible_to(user, *, project: Project | None = None) -> QuerySet[Case]:
    cases = Case.objects.all() if is_coordinator(user) else Case.objects.filter(assignments__user=user).distinct()
    if project is not None:
        cases = cases.filter(project=project)
    return cases


def project_get_for(user, slug: str) -> Project:
    try:
        return projects_visible_to(user).get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("no such project")


def case_get_for(user, case_id: int) -> Case:
    """The case, or 404 when it does not exist or the user may not see it (no hint which)."""
    try:
        return cases_visible_to(user).select_related("project").get(pk=case_id)
    except (Case.DoesNotExist, ValueError):
        raise Http404("no such case")


def instance_get_for(user, instance_id: int) -> Instance:
    visible = cases_visible_to(user)
    try:
        return Instance.objects.select_related("series__case").get(pk=instance_id, series__case__in=visible)
    except (Instance.DoesNotExist, ValueError):
        raise Http404("no such instance")


def case_list_with_counts(cases: QuerySet[Case]) -> QuerySet[Case]:
    return cases.annotate(series_count=Count("series", distinct=True), instance_count=Count("series__instances"))


def case_viewer_series(case: Case) -> list[dict]:
    """What the viewer needs of a case's images: series with their instances in slice order, sagittal first
    (the plane readers grade on)."""
    order = {"sagittal": 0, "axial": 1}
    series = [
        {"id": s.pk, "plane": s.plane, "description": s.description,
         "instances": [{"id": i.pk, "url": f"/api/instances/{i.pk}/dicom", "rows": i.rows, "columns": i.columns}
                       for i in s.instances.all()]}
        for s in case.series.prefetch_related("instances")
    ]
    return sorted([s for s in series if s["instances"]], key=lambda s: order.get(s["plane"], 2))


def case_detail(case: Case) -> Case:
    """The case with its series and their instances in slice order, in three queries."""
    return Case.objects.prefetch_related("series__instances").select_related("project").get(pk=case.pk)


# Reading, blinding and adjudication ---------------------------------------------------------------------------
# Blinding lives here and nowhere else. A reader sees their own reads; another reader's read, that reader's
# identity and the ground truth only once the case's ground truth is final. A senior sees the reads and ground
# truth of cases assigned to them once both reads are in (adjudication or final). Coordinators see everything.

REVEALED_TO_SENIOR = (Case.Status.ADJUDICATION, Case.Status.GROUND_TRUTH)


def _assigned(user, case: Case, role: str) -> bool:
    return Assignment.objects.filter(case=case, user=user, role=role).exists()


def reads_visible_to(user, case: Case) -> QuerySet[Read]:
    reads = Read.objects.filter(case=case).select_related("reader")
    if is_coordinator(user):
        return reads
    if case.status in REVEALED_TO_SENIOR and _assigned(user, case, Role.SENIOR):
        return reads
    if case.status == Case.Status.GROUND_TRUTH and _assigned(user, case, Role.READER):
        return reads
    return reads.filter(reader=user)


def read_get_for(user, read_id: int) -> Read:
    try:
        read = Read.objects.select_related("case__project").get(pk=read_id)
    except (Read.DoesNotExist, ValueError):
        raise Http404("no such read")
    if not reads_visible_to(user, read.case).filter(pk=read.pk).exists():
        raise Http404("no such read")
    return read


def ground_truth_visible_to(user, case: Case) -> bool:
    if is_coordinator(user):
        return True
    if case.status in REVEALED_TO_SENIOR and _assigned(user, case, Role.SENIOR):
        return True
    # Only a primary read (context "") earns the right: a reader-study session's read must stay blind to the
    # ground truth of the study case it reads.
    return case.status == Case.Status.GROUND_TRUTH and Read.objects.filter(
        case=case, reader=user, context="", status=Read.Status.SUBMITTED).exists()


def ground_truth_for(user, case: Case) -> QuerySet[GroundTruthItem]:
    if not ground_truth_visible_to(user, case):
        raise Http404("no ground truth visible")
    return GroundTruthItem.objects.filter(case=case).order_by("disc_level", "finding_type", "id")


def own_read_for_update(user, case_id: int) -> Read:
    """The requesting reader's latest read of a case they are assigned to read, in one query (autosave's path);
    404 otherwise."""
    read = (Read.objects.filter(case_id=case_id, reader=user, context="", case__assignments__user=user,
                                case__assignments__role=Role.READER)
            .select_related("case__project").order_by("-version").first())
    if read is None:
        raise Http404("no open read of this case; open it first")
    return read


def current_read_for(user, case: Case) -> Read | None:
    return Read.objects.filter(case=case, reader=user, context="").order_by("-version").first()


def model_findings_for(case: Case, *, model_version: str | None = None) -> QuerySet[Finding]:
    """Model pre-annotations of a case (callers have checked access), optionally of one model version."""
    findings = Finding.objects.filter(case=case, source=Source.MODEL, read__isnull=True)
    if model_version is not None:
        findings = findings.filter(model_version=model_version)
    return findings.order_by("disc_level", "finding_type", "id")


def model_findings_visible_to(user, case: Case) -> bool:
    """The double reading's readers and seniors see pre-annotations; a reader-study reader sees them only
    through an aided session (the studies app decides), never in an unaided one."""
    return is_coordinator(user) or Assignment.objects.filter(
        case=case, user=user, role__in=[Role.READER, Role.SENIOR]).exists()


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


def keyed_order(user_id: int, case_id: int) -> str:
    return hashlib.sha256(f"{user_id}:{case_id}".encode()).hexdigest()


def adjudication_queue_for(user) -> QuerySet[Adjudication]:
    adjudications = Adjudication.objects.filter(status=Adjudication.Status.OPEN).select_related("case__project")
    if is_coordinator(user):
        return adjudications.order_by("created_at")
    return adjudications.filter(case__assignments__user=user, case__assignments__role=Role.SENIOR).order_by("created_at")


def adjudication_get_for(user, adjudication_id: int) -> Adjudication:
    adjudications = Adjudication.objects.select_related("case__project", "read_a__reader", "read_b__reader")
    try:
        adjudication = adjudications.get(pk=adjudication_id)
    except (Adjudication.DoesNotExist, ValueError):
        raise Http404("no such adjudication")
    if not (is_coordinator(user) or _assigned(user, adjudication.case, Role.SENIOR)):
        raise Http404("no such adjudication")
    return adjudication


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


def users_with_role(usernames: list[str], role: str) -> list:
    """The users named, each of whom must hold the role; raises ValueError naming the first who does not."""
    from django.contrib.auth import get_user_model

    users = {u.username: u for u in get_user_model().objects.filter(username__in=usernames, groups__name=role)}
    missing = [name for name in usernames if name not in users]
    if missing:
        raise ValueError(f"not a {role}: {', '.join(missing)}")
    return [users[name] for name in usernames]


def users_in_role(role: str) -> QuerySet:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(groups__name=role).order_by("username")


def is_assigned_reader(user, case: Case) -> bool:
    return _assigned(user, case, Role.READER)
