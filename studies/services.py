"""Writes for reader studies: define a study, open and submit its reading sessions.

Study reads are annotation ``Read`` rows in the session's context, written through the annotation services
(``read_open`` / ``read_save_draft`` / ``read_submit``); this module decides who may read what and when.
"""
from __future__ import annotations

import math
import random

from django.db import transaction
from django.http import Http404

import access

from annotation import services as annotation_services
from annotation.models import Assignment, Case, Project, Read, Role
from annotation.services import FindingInput, ReadingError
from studies.models import ReaderStudy, StudyCase, StudyReader, StudySession


class StudyError(ValueError):
    """A study definition or a session request that cannot be honoured; `status_code` is the HTTP answer."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


def _study_design_check(*, name: str, design: str, model_version: str, repeat_fraction: float,
                        readers: list) -> None:
    """Raises StudyError unless the design, its pinned model and its readers make a study."""
    if design not in ReaderStudy.Design.values:
        raise StudyError(f"design must be one of {ReaderStudy.Design.values}, got {design!r}")
    if not name.strip():
        raise StudyError("a study needs a name")
    if not 0.0 <= float(repeat_fraction) <= 1.0:
        raise StudyError(f"repeat_fraction must be between 0 and 1, got {repeat_fraction}")
    if design != ReaderStudy.Design.UNAIDED and not model_version:
        raise StudyError("an aided arm shows a model's findings: pin model_version")
    if not readers:
        raise StudyError("a study needs at least one reader")
    not_readers = [u.username for u in readers if Role.READER.value not in set(u.groups.values_list("name", flat=True))]
    if not_readers:
        raise StudyError(f"not a reader: {', '.join(not_readers)}")


def _study_cases_check(*, project: Project, case_ids: list[int], readers: list,
                       positive_from: dict | None) -> list[int]:
    """The study's cases, sorted and checked: in the project, with final ground truth, read blind by the readers."""
    case_ids = sorted(set(int(c) for c in case_ids))
    if not case_ids:
        raise StudyError("a study needs at least one case")
    found = dict(Case.objects.filter(pk__in=case_ids, project=project).values_list("pk", "status"))
    unknown = [c for c in case_ids if c not in found]
    if unknown:
        raise StudyError(f"cases not in project {project.slug}: {unknown[:10]}")
    no_truth = [c for c in case_ids if found[c] != Case.Status.GROUND_TRUTH]
    if no_truth:
        raise StudyError(f"cases without final ground truth: {no_truth[:10]}")
    conflicted = access.study_reader_conflicts(case_ids, readers)
    if conflicted:
        raise StudyError(f"these readers read or adjudicate the study's cases in the double reading, so their "
                         f"study reads would not be blind: {', '.join(conflicted)}")
    unknown_findings = set(positive_from or {}) - {f["name"] for f in project.label_schema["findings"]}
    if unknown_findings:
        raise StudyError(f"positive_from names unknown findings: {sorted(unknown_findings)}")
    return case_ids


def _sessions_lay_out(study: ReaderStudy, *, readers: list, case_ids: list[int], repeats: set, rng) -> list:
    """Every reader's sessions: arms in a random order, each arm a random case order, repeats after them."""
    sessions = []
    for reader in readers:
        arms = list(study.arms)
        rng.shuffle(arms)
        StudyReader.objects.create(study=study, user=reader, arm_order=arms)
        periods = [(arm, 1, case_ids) for arm in arms]
        if repeats:
            periods += [(arm, 2, sorted(repeats)) for arm in arms]
        for period, (arm, repetition, cases) in enumerate(periods, start=1):
            order = list(cases)
            rng.shuffle(order)
            sessions += [StudySession(study=study, reader=reader, case_id=case_id, arm=arm, repetition=repetition,
                                      period=period, position=position)
                         for position, case_id in enumerate(order)]
    return sessions


