"""COCO: bbox as [x, y, width, height] in pixels, categories from 1, SpineRead's attributes kept."""
import json

from interchange.formats import coco


def test_write_gives_bbox_area_and_attributes(export_data, tmp_path):
    coco.write(export_data, tmp_path)
    doc = json.loads((tmp_path / "annotations.json").read_text())
    assert [c["id"] for c in doc["categories"]] == list(range(1, len(export_data.classes) + 1))
    assert [a["id"] for a in doc["annotations"]] == [1, 2, 3]
    second = doc["annotations"][1]
    assert second["bbox"] == [100.5, 50.25, 49.5, 48.75] and second["area"] == 49.5 * 48.75
    assert (second["image_id"], second["category_id"]) == (1, 2)
    assert second["attributes"] == {"disc_level": "L5/S1", "finding": "f", "value": "2"}
    assert [i["split"] for i in doc["images"]] == ["train", "unassigned"]
