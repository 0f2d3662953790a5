"""Another model's predictions read back: COCO results JSON or Label Studio predictions -> boxes on instances.

The readers here only resolve images and classes and check the rows; placing boxes on disc levels and storing
them as a model version is ``mlbackend.services.external`` (the same path our own detector's boxes take).
Everything is checked before anything is returned: one bad row refuses the whole file (``ValueError`` in words).

Which image a row means:
- COCO: ``image_id`` as numbered by our COCO export of the project (``interchange.formats.coco``: 1, 2, ... over
  the export's images in instance order). Those numbers hold only while the project's ground truth is unchanged,
  so a file may instead carry the export's ``images`` list (a COCO document ``{"images", "annotations"}``, each
  image with our ``instance_id`` or ``file_name``), or a row may name ``instance_id`` itself.
- Label Studio: the task's ``data.instance_id``, as our Label Studio export writes it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from annotation.models import Instance, Project
from annotation.schema import detector_classes
from geometry import Box
from interchange.exports import export_set
from interchange.formats.label_studio import LabelStudioFormatError, result_parse

FORMATS = ("coco", "label-studio")
EXPORT_FILE_NAME = re.compile(r"(?:^|/)case\d+_img(\d+)\.png$")  # interchange.formats.dataset.ExportImage.stem


@dataclass(frozen=True)
class ExternalBox:
    """One predicted box, in pixels of the stored instance, with its detector class and the model's score."""

    instance_id: int
    class_name: str
    score: float
    box: Box


@dataclass(frozen=True)
class ExternalPredictions:
    """The boxes, and every instance the file covers (a covered case without boxes had nothing found)."""

    boxes: list[ExternalBox]
    instance_ids: set[int]


def external_predictions_read(project: Project, *, fmt: str, data) -> ExternalPredictions:
    """The file's boxes on the project's instances. Raises ValueError naming the row and what is wrong."""
    if fmt == "coco":
        predictions = _coco_read(project, data)
    elif fmt == "label-studio":
        predictions = _label_studio_read(project, data)
    else:
        raise ValueError(f"unknown predictions format {fmt!r}; expected one of {list(FORMATS)}")
    _instances_check(project, predictions.instance_ids)
    return predictions


def _instances_check(project: Project, instance_ids: set[int]) -> None:
    known = set(Instance.objects.filter(pk__in=instance_ids, series__case__project=project)
                .values_list("pk", flat=True))
    unknown = sorted(instance_ids - known)
    if unknown:
        raise ValueError(f"images {unknown[:10]} are no instances of project {project.slug}")


