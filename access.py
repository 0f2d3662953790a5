"""Who may see and do what: the one owner of every visibility, blinding and permission rule.

Pages, API views, services, the ML protocol and the reader-study app ask here; nothing else filters by user.

Roles:
- admin (superuser): every project.
- coordinator: the projects they are a member of (``ProjectMembership`` role coordinator), and everything in them:
  cases and their states, reads, ground truth, studies, models, exports.
- reader / senior: the cases assigned to them. A reader sees the images, their own reads and their own work's
  state; the other reader's read, identity and progress, whether the two disagree and the ground truth only
  once the ground truth is final. A senior sees a case's two reads (as A and B, without names), the disagreeing
  items and the model's findings once both reads are in; never a case they also read.
- calibration reader: a reader given a ground-truth-final calibration case in their worklist sees it exactly as a
  case they read before its ground truth is final (images, their own read, the model's findings); never its
  reads, its ground truth or that it is a calibration case.
- study reader: the images of their sessions' cases, the pinned model's findings only in an open aided session;
  never the double reads or the ground truth of a study case.
- ML client (Label Studio): predictions for its one project; writes only through confirmed webhooks.
- anonymous: /login/ and /ml/health.

An object that exists but is not yours answers 404, exactly like one that does not exist.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from annotation.models import (
    Adjudication, Assignment, Case, Finding, GroundTruthItem, Instance, Project, ProjectMembership, Read, Role, Source
)
from studies.models import Arm, ReaderStudy, StudySession

PRIMARY = ""  # Read.context of the project's blind double reading; a reader study's sessions use "study:..."
STUDY_CONTEXT_PREFIX = "study:"
CALIBRATION = Assignment.CALIBRATION  # the Read.context and Assignment.role of a calibration case's read


class AccessDenied(Exception):
    """A rule said no. ``status_code`` is what the API answers (404 hides existence; 409 is a state rule)."""

    def __init__(self, message: str, status_code: int = 404):
        super().__init__(message)
        self.status_code = status_code


# Roles ----------------------------------------------------------------------------------------------------------

def _authenticated(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and getattr(user, "is_active", False)


def user_roles(user) -> set[str]:
    """The platform roles a user holds (groups), plus "coordinator" for an admin; empty when signed out."""
    if not _authenticated(user):
        return set()
    if not hasattr(user, "_spineread_roles"):
        roles = set(user.groups.values_list("name", flat=True)) & {r.value for r in Role}
        if user.is_superuser:
            roles.add(Role.COORDINATOR.value)
        user._spineread_roles = roles
    return user._spineread_roles


def is_admin(user) -> bool:
    return _authenticated(user) and user.is_superuser


def is_coordinator(user) -> bool:
    """Coordinates at least one project (or is an admin): may open the coordinators' pages at all."""
    if is_admin(user):
        return True
    return _authenticated(user) and _coordinated_project_ids(user) != frozenset()


def _coordinated_project_ids(user) -> frozenset[int]:
    if not hasattr(user, "_spineread_coordinates"):
        user._spineread_coordinates = frozenset(ProjectMembership.objects.filter(
            user=user, role=ProjectMembership.Role.COORDINATOR).values_list("project_id", flat=True))
    return user._spineread_coordinates


def coordinates(user, project: Project | int) -> bool:
    """The user is a coordinator of this project (or an admin)."""
    if is_admin(user):
        return True
    if not _authenticated(user):
        return False
    return (project if isinstance(project, int) else project.pk) in _coordinated_project_ids(user)


def ml_client_project(user) -> Project | None:
    """The project whose ML client account this is (Label Studio's HTTP Basic login), else None."""
    if not _authenticated(user):
        return None
    membership = (ProjectMembership.objects.filter(user=user, role=ProjectMembership.Role.ML_CLIENT)
                  .select_related("project").first())
    return membership.project if membership else None


