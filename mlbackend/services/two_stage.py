"""The two-stage model on the platform's cases: level samples from ground truth, the level classifier's
training, its findings and probabilities on a case, and per-level metrics on held-out cases (the gate's).

The detector localises the discs (their levels placed as for a detector alone, interpret.place_findings);
the classifier grades each level from the sagittal slices around the disc's box and the level's axial slice.
In training the discs are the ground truth's own boxes, on each slice readers drew them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotation.models import Case, GroundTruthItem, Instance, Series
from annotation.rendering import instance_to_uint8
from annotation.schema import anchor_finding, finding_class, finding_specs, negative_values
from mlbackend.adapter import Detection
from mlbackend.interpret import ImageDetections, PlacedFinding, axial_rank, disc_boxes, place_findings
from mlbackend.level_eval import Calls, classifier_calls, detector_calls, level_metrics
from mlbackend.level_model import CropSpec, LevelClassifierModel, LevelInput, LevelSample, two_stage_save
from mlbackend.services.case_predictions import case_detections

DEFAULTS = {"width": 16, "layers": 2, "crop": 48, "depth": 5, "epochs": 30, "batch": 32, "lr": 1e-3}


def level_settings(config) -> dict:
    return {**DEFAULTS, **(config.level or {})}


def heads_for(schema: dict) -> dict[str, list[str]]:
    """One classifier head per finding of the schema, over all its values."""
    return {name: list(spec.values) for name, spec in finding_specs(schema).items()}


class SeriesPictures:
    """A case's sagittal and axial series as the level classifier reads them: `items` rendered once when first
    asked (`render`), a sagittal one found by `key(item)` == the instance id a disc box was placed on."""

    def __init__(self, sagittal: list, axial: list, *, render, key, rendered: dict | None = None):
        self.sagittal, self.axial, self._render, self._key = sagittal, axial, render, key
        self._pixels = dict(rendered or {})

    def pixels(self, item) -> np.ndarray:
        key = self._key(item)
        if key not in self._pixels:
            self._pixels[key] = self._render(item)
        return self._pixels[key]

    def level_input(self, instance_id, box, level: str, levels: list[str], depth: int) -> LevelInput | None:
        rank = next((i for i, item in enumerate(self.sagittal) if self._key(item) == instance_id), None)
        if rank is None:
            return None
        window = range(max(0, rank - depth // 2), min(len(self.sagittal), rank - depth // 2 + depth))
        axial = self.pixels(self.axial[axial_rank(levels, level, len(self.axial))]) if self.axial else None
        return LevelInput(sagittal=tuple(self.pixels(self.sagittal[i]) for i in window),
                          centre_index=rank - window[0], box=tuple(box), axial=axial)


def case_pictures(case: Case, rendered: dict | None = None) -> SeriesPictures:
    """The case's first sagittal and first axial series; `rendered`: pixels already had, by instance id."""
    series: dict[str, list[Instance]] = {}
    for one in case.series.all().prefetch_related("instances").order_by("id"):
        if one.plane in (Series.Plane.SAGITTAL, Series.Plane.AXIAL):
            series.setdefault(one.plane, list(one.instances.all()))
    return SeriesPictures(series.get(Series.Plane.SAGITTAL, []), series.get(Series.Plane.AXIAL, []),
                          render=instance_to_uint8, key=lambda instance: instance.pk, rendered=rendered)


def case_truth(case: Case) -> dict[tuple[str, str], str]:
    """{(level, finding): value} of the case's ground truth; in a positive-only project a finding left out
    stands for its negative value."""
    project = case.project
    truth = {(level, name): value for level, name, value in
             GroundTruthItem.objects.filter(case=case).values_list("disc_level", "finding_type", "value")}
    if project.labelling_mode == project.LabellingMode.POSITIVE_ONLY:
        for level in project.label_schema["levels"]:
            for name, negative in negative_values(project.label_schema).items():
                truth.setdefault((level, name), negative)
    return truth


