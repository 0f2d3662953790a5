"""Pre-annotation on ingest: the served model's findings stored per case, and the worklist order they give."""
import pytest

from annotation.models import Case, Finding, Source
from annotation.schema import DEFAULT_SCHEMA
from annotation.selectors import worklist_for_reader
from mlbackend import services
from mlbackend.adapter import Detection
from mlbackend.models import CaseInformativeness
from tests.mlbackend.conftest import disc, import_phantom, register_served


@pytest.mark.slow
def test_ingest_pre_annotates_with_the_served_model_and_orders_the_worklist(
        ml_project, phantom_dir, tiny_weights, reader, monkeypatch, django_capture_on_commit_callbacks, eager_tasks):
    folder, truth = phantom_dir
    version = register_served(ml_project, tiny_weights, conf=0.001)
    predicted_batches = []
    real_predict = __import__("mlbackend.adapter", fromlist=["YoloAdapter"]).YoloAdapter.predict

    def recording_predict(self, images, **kwargs):
        predicted_batches.append(len(images))
        return real_predict(self, images, **kwargs)

    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.predict", recording_predict)
    with django_capture_on_commit_callbacks(execute=True):
        first = import_phantom(ml_project, folder, truth["cases"][0])
    with django_capture_on_commit_callbacks(execute=True):
        second = import_phantom(ml_project, folder, truth["cases"][1])

    # one batch per series: three mid-sagittal slices, five axial slices
    assert predicted_batches == [3, 5, 3, 5]
    for case in (first, second):
        assert CaseInformativeness.objects.get(case=case).model_version == "ml-v1"
        findings = Finding.objects.filter(case=case)
        assert all(f.source == Source.MODEL and f.model_version == "ml-v1" and f.read_id is None for f in findings)
        assert all(f.disc_level in DEFAULT_SCHEMA["levels"] and f.x0 < f.x1 for f in findings)
    scores = {c.pk: CaseInformativeness.objects.get(case=c).score for c in (first, second)}
    assert {c.pk: c.priority for c in Case.objects.all()} == scores
    services_case = __import__("annotation.services", fromlist=["case_assign"])
    for case in (first, second):
        services_case.case_assign(case=case, user=reader, role="reader")
    order = [row["case"].pk for row in worklist_for_reader(reader)]
    assert order == sorted(scores, key=lambda pk: (-scores[pk], pk))


def test_pre_annotation_stores_placed_findings_exactly(ml_project, phantom_dir, tiny_weights, monkeypatch, eager_tasks,
                                                       django_capture_on_commit_callbacks):
    folder, truth = phantom_dir
    register_served(ml_project, tiny_weights)

    def fixed_predict(self, images, **kwargs):
        if len(images) == 3:  # sagittal: five discs on the middle slice
            return [[], [disc(40 + 50 * i, grade=2 + (i == 4)) for i in range(5)], []]
        return [[Detection("herniation_extrusion", 0.8, (5.0, 5.0, 30.0, 20.0))]] + [[] for _ in images[1:]]

    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.predict", fixed_predict)
    with django_capture_on_commit_callbacks(execute=True):
        case = import_phantom(ml_project, folder, truth["cases"][2])

    rows = sorted(Finding.objects.filter(case=case).values_list("disc_level", "finding_type", "value",
                                                                "instance__series__plane"))
    assert rows == [("L1/L2", "pfirrmann", "2", "sagittal"), ("L2/L3", "pfirrmann", "2", "sagittal"),
                    ("L3/L4", "pfirrmann", "2", "sagittal"), ("L4/L5", "pfirrmann", "2", "sagittal"),
                    ("L5/S1", "herniation", "extrusion", "axial"), ("L5/S1", "pfirrmann", "3", "sagittal")]
    mid = case.series.get(plane="sagittal").instances.all()[len(case.series.get(plane="sagittal").instances.all()) // 2]
    assert set(Finding.objects.filter(case=case, finding_type="pfirrmann").values_list("instance", flat=True)) == {mid.pk}
