"""Reads of the case store: worklists, viewer payloads, progress. Who may see what is decided in `access`;
these take objects the caller has already obtained through it."""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from annotation.services.model_output import EXTERNAL_MODEL_PREFIX
from annotation.models import (
    Adjudication, AdjudicationItem, Assignment, Case, Finding, GroundTruthItem, Instance, Project, Read, ReviewAction,
    Role, Source
)
from annotation.schema import finding_specs, negative_values
from stats.agreement import KappaResult, cohen_kappa
from stats.results import Proportion, proportion

CALIBRATION = Assignment.CALIBRATION


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

def current_read_for(user, case: Case, *, context: str = "") -> Read | None:
    """The user's latest read of the case in a context (``access.reading_context``: the double reading's "" or
    a calibration case's)."""
    return Read.objects.filter(case=case, reader=user, context=context).order_by("-version").first()


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
    priority (set by active learning) or a random order fixed per reader.

    The calibration cases the reader was given (services.calibration) are blended in, one into each block of
    the project's ``calibration_every`` cases at a place fixed per reader; their rows are like any other."""
    assignments = list(Assignment.objects.filter(user=user, role__in=[Role.READER, CALIBRATION])
                       .select_related("case__project").order_by("assigned_at", "id"))
    latest = {}
    for read in Read.objects.filter(reader=user, context__in=["", CALIBRATION],
                                    case__in=[a.case_id for a in assignments]).order_by("version"):
        latest[(read.case_id, read.context)] = read
    double_read = {a.case_id for a in assignments if a.role == Role.READER}
    rows, calibration = [], defaultdict(list)
    for assignment in assignments:
        case, is_calibration = assignment.case, assignment.role == CALIBRATION
        if is_calibration and case.pk in double_read:
            continue  # access reads it as the double reading's; never twice on the list
        read = latest.get((case.pk, CALIBRATION if is_calibration else ""))
        state = "to_read" if read is None else ("in_progress" if read.status == Read.Status.DRAFT else "submitted")
        if case.project.case_order == case.project.CaseOrder.RANDOM:
            order = (keyed_order(user.pk, case.pk),)
        else:
            order = (-case.priority, case.pk)
        row = {"case": case, "state": state, "read": read, "order": (case.project.slug, *order)}
        (calibration[case.project_id] if is_calibration else rows).append(row)
    rows.sort(key=lambda row: row["order"])
    return _blended(rows, calibration, user.pk) if calibration else rows


