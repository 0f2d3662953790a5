"""The two-stage model (detector, then a level classifier): trained end to end with tiny settings on phantom
ground truth, registered, served, pre-annotating an unread case and answering Label Studio; and the pure parts
(crops, per-level metrics and informativeness, the gate on the per-level score)."""
import base64

import cv2
import numpy as np
import pytest

from annotation.models import Finding, Source
from annotation.rendering import instance_to_uint8
from annotation.schema import DEFAULT_SCHEMA, finding_specs
from mlbackend import services
from mlbackend.active_learning import level_informativeness
from mlbackend.adapter import Detection
from mlbackend.interpret import ImageDetections, _axial_level, axial_rank
from mlbackend.level_eval import classifier_calls, detector_calls, level_metrics
from mlbackend.level_model import CropSpec, LevelClassifierModel, LevelInput, LevelSample, TwoStageAdapter, level_crops
from mlbackend.models import CaseInformativeness, ModelVersion, TrainingRun
from mlbackend.selectors import served_model, served_version_for
from mlbackend.services import label_studio
from mlbackend.services.two_stage import case_truth, heads_for, level_samples, task_levels

HEADS = heads_for(DEFAULT_SCHEMA)
LEVELS = DEFAULT_SCHEMA["levels"]


def tiny_classifier(**kwargs) -> LevelClassifierModel:
    return LevelClassifierModel(heads=HEADS, spec=CropSpec(size=16, depth=3), width=4, layers=1, **kwargs)


