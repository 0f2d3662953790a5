"""Retraining triggers: K new ground-truth cases, a per-project schedule in django-celery-beat, one at a time."""
import json

import pytest
from django_celery_beat.models import PeriodicTask

from mlbackend import services
from mlbackend.models import TrainingRun
from mlbackend.tasks import retrain_check_task, scheduled_training_task


def test_k_new_ground_truth_cases_queue_one_training(gt_cases, ml_project, monkeypatch):
    sent = []
    monkeypatch.setattr("mlbackend.services.training._enqueue", lambda run_id, queue: sent.append((run_id, queue)))
    model_settings = services.project_model_settings(ml_project)
    model_settings.retrain_after_cases = 5
    model_settings.save()
    assert not services.retrain_due(ml_project)  # four training cases, one held out
    assert retrain_check_task() == []

    model_settings.retrain_after_cases = 4
    model_settings.save()
    [run_id] = retrain_check_task()
    run = TrainingRun.objects.get(pk=run_id)
    assert (run.trigger, run.status, run.config_name) == ("new_cases", "queued", "yolov8n")
    assert retrain_check_task() == []  # one active training per project
    with pytest.raises(services.TrainingError) as error:
        services.training_request(project=ml_project)
    assert error.value.status_code == 409


def test_schedule_is_a_periodic_task_per_project(ml_project, monkeypatch):
    services.retrain_schedule_set(project=ml_project, crontab="0 2 * * 1")
    task = PeriodicTask.objects.get()
    assert task.task == "mlbackend.scheduled_training" and json.loads(task.args) == [ml_project.pk]
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "2", "1")
    with pytest.raises(services.TrainingError):
        services.retrain_schedule_set(project=ml_project, crontab="every night")
    monkeypatch.setattr("mlbackend.services.training._enqueue", lambda run_id, queue: None)
    run_id = scheduled_training_task(ml_project.pk)
    assert TrainingRun.objects.get(pk=run_id).trigger == "schedule"
    services.retrain_schedule_set(project=ml_project, crontab="")
    assert not PeriodicTask.objects.exists()
