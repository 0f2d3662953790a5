"""Export -> train -> registry -> promotion gate -> pre-annotation, on phantom cases with real ground truth."""
import yaml
import pytest

from annotation.models import AuditEvent, Case, Finding, Source
from mlbackend import services
from mlbackend.adapter import adapter_for
from mlbackend.models import CaseInformativeness, ModelVersion, TrainingRun
from mlbackend.selectors import model_file, served_version_for
from mlbackend.tasks import training_run_task

TINY = {"epochs": 1, "imgsz": 64}


def train_once(project, **kwargs):
    run = services.training_request(project=project, **{**TINY, **kwargs})
    return services.training_run_execute(run_id=run.pk, batch=4)


def test_export_splits_by_patient_and_keeps_heldout_and_study_cases_out(gt_cases, ml_project, tmp_path):
    cases = gt_cases["cases"]
    Case.objects.filter(pk=cases[0].pk).update(split=Case.Split.STUDY)
    # a second case of the held-out patient must not train either
    Case.objects.filter(pk=cases[1].pk).update(patient_key=cases[-1].patient_key)

    export = services.dataset_export(project=ml_project, out_dir=tmp_path / "ds")

    trained = set(export.train_case_ids) | set(export.val_case_ids)
    assert export.test_case_ids == [cases[-1].pk]
    assert trained == {cases[2].pk, cases[3].pk}
    data = yaml.safe_load(export.data_yaml.read_text())
    assert list(data["names"].values())[:5] == ["disc_p1", "disc_p2", "disc_p3", "disc_p4", "disc_p5"]
    train_files = {p.stem for p in (tmp_path / "ds" / "images" / "train").glob("*.png")} | \
        {p.stem for p in (tmp_path / "ds" / "images" / "val").glob("*.png")}
    assert train_files and all(int(stem.split("_")[0][1:]) in trained for stem in train_files)
    # every image with a positive box, and only those (unboxed slices are unlabelled, not negative)
    held_truth = gt_cases["truth"]["cases"][4]
    assert export.images["test"] == len({box["file"] for box in held_truth["boxes"]})
    label = next((tmp_path / "ds" / "labels" / "test").glob("*.txt")).read_text().split("\n")[0].split()
    assert len(label) == 5 and all(0 <= float(v) <= 1 for v in label[1:])


def test_leak_check_refuses_a_study_case_in_training(gt_cases, ml_project, tmp_path):
    parts = services.case_partition(ml_project)
    study_case = parts["train"][0]
    study_case.split = Case.Split.STUDY
    with pytest.raises(services.DatasetLeakError):
        services.dataset_export(project=ml_project, out_dir=tmp_path / "ds", parts=parts)
    assert not (tmp_path / "ds").exists()


