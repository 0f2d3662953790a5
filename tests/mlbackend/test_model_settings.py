"""A project's ML settings: defaults, the model config, the K-new-cases trigger and the retraining schedule."""
import json

import pytest
from django_celery_beat.models import PeriodicTask

from annotation.models import AuditEvent
from mlbackend import services
from mlbackend.models import ProjectModelSettings


def test_settings_are_created_with_defaults_on_first_use(ml_project):
    row = services.project_model_settings(ml_project)
    assert (row.config_name, row.retrain_after_cases, row.retrain_crontab, row.served_version) == (
        "yolov8n", 20, "", None)
    assert services.project_model_settings(ml_project, lock=True).pk == row.pk
    assert ProjectModelSettings.objects.count() == 1


def test_update_changes_config_trigger_and_schedule_with_an_audit_row(ml_project, coordinator):
    row = services.model_settings_update(project=ml_project, actor=coordinator, config_name="yolov5n-se",
                                         retrain_after_cases=3, retrain_crontab="30  1 * * *")

    assert (row.config_name, row.retrain_after_cases, row.retrain_crontab) == ("yolov5n-se", 3, "30 1 * * *")
    event = AuditEvent.objects.get(action="model_settings_update")
    assert (event.actor, event.payload) == (coordinator, {"config_name": "yolov5n-se", "retrain_after_cases": 3})
    assert AuditEvent.objects.get(action="retrain_schedule_set").payload == {"crontab": "30 1 * * *"}
    task = PeriodicTask.objects.get()
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "1", "*")


def test_an_unknown_config_or_a_malformed_schedule_changes_nothing(ml_project):
    with pytest.raises(ValueError, match="unknown model config 'resnet'"):
        services.model_settings_update(project=ml_project, config_name="resnet")
    with pytest.raises(services.ModelSettingsError, match="five cron fields"):
        services.model_settings_update(project=ml_project, config_name="yolov8s", retrain_crontab="every night")

    row = services.project_model_settings(ml_project)
    assert (row.config_name, row.retrain_crontab) == ("yolov8n", "")
    assert not PeriodicTask.objects.exists() and not AuditEvent.objects.filter(action__startswith="model_").exists()


def test_schedule_is_a_periodic_task_per_project_and_empty_removes_it(ml_project):
    services.retrain_schedule_set(project=ml_project, crontab="0 2 * * 1")
    task = PeriodicTask.objects.get()
    assert task.task == "mlbackend.scheduled_training" and json.loads(task.args) == [ml_project.pk]
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "2", "1")
    services.retrain_schedule_set(project=ml_project, crontab="0 3 * * *")
    assert PeriodicTask.objects.get().crontab.hour == "3"

    services.retrain_schedule_set(project=ml_project, crontab="")
    assert not PeriodicTask.objects.exists()
    assert services.project_model_settings(ml_project).retrain_crontab == ""
