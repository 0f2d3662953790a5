"""What a detector makes of a case: the images pre-annotation reads, and the detections on each (the first
stage of a two-stage model too)."""
from __future__ import annotations

import numpy as np

from annotation.models import Case, Instance, Series
from annotation.rendering import instance_to_uint8
from mlbackend.interpret import ImageDetections


def instances_to_predict(series: Series, instances: list[Instance]) -> list[tuple[int, Instance]]:
    """(rank in series, instance) pairs the model reads: on a sagittal series the mid-sagittal slice and its two
    neighbours (where readers box, and what the model learnt from), every slice of other series."""
    if series.plane == Series.Plane.SAGITTAL and len(instances) > 3:
        mid = len(instances) // 2
        return [(rank, instances[rank]) for rank in range(mid - 1, mid + 2)]
    return list(enumerate(instances))


def case_detections(case: Case, detector, *, imgsz: int, conf: float,
                    rendered: dict | None = None) -> list[ImageDetections]:
    """Runs a detector (an adapter's predict) over the case, one batch per series; `rendered`, when given,
    keeps the pixels by instance id for a second stage."""
    images: list[ImageDetections] = []
    for series in case.series.all().prefetch_related("instances"):
        instances = list(series.instances.all())
        chosen = instances_to_predict(series, instances)
        pixels = [instance_to_uint8(instance) for _, instance in chosen]
        if rendered is not None:
            rendered.update({instance.pk: image for (_, instance), image in zip(chosen, pixels)})
        detections = detector.predict(pixels, imgsz=imgsz, conf=conf)
        for (rank, instance), found, image in zip(chosen, detections, pixels):
            images.append(ImageDetections(instance_id=instance.pk, plane=series.plane, rank=rank,
                                          series_length=len(instances), detections=tuple(found),
                                          image_height=int(np.asarray(image).shape[0])))
    return images
