"""Tasks that can run twice (a retry, a redelivery after a killed worker) without doubling their work, and
that leave a case's pre-annotations whole when they die midway."""
import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from annotation.models import Finding, Source
from mlbackend import services
from mlbackend.adapter import Detection
from mlbackend.models import CaseInformativeness
from mlbackend.tasks import preannotate_cases_task, project_model_changed_task
from tests.mlbackend.conftest import disc, import_phantom, register_served


def _model_findings(case) -> list[tuple]:
    return sorted(Finding.objects.filter(case=case, source=Source.MODEL).values_list(
        "pk", "disc_level", "finding_type", "value", "model_version", "score"))


def _predicting(monkeypatch, grade: int):
    """The served model's answers, fixed: five discs of `grade` on the mid-sagittal slice, one extrusion."""
    def fixed_predict(self, images, **kwargs):
        if len(images) == 3:
            return [[], [disc(40 + 50 * i, grade=grade) for i in range(5)], []]
        return [[Detection("herniation_extrusion", 0.8, (5.0, 5.0, 30.0, 20.0))]] + [[] for _ in images[1:]]

    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.predict", fixed_predict)


@pytest.fixture
def served_case(ml_project, phantom_dir, tiny_weights, settings, eager_tasks):
    settings.SPINEREAD_AFTER_IMPORT = ""  # pre-annotated by the tests themselves
    register_served(ml_project, tiny_weights)
    folder, truth = phantom_dir
    return import_phantom(ml_project, folder, truth["cases"][2])


@pytest.mark.django_db
def test_pre_annotating_a_case_twice_leaves_one_set_of_model_findings(served_case, monkeypatch):
    _predicting(monkeypatch, grade=2)
    assert preannotate_cases_task.apply(args=[[served_case.pk]]).get() == {str(served_case.pk): 6}
    once = [row[1:] for row in _model_findings(served_case)]
    assert preannotate_cases_task.apply(args=[[served_case.pk]]).get() == {str(served_case.pk): 6}
    assert [row[1:] for row in _model_findings(served_case)] == once and len(once) == 6
    assert CaseInformativeness.objects.filter(case=served_case).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["findings", "informativeness"])
def test_a_pre_annotation_that_dies_midway_leaves_the_old_set_whole(served_case, monkeypatch, failing):
    _predicting(monkeypatch, grade=2)
    services.cases_preannotate(case_ids=[served_case.pk])
    before = _model_findings(served_case)
    score_before = CaseInformativeness.objects.values_list("model_version", "score").get(case=served_case)

    _predicting(monkeypatch, grade=4)  # a new answer, whose store fails part way (the database went away)
    target = Finding.objects if failing == "findings" else CaseInformativeness.objects
    method = "bulk_create" if failing == "findings" else "update_or_create"

    def dies(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(type(target), method, dies)
    with pytest.raises(OperationalError):
        services.cases_preannotate(case_ids=[served_case.pk])
    monkeypatch.undo()

    assert _model_findings(served_case) == before  # same rows, same ids: nothing deleted, nothing added
    assert CaseInformativeness.objects.values_list("model_version", "score").get(case=served_case) == score_before


@pytest.mark.django_db
@pytest.mark.parametrize("task", [preannotate_cases_task, project_model_changed_task], ids=lambda t: t.name)
def test_a_task_that_meets_a_database_outage_is_retried_with_backoff_then_given_up(task, monkeypatch, eager_tasks):
    def outage(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "cases_preannotate" if task is preannotate_cases_task else "project_model_changed",
                        outage)
    args = [[1]] if task is preannotate_cases_task else [1]
    with pytest.raises(Retry) as retry:  # in process the retry is raised; a worker sends it back to the queue
        task.apply(args=args)
    assert isinstance(retry.value.exc, OperationalError) and 0 <= retry.value.when <= 5  # jittered backoff
    with pytest.raises(OperationalError):
        task.apply(args=args, retries=task.max_retries)  # the eighth retry failed too: the error stands
    assert task.acks_late is True and task.max_retries == 8 and task.retry_backoff_max == 300
