"""Training runs: request, execute (in a worker), progress, and what a dead worker leaves behind.

A run moves QUEUED -> RUNNING -> SUCCEEDED | FAILED | INTERRUPTED and nothing else (training_run_transition).
Nothing a run does is visible in the registry until its last step, one transaction that writes the version
row, the file and (if the gate says so) the served pointer; a worker killed before that leaves the run
RUNNING with a stale heartbeat, which training_runs_reap (or the next request) marks INTERRUPTED.
"""
from __future__ import annotations

import logging
import os
import shutil
import traceback
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation import services as annotation_services
from annotation.models import Project
from annotation.schema import anchor_finding
from mlbackend.adapter import EpochProgress, YoloAdapter, training_device
from mlbackend.configs import config_load
from mlbackend.level_model import TwoStageAdapter
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.routing import ml_queue
from mlbackend.selectors import ACTIVE_STATUSES, model_file, served_model, served_version_for
from mlbackend.services.dataset import DatasetExport, case_partition, dataset_export
from mlbackend.services.model_settings import project_model_settings
from mlbackend.services.registry import model_version_register, promotion_decide
from mlbackend.services.two_stage import classifier_train, heldout_level_metrics, level_settings, schema_classes

logger = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=10)  # a running training writes a heartbeat at least once per epoch


class TrainingError(Exception):
    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


def training_queue() -> str:
    """`gpu` while a GPU worker is present (or ML_TRAIN_QUEUE / ML_QUEUE say so), else the default queue. Asked
    on the web, where a request is recorded: never by looking for CUDA here (that would load torch)."""
    return ml_queue(training=True)


def training_run_transition(run: TrainingRun, status: str, **fields) -> TrainingRun:
    """Moves a run to `status` if allowed from its current state in the database; raises TrainingError(409)."""
    with transaction.atomic():
        current = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if status not in TrainingRun.TRANSITIONS[current.status]:
            raise TrainingError(f"training {run.pk} is {current.status}; it cannot become {status}", 409)
        for name, value in fields.items():
            setattr(current, name, value)
        current.status = status
        if status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED, TrainingRun.Status.INTERRUPTED):
            current.finished_at = timezone.now()
        current.save()
        annotation_services.audit_log(actor=None, action=f"training_{status}", target=current,
                                      payload={"error": fields.get("error", "")[:500]} if "error" in fields else {})
    return current


def training_runs_reap(*, project: Project | None = None, stale_after: timedelta = STALE_AFTER) -> int:
    """Marks RUNNING runs whose heartbeat is older than `stale_after` INTERRUPTED (their worker died); returns
    how many. They never touched the registry."""
    cutoff = timezone.now() - stale_after
    runs = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=cutoff)
    if project is not None:
        runs = runs.filter(project=project)
    count = 0
    for run in runs:
        try:
            training_run_transition(run, TrainingRun.Status.INTERRUPTED, error="worker stopped mid-training")
            count += 1
        except TrainingError:
            pass
    return count


def training_request(*, project: Project, trigger: str = TrainingRun.Trigger.MANUAL, actor=None,
                     epochs: int | None = None, imgsz: int | None = None, config_name: str | None = None) -> TrainingRun:
    """Records a training of the project's configured model, QUEUED; one active training per project (409
    otherwise). The caller sends it to a worker once the row is committed (tasks.training_run_enqueue)."""
    training_runs_reap(project=project)
    queue = training_queue()  # a Redis round trip: not while holding the project's lock
    with transaction.atomic():
        model_settings = project_model_settings(project, lock=True)
        if TrainingRun.objects.filter(project=project, status__in=ACTIVE_STATUSES).exists():
            raise TrainingError("a training of this project is already queued or running", 409)
        name = config_name or model_settings.config_name
        try:
            config = config_load(name)
        except ValueError as error:
            raise TrainingError(str(error))
        run = TrainingRun.objects.create(
            project=project, trigger=trigger, requested_by=actor, config_name=name,
            epochs=epochs or model_settings.epochs or config.epochs, imgsz=imgsz or model_settings.imgsz or config.imgsz,
            queue=queue,
        )
        annotation_services.audit_log(actor=actor, action="training_request", target=run,
                                      payload={"trigger": trigger, "config": name, "epochs": run.epochs})
    return run