def ml_client_login(user_id: int, username: str):
    """(account, its project) for an ML client login remembered by id and name, in one query (the hot path of
    /ml/predict); None when the account is gone, renamed, inactive or no longer a project's ML client."""
    membership = (ProjectMembership.objects.select_related("user", "project")
                  .filter(user_id=user_id, user__username=username, user__is_active=True,
                          role=ProjectMembership.Role.ML_CLIENT).first())
    return (membership.user, membership.project) if membership else None


# Projects -------------------------------------------------------------------------------------------------------

def projects_visible_to(user) -> QuerySet[Project]:
    if is_admin(user):
        return Project.objects.all().order_by("slug")
    if not _authenticated(user):
        return Project.objects.none()
    return Project.objects.filter(
        Q(pk__in=_coordinated_project_ids(user)) | Q(cases__assignments__user=user)).distinct().order_by("slug")


def projects_coordinated_by(user) -> QuerySet[Project]:
    if is_admin(user):
        return Project.objects.all().order_by("slug")
    return Project.objects.filter(pk__in=_coordinated_project_ids(user)).order_by("slug")


def project_get_for(user, slug: str) -> Project:
    try:
        return projects_visible_to(user).get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("no such project")


def may_create_projects(user) -> bool:
    """Any coordinator (of some project, or holding the platform role) and admins may start a new project; its
    creator then coordinates it."""
    return is_coordinator(user) or (_authenticated(user) and Role.COORDINATOR.value in user_roles(user))


def project_coordinated_get_for(user, slug: str) -> Project:
    """The project, for its coordinators (assign, upload, import, export, models, progress); 404 otherwise."""
    try:
        return projects_coordinated_by(user).get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("no such project")


# Cases, images and case states ------------------------------------------------------------------------------------

def cases_visible_to(user, *, project: Project | None = None) -> QuerySet[Case]:
    if is_admin(user):
        cases = Case.objects.all()
    elif not _authenticated(user):
        cases = Case.objects.none()
    else:
        cases = Case.objects.filter(
            Q(project_id__in=_coordinated_project_ids(user))
            | Q(pk__in=Assignment.objects.filter(user=user).values("case_id")))
    if project is not None:
        cases = cases.filter(project=project)
    return cases