def series(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return tuple((rng.random((64, 64)) * 255).astype(np.uint8) for _ in range(n))


def test_crops_hold_the_stack_around_the_disc_slice_and_a_missing_axial_is_flagged():
    slices = series()
    level = LevelInput(sagittal=slices, centre_index=0, box=(20, 20, 30, 26), axial=slices[3])
    stack, axial, has_axial = level_crops(level, CropSpec(size=16, depth=3))
    assert stack.shape == (3, 16, 16) and axial.shape == (16, 16) and has_axial
    assert stack.dtype == np.float32 and 0 <= stack.min() and stack.max() <= 1
    assert np.array_equal(stack[0], stack[1])  # the first slice: the stack repeats it below
    _, empty, has_axial = level_crops(LevelInput(sagittal=slices, centre_index=3, box=(20, 20, 30, 26)),
                                      CropSpec(size=16, depth=3))
    assert not has_axial and not empty.any()


def test_the_classifier_learns_a_separable_level_and_survives_saving(tmp_path):
    def disc(signal):  # a bright (hydrated) or dark (degenerate) disc in its box, in grey surroundings
        image = np.full((64, 64), 120, np.uint8)
        image[20:36, 18:46] = signal
        return (image,) * 5

    bright, dark = disc(230), disc(20)
    samples = [LevelSample(LevelInput(sagittal=s, centre_index=2, box=(16, 16, 48, 40)),
                           {"pfirrmann": grade, "hiz": int(grade == 0)}) for s, grade in [(bright, 0), (dark, 4)] * 8]
    model = tiny_classifier()
    model.train(samples, epochs=40, batch=16, lr=3e-3, device="cpu")
    bright_p, dark_p = model.probabilities([samples[0].level, samples[1].level], device="cpu")
    assert np.argmax(bright_p["pfirrmann"]) == 0 and np.argmax(dark_p["pfirrmann"]) == 4
    assert set(bright_p) == set(HEADS) and bright_p["herniation"].shape == (5,)
    assert bright_p["pfirrmann"].sum() == pytest.approx(1, abs=1e-5)
    again = LevelClassifierModel.from_state(model.state())
    assert np.allclose(again.probabilities([samples[0].level], device="cpu")[0]["pfirrmann"], bright_p["pfirrmann"],
                       atol=1e-6)


@pytest.mark.parametrize("length", [5, 3, 8])
def test_axial_rank_is_the_slice_whose_level_is_asked_for(length):
    for level in LEVELS:
        rank = axial_rank(LEVELS, level, length)
        placed = _axial_level(LEVELS, ImageDetections(0, "axial", rank, length, ()))
        assert 0 <= rank < length
        if length >= len(LEVELS):
            assert placed == level


def test_level_metrics_score_the_anchor_by_weighted_kappa_and_the_rest_by_auc():
    truths = [{(level, "pfirrmann"): g, (level, "hiz"): h} for level, g, h in
              zip(LEVELS, ["1", "2", "3", "4", "5"], ["absent", "present", "absent", "present", "absent"])]
    truth = {k: v for t in truths for k, v in t.items()}
    perfect = {(level, "pfirrmann"): (g, 0.0) for (level, name), g in truth.items() if name == "pfirrmann"} | {
        (level, "hiz"): (None, 0.9 if h == "present" else 0.1) for (level, name), h in truth.items() if name == "hiz"}
    metrics = level_metrics(DEFAULT_SCHEMA, [perfect], [truth])
    assert metrics["pfirrmann"] == {"qwk": 1.0, "n": 5}
    assert metrics["hiz"] == {"auc": 1.0, "n": 5, "positives": 2}
    assert metrics["herniation"]["auc"] is None and metrics["level_score"] == 1.0
    # a level the model gave nothing for: the middle grade, a positive score of 0
    missed = level_metrics(DEFAULT_SCHEMA, [{}], [truth])
    assert missed["pfirrmann"]["qwk"] == 0.0 and missed["hiz"]["auc"] == 0.5


def test_calls_from_a_classifier_and_from_a_detector():
    p = {name: np.eye(len(values))[-1] for name, values in HEADS.items()}  # the last value of every finding
    calls = classifier_calls(DEFAULT_SCHEMA, {"L4/L5": p}, HEADS)
    assert calls[("L4/L5", "pfirrmann")] == ("5", 1.0) and calls[("L4/L5", "herniation")] == ("sequestration", 1.0)
    edited = {**DEFAULT_SCHEMA, "findings": [f for f in DEFAULT_SCHEMA["findings"] if f["name"] != "hiz"]}
    assert ("L4/L5", "hiz") not in classifier_calls(edited, {"L4/L5": p}, HEADS)  # dropped since training
    discs = [Detection(f"disc_p{g}", 0.9, (10, y, 40, y + 8)) for g, y in zip([2, 3, 3, 4, 4], [10, 30, 50, 70, 90])]
    image = ImageDetections(1, "sagittal", 1, 3, (*discs, Detection("hiz", 0.4, (20, 88, 30, 96))))
    calls = detector_calls(DEFAULT_SCHEMA, [image])
    assert calls[("L5/S1", "pfirrmann")] == ("4", 0.9) and calls[("L1/L2", "pfirrmann")] == ("2", 0.0)
    assert calls[("L5/S1", "hiz")] == ("present", 0.4) and ("L1/L2", "hiz") not in calls


def test_level_informativeness_is_highest_for_flat_probabilities_and_missing_levels():
    sure = {level: {name: np.eye(len(v))[0] for name, v in HEADS.items()} for level in LEVELS}
    flat = {level: {name: np.full(len(v), 1 / len(v)) for name, v in HEADS.items()} for level in LEVELS}
    assert level_informativeness(DEFAULT_SCHEMA, sure, HEADS)["uncertainty"] == 0.0
    assert level_informativeness(DEFAULT_SCHEMA, flat, HEADS)["uncertainty"] == pytest.approx(1.0)
    assert level_informativeness(DEFAULT_SCHEMA, {}, HEADS)["uncertainty"] == 1.0
    # the first Pfirrmann grade is rare: sure of it at five levels, the bonus is capped at 1
    assert level_informativeness(DEFAULT_SCHEMA, sure, HEADS)["rare_bonus"] == 1.0


def test_the_gate_compares_the_per_level_score_when_both_have_one():
    better_levels = {"map50_95": 0.1, "level_score": 0.8}
    assert services.promotion_decide(candidate=better_levels, served={"map50_95": 0.5, "level_score": 0.7},
                                     served_exists=True) == (True, "level_score 0.8000 > served 0.7000")
    assert services.promotion_decide(candidate=better_levels, served={"map50_95": 0.5}, served_exists=True)[0] is False
    assert services.promotion_decide(candidate={"map50_95": 0.2, "level_score": 0.7},
                                     served={"map50_95": 0.1, "level_score": 0.7}, served_exists=True)[0] is False


def test_level_samples_are_the_ground_truths_disc_boxes_with_their_levels_truth(gt_cases):
    cases = gt_cases["cases"][:2]
    samples = level_samples(cases, DEFAULT_SCHEMA, CropSpec(size=16, depth=3))
    truth = gt_cases["truth"]["cases"][0]
    disc_boxes = [b for b in truth["boxes"] if b["finding"] == "pfirrmann"]
    assert len(samples) == len(disc_boxes) + len([b for b in gt_cases["truth"]["cases"][1]["boxes"]
                                                  if b["finding"] == "pfirrmann"])
    first = samples[0]
    level = disc_boxes[0]["level"]
    assert first.labels["pfirrmann"] == HEADS["pfirrmann"].index(str(truth["levels"][level]["pfirrmann"]))
    assert first.labels["hiz"] == int(truth["levels"][level]["hiz"])  # positive-only: absent is absent
    assert len(first.level.sagittal) == 3 and first.level.axial is not None
    assert case_truth(cases[0])[(level, "schmorl")] == ("present" if truth["levels"][level]["schmorl"] else "absent")


@pytest.mark.slow
def test_two_stage_trains_registers_serves_preannotates_and_answers_label_studio(gt_cases, ml_project, client,
                                                                                  coordinator):
    """From the served starter detector (a project moving to the two-stage config keeps its detector): one
    epoch of each stage, the gate on the per-level score, then the two-stage model served."""
    starter = services.starter_register(project=ml_project)
    services.model_settings_update(project=ml_project, config_name="two-stage")

    requested = services.training_request(project=ml_project, epochs=1, imgsz=256)
    run = services.training_run_execute(run_id=requested.pk, batch=4)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = run.model_version
    assert (version.config_name, version.parent, version.is_two_stage) == ("two-stage", starter, True)
    assert run.epoch == 2  # the detector's epoch, then the classifier's share of its 30 (at least one)
    levels = version.metrics["levels"]
    assert set(levels) == set(finding_specs(DEFAULT_SCHEMA)) | {"level_score"}
    assert levels["pfirrmann"]["n"] == 5  # the held-out case's five levels
    assert version.metrics["level_score"] == levels["level_score"] and "map50_95" in version.metrics
    gate = version.gate
    assert gate["reason"].startswith("level_score") and gate["served_metrics"]["level_score"] is not None
    assert version.decision == ("promoted" if version.metrics["level_score"] > gate["served_metrics"]["level_score"]
                                else "rejected")
    client.force_login(coordinator)
    page = client.get(f"/ml/projects/{ml_project.slug}/").content.decode()
    assert "Level score" in page and f"<td>{version.metrics['level_score']}</td>" in page
    services.model_version_serve(version=version)
    model = served_model(version)
    assert isinstance(model, TwoStageAdapter) and model.classifier.heads == HEADS

    unread = gt_cases["unread"]
    version.config.update(findings_conf=0.0)  # a one-epoch classifier is unsure of everything: show all it calls
    version.save(update_fields=["config"])
    stored = services.cases_preannotate(case_ids=[unread.pk])
    findings = list(Finding.objects.filter(case=unread, source=Source.MODEL))
    assert stored[unread.pk] == len(findings) > 0
    assert all(f.model_version == version.label and f.x0 < f.x1 and 0 <= f.score <= 1 for f in findings)
    specs = finding_specs(DEFAULT_SCHEMA)
    assert all(f.value in specs[f.finding_type].classes for f in findings)  # positives only, as a detector's
    assert {f.disc_level for f in findings if f.finding_type == "pfirrmann"} == set(LEVELS)  # every disc graded
    scored = CaseInformativeness.objects.get(case=unread)
    assert scored.model_version == version.label and 0 < scored.uncertainty <= 1

    instance = unread.series.get(plane="sagittal").instances.all()[6]
    # the platform's slice (graded from its series) and the same pixels as a PNG (graded from itself alone)
    png = cv2.imencode(".png", instance_to_uint8(instance))[1].tobytes()
    tasks = [{"id": 1, "data": {"image": f"/api/instances/{instance.pk}/dicom"}},
             {"id": 2, "data": {"image": "data:image/png;base64," + base64.b64encode(png).decode()}}]
    results = label_studio.predict(project=ml_project, tasks=tasks, ls_project=None, label_config=None)
    assert len(results) == 2 and all(r["model_version"] == version.label for r in results)
    for result in results:
        labels = [item["value"]["rectanglelabels"][0] for item in result["result"]]
        assert labels and all(label in version.class_names for label in labels)
        assert sum(label.startswith("disc_p") for label in labels) >= 3  # one grade per disc found on the slice
    pixels = instance_to_uint8(instance)
    read = task_levels(DEFAULT_SCHEMA, instance, pixels, depth=5)
    discs, inputs = read(model.detector.predict([pixels], imgsz=256, conf=0.05)[0])
    assert len(discs) == len(inputs) >= 3 and all(len(i.sagittal) == 5 and i.axial is not None for i in inputs)
    assert task_levels(DEFAULT_SCHEMA, None, pixels, depth=5) is None

    # A second training continues from the served two-stage model and is judged on the per-level score.
    second = services.training_run_execute(
        run_id=services.training_request(project=ml_project, epochs=1, imgsz=256).pk, batch=4)
    assert second.status == TrainingRun.Status.SUCCEEDED, second.error
    gate = second.model_version.gate
    assert second.model_version.parent == version and gate["reason"].startswith("level_score")
    assert gate["served_metrics"]["level_score"] == pytest.approx(version.metrics["level_score"])
    assert ModelVersion.objects.filter(project=ml_project).count() == 3
