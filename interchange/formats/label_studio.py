"""Label Studio JSON: the labelling config for a project's schema, tasks with their ground truth, the
rectangle <-> pixel box conversion, and the parser of an annotation's ``result``.

One owner for both doors that speak it: the dataset export and import (``interchange``) and the ML-backend
protocol (``mlbackend.services.label_studio``: predictions out, confirmed annotations in).

Label Studio's conventions: a rectangle's ``x``/``y`` are its top-left corner and ``width``/``height`` its size,
all in percent of the original image (``original_width``/``original_height``); a ``choices`` result carries the
values picked in one control. SpineRead names one single-choice control per finding and disc level
"<finding>__<L4-L5>" (a "/" is not allowed in control names) and puts a box's disc level in ``meta.text``.
"""
from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from annotation.schema import detector_classes
from geometry import Box, box_clamp, percent_to_pixel, pixel_to_percent
from interchange.formats.dataset import ExportImage, ExportSet, write_file

CHOICES_SEPARATOR = "__"


class LabelStudioFormatError(ValueError):
    """Label Studio JSON or XML that does not have the expected shape; the message says where and why."""


# Names --------------------------------------------------------------------------------------------------------

def ls_level(level: str) -> str:
    """A disc level as it may appear in a control name: "L4/L5" -> "L4-L5"."""
    return level.replace("/", "-")


def level_from_ls(text: str, levels: list[str]) -> str:
    """The schema's disc level a control name or ``meta.text`` names ("L4-L5" or "L4/L5")."""
    level = text.replace("-", "/")
    if level not in levels:
        raise LabelStudioFormatError(f"unknown disc level {text!r}; expected one of {levels}")
    return level


def choices_name(finding: str, level: str) -> str:
    return f"{finding}{CHOICES_SEPARATOR}{ls_level(level)}"


# Labelling config ----------------------------------------------------------------------------------------------

def label_studio_config(schema: dict) -> str:
    """The labelling config the exported tasks fit: boxes with detector classes, and one single-choice control
    per finding and disc level (named "<finding>__<L4-L5>")."""
    labels = "".join(f'<Label value="{name}"/>' for name in detector_classes(schema))
    choices = []
    for finding in schema["findings"]:
        for level in schema["levels"]:
            options = "".join(f'<Choice value="{value}"/>' for value in finding["values"])
            choices.append(f'<Choices name="{choices_name(finding["name"], level)}" toName="image" '
                           f'choice="single" perRegion="false">{options}</Choices>')
    return (f'<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image">{labels}'
            f'</RectangleLabels>{"".join(choices)}</View>')


@dataclass(frozen=True)
class LabelConfig:
    """Where a labelling config puts boxes: the RectangleLabels control, its Image, and the task data key."""

    from_name: str = "label"
    to_name: str = "image"
    data_key: str = "image"


def label_config_parse(xml: str | None) -> LabelConfig:
    """The RectangleLabels (or PolygonLabels) control and its Image; defaults when absent.

    Raises:
        LabelStudioFormatError: the config is not XML.
    """
    if not xml:
        return LabelConfig()
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise LabelStudioFormatError(f"label_config is not valid XML: {error}") from None
    control = next((el for el in root.iter() if el.tag in ("RectangleLabels", "PolygonLabels")), None)
    if control is None:
        return LabelConfig()
    to_name = control.get("toName", "image")
    image = next((el for el in root.iter() if el.tag == "Image" and el.get("name") == to_name), None)
    data_key = (image.get("value", "$image") if image is not None else "$image").lstrip("$")
    return LabelConfig(control.get("name", "label"), to_name, data_key)


# Rectangles ----------------------------------------------------------------------------------------------------

def rectangle(box, width: int, height: int, *, label: str, from_name: str = "label", to_name: str = "image",
              digits: int | None = None) -> dict:
    """A ``rectanglelabels`` result for a pixel box, clamped to the image; ``digits`` rounds the percentages
    (predictions travel rounded; exports keep full precision so that boxes round-trip)."""
    percent = pixel_to_percent(box_clamp(box, width, height), width, height)
    x, y, w, h = (round(v, digits) for v in percent) if digits is not None else percent
    return {"from_name": from_name, "to_name": to_name, "type": "rectanglelabels",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}}


@dataclass(frozen=True)
class RectangleRegion:
    """A parsed ``rectanglelabels`` result: its class, its rectangle in percent, the disc level if it has one."""

    label: str
    percent: tuple[float, float, float, float]  # x, y, width, height
    level: str | None  # meta.text[0], as written (e.g. "L4/L5" or "L4-L5")

    def box(self, width: int, height: int) -> Box:
        """The rectangle in pixels of a width x height image."""
        return percent_to_pixel(*self.percent, width, height)


@dataclass(frozen=True)
class ChoiceRegion:
    """A parsed ``choices`` result of a "<finding>__<level>" control."""

    finding: str
    level: str  # as named in the control ("L4-L5")
    value: str


