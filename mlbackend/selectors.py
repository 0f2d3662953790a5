"""Reads of the ML backend's records; coordinators' pages and APIs go through these."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from annotation.models import Project
from mlbackend.models import ModelVersion, ProjectModelSettings, TrainingRun

ACTIVE_STATUSES = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


def served_version_for(project: Project) -> ModelVersion | None:
    """The served version with its project loaded (its label needs it), in one query."""
    rows = list(ProjectModelSettings.objects.select_related("served_version__project")
                .filter(project_id=project.pk)[:1])
    return rows[0].served_version if rows else None


def model_file(version: ModelVersion) -> Path:
    """Where a registered version's weights lie."""
    return Path(settings.MEDIA_ROOT) / version.file


def models_dir(project: Project) -> Path:
    """The folder the registry keeps a project's weights in, one file per version."""
    return Path(settings.MEDIA_ROOT) / "ml" / "models" / project.slug


def model_versions_for(project: Project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project).select_related("parent", "project").order_by("version")


def training_runs_for(project: Project, limit: int = 20) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).select_related("model_version").order_by("-id")[:limit]


def active_training_for(project: Project) -> TrainingRun | None:
    return TrainingRun.objects.filter(project=project, status__in=ACTIVE_STATUSES).order_by("-id").first()


def learning_curve(project: Project) -> list[dict]:
    """Held-out metrics per version, in version order (the registry page's plot)."""
    return [{"version": v.version, "map50": v.metrics.get("map50"), "map50_95": v.metrics.get("map50_95"),
             "decision": v.decision, "training_cases": len(v.training_case_ids)}
            for v in model_versions_for(project)]
