"""Pre-annotation and active-learning order: the served model's findings on cases, and the worklist priority
that follows from them."""
from __future__ import annotations

import logging

import numpy as np
from django.db import transaction

from annotation import services as annotation_services
from annotation.models import Case, Instance, Series
from annotation.rendering import instance_to_uint8
from mlbackend.active_learning import informativeness, level_informativeness
from mlbackend.interpret import ImageDetections, case_findings
from mlbackend.models import CaseInformativeness, ModelVersion
from mlbackend.selectors import served_model, served_version_for

logger = logging.getLogger(__name__)


def instances_to_predict(series: Series, instances: list[Instance]) -> list[tuple[int, Instance]]:
    """(rank in series, instance) pairs the model reads: on a sagittal series the mid-sagittal slice and its two
    neighbours (where readers box, and what the model learnt from), every slice of other series."""
    if series.plane == Series.Plane.SAGITTAL and len(instances) > 3:
        mid = len(instances) // 2
        return [(rank, instances[rank]) for rank in range(mid - 1, mid + 2)]
    return list(enumerate(instances))


def case_detections(case: Case, detector, *, imgsz: int, conf: float,
                    rendered: dict | None = None) -> list[ImageDetections]:
    """Runs a detector (an adapter's predict) over the case, one batch per series; `rendered`, when given,
    keeps the pixels by instance id for a second stage."""
    images: list[ImageDetections] = []
    for series in case.series.all().prefetch_related("instances"):
        instances = list(series.instances.all())
        chosen = instances_to_predict(series, instances)
        pixels = [instance_to_uint8(instance) for _, instance in chosen]
        if rendered is not None:
            rendered.update({instance.pk: image for (_, instance), image in zip(chosen, pixels)})
        detections = detector.predict(pixels, imgsz=imgsz, conf=conf)
        for (rank, instance), found, image in zip(chosen, detections, pixels):
            images.append(ImageDetections(instance_id=instance.pk, plane=series.plane, rank=rank,
                                          series_length=len(instances), detections=tuple(found),
                                          image_height=int(np.asarray(image).shape[0])))
    return images


def case_model_findings(case: Case, version: ModelVersion) -> tuple[list, dict]:
    """(placed findings for readers, informativeness parts) of the served version on one case."""
    schema, model, imgsz = case.project.label_schema, served_model(version), version.imgsz or 512
    if version.is_two_stage:
        from mlbackend.services.two_stage import case_levels

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
