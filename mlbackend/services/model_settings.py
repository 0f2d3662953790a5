"""A project's ML settings: the model config it trains, and when it retrains (K new cases, a schedule)."""
from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from annotation import services as annotation_services
from annotation.models import Project
from mlbackend.configs import config_load
from mlbackend.models import ProjectModelSettings


class ModelSettingsError(ValueError):
    """A setting the project cannot take (a malformed schedule)."""


def project_model_settings(project: Project, *, lock: bool = False) -> ProjectModelSettings:
    """The project's ML settings row (created with defaults on first use)."""
    row, _ = ProjectModelSettings.objects.get_or_create(project=project)
    if lock:
        row = ProjectModelSettings.objects.select_for_update().get(pk=row.pk)
    return row


@transaction.atomic
def model_settings_update(*, project: Project, actor=None, config_name: str | None = None,
                          retrain_after_cases: int | None = None, retrain_crontab: str | None = None):
    """Changes the project's model config and retraining triggers; raises ValueError on an unknown config and
    ModelSettingsError (a ValueError) on a malformed schedule, changing nothing."""
    row = project_model_settings(project, lock=True)
    if config_name is not None:
        config_load(config_name)
        row.config_name = config_name
    if retrain_after_cases is not None:
        row.retrain_after_cases = retrain_after_cases
    row.save()
    annotation_services.audit_log(actor=actor, action="model_settings_update", target=project,
                                  payload={"config_name": row.config_name, "retrain_after_cases": row.retrain_after_cases})
    if retrain_crontab is not None:
        retrain_schedule_set(project=project, crontab=retrain_crontab, actor=actor)
        row.refresh_from_db()
    return row


def _schedule_name(project: Project) -> str:
    return f"mlbackend: scheduled training of {project.slug}"


def _crontab_schedule(crontab: str) -> CrontabSchedule:
    fields = crontab.split(" ")
    if len(fields) != 5:
        raise ModelSettingsError("a schedule is five cron fields: minute hour day-of-month month day-of-week")
    minute, hour, day_of_month, month, day_of_week = fields
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week,
        timezone=settings.TIME_ZONE)
    return schedule


@transaction.atomic
def retrain_schedule_set(*, project: Project, crontab: str, actor=None) -> None:
    """Sets (or with "" removes) the project's scheduled retraining: a django-celery-beat PeriodicTask that
    beat reads from the database, so schedules change without restarting beat. Raises ModelSettingsError on a
    malformed 'm h dom mon dow'."""
    name = _schedule_name(project)
    model_settings = project_model_settings(project, lock=True)
    crontab = " ".join(crontab.split())
    if not crontab:
        PeriodicTask.objects.filter(name=name).delete()
    else:
        PeriodicTask.objects.update_or_create(name=name, defaults={
            "task": "mlbackend.scheduled_training", "crontab": _crontab_schedule(crontab),
            "args": json.dumps([project.pk]), "enabled": True})
    model_settings.retrain_crontab = crontab
    model_settings.save(update_fields=["retrain_crontab"])
    annotation_services.audit_log(actor=actor, action="retrain_schedule_set", target=project,
                                  payload={"crontab": crontab})


def model_settings_copy(*, source: Project, project: Project, actor=None, **_signal) -> None:
    """A copied project takes its source's model config and retraining triggers (annotation's project_copied)."""
    source_settings = ProjectModelSettings.objects.filter(project=source).first()
    if source_settings is not None:
        model_settings_update(project=project, actor=actor, config_name=source_settings.config_name,
                              retrain_after_cases=source_settings.retrain_after_cases,
                              retrain_crontab=source_settings.retrain_crontab)
