"""Dataset exports of ground truth built from phantoms with known truth (``conftest.exported``): structure,
and boxes that round-trip in pixel coordinates; Label Studio tasks validated with label-studio-sdk; DICOM SR
read back with highdicom."""
import json
from xml.etree import ElementTree

import pydicom
import pytest

from annotation.models import Case, Instance
from annotation.schema import detector_classes
from interchange.exports import dataset_export, export_set
from interchange.formats.label_studio import label_studio_config, label_studio_tasks

pytestmark = pytest.mark.django_db


def _close(a, b, tol=1e-3):
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def _match(expected, got):
    assert len(got) == len(expected)
    for (e_key, e_box), (g_key, g_box) in zip(sorted(expected), sorted(got)):
        assert e_key == g_key and _close(e_box, g_box), (e_key, e_box, g_key, g_box)


def _by_stem(expected):
    return [((f"case{c}_img{i}", cls), box) for c, i, cls, box in expected]


def _export(exported, tmp_path, fmt):
    """Exports the fixture's ground truth in ``fmt``; returns the project, the folder and the expected boxes."""
    project, _cases, expected = exported
    out = tmp_path / fmt
    dataset_export(project, fmt=fmt, out_dir=out)
    return project, out, expected


def test_yolo_boxes_round_trip(exported, tmp_path):
    project, out, expected = _export(exported, tmp_path, "yolo")
    names = detector_classes(project.label_schema)
    yaml = (out / "data.yaml").read_text()
    assert "train: images/train" in yaml and "study: images/study" in yaml and f"  0: {names[0]}" in yaml
    got = []
    for label in sorted(out.glob("labels/*/*.txt")):
        split = label.parent.name
        image = out / "images" / split / (label.stem + ".png")
        assert image.exists()
        case_id = int(label.stem.split("_")[0][4:])
        assert split == Case.objects.get(pk=case_id).split
        instance = Instance.objects.get(pk=int(label.stem.split("img")[1]))
        w, h = instance.columns, instance.rows
        for line in label.read_text().split("\n"):
            if not line:
                continue
            cls, cx, cy, bw, bh = line.split()
            cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
            got.append(((label.stem, names[int(cls)]), (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)))
    _match(_by_stem(expected), got)


def test_coco_structure_and_boxes(exported, tmp_path):
    project, out, expected = _export(exported, tmp_path, "coco")
    coco = json.loads((out / "annotations.json").read_text())
    assert set(coco) >= {"images", "annotations", "categories"}
    categories = {c["id"]: c["name"] for c in coco["categories"]}
    assert list(categories.values()) == detector_classes(project.label_schema)
    images = {i["id"]: i for i in coco["images"]}
    assert {i["split"] for i in images.values()} == {"train", "study"}
    assert all((out / i["file_name"]).exists() for i in images.values())
    got = []
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        image = images[a["image_id"]]
        assert a["area"] == pytest.approx(w * h) and a["attributes"]["disc_level"]
        got.append(((f"case{image['case_id']}_img{image['instance_id']}", categories[a["category_id"]]),
                    (x, y, x + w, y + h)))
    _match(_by_stem(expected), got)


def test_voc_structure_and_boxes(exported, tmp_path):
    project, out, expected = _export(exported, tmp_path, "voc")
    got = []
    for xml in out.glob("Annotations/*.xml"):
        root = ElementTree.parse(xml).getroot()
        assert (out / "JPEGImages" / root.findtext("filename")).exists()
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            got.append(((xml.stem, obj.findtext("name")),
                        tuple(float(box.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))))
    _match(_by_stem(expected), got)
    assert (out / "ImageSets/Main/train.txt").exists() and (out / "ImageSets/Main/study.txt").exists()


def test_labelme_structure_and_boxes(exported, tmp_path):
    project, out, expected = _export(exported, tmp_path, "labelme")
    got = []
    for path in out.glob("*.json"):
        doc = json.loads(path.read_text())
        assert (out / doc["imagePath"]).exists() and doc["imageData"] is None
        for shape in doc["shapes"]:
            assert shape["shape_type"] == "rectangle"
            (x0, y0), (x1, y1) = shape["points"]
            got.append(((path.stem, shape["label"]), (x0, y0, x1, y1)))
    _match(_by_stem(expected), got)


def test_label_studio_tasks_validate_with_the_sdk(exported, tmp_path):
    from label_studio_sdk.label_interface import LabelInterface
    from label_studio_sdk.types import AnnotationRequest

    project, out, expected = _export(exported, tmp_path, "label-studio")
    tasks = json.loads((out / "tasks.json").read_text())
    interface = LabelInterface((out / "label_config.xml").read_text())
    got = []
    for task in tasks:
        # validate_task of SDK 2.1.2 calls validate_annotation() without its argument when a task holds
        # annotations, so the data and each annotation are validated separately.
        assert interface.validate_task({"data": task["data"]})
        for annotation in task["annotations"]:
            AnnotationRequest.model_validate(annotation)  # the SDK's request model
            assert interface.validate_annotation(annotation)
            for region in annotation["result"]:
                assert interface.validate_region(region, return_errors=True) == [], region
                if region["type"] != "rectanglelabels":
                    continue
                v, w, h = region["value"], region["original_width"], region["original_height"]
                got.append(((f"case{task['data']['case_id']}_img{task['data']['instance_id']}",
                             v["rectanglelabels"][0]),
                            (v["x"] * w / 100, v["y"] * h / 100, (v["x"] + v["width"]) * w / 100,
                             (v["y"] + v["height"]) * h / 100)))
    _match(_by_stem(expected), got)
    assert label_studio_config(project.label_schema) == (out / "label_config.xml").read_text()


def test_dicom_sr_reads_back_and_references_the_source_images(exported, tmp_path):
    import highdicom as hd

    project, cases, expected = exported
    out = tmp_path / "sr"
    dataset_export(project, fmt="dicom-sr", out_dir=out)
    for case in cases:
        sr = hd.sr.srread(out / "sr" / f"case{case.pk}.dcm")
        boxes = [e for e in expected if e[0] == case.pk]
        sops = set(Instance.objects.filter(pk__in={e[1] for e in boxes}).values_list("sop_instance_uid", flat=True))
        groups = sr.content.get_planar_roi_measurement_groups()
        assert len(groups) == len(boxes)
        referenced = {g.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID for g in groups}
        assert referenced == sops
        for group in groups:
            data = group.roi.value
            assert data.shape == (5, 2)
        got = sorted((min(p[0] for p in g.roi.value), min(p[1] for p in g.roi.value)) for g in groups)
        want = sorted((e[3][0], e[3][1]) for e in boxes)
        assert all(_close(a, b) for a, b in zip(got, want))
        reread = pydicom.dcmread(out / "sr" / f"case{case.pk}.dcm")
        assert reread.Modality == "SR" and reread.StudyInstanceUID == case.study_instance_uid


def test_exports_only_final_ground_truth_and_filter_by_split(exported):
    project, cases, expected = exported
    Case.objects.filter(pk=cases[0].pk).update(status=Case.Status.ADJUDICATION)
    data = export_set(project)
    assert {image.case_id for image in data.images} == {cases[1].pk}
    assert export_set(project, splits=["train"]).images == []
    assert label_studio_tasks(export_set(project, splits=["study"]))


def test_unknown_format_is_refused(project, tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        dataset_export(project, fmt="pascal", out_dir=tmp_path)
