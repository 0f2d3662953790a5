"""COCO detection JSON: images, annotations with ``bbox`` [x, y, width, height] in pixels, categories from 1.

Each annotation keeps its disc level, finding and value in ``attributes`` (as CVAT's COCO export does), and
each image its case, instance and split, so nothing SpineRead knows is lost on the way out.
"""
from __future__ import annotations

import json
from pathlib import Path

from interchange.formats.dataset import ExportImage, ExportSet, write_file


def _annotations(image: ExportImage, image_id: int, category: dict[str, int], first_id: int) -> list[dict]:
    rows = []
    for n, b in enumerate(image.boxes):
        x0, y0, x1, y1 = b.box
        rows.append({"id": first_id + n, "image_id": image_id, "category_id": category[b.class_name],
                     "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0,
                     "segmentation": [],
                     "attributes": {"disc_level": b.disc_level, "finding": b.finding, "value": b.value}})
    return rows


def write(data: ExportSet, out: Path) -> list[str]:
    """images/*.png and annotations.json."""
    images, annotations, written = [], [], []
    category = {name: i + 1 for i, name in enumerate(data.classes)}
    for image_id, image in enumerate(data.images, start=1):
        file_name = f"images/{image.stem}.png"
        written.append(write_file(out, file_name, image.png()))
        images.append({"id": image_id, "file_name": file_name, "width": image.width, "height": image.height,
                       "case_id": image.case_id, "instance_id": image.instance_id,
                       "sop_instance_uid": image.sop_instance_uid, "split": image.split})
        annotations += _annotations(image, image_id, category, len(annotations) + 1)
    coco = {"info": {"description": f"SpineRead ground truth, project {data.project_slug}", "version": "1.0"},
            "licenses": [], "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": name, "supercategory": "spine"} for name, i in category.items()]}
    written.append(write_file(out, "annotations.json", json.dumps(coco, indent=1)))
    return written
