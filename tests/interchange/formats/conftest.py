"""A small ExportSet of plain data (no database, no real images) for the format writers."""
import pytest

from annotation.schema import default_schema, detector_classes
from interchange.formats.dataset import ExportBox, ExportImage, ExportSet


def _image(case_id, instance_id, split, boxes, width=200, height=100):
    return ExportImage(case_id=case_id, instance_id=instance_id, study_instance_uid=f"1.2.{case_id}",
                       sop_instance_uid=f"1.2.{case_id}.{instance_id}", width=width, height=height, split=split,
                       png=lambda: b"\x89PNG fake", dicom_header=lambda: None, boxes=boxes)


@pytest.fixture
def export_data():
    schema = default_schema()
    classes = detector_classes(schema)
    images = [
        _image(1, 10, "train", [ExportBox(classes[0], (20.0, 10.0, 60.0, 30.0), "L4/L5", "f", "1"),
                                ExportBox(classes[1], (100.5, 50.25, 150.0, 99.0), "L5/S1", "f", "2")]),
        _image(2, 20, "unassigned", [ExportBox(classes[2], (0.0, 0.0, 200.0, 100.0), "L1/L2", "f", "3")]),
    ]
    return ExportSet(project_slug="lumbar", schema=schema, classes=classes, images=images,
                     values={1: [("L4/L5", "f", "1")], 2: []})
