"""Dataset exports of ground truth: YOLO, COCO, Pascal VOC, LabelMe JSON, Label Studio JSON and DICOM SR.

Every export comes from final ground truth (``GroundTruthItem``) of the chosen cases, boxes in pixels of the
stored instance, classes from the project's schema (``annotation.schema.detector_classes``). Each case's split
tag (train / val / test / study / "" unassigned) is exported as given, so a reader study's cases can be left
out of training by the consumer. Images are rendered as the viewer shows them (``instance_to_uint8``), PNG.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from annotation.models import Case, GroundTruthItem, Instance, Project
from annotation.rendering import instance_to_uint8
from annotation.schema import detector_classes, finding_specs

FORMATS = ("yolo", "coco", "voc", "labelme", "label-studio", "dicom-sr")
UNASSIGNED = "unassigned"


@dataclass
class ExportImage:
    instance: Instance
    case: Case
    boxes: list = field(default_factory=list)  # (class name, (x0, y0, x1, y1), disc_level, finding, value)

    @property
    def stem(self) -> str:
        return f"case{self.case.pk}_img{self.instance.pk}"

    @property
    def split(self) -> str:
        return self.case.split or UNASSIGNED


@dataclass
class ExportSet:
    project: Project
    classes: list
    images: list  # ExportImage, every instance with at least one ground-truth box
    values: dict  # case id -> [(disc_level, finding, value)] (ground truth without boxes)
    cases: list


def export_set(project: Project, *, case_ids: list[int] | None = None, splits: list[str] | None = None) -> ExportSet:
    """The project's cases with final ground truth (optionally only some cases or splits), in three queries."""
    cases = Case.objects.filter(project=project, status=Case.Status.GROUND_TRUTH).order_by("id")
    if case_ids is not None:
        cases = cases.filter(pk__in=case_ids)
    if splits is not None:
        cases = cases.filter(split__in=["" if s == UNASSIGNED else s for s in splits])
    cases = list(cases)
    by_id = {c.pk: c for c in cases}
    schema = project.label_schema
    specs = finding_specs(schema)
    images: dict[int, ExportImage] = {}
    values: dict[int, list] = {c.pk: [] for c in cases}
    items = (GroundTruthItem.objects.filter(case__in=cases).select_related("instance")
             .order_by("case_id", "disc_level", "finding_type", "id"))
    for item in items:
        if item.instance_id is None:
            values[item.case_id].append((item.disc_level, item.finding_type, item.value))
            continue
        spec = specs.get(item.finding_type)
        class_name = spec.classes.get(item.value) if spec else None
        if class_name is None:
            continue
        image = images.get(item.instance_id)
        if image is None:
            image = images[item.instance_id] = ExportImage(item.instance, by_id[item.case_id])
        image.boxes.append((class_name, (item.x0, item.y0, item.x1, item.y1), item.disc_level, item.finding_type,
                            item.value))
    return ExportSet(project, detector_classes(schema), [images[k] for k in sorted(images)], values, cases)


def _png(image: ExportImage) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(instance_to_uint8(image.instance)).save(buffer, format="PNG")
    return buffer.getvalue()


def _write(out: Path, relative: str, content: bytes | str) -> str:
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return relative


# YOLO ------------------------------------------------------------------------------------------------------------

def export_yolo(data: ExportSet, out: Path) -> list[str]:
    """Ultralytics layout: images/<split>/*.png, labels/<split>/*.txt ("class cx cy w h", normalised), data.yaml."""
    written = []
    index = {name: i for i, name in enumerate(data.classes)}
    for image in data.images:
        w, h = image.instance.columns, image.instance.rows
        lines = []
        for cls, (x0, y0, x1, y1), *_ in image.boxes:
            lines.append(f"{index[cls]} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} "
                         f"{(y1 - y0) / h:.6f}")
        written.append(_write(out, f"images/{image.split}/{image.stem}.png", _png(image)))
        written.append(_write(out, f"labels/{image.split}/{image.stem}.txt", "\n".join(lines) + "\n"))
    splits = sorted({image.split for image in data.images})
    yaml = [f"# SpineRead ground truth of project {data.project.slug}; split tags as given", "path: .",
            *[f"{split}: images/{split}" for split in splits], "names:",
            *[f"  {i}: {name}" for i, name in enumerate(data.classes)]]
    written.append(_write(out, "data.yaml", "\n".join(yaml) + "\n"))
    return written


# COCO ------------------------------------------------------------------------------------------------------------