def samples_from(pictures: SeriesPictures, truth: dict, drawn: list[tuple], schema: dict,
                 spec: CropSpec) -> list[LevelSample]:
    """A sample for each drawn disc box, (instance id, box, level), labelled with its level's truth
    ({(level, finding): value}; a finding without one is left unknown)."""
    heads, levels, samples = heads_for(schema), list(schema["levels"]), []
    for instance_id, box, level in drawn:
        crop_source = pictures.level_input(instance_id, box, level, levels, spec.depth)
        if crop_source is not None:
            labels = {name: values.index(truth[(level, name)]) for name, values in heads.items()
                      if truth.get((level, name)) in values}
            samples.append(LevelSample(crop_source, labels))
    return samples


def level_samples(cases: list[Case], schema: dict, spec: CropSpec) -> list[LevelSample]:
    """A sample for every disc box of the anchor finding readers drew on a sagittal slice, labelled with the
    level's ground truth."""
    samples = []
    for case in cases:
        drawn = [(item.instance_id, (item.x0, item.y0, item.x1, item.y1), item.disc_level) for item in
                 GroundTruthItem.objects.filter(case=case, finding_type=anchor_finding(schema), x0__isnull=False,
                                                instance__series__plane=Series.Plane.SAGITTAL).order_by("id")]
        samples += samples_from(case_pictures(case), case_truth(case), drawn, schema, spec)
    return samples


def classifier_train(*, parts: dict, schema: dict, config, detector_weights: Path, out: Path, epochs: int,
                     device: str, on_epoch=None, served=None) -> tuple[Path, LevelClassifierModel, float, int]:
    """Trains the level classifier on the training and validation cases and writes the two-stage file with
    the detector; continues from the served two-stage model's classifier when it has the same layout.
    Returns (the file, the classifier, seconds, samples)."""
    settings = level_settings(config)
    spec = CropSpec(size=settings["crop"], depth=settings["depth"])
    classifier = LevelClassifierModel(heads=heads_for(schema), spec=spec, width=settings["width"],
                                      layers=settings["layers"])
    previous = getattr(served, "classifier", None)
    if previous is not None and (previous.heads, previous.spec, previous.width, previous.layers) == (
            classifier.heads, spec, classifier.width, classifier.layers):
        classifier = LevelClassifierModel.from_state(previous.state())
    samples = level_samples(parts["train"] + parts["val"], schema, spec)
    if not samples:
        raise ValueError("no disc boxes in the ground truth to train the level classifier on")
    seconds = classifier.train(samples, epochs=epochs, batch=settings["batch"], lr=settings["lr"], device=device,
                               on_epoch=on_epoch)
    path = two_stage_save(Path(out) / "model.two-stage.pt", detector_weights=detector_weights,
                          classifier=classifier, classes=schema_classes(schema), anchor=anchor_finding(schema))
    return path, classifier, seconds, len(samples)


def schema_classes(schema: dict) -> dict[str, dict[str, str]]:
    """{finding: {value: detector class}}: what a two-stage file keeps of the schema it was trained with."""
    return {name: dict(spec.classes) for name, spec in finding_specs(schema).items()}


@dataclass
class CaseLevels:
    """What the two-stage model made of one case."""

    images: list[ImageDetections]
    discs: dict[str, PlacedFinding] = field(default_factory=dict)  # level -> the disc box the classifier read
    probabilities: dict[str, dict] = field(default_factory=dict)  # level -> {finding: probabilities}
    heads: dict[str, list[str]] = field(default_factory=dict)

    def findings(self, schema: dict, threshold: float) -> list[PlacedFinding]:
        """Per level and finding its most likely value when that has a class and reaches `threshold`, with its
        probability as score: on the detector's best box of that value at the level if it drew one, else on
        the disc's box."""
        specs = finding_specs(schema)
        boxes: dict[tuple, PlacedFinding] = {}
        for image in self.images:
            for p in place_findings(schema, image):
                key = (p.disc_level, p.finding_type, p.value)
                if key not in boxes or boxes[key].score < p.score:
                    boxes[key] = p
        out = []
        for level, found in self.probabilities.items():
            disc = self.discs[level]
            for name, p in found.items():
                value, score = self.heads[name][int(np.argmax(p))], float(np.max(p))
                # A finding the schema dropped since training, a negative value, or not confident enough: none.
                if name not in specs or value not in specs[name].classes or score < threshold:
                    continue
                where = boxes.get((level, name, value), disc)
                out.append(PlacedFinding(where.instance_id, level, name, value, score, where.box))
        return out

    def calls(self, schema: dict) -> Calls:
        return classifier_calls(schema, self.probabilities, self.heads)


