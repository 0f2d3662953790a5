"""The CUDA path: run where a GPU is present (bench/gpu_check.sh on a lent machine), skipped elsewhere."""
import pytest
import torch

from annotation.models import Finding, Source
from mlbackend import services
from mlbackend.adapter import adapter_for, training_device
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.selectors import model_file, served_model
from tests.mlbackend.conftest import import_phantom, register_served

pytestmark = [pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_training_goes_to_the_gpu_queue_and_registers_a_cuda_model(gt_cases, ml_project, monkeypatch):
    # As on a site whose GPU worker has announced itself (mlbackend.routing; tests/mlbackend/test_routing.py).
    monkeypatch.setattr("mlbackend.routing.gpu_worker_present", lambda **kwargs: True)
    run = services.training_request(project=ml_project, epochs=2, imgsz=128)
    assert run.queue == "gpu"

    run = services.training_run_execute(run_id=run.pk, batch=8)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.device == "0" and run.model_version.device == "0"
    assert run.model_version.decision == ModelVersion.Decision.PROMOTED


def test_preannotation_predicts_on_the_gpu(ml_project, phantom_dir, tiny_weights):
    folder, truth = phantom_dir
    version = register_served(ml_project, tiny_weights, conf=0.0)
    case = import_phantom(ml_project, folder, truth["cases"][0])

    stored = services.cases_preannotate(case_ids=[case.pk])

    adapter = adapter_for(model_file(version), version.sha256)
    assert training_device() == "0" and next(adapter.model.model.parameters()).device.type == "cuda"
    assert stored[case.pk] == Finding.objects.filter(case=case, source=Source.MODEL).count() > 0


def test_the_two_stage_model_trains_and_preannotates_on_the_gpu(gt_cases, ml_project):
    services.starter_register(project=ml_project)
    services.model_settings_update(project=ml_project, config_name="two-stage")
    run = services.training_run_execute(
        run_id=services.training_request(project=ml_project, epochs=2, imgsz=256).pk, batch=8)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = run.model_version
    services.model_version_serve(version=version)

    stored = services.cases_preannotate(case_ids=[gt_cases["unread"].pk])

    model = served_model(version)
    assert version.device == "0" and next(model.classifier.network.parameters()).device.type == "cuda"
    assert stored[gt_cases["unread"].pk] >= 0 and version.metrics["level_score"] is not None
