"""Retraining triggers: K new ground-truth cases, a per-project schedule in django-celery-beat, one at a time."""
import pytest

from mlbackend import services
from mlbackend.models import TrainingRun
from mlbackend.tasks import retrain_check_task, scheduled_training_task


def test_k_new_ground_truth_cases_queue_one_training(gt_cases, ml_project, sent_tasks,
                                                     django_capture_on_commit_callbacks):
    model_settings = services.project_model_settings(ml_project)
    model_settings.retrain_after_cases = 5
    model_settings.save()
    assert not services.retrain_due(ml_project)  # four training cases, one held out
    assert retrain_check_task() == []

    model_settings.retrain_after_cases = 4
    model_settings.save()
    with django_capture_on_commit_callbacks(execute=True):
        [run_id] = retrain_check_task()
    run = TrainingRun.objects.get(pk=run_id)
    assert (run.trigger, run.status, run.config_name) == ("new_cases", "queued", "yolov8n")
    assert sent_tasks == [("training_run_task", [run_id], run.queue)]
    assert retrain_check_task() == []  # one active training per project
    with pytest.raises(services.TrainingError) as error:
        services.training_request(project=ml_project)
    assert error.value.status_code == 409


def test_the_scheduled_task_requests_a_training_and_sends_it(ml_project, sent_tasks,
                                                             django_capture_on_commit_callbacks):
    services.retrain_schedule_set(project=ml_project, crontab="0 2 * * 1")
    with django_capture_on_commit_callbacks(execute=True):
        run_id = scheduled_training_task(ml_project.pk)
    run = TrainingRun.objects.get(pk=run_id)
    assert run.trigger == "schedule" and sent_tasks == [("training_run_task", [run_id], run.queue)]
    # a second one while the first is queued is skipped, and so is a project that no longer exists
    assert scheduled_training_task(ml_project.pk) is None
    assert scheduled_training_task(ml_project.pk + 1000) is None
    assert len(sent_tasks) == 1