@transaction.atomic
def study_create(*, project: Project, name: str, case_ids: list[int], readers: list, design: str = "unaided",
                 model_version: str = "", washout_days: int = 28, repeat_fraction: float = 0.0, seed: int = 0,
                 positive_from: dict | None = None, description: str = "", actor=None) -> ReaderStudy:
    """Defines a reader study and lays out every reader's sessions.

    Cases must belong to the project and have final ground truth; they are tagged ``split="study"`` so that
    training never uses them. Each reader gets the arms in a random order (design "both"), each arm a random
    case order, and, when ``repeat_fraction`` > 0, a second reading of the same random subset of cases in
    each arm after the others (intra-reader agreement). Periods follow one another with ``washout_days``
    between them. Raises StudyError naming the first problem; nothing is stored then.
    """
    _study_design_check(name=name, design=design, model_version=model_version, repeat_fraction=repeat_fraction,
                        readers=readers)
    case_ids = _study_cases_check(project=project, case_ids=case_ids, readers=readers, positive_from=positive_from)

    study = ReaderStudy.objects.create(
        project=project, name=name, description=description, design=design, model_version=model_version,
        washout_days=washout_days, repeat_fraction=repeat_fraction, seed=seed, positive_from=positive_from or {},
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    rng = random.Random(seed)
    n_repeat = math.ceil(len(case_ids) * repeat_fraction) if repeat_fraction else 0
    repeats = set(rng.sample(case_ids, n_repeat))
    StudyCase.objects.bulk_create([StudyCase(study=study, case_id=c, repeat=c in repeats) for c in case_ids])
    sessions = _sessions_lay_out(study, readers=readers, case_ids=case_ids, repeats=repeats, rng=rng)
    StudySession.objects.bulk_create(sessions)
    # The study's readers must see the images of its cases (and nothing else of them: see the role's note).
    annotation_services.cases_assign_bulk(case_ids=case_ids, users=readers, role=Assignment.STUDY, actor=actor)
    annotation_services.cases_set_split(case_ids=case_ids, split=Case.Split.STUDY,
                                        reason=f"reader study {study.pk}", actor=actor)
    annotation_services.audit_log(actor=actor, action="study_create", target=study, payload={
        "project": project.slug, "cases": len(case_ids), "readers": [u.username for u in readers],
        "design": design, "model_version": model_version, "washout_days": washout_days,
        "repeats": len(repeats), "seed": seed})
    return study


def _session_for(session: StudySession, reader) -> StudySession:
    """The session, while its period is open (``access.session_open_get_for``): every write checks it, so a
    closed period can be neither opened nor drafted nor submitted."""
    try:
        return access.session_open_get_for(reader, session.pk)
    except access.AccessDenied as error:
        raise StudyError(str(error), error.status_code)
    except Http404:
        raise StudyError("no such session", 404)


@transaction.atomic
def study_session_open(*, session: StudySession, reader) -> Read:
    """The reader's read for this session (opened now if new); 409 while the session's period is closed
    (earlier sessions unfinished or washout running)."""
    session = _session_for(session, reader)
    try:
        return annotation_services.read_open(case=session.case, reader=reader, context=session.context)
    except ReadingError as error:
        raise StudyError(str(error), error.status_code)


def _session_read(session: StudySession, reader) -> Read:
    read = (Read.objects.filter(case_id=session.case_id, reader=reader, context=session.context)
            .order_by("-version").first())
    if read is None:
        raise StudyError("open the session first", 409)
    return read


def _session_read_write(service, *, session: StudySession, reader, findings, active_seconds) -> Read:
    session = _session_for(session, reader)
    read = _session_read(session, reader)
    try:
        return service(read=read, reader=reader, findings=findings, active_seconds=active_seconds)
    except ReadingError as error:
        raise StudyError(str(error), error.status_code)


@transaction.atomic
def study_session_save_draft(*, session: StudySession, reader, findings: list[FindingInput],
                             active_seconds: float | None = None) -> Read:
    return _session_read_write(annotation_services.read_save_draft, session=session, reader=reader,
                               findings=findings, active_seconds=active_seconds)


@transaction.atomic
def study_session_submit(*, session: StudySession, reader, findings: list[FindingInput] | None = None,
                         active_seconds: float | None = None) -> Read:
    """Submits the session's read. In the unaided arm a finding may not refer to a model pre-annotation (the
    reading service refuses it, for drafts too)."""
    return _session_read_write(annotation_services.read_submit, session=session, reader=reader,
                               findings=findings, active_seconds=active_seconds)


