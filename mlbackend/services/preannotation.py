"""Pre-annotation and active-learning order: the served model's findings on cases, and the worklist priority
that follows from them."""
from __future__ import annotations

import logging

from django.db import transaction

from annotation import services as annotation_services
from annotation.models import Case
from mlbackend.active_learning import informativeness, level_informativeness
from mlbackend.interpret import case_findings
from mlbackend.models import CaseInformativeness, ModelVersion
from mlbackend.selectors import served_model, served_version_for
from mlbackend.services.case_predictions import case_detections
from mlbackend.services.two_stage import case_levels

logger = logging.getLogger(__name__)


def case_model_findings(case: Case, version: ModelVersion) -> tuple[list, dict]:
    """(placed findings for readers, informativeness parts) of the served version on one case."""
    schema, model, imgsz = case.project.label_schema, served_model(version), version.imgsz or 512
    if version.is_two_stage:
        levels = case_levels(case, model, imgsz=imgsz, conf=version.predict_conf)
        return (levels.findings(schema, version.findings_conf),
                level_informativeness(schema, levels.probabilities, model.classifier.heads))
    images = case_detections(case, model, imgsz=imgsz, conf=version.predict_conf)
    return case_findings(schema, images, version.findings_conf), informativeness(schema, images)


def cases_preannotate(*, case_ids: list[int], reorder: bool = True) -> dict[int, int]:
    """Stores the served model's findings on each case (replacing its earlier pre-annotations) and its
    informativeness; then reorders the unread cases of the projects touched. Cases of projects without a
    served model are skipped. Returns {case id: findings stored}."""
    stored: dict[int, int] = {}
    projects = {}
    for case in Case.objects.filter(pk__in=case_ids).select_related("project").order_by("id"):
        version = served_version_for(case.project)
        if version is None:
            continue
        placed, parts = case_model_findings(case, version)
        findings = [annotation_services.ModelFindingInput(
            disc_level=p.disc_level, finding_type=p.finding_type, value=p.value, score=round(p.score, 4),
            instance_id=p.instance_id, box=p.box) for p in placed]
        with transaction.atomic():  # a worker killed here leaves the case's old findings and score, or both new
            annotation_services.model_findings_replace(case=case, model_version=version.label, findings=findings)
            CaseInformativeness.objects.update_or_create(case=case,
                                                         defaults={"model_version": version.label, **parts})
        stored[case.pk] = len(findings)
        projects[case.project_id] = case.project
    if reorder:
        for project in projects.values():
            project_priorities_refresh(project=project)
    return stored


def project_priorities_refresh(*, project) -> int:
    """Feeds the informativeness of the project's unread cases to the worklists (higher is read first).
    Cases not scored yet get 0. The project's case_order decides whether worklists use it or a random order,
    so both can be compared; the scores are kept either way."""
    unread = list(Case.objects.filter(project=project, status=Case.Status.UNREAD).values_list("pk", flat=True))
    scores = dict(CaseInformativeness.objects.filter(case_id__in=unread).values_list("case_id", "score"))
    return annotation_services.case_priorities_set(priorities={pk: scores.get(pk, 0.0) for pk in unread},
                                                   reason="active learning: informativeness")


def project_model_changed(*, project_id: int) -> dict[int, int]:
    """After a promotion or rollback: pre-annotate the project's unread cases with the now-served model and
    reorder them."""
    unread = list(Case.objects.filter(project_id=project_id, status=Case.Status.UNREAD).values_list("pk", flat=True))
    return cases_preannotate(case_ids=unread)