def _work_dir(run: TrainingRun) -> Path:
    return Path(settings.MEDIA_ROOT) / "ml" / "work" / f"run-{run.pk}"


def _progress_recorder(run: TrainingRun, on_epoch):
    """The adapter's per-epoch callback: progress and heartbeat on the run's row (what the reaper reads)."""

    def progress(epoch: EpochProgress) -> None:
        TrainingRun.objects.filter(pk=run.pk).update(
            epoch=epoch.epoch, loss=epoch.loss, eta_seconds=epoch.eta_seconds, heartbeat_at=timezone.now())
        if on_epoch is not None:
            on_epoch(epoch)

    return progress


def _candidate(config, export: DatasetExport, served: ModelVersion | None) -> tuple[YoloAdapter, ModelVersion | None]:
    """The detector to train and its parent: the served weights (a two-stage model's detector) when they fit
    (same classes, same detector architecture: a project moving to the two-stage config keeps its detector),
    else a fresh build of the config."""
    if served is not None and served.class_names == export.class_names and (
            served.config_name == config.name or served.config.get("model") == config.model):
        weights = served_model(served).detector_file if served.is_two_stage else model_file(served)
        return YoloAdapter.load(weights), served  # continue from the served weights
    return YoloAdapter.build(config), served


def _heldout_metrics(candidate, served: ModelVersion | None, export: DatasetExport, *, imgsz: int, work: Path,
                     device: str, level_cases: list | None = None,
                     conf: float = 0.05) -> tuple[dict | None, dict | None]:
    """Candidate's and served model's metrics on the same held-out split; (None, None) without one. With
    `level_cases` (a two-stage candidate), both are also scored per level on those cases."""
    if not export.images.get("test"):
        return None, None
    evaluate = {"data_yaml": export.data_yaml, "split": "test", "imgsz": imgsz, "out_dir": work, "device": device}
    metrics = candidate.evaluate(**evaluate).as_dict()
    served_metrics = None
    if served is not None:
        served_metrics = served_model(served).evaluate(**evaluate).as_dict()
    if level_cases:
        for model, scored in ((candidate, metrics), (served and served_model(served), served_metrics)):
            if scored is not None:
                levels = heldout_level_metrics(level_cases, model, imgsz=imgsz, conf=conf)
                scored.update(levels=levels, level_score=levels["level_score"])
    return metrics, served_metrics


def _level_stage(run: TrainingRun, config, detector: YoloAdapter, weights: Path, parts: dict, served, *,
                 work: Path, device: str, on_epoch):
    """A two-stage config's second stage: the level classifier, trained on what the detector was, for the
    run's share of the configured epochs. Returns (the two-stage model, its file, seconds)."""
    schema = run.project.label_schema
    settings = level_settings(config)
    epochs = max(1, round(settings["epochs"] * run.epochs / max(config.epochs, 1)))

    def progress(epoch: EpochProgress) -> None:  # the run's epochs go on counting past the detector's
        on_epoch(EpochProgress(epoch=run.epochs + epoch.epoch, epochs=run.epochs + epochs, loss=epoch.loss,
                               epoch_seconds=epoch.epoch_seconds))

    file, classifier, seconds, _ = classifier_train(
        parts=parts, schema=schema, config=config, detector_weights=weights, out=work, epochs=epochs,
        device=device, on_epoch=progress, served=served_model(served) if served and served.is_two_stage else None)
    model = TwoStageAdapter(detector, classifier, schema_classes(schema), anchor_finding(schema))
    return model, file, seconds


