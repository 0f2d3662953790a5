"""The detection table and fROC on plain data: each rater's boxes against the truth's at the study's threshold
(the project's box_iou_threshold), readers' boxes unscored, the model's scored."""
from __future__ import annotations

import numpy as np
import pytest

from stats.detection import average_precision, detection_prf, froc
from studies.dashboard import MODEL_ARM, Rater, StudyData, study_dashboard

READER = Rater("ann|unaided|1", "ann", "reader", "unaided")
MODEL = Rater("model", "model v1", "model", MODEL_ARM)
TRUTH = [[("disc", (10.5, 10.0, 19.5, 20.0)), ("disc", (7.0, 10.0, 14.5, 20.0)), ("hiz", (44.0, 30.0, 54.0, 40.0))],
         [("disc", (0.0, 0.0, 10.0, 10.0))]]
READER_BOXES = [[("disc", (10.0, 10.0, 20.0, 20.0), None), ("disc", (15.5, 10.0, 23.0, 20.0), None),
                 ("hiz", (40.0, 30.0, 50.0, 40.0), None)],
                [("disc", (30.0, 30.0, 40.0, 40.0), None)]]
MODEL_BOXES = [[("disc", (10.0, 10.0, 19.0, 20.0), 0.9), ("hiz", (43.0, 30.0, 53.0, 40.0), 0.4),
                ("disc", (6.0, 10.0, 13.0, 20.0), 0.7)],
               [("disc", (2.0, 0.0, 10.0, 10.0), 0.6), ("disc", (20.0, 20.0, 30.0, 30.0), 0.8)]]


def _data(iou_threshold: float) -> StudyData:
    images = [{"instance": i + 1, "case": 1, "truth": truth, "pred": {READER.key: reader, "model": model}}
              for i, (truth, reader, model) in enumerate(zip(TRUTH, READER_BOXES, MODEL_BOXES))]
    return StudyData(study={"id": 1, "arms": ["unaided"]}, case_ids=np.array([1]), patient_keys=["p"], levels=[],
                     findings={}, raters=[READER, MODEL], seconds=np.full((2, 1), np.nan),
                     iou_threshold=iou_threshold, images=images)


def _images(boxes: list) -> list:
    return [{"truth": truth, "pred": pred} for truth, pred in zip(TRUTH, boxes)]


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.75])
def test_rows_are_the_detection_metrics_at_the_studys_threshold(threshold):
    dashboard = study_dashboard(_data(threshold))
    table = dashboard["tables"]["detection"]
    assert f"at IoU {threshold:.2f}" in table["title"]
    assert table["columns"] == ["arm", "rater", "class", "tp", "fp", "fn", "precision", "recall", "f1", "ap",
                                "n_images"]
    for rater, boxes in ((READER, READER_BOXES), (MODEL, MODEL_BOXES)):
        images = _images(boxes)
        expected = detection_prf(images, iou_threshold=threshold)
        rows = {row["class"]: row for row in table["rows"] if row["rater"] == rater.name}
        assert list(rows) == ["disc", "hiz", "all"]
        for cls, row in rows.items():
            prf = expected.overall if cls == "all" else expected.per_class[cls]
            assert (row["tp"], row["fp"], row["fn"], row["n_images"]) == (prf.tp, prf.fp, prf.fn, 2)
            ap = average_precision(images, cls, iou_threshold=threshold) if rater is MODEL and cls != "all" else None
            assert row["ap"] == ap
    curve = froc(_images(MODEL_BOXES), iou_threshold=threshold)
    figure = dashboard["figures"]["froc"]
    assert figure["iou_threshold"] == threshold and figure["rater"] == MODEL.name
    assert figure["fp_per_image"] == curve.fp_per_image.tolist() and figure["n_truth"] == curve.n_truth == 4


def test_readers_boxes_pair_by_most_pairs_and_follow_the_threshold():
    """Reader ann's two disc boxes on image 1 pair with both truth discs at 0.3 (most pairs), though a greedy pass
    in drawing order would give the first the tighter partner and leave the second unmatched; at 0.5 one pair."""
    for threshold, (tp, fp, fn) in ((0.3, (3, 1, 1)), (0.5, (1, 3, 3))):
        table = study_dashboard(_data(threshold))["tables"]["detection"]
        row = next(r for r in table["rows"] if r["rater"] == READER.name and r["class"] == "all")
        assert (row["tp"], row["fp"], row["fn"]) == (tp, fp, fn)


def test_no_boxes_no_rows():
    data = _data(0.5)
    data.images = []
    dashboard = study_dashboard(data)
    assert dashboard["tables"]["detection"]["rows"] == [] and dashboard["figures"]["froc"] is None
