"""A YOLO dataset straight from phantom truth.json (no database): for the starter model and the benchmarks.

Images are windowed exactly as the platform renders stored instances (annotation.rendering.pixels_to_uint8
with the file's window), so a model trained here sees what it will see on imported phantoms.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import pydicom
import yaml

from annotation.rendering import pixels_to_uint8
from annotation.schema import DEFAULT_SCHEMA, detector_classes


def phantom_image(path: Path):
    ds = pydicom.dcmread(path)
    return pixels_to_uint8(ds.pixel_array, window_center=float(ds.WindowCenter), window_width=float(ds.WindowWidth))


def boxed_images(truth_case: dict) -> dict[str, list[dict]]:
    """{file: [box, ...]} for the images of a case that carry boxes."""
    by_file: dict[str, list[dict]] = {}
    for box in truth_case["boxes"]:
        by_file.setdefault(box["file"], []).append(box)
    return by_file


def write_split(root: Path, split: str, phantom_dir: Path, cases: list[dict]) -> int:
    names = detector_classes(DEFAULT_SCHEMA)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    count = 0
    for case in cases:
        for file_name, boxes in boxed_images(case).items():
            image = phantom_image(phantom_dir / file_name)
            h, w = image.shape
            stem = file_name.replace("/", "_").removesuffix(".dcm")
            cv2.imwrite(str(root / "images" / split / f"{stem}.png"), image)
            (root / "labels" / split / f"{stem}.txt").write_text("".join(
                f"{names.index(b['class_name'])} {(b['box'][0] + b['box'][2]) / 2 / w:.6f} "
                f"{(b['box'][1] + b['box'][3]) / 2 / h:.6f} {(b['box'][2] - b['box'][0]) / w:.6f} "
                f"{(b['box'][3] - b['box'][1]) / h:.6f}\n" for b in boxes))
            count += 1
    return count


def write_dataset(root: Path, phantom_dir: Path, splits: dict[str, list[dict]]) -> Path:
    """Writes the splits ({"train": cases, "val": cases, "test": cases}) and data.yaml; returns its path."""
    root = Path(root)
    for split, cases in splits.items():
        write_split(root, split, Path(phantom_dir), cases)
    data = {"path": str(root.resolve()), "train": "images/train", "val": "images/val" if "val" in splits else
            "images/train", "names": dict(enumerate(detector_classes(DEFAULT_SCHEMA)))}
    if "test" in splits:
        data["test"] = "images/test"
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root / "data.yaml"