def levels_read(model, schema: dict, images: list[ImageDetections], pictures) -> CaseLevels:
    """The classifier of a TwoStageAdapter on every level whose disc its detector found in `images`;
    `pictures.level_input(instance_id, box, level, levels, depth)` gives a level's crops' source (a case's
    stored series here, phantom files in bench/active_learning.py)."""
    discs = disc_boxes(schema, images)
    inputs = {level: pictures.level_input(disc.instance_id, disc.box, level, list(schema["levels"]),
                                          model.classifier.spec.depth) for level, disc in discs.items()}
    inputs = {level: value for level, value in inputs.items() if value is not None}
    probabilities = model.classifier.probabilities(list(inputs.values()))
    return CaseLevels(images=images, discs={level: discs[level] for level in inputs},
                      probabilities=dict(zip(inputs, probabilities)), heads=model.classifier.heads)


def case_levels(case: Case, model, *, imgsz: int, conf: float) -> CaseLevels:
    """Runs a TwoStageAdapter over a case: the detector over its series, then the classifier per level."""
    rendered = {}
    images = case_detections(case, model.detector, imgsz=imgsz, conf=conf, rendered=rendered)
    return levels_read(model, case.project.label_schema, images, case_pictures(case, rendered))


def case_calls(case: Case, model, *, imgsz: int, conf: float) -> Calls:
    """Per-level calls of any served kind of model: a two-stage one's classifier, a detector's placed boxes."""
    if getattr(model, "task", "") == "two_stage":
        return case_levels(case, model, imgsz=imgsz, conf=conf).calls(case.project.label_schema)
    return detector_calls(case.project.label_schema, case_detections(case, model, imgsz=imgsz, conf=conf))


def heldout_level_metrics(cases: list[Case], model, *, imgsz: int, conf: float) -> dict | None:
    """level_eval.level_metrics of a model over held-out cases; None without any."""
    if not cases:
        return None
    schema = cases[0].project.label_schema
    return level_metrics(schema, [case_calls(c, model, imgsz=imgsz, conf=conf) for c in cases],
                         [case_truth(c) for c in cases])


def task_levels(schema: dict, instance: Instance | None, pixels: np.ndarray, depth: int):
    """For a Label Studio task on a platform sagittal instance: the function TwoStageAdapter.predict's
    `levels` takes, reading each disc's level from the stack around the slice and the level's axial slice, as
    pre-annotation does; None for any other image (graded from itself alone)."""
    if instance is None or instance.series.plane != Series.Plane.SAGITTAL:
        return None
    pictures = case_pictures(instance.series.case, {instance.pk: pixels})
    rank = next(i for i, item in enumerate(pictures.sagittal) if item.pk == instance.pk)

    def read(detections):
        image = ImageDetections(instance_id=instance.pk, plane="sagittal", rank=rank,
                                series_length=len(pictures.sagittal), detections=tuple(detections))
        pairs = [(p, pictures.level_input(instance.pk, p.box, level, list(schema["levels"]), depth))
                 for level, p in disc_boxes(schema, [image]).items()]
        return ([Detection(finding_class(schema, p.finding_type, p.value), p.score, p.box) for p, _ in pairs],
                [level_input for _, level_input in pairs])

    return read