def _score(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{where}: 'score' must be a number from 0 to 1")
    return float(value)


def _integer(value, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {key!r} must be an integer")
    return value


# COCO ----------------------------------------------------------------------------------------------------------

def _coco_images(project: Project, document: dict | None) -> dict[int, int]:
    """{COCO image id: instance id}: the document's own images, else our export's numbering."""
    if document is None or "images" not in document:
        return {n: image.instance_id for n, image in enumerate(export_set(project).images, start=1)}
    images = document["images"]
    if not isinstance(images, list):
        raise ValueError("'images' must be a list")
    by_id = {}
    for n, image in enumerate(images):
        where = f"image {n}"
        if not isinstance(image, dict):
            raise ValueError(f"{where}: must be an object")
        instance_id = image.get("instance_id")
        if instance_id is None:
            match = EXPORT_FILE_NAME.search(str(image.get("file_name", "")))
            if match is None:
                raise ValueError(f"{where}: needs our 'instance_id' or a file_name of our export (caseN_imgM.png)")
            instance_id = int(match.group(1))
        by_id[_integer(image.get("id"), where, "id")] = _integer(instance_id, where, "instance_id")
    return by_id


def _coco_categories(project: Project, document: dict | None) -> dict[int, str]:
    """{category id: detector class}: the document's categories (by name), else our export's (1, 2, ...)."""
    classes = detector_classes(project.label_schema)
    if document is None or "categories" not in document:
        return {n: name for n, name in enumerate(classes, start=1)}
    categories = document["categories"]
    if not isinstance(categories, list) or not all(isinstance(c, dict) for c in categories):
        raise ValueError("'categories' must be a list of objects")
    unknown = sorted(str(c.get("name")) for c in categories if c.get("name") not in classes)
    if unknown:
        raise ValueError(f"unknown categories {unknown}; the project's detector classes are {classes}")
    return {_integer(c.get("id"), "category", "id"): c["name"] for c in categories}


def _coco_box(row, where: str) -> Box:
    bbox = row.get("bbox")
    if (not isinstance(bbox, list) or len(bbox) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)):
        raise ValueError(f"{where}: 'bbox' must be [x, y, width, height], four finite numbers")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise ValueError(f"{where}: 'bbox' width and height must be positive")
    return (x, y, x + w, y + h)


def _coco_read(project: Project, data) -> ExternalPredictions:
    document = data if isinstance(data, dict) else None
    rows = document.get("annotations") if document is not None else data
    if not isinstance(rows, list):
        raise ValueError("COCO results must be a list of detections, or a COCO document with 'annotations'")
    images, categories = _coco_images(project, document), _coco_categories(project, document)
    boxes = []
    for n, row in enumerate(rows):
        where = f"detection {n}"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: must be an object")
        if "instance_id" in row:
            instance_id = _integer(row["instance_id"], where, "instance_id")
        else:
            instance_id = images.get(_integer(row.get("image_id"), where, "image_id"))
            if instance_id is None:
                raise ValueError(f"{where}: unknown image_id {row['image_id']} (not an image of the export)")
        class_name = categories.get(_integer(row.get("category_id"), where, "category_id"))
        if class_name is None:
            raise ValueError(f"{where}: unknown category_id {row['category_id']}")
        boxes.append(ExternalBox(instance_id, class_name, _score(row.get("score"), where), _coco_box(row, where)))
    return ExternalPredictions(boxes, set(images.values()) | {b.instance_id for b in boxes})


# Label Studio --------------------------------------------------------------------------------------------------

def _task_instance(task, where: str) -> int:
    data = task.get("data") if isinstance(task, dict) else None
    if not isinstance(data, dict) or "instance_id" not in data:
        raise ValueError(f"{where}: needs data.instance_id (as SpineRead's Label Studio export writes it)")
    return _integer(data["instance_id"], where, "data.instance_id")


def _task_predictions(task, where: str) -> list[dict]:
    predictions = task.get("predictions", [])
    if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
        raise ValueError(f"{where}: 'predictions' must be a list of objects")
    return predictions


def _label_studio_read(project: Project, tasks) -> ExternalPredictions:
    """Rectangles of every task's predictions (other result types are skipped); a region's own score, else its
    prediction's. Percentages are of the image, so the stored instance's size turns them into pixels."""
    if not isinstance(tasks, list):
        raise ValueError("Label Studio predictions must be a list of tasks")
    located = [(_task_instance(task, f"task {n}"), _task_predictions(task, f"task {n}"))
               for n, task in enumerate(tasks)]
    versions = {str(p.get("model_version", "")) for _, predictions in located for p in predictions}
    if len(versions) > 1:
        raise ValueError(f"the tasks hold predictions of several model versions {sorted(versions)}; "
                         "import one at a time")
    sizes = {pk: (columns, rows) for pk, columns, rows in Instance.objects.filter(
        pk__in=[i for i, _ in located], series__case__project=project).values_list("pk", "columns", "rows")}
    classes = detector_classes(project.label_schema)
    boxes = []
    for n, (instance_id, predictions) in enumerate(located):
        for m, prediction in enumerate(predictions):
            where = f"task {n}, prediction {m}"
            result = prediction.get("result") or []
            try:
                rectangles = result_parse(result, rectangles_only=True).rectangles
            except LabelStudioFormatError as error:
                raise ValueError(f"{where}: {error}") from None
            scores = [region.get("score", prediction.get("score")) for region in result
                      if isinstance(region, dict) and region.get("type") == "rectanglelabels"]
            for rectangle, score in zip(rectangles, scores):
                if rectangle.label not in classes:
                    raise ValueError(f"{where}: unknown label {rectangle.label!r}; the project's detector "
                                     f"classes are {classes}")
                if instance_id not in sizes:
                    break  # refused with the other unknown images by _instances_check
                boxes.append(ExternalBox(instance_id, rectangle.label, _score(score, where),
                                         rectangle.box(*sizes[instance_id])))
    return ExternalPredictions(boxes, {i for i, _ in located})
