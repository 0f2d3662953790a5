"""Celery tasks: take ids, re-fetch, call one service. Training goes to the `gpu` queue where CUDA is.

Services never enqueue: they return what happened (the requested run, whether the served model changed) and
the entry points (the API, the commands, the tasks below) send the follow-up work with the enqueue helpers
here, which wait for the transaction to commit so that a worker finds the rows.
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from annotation.models import Project
from mlbackend import services
from mlbackend.models import ModelVersion, TrainingRun

logger = logging.getLogger(__name__)


def training_run_enqueue(run: TrainingRun) -> None:
    """Sends a requested training to its worker queue once the run's row is committed."""
    run_id, queue = run.pk, run.queue
    transaction.on_commit(lambda: training_run_task.apply_async(args=[run_id], queue=queue))


def project_model_changed_enqueue(project_id: int) -> None:
    """After a promotion or rollback commits: the project's unread cases are pre-annotated again and reordered."""
    transaction.on_commit(lambda: project_model_changed_task.delay(project_id))


def after_cases_imported(*, case_ids: list[int]) -> None:
    """settings.SPINEREAD_AFTER_IMPORT: runs once an import commits; pre-annotation goes to a worker."""
    if case_ids:
        preannotate_cases_task.delay(list(case_ids))


@shared_task(name="mlbackend.preannotate_cases")
def preannotate_cases_task(case_ids: list[int]) -> dict:
    return {str(k): v for k, v in services.cases_preannotate(case_ids=case_ids).items()}


@shared_task(name="mlbackend.project_model_changed")
def project_model_changed_task(project_id: int) -> int:
    return len(services.project_model_changed(project_id=project_id))


@shared_task(name="mlbackend.training_run", acks_late=False)
def training_run_task(run_id: int) -> str:
    # acks_late off: a training killed midway is not redelivered to start over behind the coordinator's back;
    # its run stays RUNNING until the reaper marks it INTERRUPTED.
    run = services.training_run_execute(run_id=run_id)
    if run.model_version is not None and run.model_version.decision == ModelVersion.Decision.PROMOTED:
        project_model_changed_enqueue(run.project_id)
    return run.status


@shared_task(name="mlbackend.retrain_check")
def retrain_check_task() -> list[int]:
    """Beat, every few minutes: a training for each project with K new ground-truth cases; reap dead runs."""
    services.training_runs_reap()
    runs = services.trainings_request_due()
    for run in runs:
        training_run_enqueue(run)
    return [run.pk for run in runs]


@shared_task(name="mlbackend.scheduled_training")
def scheduled_training_task(project_id: int) -> int | None:
    """Beat, per project (django-celery-beat PeriodicTask with the project's crontab)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    try:
        run = services.training_request(project=project, trigger=TrainingRun.Trigger.SCHEDULE)
    except services.TrainingError as error:
        logger.info("scheduled training of %s skipped: %s", project, error)
        return None
    training_run_enqueue(run)
    return run.pk
