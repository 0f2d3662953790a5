"""Celery tasks: take ids, re-fetch, call one service. Training goes to the `gpu` queue where CUDA is.

Services never enqueue: they return what happened (the requested run, whether the served model changed) and
the entry points (the API, the commands, the tasks below) send the follow-up work with the enqueue helpers
here, which wait for the transaction to commit so that a worker finds the rows.
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as KombuOperationalError

from annotation import outbox
from annotation.models import Project
from mlbackend import services
from mlbackend.models import ModelVersion, TrainingRun

logger = logging.getLogger(__name__)


def training_run_enqueue(run: TrainingRun) -> None:
    """Sends a requested training to its worker queue once the run's row is committed (through the outbox: a
    broker that is down delays it, the relay sends it when it is back)."""
    outbox.task_send("mlbackend.training_run", args=[run.pk], queue=run.queue or None)


def project_model_changed_enqueue(project_id: int) -> None:
    """After a promotion or rollback commits: the project's unread cases are pre-annotated again and reordered."""
    outbox.task_send("mlbackend.project_model_changed", args=[project_id])


def after_cases_imported(*, case_ids: list[int]) -> None:
    """settings.SPINEREAD_AFTER_IMPORT: runs once an import commits; pre-annotation goes to a worker."""
    if case_ids:
        outbox.task_send("mlbackend.preannotate_cases", args=[list(case_ids)])


# A database or broker that drops out mid-task: retried with backoff. Both are idempotent (a case's model
# findings are replaced in one transaction, never added to), so a retry or a redelivery after a killed worker
# (acks_late) redoes the work without doubling it.
RETRIED = {"autoretry_for": (DatabaseOperationalError, KombuOperationalError), "retry_backoff": 5,
           "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8}


@shared_task(name="mlbackend.preannotate_cases", **RETRIED)
def preannotate_cases_task(case_ids: list[int]) -> dict:
    return {str(k): v for k, v in services.cases_preannotate(case_ids=case_ids).items()}


@shared_task(name="mlbackend.project_model_changed", **RETRIED)
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
