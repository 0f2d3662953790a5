"""A real Celery worker SIGKILLed during a training requested through the API (sent through the outbox):
no model version is registered, the served model stays, the training is not run again behind the
coordinator's back (a redelivery trains nothing), and the reaper marks the run interrupted so that the next one may start."""
import os
import signal
import time
from datetime import timedelta

import pytest

from annotation.models import TaskOutbox
from mlbackend import services
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.selectors import served_version_for
from mlbackend.tasks import training_run_task
from tests.conftest import celery_worker_started
from tests.mlbackend.conftest import register_served

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings, tmp_path, monkeypatch):
    log = open(tmp_path / "worker.log", "w")
    # The shared starter, its output kept for a failure's message.
    monkeypatch.setattr("subprocess.DEVNULL", log.fileno())
    process = celery_worker_started(settings, tmp_path, name="faults", queue="celery,gpu")
    monkeypatch.undo()
    process.log_path = tmp_path / "worker.log"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=20)


def test_a_worker_killed_mid_training_registers_nothing_and_the_reaper_marks_the_run(
        gt_cases, ml_project, tiny_weights, coordinator, client, worker):
    served = register_served(ml_project, tiny_weights)
    client.force_login(coordinator)
    response = client.post("/api/ml/projects/ml/trainings/", {"epochs": 200, "imgsz": 64},
                           content_type="application/json")
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get()
    row = TaskOutbox.objects.get(name="mlbackend.training_run")
    assert row.args == [run.pk] and row.sent_at is not None  # published at the commit

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.epoch >= 1 or run.status not in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING):
            break
        time.sleep(0.2)
    assert run.status == TrainingRun.Status.RUNNING and run.epoch >= 1, (run.status, run.error,
                                                                          worker.log_path.read_text()[-3000:])
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=20)

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING and run.model_version is None
    assert list(ModelVersion.objects.values_list("pk", flat=True)) == [served.pk]
    assert served_version_for(ml_project) == served

    assert services.training_runs_reap(stale_after=timedelta(0)) == 1
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.INTERRUPTED and run.finished_at is not None
    assert run.error == "worker stopped mid-training"
    # Redis still holds the dead worker's message among its unacknowledged ones and hands it out again after
    # the visibility timeout: that redelivery finds the run interrupted and trains nothing.
    assert training_run_task.apply(args=[run.pk]).get() == TrainingRun.Status.INTERRUPTED
    assert served_version_for(ml_project) == served and ModelVersion.objects.count() == 1
    assert services.training_request(project=ml_project).status == TrainingRun.Status.QUEUED
