"""Another model's predictions stored as a model version, scored on the dashboard like our own.

The boxes (read by ``interchange.external``) take our detector's path: ``interpret.case_findings`` places them on
disc levels and turns classes into values, so levels, values and implied negatives are the same as for our
model; ``model_findings_replace`` stores them per case. The version is named "external:<name>" so that it can
never be taken for a label of our registry.
"""
from __future__ import annotations

from collections import defaultdict

from django.db import transaction

from annotation import services as annotation_services
from annotation.models import Case, Instance, Project
from annotation.services.model_output import EXTERNAL_MODEL_PREFIX
from interchange.external import external_predictions_read
from mlbackend.adapter import Detection
from mlbackend.interpret import ImageDetections, case_findings

MODEL_VERSION_MAX = 64  # annotation.models.Finding.model_version
DEFAULT_MIN_SCORE = 0.25  # as ModelVersion.findings_conf: boxes below it are not findings


def external_version_name(name: str) -> str:
    """"external:<name>"; raises ValueError for an empty or overlong name."""
    name = (name or "").strip()
    if name.startswith(EXTERNAL_MODEL_PREFIX):
        name = name[len(EXTERNAL_MODEL_PREFIX):]
    label = EXTERNAL_MODEL_PREFIX + name
    if not name or len(label) > MODEL_VERSION_MAX or any(c.isspace() for c in name):
        raise ValueError(f"the model version must be a name without spaces, at most "
                         f"{MODEL_VERSION_MAX - len(EXTERNAL_MODEL_PREFIX)} characters")
    return label


def _case_images(instance_ids: set[int], boxes) -> dict[int, list[ImageDetections]]:
    """{case id: the images with boxes, each with its plane and rank in its series as the detector sees them}."""
    by_instance = defaultdict(list)
    for box in boxes:
        by_instance[box.instance_id].append(Detection(box.class_name, box.score, box.box))
    series_ids = Instance.objects.filter(pk__in=instance_ids).values("series_id")
    ranked = defaultdict(list)  # series id -> instance ids in the series' order (Instance.Meta.ordering)
    rows = {}
    for pk, series_id, case_id, plane, height in (Instance.objects.filter(series_id__in=series_ids)
                                                  .values_list("pk", "series_id", "series__case_id",
                                                               "series__plane", "rows")):
        ranked[series_id].append(pk)
        rows[pk] = (series_id, case_id, plane, height)
    images = {rows[pk][1]: [] for pk in instance_ids}
    for pk, detections in by_instance.items():
        series_id, case_id, plane, height = rows[pk]
        images[case_id].append(ImageDetections(
            instance_id=pk, plane=plane, rank=ranked[series_id].index(pk), series_length=len(ranked[series_id]),
            detections=tuple(detections), image_height=height))
    return images


@transaction.atomic
def external_predictions_import(*, project: Project, model_version: str, fmt: str, data, actor,
                                min_score: float = DEFAULT_MIN_SCORE) -> dict:
    """Stores the file's predictions as model findings of "external:<name>" on every case it covers (a covered
    case without boxes gets none), replacing those cases' earlier pre-annotations as a newly served model would.

    Returns {"model_version", "cases", "boxes", "findings"}. Raises ValueError (nothing stored) for a bad name or
    threshold, and for any malformed row, unknown image, category or label.
    """
    label = external_version_name(model_version)
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0 <= min_score <= 1:
        raise ValueError("min_score must be a number from 0 to 1")
    predictions = external_predictions_read(project, fmt=fmt, data=data)
    schema = project.label_schema
    stored = 0
    case_images = _case_images(predictions.instance_ids, predictions.boxes)
    for case in Case.objects.filter(pk__in=case_images, project=project).select_related("project").order_by("id"):
        findings = [annotation_services.ModelFindingInput(
            disc_level=p.disc_level, finding_type=p.finding_type, value=p.value, score=round(p.score, 4),
            instance_id=p.instance_id, box=p.box) for p in case_findings(schema, case_images[case.pk], min_score)]
        annotation_services.model_findings_replace(case=case, model_version=label, findings=findings)
        stored += len(findings)
    result = {"model_version": label, "cases": len(case_images), "boxes": len(predictions.boxes),
              "findings": stored}
    annotation_services.audit_log(actor=actor, action="external_predictions_import", target=project,
                                  payload={**result, "format": fmt, "min_score": min_score})
    return result
