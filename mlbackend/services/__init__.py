"""Writes of the ML backend: datasets, trainings, the registry, pre-annotation, active learning.

Callers use `from mlbackend import services` and `services.training_request(...)`.
"""
from mlbackend.services.dataset import (
    DatasetExport,
    DatasetLeakError,
    case_partition,
    dataset_export,
    heldout_case_ids,
)
from mlbackend.services.preannotation import cases_preannotate, project_model_changed, project_priorities_refresh
from mlbackend.services.registry import (
    model_file,
    model_settings_update,
    model_version_register,
    model_version_serve,
    project_model_settings,
    promotion_decide,
    starter_register,
)
from mlbackend.services.training import (
    retrain_schedule_set,
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
    "DatasetExport", "DatasetLeakError", "TrainingError", "case_partition", "cases_preannotate", "dataset_export",
    "heldout_case_ids", "model_file", "model_settings_update", "model_version_register", "model_version_serve", "project_model_changed",
    "project_model_settings", "project_priorities_refresh", "promotion_decide", "retrain_due",
    "retrain_schedule_set", "starter_register", "training_queue",
    "training_request", "training_run_execute", "training_run_transition", "training_runs_reap",
    "trainings_request_due",
]
