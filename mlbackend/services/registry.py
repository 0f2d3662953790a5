"""The model registry: storing a trained model, the promotion gate, serving and rollback."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from annotation import services as annotation_services
from annotation.models import Project
from annotation.schema import detector_classes
from mlbackend.adapter import file_sha256
from mlbackend.configs import config_load
from mlbackend.models import ModelVersion, ProjectModelSettings
from mlbackend.selectors import model_storage_name
from mlbackend.services.model_settings import project_model_settings

PROMOTION_METRIC = "map50_95"
LEVEL_METRIC = "level_score"  # a two-stage candidate's: mean per-level kappa and AUCs (level_eval.level_metrics)


def promotion_decide(*, candidate: dict | None, served: dict | None, served_exists: bool) -> tuple[bool, str]:
    """A candidate is served only if it beats the served model on the same held-out set, strictly (equality
    never promotes): on the per-level score when both were scored per level (a two-stage training scores the
    served model that way too), else on mAP50-95. With nothing served, any model is better than none."""
    if not served_exists:
        return True, "no model served yet"
    if candidate is None or served is None:
        return False, "no held-out set to compare on"
    metric = LEVEL_METRIC if candidate.get(LEVEL_METRIC) is not None and served.get(LEVEL_METRIC) is not None \
        else PROMOTION_METRIC
    c, s = candidate.get(metric) or 0.0, served.get(metric) or 0.0
    if c > s:
        return True, f"{metric} {c:.4f} > served {s:.4f}"
    return False, f"{metric} {c:.4f} <= served {s:.4f}"


@transaction.atomic
def model_version_register(*, project: Project, weights: Path, config_name: str, class_names: list[str],
                           metrics: dict, gate: dict, promote: bool, parent: ModelVersion | None = None,
                           training_case_ids=(), validation_case_ids=(), heldout_case_ids=(), device: str = "",
                           train_seconds: float = 0.0, epochs: int = 0, imgsz: int = 0,
                           decision: str | None = None, actor=None) -> ModelVersion:
    """Copies the weights into storage (``ml/models/<slug>/v<N>.pt``) and records the version; serves it when
    `promote`. One transaction: either the row and the served pointer both change, or (on error) neither does.
    A caller that promotes has the project's unread cases pre-annotated again once this commits."""
    model_settings = project_model_settings(project, lock=True)
    number = (ModelVersion.objects.filter(project=project).aggregate(n=Max("version"))["n"] or 0) + 1
    name = model_storage_name(project, number)
    # Should a transaction roll back after the save, the file stays as an orphan under a number the next version
    # reuses: nothing points at it, so it is deleted here rather than left to push the new file to another name
    # (a file some row still names, restored from a backup say, is kept: the save then picks a free name). The
    # row is made only after the save returns, so no row ever names half a file.
    if default_storage.exists(name) and not ModelVersion.objects.filter(file=name).exists():
        default_storage.delete(name)
    with open(weights, "rb") as source:
        stored_name = default_storage.save(name, File(source, name=Path(weights).name))
    try:
        config = config_load(config_name).as_dict()
    except ValueError:
        config = {"name": config_name}
    version = ModelVersion.objects.create(
        project=project, version=number, parent=parent, config_name=config_name, config=config,
        class_names=list(class_names), training_case_ids=list(training_case_ids),
        validation_case_ids=list(validation_case_ids), heldout_case_ids=list(heldout_case_ids), metrics=metrics,
        gate=gate, decision=decision or (ModelVersion.Decision.PROMOTED if promote else ModelVersion.Decision.REJECTED),
        file=stored_name, sha256=file_sha256(weights),
        size_bytes=Path(weights).stat().st_size, device=device, train_seconds=train_seconds, epochs=epochs, imgsz=imgsz,
    )
    annotation_services.audit_log(actor=actor, action="model_version_register", target=version,
                                  payload={"version": number, "decision": version.decision, "gate": gate})
    if promote:
        _serve(model_settings, version, actor=actor, reason="promoted")
    return version


def _serve(model_settings: ProjectModelSettings, version: ModelVersion, *, actor, reason: str) -> None:
    previous = model_settings.served_version_id
    model_settings.served_version = version
    model_settings.save(update_fields=["served_version"])
    annotation_services.audit_log(actor=actor, action="model_version_serve", target=version,
                                  payload={"previous": previous, "reason": reason})


@transaction.atomic
def model_version_serve(*, version: ModelVersion, actor=None) -> bool:
    """Serves any registered version (rollback or roll forward); the gate applies to new trainings only.
    Returns whether the served version changed (the caller then has the project's unread cases pre-annotated
    again)."""
    model_settings = project_model_settings(version.project, lock=True)
    if model_settings.served_version_id == version.pk:
        return False
    _serve(model_settings, version, actor=actor, reason="rollback")
    return True


STARTER_WEIGHTS = Path(__file__).resolve().parents[1] / "starter" / "yolov8n-phantom.pt"


def starter_register(*, project: Project, weights: Path = STARTER_WEIGHTS, actor=None) -> ModelVersion | None:
    """Registers and serves the shipped starter model as a project's first version (the demo's), unless the
    project already has a model or the file is missing (None). Its metrics are from phantoms, not this
    project. A version returned is served: the caller has the project's unread cases pre-annotated again."""
    if ModelVersion.objects.filter(project=project).exists() or not Path(weights).exists():
        return None
    meta_file = Path(weights).with_suffix(".json")
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    if meta.get("class_names", detector_classes(project.label_schema)) != detector_classes(project.label_schema):
        return None  # trained for the default schema; a project with another schema needs its own training
    version = model_version_register(
        project=project, weights=Path(weights), config_name=meta.get("config", "yolov8n"),
        class_names=detector_classes(project.label_schema), metrics={},
        gate={"reason": "starter model trained on phantoms by manage.py train_starter",
              "phantom_metrics": meta.get("metrics_on_phantom_val")},
        promote=True, decision=ModelVersion.Decision.REGISTERED, device="cpu",
        train_seconds=meta.get("train_seconds", 0.0), epochs=meta.get("epochs", 0), imgsz=meta.get("imgsz", 256),
        actor=actor)
    if "conf" in meta:
        version.config["conf"] = meta["conf"]
        version.save(update_fields=["config"])
    return version
