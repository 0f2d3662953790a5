"""LabelMe JSON: one document per image beside its PNG, boxes as "rectangle" shapes of two corner points."""
from __future__ import annotations

import json
from pathlib import Path

from interchange.formats.dataset import ExportImage, ExportSet, write_file

LABELME_VERSION = "5.4.1"


def labelme_document(image: ExportImage) -> dict:
    """The image's shapes (the disc level in ``description``); the split tag as a flag, as LabelMe has no field
    for it."""
    shapes = [{"label": b.class_name, "points": [[b.box[0], b.box[1]], [b.box[2], b.box[3]]], "group_id": None,
               "description": b.disc_level, "shape_type": "rectangle", "flags": {}} for b in image.boxes]
    return {"version": LABELME_VERSION, "flags": {"split_" + image.split: True}, "shapes": shapes,
            "imagePath": f"{image.stem}.png", "imageData": None, "imageHeight": image.height,
            "imageWidth": image.width}


def write(data: ExportSet, out: Path) -> list[str]:
    written = []
    for image in data.images:
        written.append(write_file(out, f"{image.stem}.png", image.png()))
        written.append(write_file(out, f"{image.stem}.json", json.dumps(labelme_document(image), indent=1)))
    return written
