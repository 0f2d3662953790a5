"""Dataset exports of ground truth: YOLO, COCO, Pascal VOC, LabelMe JSON, Label Studio JSON and DICOM SR.

Every export comes from final ground truth (``GroundTruthItem``) of the chosen cases, boxes in pixels of the
stored instance, classes from the project's schema (``annotation.schema.detector_classes``). Each case's split
tag (train / val / test / study / "" unassigned) is exported as given, so a reader study's cases can be left
out of training by the consumer. Images are rendered as the viewer shows them (``instance_to_uint8``), PNG.
The writers (``interchange.formats``) see plain data only: ``export_set`` reads the database for them.
"""
from __future__ import annotations

import io
from functools import partial
from pathlib import Path

from annotation.models import Case, GroundTruthItem, Instance, Project
from annotation.rendering import instance_to_uint8
from annotation.schema import detector_classes, finding_class
from interchange.formats import coco, dicom_sr, label_studio, labelme, voc, yolo
from interchange.formats.dataset import UNASSIGNED, ExportBox, ExportImage, ExportSet

WRITERS = {"yolo": yolo.write, "coco": coco.write, "voc": voc.write, "labelme": labelme.write,
           "label-studio": label_studio.write, "dicom-sr": dicom_sr.write}
FORMATS = tuple(WRITERS)


def _png(instance: Instance) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(instance_to_uint8(instance)).save(buffer, format="PNG")
    return buffer.getvalue()


def _dicom_header(instance: Instance):
    import pydicom

    with instance.file.open("rb") as handle:
        return pydicom.dcmread(handle, stop_before_pixels=True)


def _export_image(instance: Instance, case: Case) -> ExportImage:
    return ExportImage(case_id=case.pk, instance_id=instance.pk, study_instance_uid=case.study_instance_uid,
                       sop_instance_uid=instance.sop_instance_uid, width=instance.columns, height=instance.rows,
                       split=case.split or UNASSIGNED, png=partial(_png, instance),
                       dicom_header=partial(_dicom_header, instance))


def _cases(project: Project, case_ids: list[int] | None, splits: list[str] | None) -> list[Case]:
    cases = Case.objects.filter(project=project, status=Case.Status.GROUND_TRUTH).order_by("id")
    if case_ids is not None:
        cases = cases.filter(pk__in=case_ids)
    if splits is not None:
        cases = cases.filter(split__in=["" if s == UNASSIGNED else s for s in splits])
    return list(cases)


def export_set(project: Project, *, case_ids: list[int] | None = None, splits: list[str] | None = None) -> ExportSet:
    """The project's cases with final ground truth (optionally only some cases or splits), in three queries."""
    cases = _cases(project, case_ids, splits)
    by_id = {c.pk: c for c in cases}
    schema = project.label_schema
    images: dict[int, ExportImage] = {}
    values: dict[int, list] = {c.pk: [] for c in cases}
    items = (GroundTruthItem.objects.filter(case__in=cases).select_related("instance")
             .order_by("case_id", "disc_level", "finding_type", "id"))
    for item in items:
        if item.instance_id is None:
            values[item.case_id].append((item.disc_level, item.finding_type, item.value))
            continue
        class_name = finding_class(schema, item.finding_type, item.value)
        if class_name is None:
            continue
        image = images.get(item.instance_id)
        if image is None:
            image = images[item.instance_id] = _export_image(item.instance, by_id[item.case_id])
        image.boxes.append(ExportBox(class_name, (item.x0, item.y0, item.x1, item.y1), item.disc_level,
                                     item.finding_type, item.value))
    return ExportSet(project_slug=project.slug, schema=schema, classes=detector_classes(schema),
                     images=[images[k] for k in sorted(images)], values=values)


def dataset_export(project: Project, *, fmt: str, out_dir: Path | str, case_ids: list[int] | None = None,
                   splits: list[str] | None = None) -> list[str]:
    """Writes the ground truth in ``fmt`` under ``out_dir``; returns the relative paths written."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {list(WRITERS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return WRITERS[fmt](export_set(project, case_ids=case_ids, splits=splits), out)
