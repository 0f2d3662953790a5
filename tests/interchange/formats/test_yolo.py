"""YOLO label lines: detect and segment, clamping at the image's edge, the round trip, data.yaml."""
import pytest
import yaml

from interchange.formats import yolo


def test_detect_line_is_normalised_centre_and_size():
    assert yolo.yolo_line(3, (20, 10, 60, 30), 200, 100) == "3 0.200000 0.200000 0.200000 0.200000"


def test_boxes_past_the_edge_are_clamped_first():
    assert yolo.yolo_line(0, (-10, -5, 210, 120), 200, 100) == "0 0.500000 0.500000 1.000000 1.000000"
    assert yolo.yolo_line(0, (-10, 0, 10, 10), 200, 100, "segment") == (
        "0 0.000000 0.000000 0.050000 0.000000 0.050000 0.100000 0.000000 0.100000")


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown YOLO task"):
        yolo.yolo_line(0, (0, 0, 1, 1), 10, 10, "pose")


@pytest.mark.parametrize("box", [(20.0, 10.0, 60.0, 30.0), (0.0, 0.0, 512.0, 384.0), (101.3, 7.9, 102.1, 8.4)])
def test_detect_line_round_trips_within_its_precision(box):
    class_index, back = yolo.yolo_line_parse(yolo.yolo_line(2, box, 512, 384), 512, 384)
    assert class_index == 2 and back == pytest.approx(box, abs=512 * 1e-6)


def test_round_trip_of_a_box_past_the_edge_gives_the_clamped_box():
    _, back = yolo.yolo_line_parse(yolo.yolo_line(0, (-8, 10, 40, 130), 64, 128), 64, 128)
    assert back == pytest.approx((0, 10, 40, 128), abs=1e-4)


@pytest.mark.parametrize("line, message", [
    ("0 0.5 0.5 0.1", "5 fields"),
    ("a 0.5 0.5 0.1 0.1", "integer class"),
    ("-1 0.5 0.5 0.1 0.1", "class index >= 0"),
    ("0 0.5 1.5 0.1 0.1", r"fractions in \[0, 1\]"),
])
def test_bad_lines_are_refused_clearly(line, message):
    with pytest.raises(ValueError, match=message):
        yolo.yolo_line_parse(line, 100, 100)


def test_data_yaml_names_splits_and_classes_by_index():
    text = yolo.data_yaml(names=["disc_p1", "hiz"], splits={"train": "images/train"}, comment="made here")
    assert text.startswith("# made here\n")
    assert yaml.safe_load(text) == {"path": ".", "train": "images/train", "names": {0: "disc_p1", 1: "hiz"}}


def test_write_lays_out_images_labels_and_yaml(export_data, tmp_path):
    written = yolo.write(export_data, tmp_path)
    assert sorted(written) == sorted(["images/train/case1_img10.png", "labels/train/case1_img10.txt",
                                      "images/unassigned/case2_img20.png", "labels/unassigned/case2_img20.txt",
                                      "data.yaml"])
    assert (tmp_path / "labels/train/case1_img10.txt").read_text().splitlines() == [
        "0 0.200000 0.200000 0.200000 0.200000", "1 0.626250 0.746250 0.247500 0.487500"]
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["train"] == "images/train" and data["unassigned"] == "images/unassigned"
    assert list(data["names"].values()) == export_data.classes
