"""LabelMe: rectangles as two corner points, the level in description, the split as a flag."""
from interchange.formats import labelme


def test_document_shapes_and_split_flag(export_data):
    doc = labelme.labelme_document(export_data.images[0])
    assert doc["flags"] == {"split_train": True} and doc["imageData"] is None
    assert (doc["imageWidth"], doc["imageHeight"]) == (200, 100)
    assert doc["shapes"][1]["points"] == [[100.5, 50.25], [150.0, 99.0]]
    assert doc["shapes"][1]["description"] == "L5/S1" and doc["shapes"][1]["shape_type"] == "rectangle"
