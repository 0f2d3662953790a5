"""Celery tasks: take ids, re-fetch, call one service. Model work goes to the `gpu` queue while a GPU worker is
present, else to the CPU queue (mlbackend.routing.ml_queue, asked when the work is sent).

Services never enqueue: they return what happened (the requested run, whether the served model changed) and
the entry points (the API, the commands, the tasks below) send the follow-up work with the enqueue helpers
here, which wait for the transaction to commit so that a worker finds the rows. With a broker, web processes
never load a model (nor import torch): what needs one is sent to a worker, /ml/predict included
(`predict_on_worker`, which waits for the answer).
"""
from __future__ import annotations

import json
import logging
import uuid

from celery import current_app, shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as KombuOperationalError
from redis import RedisError

from annotation import outbox
from annotation.models import Project
from mlbackend import services
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.routing import broker_redis, ml_queue
from mlbackend.services import label_studio

logger = logging.getLogger(__name__)


def training_run_enqueue(run: TrainingRun) -> None:
    """Sends a requested training to its worker queue once the run's row is committed (through the outbox: a
    broker that is down delays it, the relay sends it when it is back)."""
    outbox.task_send("mlbackend.training_run", args=[run.pk], queue=run.queue or None)


def project_model_changed_enqueue(project_id: int) -> None:
    """After a promotion or rollback commits: the project's unread cases are pre-annotated again and reordered."""
    outbox.task_send("mlbackend.project_model_changed", args=[project_id], queue=ml_queue())


def after_cases_imported(*, case_ids: list[int]) -> None:
    """settings.SPINEREAD_AFTER_IMPORT: runs once an import commits; pre-annotation goes to a worker."""
    if case_ids:
        outbox.task_send("mlbackend.preannotate_cases", args=[list(case_ids)], queue=ml_queue())


PREDICT_RETRY_AFTER = 30  # seconds: a worker restarting, or one busy with a long pre-annotation
REPLY_KEPT_SECONDS = 60  # an answer nobody waited for (the web gave up) is gone after this


def predict_on_worker(*, project: Project, tasks: list, ls_project: str, label_config: str | None,
                      actor) -> list[dict]:
    """/ml/predict's work (label_studio.predict): in this process without a broker (a newcomer's SQLite set-up),
    else on a worker of ml_queue(), waited for ML_PREDICT_TIMEOUT seconds. Raises ProtocolError: the worker's
    own (a bad request), 502 when the worker failed, or 503 with Retry-After when no worker answers in time or
    the broker is down. The web process never loads the model.

    The answer comes back on a Redis list named for this request (BLPOP), not through Celery's result backend:
    that one keeps a pub/sub subscription per result in every web process and, while Redis is down, retries
    for half a minute and then refuses to work until the process restarts."""
    if current_app.conf.task_always_eager:
        return label_studio.predict(project=project, tasks=tasks, ls_project=ls_project, label_config=label_config,
                                    actor=actor)
    if not isinstance(tasks, list) or not tasks:  # answered here: no round trip for what is refused anyway
        raise label_studio.ProtocolError("tasks must be a non-empty list")
    timeout = settings.ML_PREDICT_TIMEOUT
    replies = broker_redis(blocking_seconds=timeout)
    if replies is None:
        raise label_studio.ProtocolError("predictions on workers need a Redis broker (CELERY_BROKER_URL)", 503)
    reply_to = f"spineread:predict-reply:{uuid.uuid4().hex}"
    queue = ml_queue()
    try:
        # expires: a prediction nobody waits for any more is dropped by the worker that finds it late.
        current_app.send_task("mlbackend.predict", queue=queue, expires=timeout, ignore_result=True, kwargs={
            "project_id": project.pk, "tasks": tasks, "ls_project": ls_project, "label_config": label_config,
            "actor_id": actor.pk if actor is not None else None, "reply_to": reply_to})
        reply = replies.blpop([reply_to], timeout=timeout)
    except (KombuOperationalError, RedisError, OSError) as error:
        logger.warning("ml_predict project=%s: broker unavailable: %s", project.slug, error)
        raise label_studio.ProtocolError("the task broker is unavailable; try again shortly", 503,
                                         retry_after=PREDICT_RETRY_AFTER)
    if reply is None:
        raise label_studio.ProtocolError(f"no ML worker (queue {queue}) answered within {timeout} s", 503,
                                         retry_after=PREDICT_RETRY_AFTER)
    answer = json.loads(reply[1])
    if "error" in answer:
        raise label_studio.ProtocolError(answer["error"], answer["status_code"])
    return answer["results"]


# A database or broker that drops out mid-task: retried with backoff. Both are idempotent (a case's model
# findings are replaced in one transaction, never added to), so a retry or a redelivery after a killed worker
# (acks_late) redoes the work without doubling it.
RETRIED = {"autoretry_for": (DatabaseOperationalError, KombuOperationalError), "retry_backoff": 5,
           "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8}


@shared_task(name="mlbackend.preannotate_cases", **RETRIED)
def preannotate_cases_task(case_ids: list[int]) -> dict:
    return {str(k): v for k, v in services.cases_preannotate(case_ids=case_ids).items()}


@shared_task(name="mlbackend.predict")
def predict_task(*, project_id: int, tasks: list, ls_project: str, label_config: str | None, actor_id: int | None,
                 reply_to: str) -> None:
    """/ml/predict's work on a worker, answered on the `reply_to` list that the web process waits on. Not
    retried: Label Studio waits for the answer, and asks again itself. A refusal or a failure is answered too
    ({"error", "status_code"}), so the web answers at once rather than at its timeout."""
    try:
        project = Project.objects.get(pk=project_id)
        actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id is not None else None
        answer = {"results": label_studio.predict(project=project, tasks=tasks, ls_project=ls_project,
                                                  label_config=label_config, actor=actor)}
    except label_studio.ProtocolError as error:
        answer = {"error": str(error), "status_code": error.status_code}
    except Exception:
        logger.exception("prediction for project %s failed", project_id)
        answer = {"error": "the prediction failed on the ML worker", "status_code": 502}
    replies = broker_redis()
    with replies.pipeline() as pipe:
        pipe.rpush(reply_to, json.dumps(answer))
        pipe.expire(reply_to, REPLY_KEPT_SECONDS)
        pipe.execute()


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
