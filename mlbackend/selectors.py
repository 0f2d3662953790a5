"""Reads of the ML backend's records; coordinators' pages and APIs go through these."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import QuerySet

from annotation.models import Project
from mlbackend.adapter import adapter_for, file_sha256
from mlbackend.level_model import TwoStageAdapter
from mlbackend.models import ModelVersion, ProjectModelSettings, TrainingRun

ACTIVE_STATUSES = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


def served_version_for(project: Project) -> ModelVersion | None:
    """The served version with its project loaded (its label needs it), in one query."""
    rows = list(ProjectModelSettings.objects.select_related("served_version__project")
                .filter(project_id=project.pk)[:1])
    return rows[0].served_version if rows else None


class ModelFileCorrupt(Exception):
    """A version's weights do not have the checksum it was registered with."""


def model_file(version: ModelVersion) -> Path:
    """A local path of a registered version's weights (what Ultralytics loads).

    On a filesystem storage it is the registry's own file. On object storage it is a copy in
    ``settings.ML_MODEL_CACHE_DIR`` (keeping the ``.pt`` suffix Ultralytics reads the format from), downloaded
    once per host and checked against ``version.sha256`` on every call. A copy that does not match (a damaged
    disk, a copy edited by hand) is deleted and downloaded again; ModelFileCorrupt is raised only when the
    stored file itself does not match, and then no local copy is left behind.
    """
    try:
        return Path(default_storage.path(version.file))
    except NotImplementedError:  # object storage: no local path
        pass
    # Named by checksum too: a stale copy of another file once stored under the same name (a project made
    # again, a restore) is never taken for this one.
    stored_name = Path(version.file)
    cached = Path(settings.ML_MODEL_CACHE_DIR) / stored_name.with_name(
        f"{stored_name.stem}-{version.sha256[:16]}{stored_name.suffix}")
    if cached.exists() and file_sha256(cached) == version.sha256:
        return cached
    cached.unlink(missing_ok=True)
    _download(version.file, cached)
    if file_sha256(cached) != version.sha256:
        cached.unlink(missing_ok=True)
        raise ModelFileCorrupt(f"{version.file}: the stored file's sha256 is not the registered {version.sha256}")
    return cached


def served_model(version: ModelVersion):
    """The version's loaded model (kept per process): a YoloAdapter, or a TwoStageAdapter for a two-stage one."""
    return adapter_for(model_file(version), version.sha256, load=TwoStageAdapter.load if version.is_two_stage else None)


def _download(name: str, target: Path) -> None:
    """Copies a stored file to `target` under a temporary name, then renames it: another process on this host
    never loads half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".partial")
    try:
        with default_storage.open(name, "rb") as stored, os.fdopen(handle, "wb") as local:
            shutil.copyfileobj(stored, local, 1 << 20)
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


def model_storage_name(project: Project, number: int) -> str:
    """The storage name the registry keeps a project's version `number` under."""
    return f"ml/models/{project.slug}/v{number}.pt"


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
