"""Another model's predictions imported as a model version: perfect predictions made from our own COCO and Label
Studio exports of phantom ground truth come back as model findings on the truth's levels and boxes, and a
reader study pinned to that version scores them like our own model's; bad files are refused whole."""
import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import AuditEvent, Finding, GroundTruthItem, Role, Source
from annotation.schema import class_to_finding, finding_class
from interchange.exports import dataset_export, export_set
from interchange.formats.label_studio import label_studio_tasks
from mlbackend.services.external import external_predictions_import
from studies.selectors import study_data, study_pinnable_model_versions
from studies.services import study_create
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _coco_results(project, tmp_path) -> tuple[list[dict], dict]:
    """Our COCO export's ground-truth annotations as a detector's results file (score 0.9), and the export."""
    dataset_export(project, fmt="coco", out_dir=tmp_path / "coco")
    coco = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
               for a in coco["annotations"]]
    return results, coco


def _ls_predictions(project) -> list[dict]:
    """Our Label Studio export's tasks, their ground truth moved into predictions of one model version."""
    tasks = label_studio_tasks(export_set(project))
    return [{"data": task["data"], "predictions": [{"model_version": "their-v2", "score": 0.9,
                                                    "result": task["annotations"][0]["result"]}]}
            for task in tasks]


def _rounded(box) -> tuple:
    return tuple(round(float(v), 1) for v in box)


def _truth_boxes(project, cases) -> dict:
    """{(case, plane, level, finding, value as the detector's class reads back): {(instance, box)}} of the boxed
    truth. The phantoms' truth boxes each disc on three sagittal slices; our detector's path keeps one box per
    plane, level and finding (the middle slice's), so a perfect model's findings are one of these boxes each."""
    schema = project.label_schema
    rows = {}
    for item in GroundTruthItem.objects.filter(case__in=cases, instance__isnull=False).select_related(
            "instance__series"):
        class_name = finding_class(schema, item.finding_type, item.value)
        if class_name is not None:
            key = (item.case_id, item.instance.series.plane, item.disc_level, item.finding_type,
                   class_to_finding(schema, class_name)[1])
            rows.setdefault(key, set()).add((item.instance_id, _rounded((item.x0, item.y0, item.x1, item.y1))))
    return rows


def _model_boxes(version: str) -> dict:
    """{(case, plane, level, finding, value): (instance, box)} of the version's findings; one per key."""
    findings = list(Finding.objects.filter(source=Source.MODEL, model_version=version, read__isnull=True)
                    .select_related("instance__series"))
    rows = {(f.case_id, f.instance.series.plane, f.disc_level, f.finding_type, f.value):
            (f.instance_id, _rounded((f.x0, f.y0, f.x1, f.y1))) for f in findings}
    assert len(rows) == len(findings)
    return rows


def _perfect(version: str, project, cases) -> bool:
    """The version's findings are the truth's, each on one of the truth's boxes of its level and finding."""
    truth, model = _truth_boxes(project, cases), _model_boxes(version)
    return model.keys() == truth.keys() and all(box in truth[key] for key, box in model.items())


def test_perfect_coco_results_are_stored_as_the_truth_boxes_on_their_levels(exported, tmp_path, coordinator):
    project, cases, _expected = exported
    results, _coco = _coco_results(project, tmp_path)
    got = external_predictions_import(project=project, model_version="perfect", fmt="coco", data=results,
                                      actor=coordinator)
    truth = _truth_boxes(project, cases)
    assert got == {"model_version": "external:perfect", "cases": 2, "boxes": len(results), "findings": len(truth)}
    assert _perfect("external:perfect", project, cases)
    assert set(Finding.objects.filter(model_version="external:perfect").values_list("score", flat=True)) == {0.9}
    event = AuditEvent.objects.get(action="external_predictions_import")
    assert event.actor == coordinator and event.payload["findings"] == len(truth)


def test_a_coco_document_with_its_images_and_categories_maps_the_same(exported, tmp_path, coordinator):
    project, cases, _expected = exported
    results, coco = _coco_results(project, tmp_path)
    # Another tool renumbers images and categories; our instance ids in its images keep them apart.
    images = [{**image, "id": image["id"] + 100} for image in coco["images"]]
    categories = [{**c, "id": c["id"] + 50} for c in coco["categories"]]
    document = {"images": images, "categories": categories,
                "annotations": [{**r, "image_id": r["image_id"] + 100, "category_id": r["category_id"] + 50}
                                for r in results]}
    external_predictions_import(project=project, model_version="external:renumbered", fmt="coco",
                                data=document, actor=coordinator)
    assert _perfect("external:renumbered", project, cases)


def test_label_studio_predictions_are_stored_as_the_coco_ones(exported, tmp_path, coordinator):
    project, cases, _expected = exported
    got = external_predictions_import(project=project, model_version="ls", fmt="label-studio",
                                      data=_ls_predictions(project), actor=coordinator)
    assert got["model_version"] == "external:ls" and got["cases"] == 2
    assert _perfect("external:ls", project, cases)


