"""Ground truth -> a YOLO dataset: images rendered with the stored window, labels, data.yaml; split by patient.

The rules that keep evaluation honest live here and nowhere else: a reader-study case or a held-out test case
never enters training or validation, and neither does any other case of such a patient (splits are by patient,
never by image). `dataset_export` checks the result and raises DatasetLeakError rather than write a leak.
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from annotation.models import Case, GroundTruthItem
from annotation.rendering import instance_to_uint8
from annotation.schema import detector_classes, finding_class
from interchange.formats.yolo import data_yaml, yolo_line

HELDOUT_SHARE = 0.2     # of patients, when the project marked no case as held-out test
VALIDATION_SHARE = 0.2  # of the remaining training patients (Ultralytics' per-epoch validation)
NEVER_TRAIN = (Case.Split.TEST, Case.Split.STUDY)


class DatasetLeakError(RuntimeError):
    """A held-out or reader-study case (or its patient) would have entered training."""


@dataclass
class DatasetExport:
    root: Path
    data_yaml: Path
    class_names: list[str]
    train_case_ids: list[int] = field(default_factory=list)
    val_case_ids: list[int] = field(default_factory=list)
    test_case_ids: list[int] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)
    boxes: dict[str, int] = field(default_factory=dict)


def patient_bucket(project_slug: str, patient_key: str, salt: str) -> float:
    """A stable number in [0, 1) per patient: the same patient always falls on the same side of a split."""
    digest = hashlib.sha256(f"{salt}:{project_slug}:{patient_key}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


def case_partition(project) -> dict[str, list[Case]]:
    """The project's ground-truth cases by role: train, val, test (held-out) and excluded (reader study, and
    every case of a patient who has a held-out or reader-study case)."""
    cases = list(Case.objects.filter(project=project).order_by("id"))
    explicit_test = any(c.split == Case.Split.TEST for c in cases)
    held_patients = {c.patient_key for c in cases if c.split in NEVER_TRAIN}
    if not explicit_test:
        held_patients |= {c.patient_key for c in cases if c.split != Case.Split.STUDY
                          and patient_bucket(project.slug, c.patient_key, "heldout") < HELDOUT_SHARE}
    parts: dict[str, list[Case]] = {"train": [], "val": [], "test": [], "excluded": []}
    for case in cases:
        if case.split == Case.Split.STUDY:
            parts["excluded"].append(case)
            continue
        if case.status != Case.Status.GROUND_TRUTH:
            continue
        if case.patient_key in held_patients:
            is_test = case.split == Case.Split.TEST or not explicit_test
            parts["test" if is_test else "excluded"].append(case)
        elif case.split == Case.Split.VAL or (
                case.split != Case.Split.TRAIN
                and patient_bucket(project.slug, case.patient_key, "val") < VALIDATION_SHARE):
            parts["val"].append(case)
        else:
            parts["train"].append(case)
    return parts


def heldout_case_ids(project) -> list[int]:
    return [c.pk for c in case_partition(project)["test"]]


def _check_no_leak(parts: dict[str, list[Case]]) -> None:
    trained = parts["train"] + parts["val"]
    if any(c.split in NEVER_TRAIN for c in trained):
        raise DatasetLeakError("a held-out or reader-study case was about to enter training")
    held = {c.patient_key for c in parts["test"] + parts["excluded"]}
    if any(c.patient_key in held for c in trained):
        raise DatasetLeakError("a patient of the held-out or reader-study set was about to enter training")


def dataset_export(*, project, out_dir: Path, task: str = "detect", parts: dict | None = None) -> DatasetExport:
    """Writes images/{train,val,test}, labels/{...} and data.yaml under out_dir (replacing what was there).

    Images are the instances that carry ground-truth boxes (readers box positive findings on chosen slices
    only, so an unboxed slice is unlabelled, not negative). An empty validation split falls back to the
    training images (tiny projects); the test split is never used for anything but evaluation.
    """
    parts = parts or case_partition(project)
    _check_no_leak(parts)
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    schema = project.label_schema
    class_names = detector_classes(schema)
    class_index = {name: i for i, name in enumerate(class_names)}
    export = DatasetExport(root=out_dir, data_yaml=out_dir / "data.yaml", class_names=class_names,
                           train_case_ids=[c.pk for c in parts["train"]], val_case_ids=[c.pk for c in parts["val"]],
                           test_case_ids=[c.pk for c in parts["test"]])
    for split in ("train", "val", "test"):
        (out_dir / "images" / split).mkdir(parents=True)
        (out_dir / "labels" / split).mkdir(parents=True)
        case_ids = [c.pk for c in parts[split]]
        items = (GroundTruthItem.objects.filter(case_id__in=case_ids, instance__isnull=False, x0__isnull=False)
                 .select_related("instance").order_by("instance_id", "id"))
        by_instance: dict[int, list[GroundTruthItem]] = {}
        for item in items:
            by_instance.setdefault(item.instance_id, []).append(item)
        boxes = 0
        for instance_id, gt_items in by_instance.items():
            lines = []
            for item in gt_items:
                class_name = finding_class(schema, item.finding_type, item.value)
                if class_name is None:
                    continue  # a negative value has no detector class
                lines.append(yolo_line(class_index[class_name], (item.x0, item.y0, item.x1, item.y1),
                                       item.instance.columns, item.instance.rows, task))
            if not lines:
                continue
            stem = f"c{gt_items[0].case_id}_i{instance_id}"
            cv2.imwrite(str(out_dir / "images" / split / f"{stem}.png"), instance_to_uint8(gt_items[0].instance))
            (out_dir / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + "\n")
            boxes += len(lines)
        export.images[split] = len(list((out_dir / "images" / split).glob("*.png")))
        export.boxes[split] = boxes
    val_dir = "images/val" if export.images["val"] else "images/train"
    export.data_yaml.write_text(data_yaml(
        names=class_names, path=str(out_dir.resolve()),
        splits={"train": "images/train", "val": val_dir, "test": "images/test"}))
    return export
