"""Calibration cases: ground-truth-final cases blended into readers' worklists to measure each reader against the
ground truth while they work (CVAT's ground-truth jobs and honeypots are the model).

A coordinator marks a case; each reader of the project is then given calibration cases they have never seen (no
assignment of any kind on the case, no read of it), up to one per ``Project.calibration_every`` of their
double-reading cases. A given case is an ``Assignment`` with role ``calibration``; the reader's read of it has
Read.context "calibration", so it never enters the double reading's agreement, ground truth, adjudication,
statistics or training. Who sees what of it is ``access``'s rule; where it sits in the worklist is
``selectors.worklist_for_reader``'s; the coordinator's figures are ``selectors.calibration_report``'s.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict

from django.db import transaction
from django.db.models import Count

from annotation.models import Assignment, Case, Project, Read, Role
from annotation.services.audit import audit_log

CALIBRATION = Assignment.CALIBRATION


@transaction.atomic
def calibration_mark(*, case: Case, calibration: bool, actor=None) -> int:
    """Marks (or unmarks) a case as a calibration case; returns how many readers were given it.

    Only a case whose ground truth is final can be marked (ValueError otherwise). Unmarking takes the case out of
    the worklists of those who have not opened it yet; a read already begun stays, and no longer counts.
    """
    case = Case.objects.select_for_update().select_related("project").get(pk=case.pk)
    if calibration and case.status != Case.Status.GROUND_TRUTH:
        raise ValueError(f"case {case.pk} is not ground truth final ({case.get_status_display().lower()}); only "
                         "a case with final ground truth can be a calibration case")
    if case.calibration == calibration:
        return 0
    case.calibration = calibration
    case.save(update_fields=["calibration"])
    withdrawn = 0
    if not calibration:
        opened = Read.objects.filter(case=case, context=CALIBRATION).values("reader_id")
        withdrawn, _ = (Assignment.objects.filter(case=case, role=CALIBRATION).exclude(user_id__in=opened)
                        .delete())
    audit_log(actor=actor, action="calibration_mark" if calibration else "calibration_unmark", target=case,
              payload={"withdrawn": withdrawn} if withdrawn else {})
    return calibration_blend(project=case.project, actor=actor)


@transaction.atomic
def calibration_settings_update(*, project: Project, every: int, min_accuracy: float | None,
                                min_kappa: float | None, actor=None) -> Project:
    """Sets the blend rate (one calibration case per ``every`` double-reading cases; 0 stops giving new ones)
    and the drift thresholds (None: no flag on that figure); then tops up every reader."""
    if isinstance(every, bool) or not isinstance(every, int) or not 0 <= every <= 1000:
        raise ValueError("one calibration case per N cases: N must be a whole number from 0 (none) to 1000")
    for name, value, low in (("accuracy", min_accuracy, 0.0), ("kappa", min_kappa, -1.0)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)
                                      and low <= value <= 1.0):
            raise ValueError(f"the {name} threshold must be empty or a number from {low:g} to 1")
    Project.objects.filter(pk=project.pk).update(calibration_every=every, calibration_min_accuracy=min_accuracy,
                                                  calibration_min_kappa=min_kappa)
    project.refresh_from_db()
    audit_log(actor=actor, action="calibration_settings", target=project,
              payload={"every": every, "min_accuracy": min_accuracy, "min_kappa": min_kappa})
    calibration_blend(project=project, actor=actor)
    return project


@transaction.atomic
def calibration_blend(*, project: Project, readers=None, actor=None) -> int:
    """Gives each of the project's readers (or those named) the calibration cases they are due: one per
    ``calibration_every`` of their double-reading cases, counting those already given. Returns how many were
    given. A reader never gets a case they hold in any role or have read in any context; which of the eligible
    cases comes first is a random order fixed per reader."""
    if not project.calibration_every:
        return 0
    # The project's row serialises concurrent top-ups, which would otherwise both see the same shortfall.
    project = Project.objects.select_for_update().get(pk=project.pk)
    every = project.calibration_every
    regular = Assignment.objects.filter(case__project=project, role=Role.READER)
    if readers is not None:
        regular = regular.filter(user__in=[reader.pk for reader in readers])
    regular = dict(regular.values_list("user_id").annotate(n=Count("case")))
    pool = list(Case.objects.filter(project=project, calibration=True, status=Case.Status.GROUND_TRUTH)
                .values_list("pk", flat=True))
    if not regular or not pool:
        return 0
    seen = defaultdict(set)
    for user_id, case_id in Assignment.objects.filter(case_id__in=pool, user_id__in=regular).values_list(
            "user_id", "case_id"):
        seen[user_id].add(case_id)
    for user_id, case_id in Read.objects.filter(case_id__in=pool, reader_id__in=regular).values_list(
            "reader_id", "case_id"):
        seen[user_id].add(case_id)
    held = dict(Assignment.objects.filter(case__project=project, role=CALIBRATION, user_id__in=regular)
                .values_list("user_id").annotate(n=Count("id")))
    given = []
    for user_id, n_regular in sorted(regular.items()):
        due = n_regular // every - held.get(user_id, 0)
        eligible = sorted((c for c in pool if c not in seen[user_id]), key=lambda c: _reader_order(user_id, c))
        given += [Assignment(case_id=c, user_id=user_id, role=CALIBRATION) for c in eligible[:max(due, 0)]]
    Assignment.objects.bulk_create(given)
    if given:
        per_reader = defaultdict(list)
        for assignment in given:
            per_reader[str(assignment.user_id)].append(assignment.case_id)
        audit_log(actor=actor, action="calibration_blend", target=project, payload={"given": dict(per_reader)})
    return len(given)


def _reader_order(user_id: int, case_id: int) -> str:
    # Readers get different cases first (more of the pool is measured), each reader always in the same order.
    return hashlib.sha256(f"calibration:{user_id}:{case_id}".encode()).hexdigest()
