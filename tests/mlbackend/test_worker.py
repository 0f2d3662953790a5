"""A training on a real Celery worker, killed midway (SIGKILL after its first epoch): nothing served changes."""
import os
import signal
import time

import pytest

from mlbackend import services
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.selectors import served_version_for
from mlbackend.tasks import training_run_enqueue
from tests.conftest import celery_worker_started
from tests.mlbackend.conftest import register_served

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings, tmp_path):
    process = celery_worker_started(settings, tmp_path, name="ml-test", queue=services.training_queue())
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=20)


def test_training_killed_midway_leaves_registry_and_served_model_as_they_were(gt_cases, ml_project, tiny_weights,
                                                                              worker):
    served = register_served(ml_project, tiny_weights)
    run = services.training_request(project=ml_project, epochs=200, imgsz=64)
    training_run_enqueue(run)  # on_commit (at once, outside a transaction): sent to the worker

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.epoch >= 1 or run.status not in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING):
            break
        time.sleep(0.2)
    assert run.status == TrainingRun.Status.RUNNING and run.epoch >= 1, (run.status, run.error)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=20)

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING and run.model_version is None
    assert list(ModelVersion.objects.values_list("pk", flat=True)) == [served.pk]
    assert served_version_for(ml_project) == served
    # the reaper (beat's retrain check) marks it; the next request is not blocked by the dead run
    assert services.training_runs_reap(stale_after=__import__("datetime").timedelta(0)) == 1
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.INTERRUPTED and run.finished_at is not None
    assert served_version_for(ml_project) == served
    assert services.training_request(project=ml_project).status == TrainingRun.Status.QUEUED
