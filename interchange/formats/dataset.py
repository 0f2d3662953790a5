"""The plain data every dataset writer reads: images with their ground-truth boxes, and per-level values.

Built from the database by ``interchange.exports.export_set``; the writers in this package see only these
dataclasses. Image pixels and DICOM headers are loaded on demand (``png``, ``dicom_header``), one image at a
time, so a large export never holds every image in memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from geometry import Box

UNASSIGNED = "unassigned"  # the split tag of a case without one


@dataclass(frozen=True)
class ExportBox:
    class_name: str  # the detector class (annotation.schema.detector_classes)
    box: Box  # pixels of the image it was drawn on
    disc_level: str
    finding: str
    value: str


@dataclass
class ExportImage:
    case_id: int
    instance_id: int
    study_instance_uid: str
    sop_instance_uid: str
    width: int
    height: int
    split: str  # train / val / test / study, or UNASSIGNED
    png: Callable[[], bytes]  # the image as the viewer shows it
    dicom_header: Callable[[], object]  # the source pydicom Dataset without pixels (DICOM SR evidence)
    boxes: list[ExportBox] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return f"case{self.case_id}_img{self.instance_id}"


@dataclass
class ExportSet:
    project_slug: str
    schema: dict  # the project's label schema (levels, findings, classes)
    classes: list[str]  # detector classes in index order
    images: list[ExportImage]  # every instance with at least one ground-truth box
    values: dict[int, list[tuple[str, str, str]]]  # case id -> [(disc_level, finding, value)] without boxes


def write_file(out: Path, relative: str, content: bytes | str) -> str:
    """Writes ``content`` at ``out/relative`` (creating folders); returns ``relative`` for the list of files."""
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return relative
