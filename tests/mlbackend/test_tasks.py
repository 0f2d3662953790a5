"""Tasks and the entry points enqueue; services never do (they return what happened)."""
import ast
from pathlib import Path

import pytest

import mlbackend
from mlbackend import services, tasks
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.tasks import training_run_task

SERVICES = Path(mlbackend.__file__).resolve().parent / "services"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("path", sorted(SERVICES.glob("*.py")), ids=lambda path: path.name)
def test_services_never_import_tasks(path):
    assert not {name for name in _imported_modules(path) if name.startswith("mlbackend.tasks")}


def _version(project, number: int, decision: str) -> ModelVersion:
    return ModelVersion.objects.create(project=project, version=number, config_name="yolov8n", decision=decision,
                                       file=f"ml/models/{project.slug}/v{number}.pt", sha256="0" * 64)


@pytest.mark.parametrize(("decision", "sent"), [(ModelVersion.Decision.PROMOTED, True),
                                                (ModelVersion.Decision.REJECTED, False)])
def test_a_training_that_promotes_has_the_unread_cases_pre_annotated(ml_project, monkeypatch, sent_tasks, decision,
                                                                     sent, django_capture_on_commit_callbacks):
    run = TrainingRun.objects.create(project=ml_project, config_name="yolov8n", epochs=1, imgsz=64)

    def finished(*, run_id):
        TrainingRun.objects.filter(pk=run_id).update(status=TrainingRun.Status.SUCCEEDED,
                                                     model_version=_version(ml_project, 1, decision))
        return TrainingRun.objects.get(pk=run_id)

    monkeypatch.setattr(services, "training_run_execute", finished)
    with django_capture_on_commit_callbacks(execute=True):
        assert training_run_task(run.pk) == "succeeded"
    assert sent_tasks == ([("project_model_changed_task", [ml_project.pk], "celery")] if sent else [])


def test_the_api_sends_a_requested_training_to_its_queue_after_commit(client, coordinator, ml_project, sent_tasks,
                                                                      django_capture_on_commit_callbacks):
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/api/ml/projects/ml/trainings/", {"epochs": 2, "imgsz": 64},
                               content_type="application/json")
    run = TrainingRun.objects.get()
    assert response.status_code == 202 and len(callbacks) == 1
    assert sent_tasks == [("training_run_task", [run.pk], run.queue)]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/ml/projects/ml/trainings/").status_code == 409
    assert len(sent_tasks) == 1


def test_a_rollback_through_the_api_pre_annotates_again_once(client, coordinator, ml_project, sent_tasks,
                                                              django_capture_on_commit_callbacks):
    first = _version(ml_project, 1, ModelVersion.Decision.PROMOTED)
    _version(ml_project, 2, ModelVersion.Decision.PROMOTED)
    services.model_version_serve(version=ModelVersion.objects.get(version=2))
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/api/ml/projects/ml/models/1/serve/").status_code == 200
        assert client.post("/api/ml/projects/ml/models/1/serve/").status_code == 200  # already served: no change
    assert sent_tasks == [("project_model_changed_task", [ml_project.pk], "celery")]
    assert services.project_model_settings(ml_project).served_version == first


@pytest.mark.django_db
def test_after_cases_imported_sends_the_cases_to_pre_annotation(sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tasks.after_cases_imported(case_ids=[])
        tasks.after_cases_imported(case_ids=(3, 4))
    assert sent_tasks == [("preannotate_cases_task", [[3, 4]], "celery")]
