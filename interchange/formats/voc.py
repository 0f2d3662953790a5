"""Pascal VOC: one XML per image under Annotations/, the PNGs under JPEGImages/, one ImageSets/Main/<split>.txt
per split tag."""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from interchange.formats.dataset import ExportImage, ExportSet, write_file


def annotation_xml(image: ExportImage) -> str:
    """The VOC annotation of one image; the disc level goes into ``pose``, VOC's free per-object text."""
    root = ElementTree.Element("annotation")
    ElementTree.SubElement(root, "folder").text = "JPEGImages"
    ElementTree.SubElement(root, "filename").text = f"{image.stem}.png"
    size = ElementTree.SubElement(root, "size")
    ElementTree.SubElement(size, "width").text = str(image.width)
    ElementTree.SubElement(size, "height").text = str(image.height)
    ElementTree.SubElement(size, "depth").text = "1"
    ElementTree.SubElement(root, "segmented").text = "0"
    for b in image.boxes:
        obj = ElementTree.SubElement(root, "object")
        ElementTree.SubElement(obj, "name").text = b.class_name
        ElementTree.SubElement(obj, "pose").text = b.disc_level
        ElementTree.SubElement(obj, "truncated").text = "0"
        ElementTree.SubElement(obj, "difficult").text = "0"
        box = ElementTree.SubElement(obj, "bndbox")
        # VOC boxes are written in pixels as given (SpineRead keeps float pixel edges; not 1-based ints).
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), b.box):
            ElementTree.SubElement(box, tag).text = f"{value:g}"
    return ElementTree.tostring(root, encoding="unicode")


def write(data: ExportSet, out: Path) -> list[str]:
    written, by_split = [], {}
    for image in data.images:
        written.append(write_file(out, f"JPEGImages/{image.stem}.png", image.png()))
        written.append(write_file(out, f"Annotations/{image.stem}.xml", annotation_xml(image)))
        by_split.setdefault(image.split, []).append(image.stem)
    for split, stems in by_split.items():
        written.append(write_file(out, f"ImageSets/Main/{split}.txt", "\n".join(stems) + "\n"))
    return written
