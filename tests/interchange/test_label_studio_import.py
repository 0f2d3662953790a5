"""Import of Label Studio JSON reads: a round trip of the export, and bad input that changes nothing."""
import pytest

from annotation import services
from annotation.models import AuditEvent, Case, Finding, Read, Role
from interchange.exports import export_set
from interchange.formats.label_studio import label_studio_tasks
from interchange.imports import label_studio_import
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks_and_reader(one_case_exported):
    project, case, expected = one_case_exported
    reader = make_user("ls_reader", Role.READER)
    return project, case, label_studio_tasks(export_set(project)), reader, expected


def test_import_round_trips_an_export_into_a_study_context_read(tasks_and_reader):
    project, case, tasks, reader, expected = tasks_and_reader
    result = label_studio_import(project=project, tasks=tasks, reader=reader, context="import:ls")
    read = Read.objects.get(pk=result["reads"][0])
    assert read.status == Read.Status.SUBMITTED and read.context == "import:ls" and read.case == case
    boxes = sorted((f.instance_id, round(f.x0, 3), round(f.y0, 3)) for f in read.findings.exclude(instance=None))
    assert boxes == sorted((i, round(b[0], 3), round(b[1], 3)) for _c, i, _cls, b in expected)
    assert read.findings.filter(instance=None).count() == 25
    assert Case.objects.get(pk=case.pk).status == Case.Status.GROUND_TRUTH
    assert AuditEvent.objects.filter(action="label_studio_import").exists()


def test_import_in_the_primary_context_needs_an_assignment(tasks_and_reader):
    project, case, tasks, reader, expected = tasks_and_reader
    with pytest.raises(ValueError, match="not assigned"):
        label_studio_import(project=project, tasks=tasks, reader=reader)
    services.case_assign(case=case, user=reader, role=Role.READER)
    assert label_studio_import(project=project, tasks=tasks, reader=reader)["cases"] == 1


def test_import_refuses_a_reader_study_context(tasks_and_reader):
    project, case, tasks, reader, expected = tasks_and_reader
    with pytest.raises(ValueError, match="belongs to a reader study"):
        label_studio_import(project=project, tasks=tasks, reader=reader, context="study:1")


def _with_result(tasks, result):
    return [{**tasks[0], "annotations": [{"result": result}]}]


def _box(tasks, **changes):
    box = next(r for r in tasks[0]["annotations"][0]["result"] if r["type"] == "rectanglelabels")
    return {**box, **changes}


@pytest.mark.parametrize("mutate, message", [
    (lambda t: "not a list", "non-empty list"),
    (lambda t: [{"nodata": 1}], "no 'data'"),
    (lambda t: [{**t[0], "data": {**t[0]["data"], "case_id": 987654}}], "refers to no case"),
    (lambda t: [{**t[0], "data": {**t[0]["data"], "instance_id": 987654}}], "not an instance of case"),
    (lambda t: _with_result(t, [{"type": "polygonlabels", "value": {}}]), "task 0: result 0: unsupported"),
    (lambda t: _with_result(t, "boxes"), "'result' must be a list"),
    (lambda t: _with_result(t, [{"type": "choices", "from_name": "hiz__L9-L10", "value": {"choices": ["present"]}}]),
     "unknown disc level"),
    (lambda t: _with_result(t, [_box(t, meta={})]), "disc level in meta.text"),
    (lambda t: _with_result(t, [_box(t, value={"x": 1, "y": 1, "width": 2, "rectanglelabels": ["disc_p3"]})]),
     "no 'height'"),
    (lambda t: _with_result(t, [_box(t, value={"x": 1, "y": 1, "width": 2, "height": 2,
                                               "rectanglelabels": ["nope"]})]), "unknown detector class"),
])
def test_malformed_imports_change_nothing(tasks_and_reader, mutate, message):
    project, case, tasks, reader, expected = tasks_and_reader
    before = (Read.objects.count(), Finding.objects.count())
    with pytest.raises(ValueError, match=message):
        label_studio_import(project=project, tasks=mutate(tasks), reader=reader, context="import:ls")
    assert (Read.objects.count(), Finding.objects.count()) == before
