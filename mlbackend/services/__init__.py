"""Writes of the ML backend: datasets, trainings, the registry, model settings, pre-annotation.

Callers use `from mlbackend import services` and `services.training_request(...)`. Services never enqueue
Celery tasks: the entry points do, through `mlbackend.tasks` (tasks import services, never the reverse).
"""
from mlbackend.services.dataset import (
    DatasetExport,
    DatasetLeakError,
    case_partition,
    dataset_export,
    heldout_case_ids,
)
from mlbackend.services.model_settings import (
    ModelSettingsError,
    model_settings_update,
    project_model_settings,
    retrain_schedule_set,
)
from mlbackend.services.preannotation import cases_preannotate, project_model_changed, project_priorities_refresh
from mlbackend.services.registry import (
    model_version_register,
    model_version_serve,
    promotion_decide,
    starter_register,
)
from mlbackend.services.training import (
    TrainingError,
    retrain_due,
    training_queue,
    training_request,
    training_run_execute,
    training_run_transition,
    training_runs_reap,
    trainings_request_due,
)

__all__ = [
    "DatasetExport", "DatasetLeakError", "ModelSettingsError", "TrainingError", "case_partition",
    "cases_preannotate", "dataset_export", "heldout_case_ids", "model_settings_update", "model_version_register",
    "model_version_serve", "project_model_changed", "project_model_settings", "project_priorities_refresh",
    "promotion_decide", "retrain_due", "retrain_schedule_set", "starter_register", "training_queue",
    "training_request", "training_run_execute", "training_run_transition", "training_runs_reap",
    "trainings_request_due",
]
