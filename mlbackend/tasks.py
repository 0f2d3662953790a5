"""Celery tasks: take ids, re-fetch, call one service. Training goes to the `gpu` queue where CUDA is."""
from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


def after_cases_imported(*, case_ids: list[int]) -> None:
    """settings.SPINEREAD_AFTER_IMPORT: runs once an import commits; pre-annotation goes to a worker."""
    if case_ids:
        preannotate_cases_task.delay(list(case_ids))


@shared_task(name="mlbackend.preannotate_cases")
def preannotate_cases_task(case_ids: list[int]) -> dict:
    from mlbackend import services

    return {str(k): v for k, v in services.cases_preannotate(case_ids=case_ids).items()}


@shared_task(name="mlbackend.project_model_changed")
def project_model_changed_task(project_id: int) -> int:
    from mlbackend import services

    return len(services.project_model_changed(project_id=project_id))


@shared_task(name="mlbackend.training_run", acks_late=False)
def training_run_task(run_id: int) -> str:
    # acks_late off: a training killed midway is not redelivered to start over behind the coordinator's back;
    # its run stays RUNNING until the reaper marks it INTERRUPTED.
    from mlbackend import services

    return services.training_run_execute(run_id=run_id).status


@shared_task(name="mlbackend.retrain_check")
def retrain_check_task() -> list[int]:
    """Beat, every few minutes: a training for each project with K new ground-truth cases; reap dead runs."""
    from mlbackend import services

    services.training_runs_reap()
    return [run.pk for run in services.trainings_request_due()]


@shared_task(name="mlbackend.scheduled_training")
def scheduled_training_task(project_id: int) -> int | None:
    """Beat, per project (django-celery-beat PeriodicTask with the project's crontab)."""
    from annotation.models import Project
    from mlbackend import services
    from mlbackend.models import TrainingRun

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    try:
        return services.training_request(project=project, trigger=TrainingRun.Trigger.SCHEDULE).pk
    except services.TrainingError as error:
        logger.info("scheduled training of %s skipped: %s", project, error)
        return None