@dataclass(frozen=True)
class ParsedResult:
    rectangles: list[RectangleRegion]
    choices: list[ChoiceRegion]


def _rectangle_region(value: dict, meta) -> RectangleRegion:
    labels = value.get("rectanglelabels")
    if not isinstance(labels, list) or not labels or not isinstance(labels[0], str) or not labels[0]:
        raise LabelStudioFormatError("bad rectangle: 'rectanglelabels' must be a list of one class name")
    try:
        percent = tuple(float(value[k]) for k in ("x", "y", "width", "height"))
    except KeyError as error:
        raise LabelStudioFormatError(f"bad rectangle: no {error.args[0]!r} in its value") from None
    except (TypeError, ValueError):
        raise LabelStudioFormatError("bad rectangle: x, y, width and height must be numbers") from None
    if not all(math.isfinite(v) for v in percent):
        raise LabelStudioFormatError("bad rectangle: x, y, width and height must be finite")
    texts = meta.get("text") if isinstance(meta, dict) else None
    level = texts[0] if isinstance(texts, list) and texts else None
    return RectangleRegion(labels[0], percent, str(level) if level else None)


def _choice_region(region: dict, value: dict) -> ChoiceRegion:
    name = str(region.get("from_name", ""))
    choices = value.get("choices")
    if CHOICES_SEPARATOR not in name or not isinstance(choices, list) or not choices:
        raise LabelStudioFormatError(f"choices must be named '<finding>{CHOICES_SEPARATOR}<level>' and hold "
                                     "one choice")
    finding, level = name.split(CHOICES_SEPARATOR, 1)
    return ChoiceRegion(finding, level, str(choices[0]))


def result_parse(result, *, rectangles_only: bool = False) -> ParsedResult:
    """An annotation's ``result`` as rectangles and choices.

    Args:
        rectangles_only: skip anything that is not a ``rectanglelabels`` result (the ML protocol, whose
            Label Studio projects may have other controls) instead of refusing it (the import: all or nothing).

    Raises:
        LabelStudioFormatError: naming the result's index ("result 2: ...") and what is wrong.
    """
    if not isinstance(result, list):
        raise LabelStudioFormatError("an annotation's 'result' must be a list")
    rectangles, choices = [], []
    for j, region in enumerate(result):
        kind = region.get("type") if isinstance(region, dict) else None
        if rectangles_only and kind != "rectanglelabels":
            continue
        value = region.get("value") if isinstance(region, dict) else None
        try:
            if not isinstance(value, dict):
                raise LabelStudioFormatError("malformed region")
            if kind == "rectanglelabels":
                rectangles.append(_rectangle_region(value, region.get("meta")))
            elif kind == "choices":
                choices.append(_choice_region(region, value))
            else:
                raise LabelStudioFormatError(f"unsupported result type {kind!r}")
        except LabelStudioFormatError as error:
            raise LabelStudioFormatError(f"result {j}: {error}") from None
    return ParsedResult(rectangles, choices)


# Tasks ---------------------------------------------------------------------------------------------------------

def _local_image_url(image: ExportImage) -> str:
    return f"/data/local-files/?d=images/{image.stem}.png"


def _task_result(data: ExportSet, image: ExportImage, with_values: bool) -> list[dict]:
    result = [{"id": f"b{image.instance_id}_{n}",
               **rectangle(b.box, image.width, image.height, label=b.class_name),
               "meta": {"text": [b.disc_level]}}
              for n, b in enumerate(image.boxes)]
    if with_values:
        for level, finding, value in data.values.get(image.case_id, []):
            result.append({"id": f"v{image.case_id}_{finding}_{ls_level(level)}", "type": "choices",
                           "from_name": choices_name(finding, level), "to_name": "image",
                           "value": {"choices": [value]}})
    return result


def label_studio_tasks(data: ExportSet, image_url: Callable[[ExportImage], str] = _local_image_url) -> list[dict]:
    """One task per image with ground-truth boxes; the first image of each case also carries the case's
    per-level values as choices. Boxes are percentages of the image (Label Studio's convention)."""
    tasks, seen_cases = [], set()
    for image in data.images:
        result = _task_result(data, image, with_values=image.case_id not in seen_cases)
        seen_cases.add(image.case_id)
        tasks.append({"data": {"image": image_url(image), "case_id": image.case_id,
                               "study_instance_uid": image.study_instance_uid, "instance_id": image.instance_id,
                               "sop_instance_uid": image.sop_instance_uid, "split": image.split},
                      "annotations": [{"result": result, "ground_truth": True, "was_cancelled": False}]})
    return tasks


def write(data: ExportSet, out: Path) -> list[str]:
    """images/*.png, tasks.json (Label Studio's import format) and label_config.xml."""
    written = [write_file(out, f"images/{image.stem}.png", image.png()) for image in data.images]
    written.append(write_file(out, "tasks.json", json.dumps(label_studio_tasks(data), indent=1)))
    written.append(write_file(out, "label_config.xml", label_studio_config(data.schema)))
    return written