def _blended(rows: list[dict], calibration: dict[int, list[dict]], user_id: int) -> list[dict]:
    """Each project's rows with its calibration rows (in the order given) put one into each block of
    ``calibration_every`` rows, at a place within the block fixed per reader and case: not every N-th, which a
    reader would learn; those beyond the last block go last."""
    projects = {row["case"].project_id: row["case"].project for row in rows}
    projects.update({pk: extra[0]["case"].project for pk, extra in calibration.items()})
    out = []
    for project in sorted(projects.values(), key=lambda p: p.slug):
        own = [row for row in rows if row["case"].project_id == project.pk]
        extra = calibration.get(project.pk, [])
        every = project.calibration_every or max(1, len(own) // max(len(extra), 1))
        for i in range(max(len(extra), -(-len(own) // every))):
            block = own[i * every:(i + 1) * every]
            if i < len(extra):
                block.insert(int(keyed_order(user_id, extra[i]["case"].pk)[:8], 16) % (len(block) + 1), extra[i])
            out += block
    return out


def reading_schema(user, case: Case, *, context: str = "") -> dict:
    """The schema the reader's page shows: that of their latest read of the case in the context (a read keeps the
    version it was opened under), or the project's current one before they open it."""
    read = current_read_for(user, case, context=context)
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
    # Calibration reads are no part of the double reading's progress (the calibration page has them).
    submitted = Read.objects.filter(case__project=project, status=Read.Status.SUBMITTED).exclude(context=CALIBRATION)
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
        for row in (Assignment.objects.filter(case__project=project).exclude(role=CALIBRATION)
                    .values("user__username", "role")
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


# Calibration ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FindingCalibration:
    """One reader against the ground truth on one finding, over their calibration reads."""

    finding_type: str
    label: str
    accuracy: Proportion       # values equal to the ground truth's / values compared, Wilson 95% interval
    kappa: KappaResult | None  # Cohen's kappa (quadratic weights for an ordinal finding); None: nothing compared
    below: bool                # under the project's accuracy or kappa threshold


@dataclass(frozen=True)
class ReaderCalibration:
    reader: str
    given: int      # calibration cases on their worklist
    submitted: int  # of those still marked, read and submitted
    findings: tuple[FindingCalibration, ...]

    @property
    def flagged(self) -> bool:
        return any(finding.below for finding in self.findings)


def calibration_cases(project: Project) -> QuerySet[Case]:
    """The project's calibration cases, each with how many readers were given it."""
    return (project.cases.filter(calibration=True)
            .annotate(given=Count("assignments", filter=Q(assignments__role=CALIBRATION))).order_by("id"))


def calibration_report(project: Project) -> list[ReaderCalibration]:
    """Per reader given calibration cases: how many, how many submitted, and for each finding of the project's
    schema the running accuracy and Cohen's kappa of their latest submitted calibration reads against the ground
    truth, in four queries.

    Values are paired as the agreement engine pairs two reads (annotation.agreement.compare_reads): the value
    items of the read and of the ground truth, one that is missing standing for the finding's negative value in
    a positive-only project (else the pair is left out); boxes are not scored. Only cases still marked count."""
    specs = finding_specs(project.label_schema)
    positive_only = project.labelling_mode == project.LabellingMode.POSITIVE_ONLY
    negatives = negative_values(project.label_schema) if positive_only else {}
    given = dict(Assignment.objects.filter(case__project=project, role=CALIBRATION)
                 .values_list("user__username").annotate(n=Count("id")))
    latest = {}
    for read_id, username, case_id in (
            Read.objects.filter(case__project=project, case__calibration=True, context=CALIBRATION,
                                status=Read.Status.SUBMITTED)
            .order_by("version").values_list("pk", "reader__username", "case_id")):
        latest[(username, case_id)] = read_id
    read_values, truth = defaultdict(dict), defaultdict(dict)
    for read_id, level, name, value in (
            Finding.objects.filter(read_id__in=latest.values(), instance__isnull=True)
            .exclude(review_action=ReviewAction.DELETED).values_list("read_id", "disc_level", "finding_type", "value")):
        read_values[read_id][(level, name)] = value
    for case_id, level, name, value in (
            GroundTruthItem.objects.filter(case_id__in={case_id for _, case_id in latest}, instance__isnull=True)
            .values_list("case_id", "disc_level", "finding_type", "value")):
        truth[case_id][(level, name)] = value
    pairs = defaultdict(lambda: defaultdict(lambda: ([], [])))
    for (username, case_id), read_id in latest.items():
        read, reference = read_values[read_id], truth[case_id]
        for level, name in set(read) | set(reference):
            spec = specs.get(name)
            given_value = read.get((level, name), negatives.get(name))
            true_value = reference.get((level, name), negatives.get(name))
            if spec is not None and given_value in spec.values and true_value in spec.values:
                pairs[username][name][0].append(given_value)
                pairs[username][name][1].append(true_value)
    submitted = defaultdict(int)
    for username, _case_id in latest:
        submitted[username] += 1
    return [ReaderCalibration(reader=username, given=given.get(username, 0), submitted=submitted[username],
                              findings=tuple(_finding_calibration(project, spec, *pairs[username][name])
                                             for name, spec in specs.items()))
            for username in sorted(set(given) | set(submitted))]


def _finding_calibration(project: Project, spec, given: list[str], truth: list[str]) -> FindingCalibration:
    accuracy = proportion(sum(a == b for a, b in zip(given, truth)), len(given))
    kappa = cohen_kappa(given, truth, weights="quadratic" if spec.scale == "ordinal" else None,
                        categories=spec.values) if given else None
    # NaN (nothing compared, or kappa undefined: one category only) is never below a threshold.
    low_accuracy = project.calibration_min_accuracy is not None and accuracy.value < project.calibration_min_accuracy
    low_kappa = (project.calibration_min_kappa is not None and kappa is not None
                 and not math.isnan(kappa.value) and kappa.value < project.calibration_min_kappa)
    return FindingCalibration(spec.name, spec.label, accuracy, kappa, low_accuracy or low_kappa)


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
