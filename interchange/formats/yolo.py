"""YOLO (Ultralytics) labels: one line per box, "class cx cy w h" as fractions of the image (detect) or
"class x1 y1 x2 y2 ..." polygon points (segment), and the data.yaml that names the splits and classes.

The training export (``mlbackend.services.dataset``) and the dataset export both write their labels here.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from geometry import Box, box_clamp, normalised_centre_to_pixel, pixel_to_normalised_centre
from interchange.formats.dataset import ExportSet, write_file

TASKS = ("detect", "segment")


def yolo_line(class_index: int, box, width: int, height: int, task: str = "detect") -> str:
    """The label line of one pixel box, clamped to the image first (a box may run past the edge, and
    Ultralytics drops labels with coordinates outside [0, 1])."""
    if task not in TASKS:
        raise ValueError(f"unknown YOLO task {task!r}; expected one of {list(TASKS)}")
    x0, y0, x1, y1 = box_clamp(box, width, height)
    if task == "segment":  # a box without a contour becomes its rectangle
        points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        return f"{class_index} " + " ".join(f"{x / width:.6f} {y / height:.6f}" for x, y in points)
    cx, cy, w, h = pixel_to_normalised_centre((x0, y0, x1, y1), width, height)
    return f"{class_index} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def yolo_line_parse(line: str, width: int, height: int) -> tuple[int, Box]:
    """A detect label line back as (class index, pixel box).

    Raises:
        ValueError: not five numbers, a negative or fractional class index, or a fraction outside [0, 1].
    """
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"a YOLO detect line has 5 fields (class cx cy w h), got {len(fields)}: {line!r}")
    try:
        class_index = int(fields[0])
        centre_and_size = [float(v) for v in fields[1:]]
    except ValueError:
        raise ValueError(f"a YOLO line holds an integer class and four numbers: {line!r}") from None
    if class_index < 0 or not all(0 <= v <= 1 for v in centre_and_size):
        raise ValueError(f"a YOLO line needs a class index >= 0 and fractions in [0, 1]: {line!r}")
    return class_index, normalised_centre_to_pixel(*centre_and_size, width, height)


def data_yaml(*, names: list[str], splits: dict[str, str], path: str = ".", comment: str = "") -> str:
    """Ultralytics' dataset file: the root ``path``, each split's image folder, and the class names by index."""
    body = yaml.safe_dump({"path": path, **splits, "names": dict(enumerate(names))}, sort_keys=False)
    return (f"# {comment}\n" if comment else "") + body


def write(data: ExportSet, out: Path) -> list[str]:
    """Ultralytics layout: images/<split>/*.png, labels/<split>/*.txt, data.yaml with the split tags as given."""
    written = []
    index = {name: i for i, name in enumerate(data.classes)}
    for image in data.images:
        lines = [yolo_line(index[b.class_name], b.box, image.width, image.height) for b in image.boxes]
        written.append(write_file(out, f"images/{image.split}/{image.stem}.png", image.png()))
        written.append(write_file(out, f"labels/{image.split}/{image.stem}.txt", "\n".join(lines) + "\n"))
    splits = sorted({image.split for image in data.images})
    written.append(write_file(out, "data.yaml", data_yaml(
        names=data.classes, splits={split: f"images/{split}" for split in splits},
        comment=f"SpineRead ground truth of project {data.project_slug}; split tags as given")))
    return written
