"""Box detection per image (slice level): each rater's boxes against the ground truth's at the project's IoU
threshold, and the model's fROC.

Readers' boxes carry no score and are paired with the truth by the project's unscored rule (geometry.match_boxes:
most pairs, then largest total IoU), the same rule that builds the ground truth from two reads; the model's
boxes are matched greedily by score, as AP and fROC are defined.
"""
from __future__ import annotations

from stats.detection import average_precision, detection_prf, froc
from studies.dashboard.cells import num, safe
from studies.dashboard.data import StudyData


def detection_tables(data: StudyData, tables: dict, figures: dict) -> None:
    if not data.images:
        return
    rows = tables["detection"]["rows"]
    threshold = data.iou_threshold
    for rater in (r for r in data.raters if r.repetition == 1):
        images = [{"truth": image["truth"], "pred": image["pred"].get(rater.key, [])} for image in data.images]
        if not any(image["pred"] for image in images):
            continue
        result = detection_prf(images, iou_threshold=threshold)
        for cls in sorted(set(result.per_class)) + ["all"]:
            prf = result.overall if cls == "all" else result.per_class[cls]
            ap = None
            if rater.kind == "model" and cls != "all":
                ap = num(safe(average_precision, images, cls, iou_threshold=threshold))
            rows.append({"arm": rater.arm, "rater": rater.name, "class": cls, "tp": prf.tp, "fp": prf.fp,
                         "fn": prf.fn, "precision": num(prf.precision), "recall": num(prf.recall),
                         "f1": num(prf.f1), "ap": ap, "n_images": result.n_images})
        if rater.kind == "model":
            figures["froc"] = _froc_figure(rater.name, images, threshold)


def _froc_figure(rater_name: str, images: list, threshold: float) -> dict:
    curve = froc(images, iou_threshold=threshold)
    return {"rater": rater_name, "iou_threshold": threshold, "fp_per_image": curve.fp_per_image.tolist(),
            "sensitivity": [num(s) for s in curve.sensitivity.tolist()], "fp_rates": list(curve.fp_rates),
            "sensitivity_at": [num(s) for s in curve.sensitivity_at.tolist()], "cpm": num(curve.cpm),
            "n_images": curve.n_images, "n_truth": curve.n_truth}