def _train_and_register(run: TrainingRun, *, work: Path, device: str, on_epoch, batch: int | None) -> TrainingRun:
    """Export, train, gate; then the version row, its file, the served pointer and SUCCEEDED in one transaction."""
    project = run.project
    config = config_load(run.config_name)
    parts = case_partition(project)
    export = dataset_export(project=project, out_dir=work / "dataset", task=config.detector_task, parts=parts)
    if not export.images.get("train"):
        raise TrainingError("no ground-truth boxes to train on yet")
    served = served_version_for(project)
    candidate, parent = _candidate(config, export, served)
    progress = _progress_recorder(run, on_epoch)
    result = candidate.train(data_yaml=export.data_yaml, out_dir=work, epochs=run.epochs, imgsz=run.imgsz,
                             batch=batch or config.batch, device=device, on_epoch=progress)
    weights, seconds, level_cases = result.weights, result.seconds, None
    if config.task == "two_stage":
        candidate, weights, level_seconds = _level_stage(run, config, candidate, result.weights, parts, served,
                                                         work=work, device=device, on_epoch=progress)
        seconds, level_cases = seconds + level_seconds, parts["test"]
    metrics, served_metrics = _heldout_metrics(candidate, served, export, imgsz=run.imgsz, work=work, device=device,
                                               level_cases=level_cases, conf=config.conf)
    promote, reason = promotion_decide(candidate=metrics, served=served_metrics, served_exists=served is not None)
    gate = {"promoted": promote, "reason": reason, "served_version": served.version if served else None,
            "served_metrics": served_metrics, "heldout_images": export.images.get("test", 0)}
    with transaction.atomic():
        version = model_version_register(
            project=project, weights=weights, config_name=config.name, class_names=export.class_names,
            metrics=metrics or {}, gate=gate, promote=promote, parent=parent,
            training_case_ids=export.train_case_ids, validation_case_ids=export.val_case_ids,
            heldout_case_ids=export.test_case_ids, device=device, train_seconds=round(seconds, 2),
            epochs=run.epochs, imgsz=run.imgsz,
        )
        return training_run_transition(run, TrainingRun.Status.SUCCEEDED, model_version=version,
                                       heartbeat_at=timezone.now())


def training_run_execute(*, run_id: int, on_epoch=None, batch: int | None = None) -> TrainingRun:
    """The worker's side of a training: export, train, evaluate candidate and served model on the held-out
    set, register, promote if better. Returns the finished run (FAILED with its error when anything raised;
    a run found RUNNING was left by a dead worker and becomes INTERRUPTED without retraining). When its
    version was promoted (``run.model_version.decision``), the caller has the unread cases pre-annotated."""
    run = TrainingRun.objects.select_related("project").get(pk=run_id)
    if run.status == TrainingRun.Status.RUNNING:
        return training_run_transition(run, TrainingRun.Status.INTERRUPTED, error="redelivered after a worker died")
    if run.status != TrainingRun.Status.QUEUED:
        return run
    device = training_device()
    run = training_run_transition(run, TrainingRun.Status.RUNNING, started_at=timezone.now(),
                                  heartbeat_at=timezone.now(), device=device, worker_pid=os.getpid())
    work = _work_dir(run)
    try:
        return _train_and_register(run, work=work, device=device, on_epoch=on_epoch, batch=batch)
    except Exception as error:
        logger.exception("training %s failed", run.pk)
        message = f"{type(error).__name__}: {error}"
        return training_run_transition(run, TrainingRun.Status.FAILED,
                                       error=message + "\n" + traceback.format_exc(limit=3))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def retrain_due(project: Project) -> bool:
    """True when at least K ground-truth cases exist that the served model did not train on (K per project)."""
    model_settings = project_model_settings(project)
    if not model_settings.retrain_after_cases:
        return False
    served = served_version_for(project)
    known = set(served.training_case_ids + served.validation_case_ids) if served else set()
    parts = case_partition(project)
    new = [c for c in parts["train"] + parts["val"] if c.pk not in known]
    return len(new) >= model_settings.retrain_after_cases


def trainings_request_due(*, trigger: str = TrainingRun.Trigger.NEW_CASES) -> list[TrainingRun]:
    """Requests a training for every project with K new ground-truth cases and none active (the beat check);
    returns the runs, for the caller to send to a worker."""
    runs = []
    for project in Project.objects.all():
        if retrain_due(project):
            try:
                runs.append(training_request(project=project, trigger=trigger))
            except TrainingError:
                pass
    return runs