def test_a_study_pinned_to_the_external_version_scores_it_like_our_own(exported, tmp_path, coordinator):
    project, cases, _expected = exported
    results, _coco = _coco_results(project, tmp_path)
    external_predictions_import(project=project, model_version="perfect", fmt="coco", data=results,
                                actor=coordinator)
    assert (project.slug, "external:perfect") in study_pinnable_model_versions([project])
    reader = make_user("ext_reader", Role.READER, project=project)
    study = study_create(project=project, name="external", case_ids=[c.pk for c in cases], readers=[reader],
                         design="aided", model_version="external:perfect", actor=coordinator)
    data = study_data(study)
    model_row = [r.kind for r in data.raters].index("model")
    positives = 0
    for finding in data.findings.values():
        truth, model = finding.truth, finding.ratings[model_row]
        positive = truth >= finding.positive_from
        positives += int(positive.sum())
        # Sensitivity 1 on every positive finding, and every positive call a true one.
        assert (model[positive] >= finding.positive_from).all()
        assert not (model[(truth >= 0) & ~positive] >= finding.positive_from).any()
    assert positives > 0
    # Its boxes reach the detection tables, each one of the truth's boxes on its image.
    truth_boxes = {(i["instance"], cls, _rounded(box)) for i in data.images for cls, box in i["truth"]}
    model_boxes = [(i["instance"], cls, _rounded(box), score) for i in data.images
                   for cls, box, score in i["pred"].get("model", [])]
    assert len(model_boxes) == len(_model_boxes("external:perfect"))
    assert all((i, cls, box) in truth_boxes and score == 0.9 for i, cls, box, score in model_boxes)


@pytest.mark.parametrize("change, words", [
    (lambda rows: rows[0].update(category_id=999), "unknown category_id 999"),
    (lambda rows: rows[0].update(image_id=999), "unknown image_id 999"),
    (lambda rows: rows[0].update(bbox=[1, 2, 3]), "'bbox' must be [x, y, width, height]"),
    (lambda rows: rows[0].update(bbox=[1, 2, 0, 5]), "width and height must be positive"),
    (lambda rows: rows[0].update(score=1.5), "'score' must be a number from 0 to 1"),
    (lambda rows: rows[-1].pop("score"), "'score' must be a number from 0 to 1"),
    (lambda rows: rows[0].update(instance_id=987654), "are no instances of project"),
    (lambda rows: rows.append("not a row"), "must be an object"),
])
def test_a_bad_coco_row_refuses_the_whole_file(exported, tmp_path, coordinator, change, words):
    project, _cases, _expected = exported
    results, _coco = _coco_results(project, tmp_path)
    change(results)
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        external_predictions_import(project=project, model_version="bad", fmt="coco", data=results,
                                    actor=coordinator)
    assert not Finding.objects.filter(source=Source.MODEL).exists()


def test_bad_label_studio_predictions_and_names_are_refused(exported, coordinator):
    project, _cases, _expected = exported
    tasks = _ls_predictions(project)
    rectangle = next(r for r in tasks[0]["predictions"][0]["result"] if r["type"] == "rectanglelabels")
    rectangle["value"]["rectanglelabels"] = ["no_such_class"]
    with pytest.raises(ValueError, match="unknown label 'no_such_class'"):
        external_predictions_import(project=project, model_version="bad", fmt="label-studio", data=tasks,
                                    actor=coordinator)
    tasks = _ls_predictions(project)
    tasks[1]["predictions"][0]["model_version"] = "their-v3"
    with pytest.raises(ValueError, match="several model versions"):
        external_predictions_import(project=project, model_version="bad", fmt="label-studio", data=tasks,
                                    actor=coordinator)
    del tasks[0]["data"]["instance_id"]
    with pytest.raises(ValueError, match="needs data.instance_id"):
        external_predictions_import(project=project, model_version="bad", fmt="label-studio", data=tasks,
                                    actor=coordinator)
    for name in ("", "external:", "has space", "x" * 60):
        with pytest.raises(ValueError, match="model version must be a name"):
            external_predictions_import(project=project, model_version=name, fmt="label-studio",
                                        data=_ls_predictions(project), actor=coordinator)
    with pytest.raises(ValueError, match="unknown predictions format"):
        external_predictions_import(project=project, model_version="x", fmt="yolo", data=[], actor=coordinator)
    assert not Finding.objects.filter(source=Source.MODEL).exists()


def test_import_api_for_coordinators_only_all_or_nothing(client, exported, tmp_path, coordinator):
    project, cases, _expected = exported
    results, _coco = _coco_results(project, tmp_path)
    url = f"/api/projects/{project.slug}/predictions/import/"
    client.force_login(coordinator)
    bad = [*results, {**results[0], "category_id": 999}]
    response = client.post(url, {"format": "coco", "model_version": "perfect", "predictions": bad},
                           content_type="application/json")
    assert response.status_code == 400 and "unknown category_id 999" in response.json()["detail"]
    assert client.post(url, {"format": "voc", "model_version": "perfect", "predictions": results},
                       content_type="application/json").status_code == 400
    assert not Finding.objects.filter(source=Source.MODEL).exists()
    response = client.post(url, {"format": "coco", "model_version": "perfect", "predictions": results},
                           content_type="application/json")
    assert response.status_code == 201 and response.json()["model_version"] == "external:perfect"
    assert _perfect("external:perfect", project, cases)
    client.force_login(make_user("api_reader", Role.READER, project=project))
    assert client.post(url, {"format": "coco", "model_version": "again", "predictions": results},
                       content_type="application/json").status_code == 404
    assert not Finding.objects.filter(model_version="external:again").exists()


def test_import_predictions_command(exported, tmp_path):
    project, cases, _expected = exported
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_ls_predictions(project)))
    call_command("import_predictions", project.slug, str(path), "--format", "label-studio",
                 "--model-version", "cli")
    assert _perfect("external:cli", project, cases)
    path.write_text("[{")
    with pytest.raises(CommandError):
        call_command("import_predictions", project.slug, str(path), "--format", "coco", "--model-version", "x")