@pytest.mark.slow
def test_train_registers_promotes_then_gate_rejects_and_preannotates(gt_cases, ml_project, monkeypatch, eager_tasks,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        requested = services.training_request(project=ml_project, **TINY)
        training_run_task(requested.pk)  # the worker's entry point: a promotion re-annotates the unread cases
    first = TrainingRun.objects.get(pk=requested.pk)

    assert first.status == TrainingRun.Status.SUCCEEDED, first.error
    version = first.model_version
    assert (version.version, version.decision, version.parent) == (1, ModelVersion.Decision.PROMOTED, None)
    assert served_version_for(ml_project) == version
    assert set(version.metrics) == {"map50", "map50_95", "per_class"}
    assert version.heldout_case_ids == [gt_cases["cases"][-1].pk]
    assert gt_cases["cases"][-1].pk not in version.training_case_ids + version.validation_case_ids
    assert len(version.sha256) == 64 and version.size_bytes > 0 and version.device == "cpu"
    assert first.epoch == 1 and first.loss is not None and first.heartbeat_at is not None
    assert AuditEvent.objects.filter(action="model_version_serve").count() == 1
    # the promotion re-annotated the unread case (eager tasks), and scored it for the worklist
    unread = gt_cases["unread"]
    assert CaseInformativeness.objects.filter(case=unread, model_version="ml-v1").exists()
    assert not Finding.objects.filter(case=unread, source=Source.MODEL).exclude(model_version="ml-v1").exists()

    # A candidate that does not beat the served model is kept, not served.
    scores = iter([{"map50": 0.2, "map50_95": 0.1, "per_class": {}}, {"map50": 0.3, "map50_95": 0.2, "per_class": {}}])
    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.evaluate", lambda self, **kw: _Eval(next(scores)))
    second = train_once(ml_project)
    assert second.model_version.decision == ModelVersion.Decision.REJECTED
    assert second.model_version.parent == version
    assert second.model_version.gate["served_metrics"]["map50_95"] == 0.2
    assert served_version_for(ml_project) == version

    # One that beats it is served.
    scores = iter([{"map50": 0.5, "map50_95": 0.3, "per_class": {}}, {"map50": 0.3, "map50_95": 0.2, "per_class": {}}])
    third = train_once(ml_project)
    assert third.model_version.decision == ModelVersion.Decision.PROMOTED
    assert served_version_for(ml_project) == third.model_version

    # Rollback to any earlier version.
    services.model_version_serve(version=second.model_version)
    assert served_version_for(ml_project) == second.model_version
    assert ModelVersion.objects.filter(project=ml_project).count() == 3


class _Eval:
    def __init__(self, metrics):
        self.metrics = metrics

    def as_dict(self):
        return self.metrics


def test_promotion_gate_both_ways():
    assert services.promotion_decide(candidate=None, served=None, served_exists=False)[0] is True
    assert services.promotion_decide(candidate={"map50_95": 0.31}, served={"map50_95": 0.30}, served_exists=True)[0]
    assert not services.promotion_decide(candidate={"map50_95": 0.30}, served={"map50_95": 0.30},
                                         served_exists=True)[0]
    assert not services.promotion_decide(candidate={"map50_95": 0.2}, served={"map50_95": 0.3}, served_exists=True)[0]


def test_a_training_that_dies_in_an_epoch_changes_nothing_served(gt_cases, ml_project):
    def die(progress):
        raise RuntimeError(f"killed after epoch {progress.epoch}")

    run = services.training_request(project=ml_project, epochs=2, imgsz=64)
    run = services.training_run_execute(run_id=run.pk, on_epoch=die, batch=4)

    assert run.status == TrainingRun.Status.FAILED and "killed after epoch 1" in run.error
    assert run.epoch == 1 and run.model_version is None
    assert not ModelVersion.objects.exists() and served_version_for(ml_project) is None
    with pytest.raises(services.TrainingError):
        services.training_run_transition(run, TrainingRun.Status.SUCCEEDED)


@pytest.mark.slow
@pytest.mark.parametrize("config_name", ["yolov8n-seg", "yolov5n-se"])
def test_segmentation_and_se_configs_train_register_and_preannotate(config_name, gt_cases, ml_project):
    """The two non-default architectures go the whole way: export (polygons for seg), train, held-out metrics,
    registry row, served model predicting findings on the unread case."""
    services.model_settings_update(project=ml_project, config_name=config_name)

    run = train_once(ml_project)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = run.model_version
    assert (version.config_name, version.decision) == (config_name, ModelVersion.Decision.PROMOTED)
    assert set(version.metrics) == {"map50", "map50_95", "per_class"} and len(version.sha256) == 64
    assert served_version_for(ml_project) == version
    # the trained file is a model of the chosen kind with the schema's classes, and serves predictions
    adapter = adapter_for(model_file(version), version.sha256)
    assert adapter.task == ("segment" if config_name.endswith("seg") else "detect")
    assert adapter.class_names[:2] == ["disc_p1", "disc_p2"]
    unread = gt_cases["unread"]
    stored = services.cases_preannotate(case_ids=[unread.pk])
    assert stored[unread.pk] == Finding.objects.filter(case=unread, source=Source.MODEL,
                                                       model_version=version.label).count()
    assert CaseInformativeness.objects.get(case=unread).model_version == version.label