def export_coco(data: ExportSet, out: Path) -> list[str]:
    images, annotations = [], []
    category = {name: i + 1 for i, name in enumerate(data.classes)}
    written = []
    for image_id, image in enumerate(data.images, start=1):
        file_name = f"images/{image.stem}.png"
        written.append(_write(out, file_name, _png(image)))
        images.append({"id": image_id, "file_name": file_name, "width": image.instance.columns,
                       "height": image.instance.rows, "case_id": image.case.pk, "instance_id": image.instance.pk,
                       "sop_instance_uid": image.instance.sop_instance_uid, "split": image.split})
        for cls, (x0, y0, x1, y1), level, finding, value in image.boxes:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category[cls],
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0,
                                "segmentation": [],
                                "attributes": {"disc_level": level, "finding": finding, "value": value}})
    coco = {"info": {"description": f"SpineRead ground truth, project {data.project.slug}", "version": "1.0"},
            "licenses": [], "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": name, "supercategory": "spine"} for name, i in category.items()]}
    written.append(_write(out, "annotations.json", json.dumps(coco, indent=1)))
    return written


# Pascal VOC ------------------------------------------------------------------------------------------------------

def export_voc(data: ExportSet, out: Path) -> list[str]:
    written, by_split = [], {}
    for image in data.images:
        root = ElementTree.Element("annotation")
        ElementTree.SubElement(root, "folder").text = "JPEGImages"
        ElementTree.SubElement(root, "filename").text = f"{image.stem}.png"
        size = ElementTree.SubElement(root, "size")
        ElementTree.SubElement(size, "width").text = str(image.instance.columns)
        ElementTree.SubElement(size, "height").text = str(image.instance.rows)
        ElementTree.SubElement(size, "depth").text = "1"
        ElementTree.SubElement(root, "segmented").text = "0"
        for cls, (x0, y0, x1, y1), level, _finding, _value in image.boxes:
            obj = ElementTree.SubElement(root, "object")
            ElementTree.SubElement(obj, "name").text = cls
            ElementTree.SubElement(obj, "pose").text = level
            ElementTree.SubElement(obj, "truncated").text = "0"
            ElementTree.SubElement(obj, "difficult").text = "0"
            box = ElementTree.SubElement(obj, "bndbox")
            # VOC boxes are written in pixels as given (SpineRead keeps float pixel edges; not 1-based ints).
            for tag, value in (("xmin", x0), ("ymin", y0), ("xmax", x1), ("ymax", y1)):
                ElementTree.SubElement(box, tag).text = f"{value:g}"
        written.append(_write(out, f"JPEGImages/{image.stem}.png", _png(image)))
        written.append(_write(out, f"Annotations/{image.stem}.xml", ElementTree.tostring(root, encoding="unicode")))
        by_split.setdefault(image.split, []).append(image.stem)
    for split, stems in by_split.items():
        written.append(_write(out, f"ImageSets/Main/{split}.txt", "\n".join(stems) + "\n"))
    return written


# LabelMe ---------------------------------------------------------------------------------------------------------

def export_labelme(data: ExportSet, out: Path) -> list[str]:
    written = []
    for image in data.images:
        shapes = [{"label": cls, "points": [[x0, y0], [x1, y1]], "group_id": None, "description": level,
                   "shape_type": "rectangle", "flags": {}}
                  for cls, (x0, y0, x1, y1), level, _f, _v in image.boxes]
        doc = {"version": "5.4.1", "flags": {"split_" + image.split: True}, "shapes": shapes,
               "imagePath": f"{image.stem}.png", "imageData": None, "imageHeight": image.instance.rows,
               "imageWidth": image.instance.columns}
        written.append(_write(out, f"{image.stem}.png", _png(image)))
        written.append(_write(out, f"{image.stem}.json", json.dumps(doc, indent=1)))
    return written


# Label Studio ----------------------------------------------------------------------------------------------------

def _ls_level(level: str) -> str:
    return level.replace("/", "-")


def label_studio_config(project: Project) -> str:
    """The labelling config the exported tasks fit: boxes with detector classes, and one single-choice control
    per finding and disc level (named "<finding>__<L4-L5>")."""
    schema = project.label_schema
    labels = "".join(f'<Label value="{name}"/>' for name in detector_classes(schema))
    choices = []
    for finding in schema["findings"]:
        for level in schema["levels"]:
            options = "".join(f'<Choice value="{value}"/>' for value in finding["values"])
            choices.append(f'<Choices name="{finding["name"]}__{_ls_level(level)}" toName="image" choice="single" '
                           f'perRegion="false">{options}</Choices>')
    return (f'<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">{labels}'
            f'</RectangleLabels>{"".join(choices)}</View>')


