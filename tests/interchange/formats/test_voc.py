"""Pascal VOC: pixel boxes as given, the disc level in pose, one image set per split."""
from xml.etree import ElementTree

from interchange.formats import voc


def test_annotation_xml_keeps_float_pixel_edges(export_data):
    root = ElementTree.fromstring(voc.annotation_xml(export_data.images[0]))
    objects = root.findall("object")
    assert [o.findtext("pose") for o in objects] == ["L4/L5", "L5/S1"]
    box = objects[1].find("bndbox")
    assert [box.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["100.5", "50.25", "150", "99"]
    assert (root.findtext("size/width"), root.findtext("size/height")) == ("200", "100")


def test_write_lists_each_split(export_data, tmp_path):
    voc.write(export_data, tmp_path)
    assert (tmp_path / "ImageSets/Main/train.txt").read_text() == "case1_img10\n"
    assert (tmp_path / "ImageSets/Main/unassigned.txt").read_text() == "case2_img20\n"