def _one_or_404(queryset: QuerySet, words: str, *args, **lookup):
    """The one row the lookup names, or 404 with the same words whether it is missing or not the user's, and for
    an id that is not a number."""
    try:
        return queryset.get(*args, **lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(words)


def case_get_for(user, case_id: int) -> Case:
    """The case, or 404 when it does not exist or the user may not see it (no hint which)."""
    return _one_or_404(cases_visible_to(user).select_related("project"), "no such case", pk=case_id)


def instances_visible_to(user) -> QuerySet[Instance]:
    """The images of the cases the user may see (a case's study readers see its images too). An image held back
    for a burned-in review (it may show the patient's name on the pixels) only to its project's coordinators."""
    instances = Instance.objects.filter(series__case__in=cases_visible_to(user))
    if not is_admin(user):
        instances = instances.filter(~Q(burned_in=Instance.BurnedIn.PENDING)
                                     | Q(series__case__project_id__in=_coordinated_project_ids(user)))
    return instances


def instance_get_for(user, instance_id: int) -> Instance:
    return _one_or_404(instances_visible_to(user).select_related("series__case"), "no such instance", pk=instance_id)


def instance_reviewable_get_for(user, instance_id: int) -> Instance:
    """An image awaiting its burned-in review, for its project's coordinators; 404 otherwise."""
    return _one_or_404(Instance.objects.select_related("series__case"), "no such instance", pk=instance_id,
                       burned_in=Instance.BurnedIn.PENDING, series__case__project__in=projects_coordinated_by(user))


def upload_get_for(user, project: Project, upload_id):
    """A chunked upload, for the coordinator who started it, within that project; 404 for everyone else (a
    fellow coordinator sees the stored cases, not another's half-sent file)."""
    if not _authenticated(user):
        raise Http404("no such upload")
    return _one_or_404(project.uploads.select_related("project"), "no such upload", pk=upload_id, user=user)


def case_states_visible_to(user, project: Project) -> bool:
    """Whether the user may see each case's status (who opened it, whether the reads disagree): coordinators
    only. Readers see their own work's state (the worklist), seniors their adjudication queue."""
    return coordinates(user, project)


def case_split_visible_to(user, project: Project) -> bool:
    """Whether the user may see cases' split (train, validation, held-out, study): coordinators only. Readers
    never need it, and it would tell a calibration case (final, often tagged already) from their new ones."""
    return coordinates(user, project)


def _assigned(user, case: Case, role: str) -> bool:
    return _authenticated(user) and Assignment.objects.filter(case=case, user=user, role=role).exists()


def is_case_reader(user, case: Case) -> bool:
    return _assigned(user, case, Role.READER)


def is_calibration_reader(user, case: Case) -> bool:
    """Holds the case as a calibration case in their worklist (and is not also one of its double readers)."""
    if not _authenticated(user):
        return False
    roles = set(Assignment.objects.filter(case=case, user=user, role__in=[Role.READER, CALIBRATION])
                .values_list("role", flat=True))
    return roles == {CALIBRATION}


def reading_context(user, case: Case) -> str:
    """The Read.context the reader's routes (reading page, read API) use for the case: a calibration case's
    own, else the double reading's. The routes are the same, so a calibration case looks like any other."""
    return CALIBRATION if is_calibration_reader(user, case) else PRIMARY


def may_read_case(user, case: Case) -> bool:
    """May open the case's reading page: its double reader, or the reader it was given to for calibration."""
    return is_case_reader(user, case) or is_calibration_reader(user, case)


def is_case_senior(user, case: Case) -> bool:
    """Senior of the case, and not also one of its readers (a person never holds both roles on a case)."""
    return _assigned(user, case, Role.SENIOR) and not _assigned(user, case, Role.READER)


# Reads and ground truth (the blinding) ----------------------------------------------------------------------------

REVEALED_TO_SENIOR = (Case.Status.ADJUDICATION, Case.Status.GROUND_TRUTH)


def reads_visible_to(user, case: Case) -> QuerySet[Read]:
    """The double reading's reads of a case that the user may see. Reader-study reads never show here: they are
    seen through their study (its dashboard, for its coordinators) only."""
    reads = Read.objects.filter(case=case, context=PRIMARY).select_related("reader")
    if coordinates(user, case.project_id):
        return reads
    if case.status == Case.Status.GROUND_TRUTH and is_calibration_reader(user, case):
        # Their own read only, as for a case whose ground truth is not final yet.
        return Read.objects.filter(case=case, reader=user, context=CALIBRATION).select_related("reader")
    if case.status in REVEALED_TO_SENIOR and is_case_senior(user, case):
        return reads
    if case.status == Case.Status.GROUND_TRUTH and is_case_reader(user, case):
        return reads
    if is_case_reader(user, case):
        return reads.filter(reader=user)
    return reads.none()


def read_get_for(user, read_id: int) -> Read:
    read = _one_or_404(Read.objects.select_related("case__project"), "no such read", pk=read_id,
                       context__in=[PRIMARY, CALIBRATION])
    if not reads_visible_to(user, read.case).filter(pk=read.pk).exists():
        raise Http404("no such read")
    return read


def reader_identities_visible_to(user, case: Case) -> bool:
    """Who read the case: its coordinators always; its readers once the ground truth is final; never its
    senior (who decides between A and B, not between colleagues)."""
    if coordinates(user, case.project_id):
        return True
    return case.status == Case.Status.GROUND_TRUTH and is_case_reader(user, case)


def ground_truth_visible_to(user, case: Case) -> bool:
    if coordinates(user, case.project_id):
        return True
    if case.status in REVEALED_TO_SENIOR and is_case_senior(user, case):
        return True
    # Only a primary read earns the right: a reader-study session's read stays blind to the ground truth.
    return case.status == Case.Status.GROUND_TRUTH and is_case_reader(user, case) and Read.objects.filter(
        case=case, reader=user, context=PRIMARY, status=Read.Status.SUBMITTED).exists()


def ground_truth_for(user, case: Case) -> QuerySet[GroundTruthItem]:
    if not ground_truth_visible_to(user, case):
        raise Http404("no ground truth visible")
    return GroundTruthItem.objects.filter(case=case).order_by("disc_level", "finding_type", "id")


def own_read_for_update(user, case_id: int) -> Read:
    """The requesting reader's latest double-reading (or calibration) read of a case they are assigned to read,
    in one query (autosave's path); 404 otherwise."""
    # One filter() call: both conditions on case__assignments name the same assignment row.
    read = (Read.objects.filter(Q(context=PRIMARY, case__assignments__role=Role.READER)
                                | Q(context=CALIBRATION, case__assignments__role=CALIBRATION),
                                case_id=case_id, reader=user, case__assignments__user=user)
            .select_related("case__project").order_by("-version").first())
    if read is None:
        raise Http404("no open read of this case; open it first")
    return read


def read_correction_refusal(read: Read) -> str | None:
    """Why a submitted read may not be corrected now, or None. A correction is allowed before the second read
    arrives or after the ground truth is final, never while the case awaits (or is in) adjudication: that would
    change what the senior is deciding."""
    if read.case.status == Case.Status.ADJUDICATION:
        return "this read cannot be corrected now; it can be again once the case's ground truth is final"
    return None


def model_findings_visible_to(user, case: Case) -> bool:
    """The double reading's readers and seniors see pre-annotations; a study reader only through an open aided
    session (``session_model_findings_allowed``)."""
    return (coordinates(user, case.project_id) or is_case_reader(user, case) or is_case_senior(user, case)
            or is_calibration_reader(user, case))


def model_finding_ids_allowed(*, case: Case, context: str) -> bool:
    """Whether a read in this context may refer to model findings: the double reading always (its readers see
    them); a study session only when it is aided."""
    if context in (PRIMARY, CALIBRATION):
        return True
    parts = context.split(":")
    return len(parts) == 4 and parts[2] == Arm.AIDED


# Adjudication ----------------------------------------------------------------------------------------------------

def adjudication_queue_for(user) -> QuerySet[Adjudication]:
    adjudications = Adjudication.objects.filter(status=Adjudication.Status.OPEN).select_related("case__project")
    if is_admin(user):
        return adjudications.order_by("created_at")
    if not _authenticated(user):
        return adjudications.none()
    mine = (Q(case__project_id__in=_coordinated_project_ids(user))
            | (Q(case__in=Assignment.objects.filter(user=user, role=Role.SENIOR).values("case_id"))
               & ~Q(case__in=Assignment.objects.filter(user=user, role=Role.READER).values("case_id"))))
    return adjudications.filter(mine).order_by("created_at")


def adjudication_get_for(user, adjudication_id: int) -> Adjudication:
    adjudications = Adjudication.objects.select_related("case__project", "read_a__reader", "read_b__reader")
    adjudication = _one_or_404(adjudications, "no such adjudication", pk=adjudication_id)
    if not (coordinates(user, adjudication.case.project_id) or is_case_senior(user, adjudication.case)):
        raise Http404("no such adjudication")
    return adjudication


def may_resolve(user, adjudication: Adjudication) -> bool:
    """Only the case's senior decides (a coordinator may look, not decide)."""
    return is_case_senior(user, adjudication.case)


# Assignment -------------------------------------------------------------------------------------------------------

def assignment_refusal(case: Case, user, role: str) -> str | None:
    """Why the user may not take this role on the case, or None: one person never reads and adjudicates the
    same case, nor reads in double reading a case they were given for calibration."""
    others = {Role.READER.value: [Role.SENIOR.value, CALIBRATION],
              Role.SENIOR.value: [Role.READER.value, CALIBRATION],
              CALIBRATION: [Role.READER.value, Role.SENIOR.value]}.get(str(role), [])
    held = list(Assignment.objects.filter(case=case, user=user, role__in=others).values_list("role", flat=True)[:1])
    if held:
        return f"{user.username} is already {held[0]} of case {case.pk}; one person never holds both roles on a case"
    return None


# Reader studies ---------------------------------------------------------------------------------------------------

def studies_visible_to(user) -> QuerySet[ReaderStudy]:
    return ReaderStudy.objects.filter(project__in=projects_coordinated_by(user)).select_related("project").order_by("-id")


def study_get_for(user, study_id) -> ReaderStudy:
    """The study, for its project's coordinators; 404 for everyone else and for an unknown id alike."""
    return _one_or_404(studies_visible_to(user), "no such study", pk=study_id)


def study_reader_conflicts(case_ids, readers) -> list[str]:
    """Usernames of would-be study readers who read or adjudicate any of these cases in the double reading (or
    read it for calibration): they have seen the case, its reads or its ground truth, so their study reads would
    not be blind."""
    conflicted = set(Assignment.objects.filter(case_id__in=list(case_ids), user__in=list(readers),
                                               role__in=[Role.READER, Role.SENIOR, CALIBRATION])
                     .values_list("user__username", flat=True))
    return sorted(conflicted)


def context_writable_by_import(context: str) -> bool:
    """An import may never write into a reader study's context (it would skip session order and washout) nor
    into calibration (it would make up a reader's accuracy)."""
    return not context.startswith(STUDY_CONTEXT_PREFIX) and context != CALIBRATION


def session_states(user, *, study: ReaderStudy | None = None) -> dict[int, dict]:
    """Each of the user's sessions (of one study, or all) with its state and whether it may be read now.

    A period opens when every session of the previous period is submitted and the study's washout has passed
    since the last of those submissions."""
    if not _authenticated(user):
        return {}
    sessions = StudySession.objects.filter(reader=user).select_related("study")
    if study is not None:
        sessions = sessions.filter(study=study)
    sessions = list(sessions.order_by("study_id", "period", "position"))
    reads = {}
    for read in Read.objects.filter(reader=user, context__startswith=STUDY_CONTEXT_PREFIX).order_by("version"):
        reads[(read.case_id, read.context)] = read
    by_period = defaultdict(list)
    for session in sessions:
        by_period[(session.study_id, session.period)].append(session)
    now = timezone.now()
    states = {}
    for session in sessions:
        read = reads.get((session.case_id, session.context))
        state = "to_read" if read is None else ("in_progress" if read.status == Read.Status.DRAFT else "submitted")
        available, why = True, ""
        previous = by_period.get((session.study_id, session.period - 1))
        if previous:
            previous_reads = [reads.get((s.case_id, s.context)) for s in previous]
            if any(r is None or r.status != Read.Status.SUBMITTED for r in previous_reads):
                available, why = False, f"finish period {session.period - 1} first"
            else:
                opens = max(r.submitted_at for r in previous_reads) + timedelta(days=session.study.washout_days)
                if now < opens:
                    available, why = False, f"washout: opens {opens:%Y-%m-%d %H:%M}"
        states[session.pk] = {"session": session, "state": state, "read": read, "available": available,
                              "why": why}
    return states


def session_get_for(user, session_id) -> StudySession:
    """One of the user's own sessions (any period); 404 for anyone else's."""
    if not _authenticated(user):
        raise Http404("no such session")
    return _one_or_404(StudySession.objects.select_related("study__project", "case"), "no such session",
                       pk=session_id, reader=user)


def session_open_get_for(user, session_id) -> StudySession:
    """One of the user's sessions whose period is open now; 404 for others, 409 while its period is closed."""
    session = session_get_for(user, session_id)
    state = session_states(user, study=session.study)[session.pk]
    if not state["available"]:
        raise AccessDenied(state["why"], 409)
    return session


def session_model_findings_allowed(user, session: StudySession) -> bool:
    """The pinned model's findings: only in an aided session whose period is open."""
    if session.arm != Arm.AIDED or session.reader_id != getattr(user, "pk", None):
        return False
    return session_states(user, study=session.study)[session.pk]["available"]


def session_model_findings(user, session: StudySession) -> QuerySet[Finding]:
    if not session_model_findings_allowed(user, session):
        return Finding.objects.none()
    return Finding.objects.filter(case=session.case, source=Source.MODEL, read__isnull=True,
                                  model_version=session.study.model_version).order_by(
        "disc_level", "finding_type", "id")