def label_studio_tasks(data: ExportSet, image_url=lambda image: f"/data/local-files/?d=images/{image.stem}.png") -> list:
    """One task per image with ground-truth boxes; the first image of each case also carries the case's
    per-level values as choices. Boxes are percentages of the image (Label Studio's convention)."""
    tasks, seen_cases = [], set()
    for image in data.images:
        w, h = image.instance.columns, image.instance.rows
        result = []
        for n, (cls, (x0, y0, x1, y1), level, finding, value) in enumerate(image.boxes):
            result.append({"id": f"b{image.instance.pk}_{n}", "type": "rectanglelabels", "from_name": "label",
                           "to_name": "image", "original_width": w, "original_height": h, "image_rotation": 0,
                           "value": {"x": 100 * x0 / w, "y": 100 * y0 / h, "width": 100 * (x1 - x0) / w,
                                     "height": 100 * (y1 - y0) / h, "rotation": 0, "rectanglelabels": [cls]},
                           "meta": {"text": [level]}})
        if image.case.pk not in seen_cases:
            seen_cases.add(image.case.pk)
            for level, finding, value in data.values.get(image.case.pk, []):
                result.append({"id": f"v{image.case.pk}_{finding}_{_ls_level(level)}", "type": "choices",
                               "from_name": f"{finding}__{_ls_level(level)}", "to_name": "image",
                               "value": {"choices": [value]}})
        tasks.append({"data": {"image": image_url(image), "case_id": image.case.pk,
                               "study_instance_uid": image.case.study_instance_uid,
                               "instance_id": image.instance.pk, "sop_instance_uid": image.instance.sop_instance_uid,
                               "split": image.split},
                      "annotations": [{"result": result, "ground_truth": True, "was_cancelled": False}]})
    return tasks


def export_label_studio(data: ExportSet, out: Path) -> list[str]:
    written = [_write(out, f"images/{image.stem}.png", _png(image)) for image in data.images]
    written.append(_write(out, "tasks.json", json.dumps(label_studio_tasks(data), indent=1)))
    written.append(_write(out, "label_config.xml", label_studio_config(data.project)))
    return written


# DICOM SR (TID 1500) ---------------------------------------------------------------------------------------------

def export_dicom_sr(data: ExportSet, out: Path) -> list[str]:
    """One Comprehensive 3D SR per case: a TID 1500 measurement report whose planar ROI groups are the
    ground-truth boxes (closed polylines in pixel coordinates) on the source images they were drawn on."""
    import highdicom as hd
    import numpy as np
    import pydicom
    from pydicom.sr.codedict import codes

    scheme = "99SPINEREAD"
    by_case: dict[int, list[ExportImage]] = {}
    for image in data.images:
        by_case.setdefault(image.case.pk, []).append(image)
    written = []
    for case_id, images in by_case.items():
        sources, groups = [], []
        for image in images:
            with image.instance.file.open("rb") as handle:
                source = pydicom.dcmread(handle, stop_before_pixels=True)
            # De-identification removed some type 2 patient/study attributes that the SR copies from its
            # evidence; type 2 means present, possibly empty.
            for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                            "ReferringPhysicianName", "AccessionNumber", "StudyID"):
                if keyword not in source:
                    setattr(source, keyword, "")
            sources.append(source)
            for n, (cls, (x0, y0, x1, y1), level, finding, value) in enumerate(image.boxes):
                region = hd.sr.ImageRegion(
                    graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                    graphic_data=np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float),
                    source_image=hd.sr.SourceImageForRegion.from_source_image(source))
                groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=hd.sr.TrackingIdentifier(
                        uid=hd.UID(), identifier=f"{level} {finding}={value} ({image.instance.pk}.{n})"),
                    referenced_region=region,
                    finding_type=hd.sr.CodedConcept(value=cls, scheme_designator=scheme, meaning=cls),
                    qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                        name=hd.sr.CodedConcept(value=finding, scheme_designator=scheme, meaning=finding),
                        value=hd.sr.CodedConcept(value=f"{finding}:{value}", scheme_designator=scheme,
                                                 meaning=f"{finding} {value} at {level}"))],
                ))
        observation_context = hd.sr.ObservationContext(
            observer_person_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Person,
                observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="SpineRead^GroundTruth")))
        report = hd.sr.MeasurementReport(
            observation_context=observation_context,
            procedure_reported=hd.sr.CodedConcept(value="MRLSPINE", scheme_designator=scheme,
                                                  meaning="MR lumbar spine"),
            imaging_measurements=groups)
        sr = hd.sr.Comprehensive3DSR(
            evidence=sources, content=report[0], series_number=900, series_instance_uid=hd.UID(),
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="SpineRead",
            series_description=f"Ground truth boxes (split {images[0].split})", is_complete=True, is_final=True)
        buffer = io.BytesIO()
        sr.save_as(buffer)
        written.append(_write(out, f"sr/case{case_id}.dcm", buffer.getvalue()))
    return written


EXPORTERS = {"yolo": export_yolo, "coco": export_coco, "voc": export_voc, "labelme": export_labelme,
             "label-studio": export_label_studio, "dicom-sr": export_dicom_sr}


def dataset_export(project: Project, *, fmt: str, out_dir: Path | str, case_ids: list[int] | None = None,
                   splits: list[str] | None = None) -> list[str]:
    """Writes the ground truth in ``fmt`` under ``out_dir``; returns the relative paths written."""
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {list(EXPORTERS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return EXPORTERS[fmt](export_set(project, case_ids=case_ids, splits=splits), out)
