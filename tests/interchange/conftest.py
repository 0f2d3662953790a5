"""Ground truth built from phantoms with known truth, for the export and import tests."""
import pydicom
import pytest

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Case, GroundTruthItem, Instance


def _value(value) -> str:
    """truth.json keeps binary findings as booleans; the schema's values are "absent"/"present"."""
    if isinstance(value, bool):
        return "present" if value else "absent"
    return str(value)


def phantom_project_with_truth(tmp_path, project, n_cases=2, splits=("train", "study")):
    """Imports phantoms and writes their truth.json as final ground truth (values and boxes)."""
    from fixtures.phantoms import generate_phantoms

    truth = generate_phantoms(n_cases=n_cases, out_dir=tmp_path / "phantoms", seed=5)
    result = services.case_import(project=project, sources=path_sources(tmp_path / "phantoms", max_file_bytes=10**8))
    cases = list(Case.objects.filter(pk__in=result.case_ids).order_by("id"))
    expected = []
    for case, split, case_truth in zip(cases, splits, truth["cases"]):
        instances = {(i.series.plane, i.instance_number): i
                     for i in Instance.objects.filter(series__case=case).select_related("series")}
        rows = [GroundTruthItem(case=case, disc_level=level, finding_type=name, value=_value(value),
                                provenance=GroundTruthItem.Provenance.IMPORTED)
                for level, findings in case_truth["levels"].items() if level in project.label_schema["levels"]
                for name, value in findings.items()]
        for box in case_truth["boxes"]:
            ds = pydicom.dcmread(tmp_path / "phantoms" / box["file"], stop_before_pixels=True)
            instance = instances[(box["plane"], int(ds.InstanceNumber))]
            rows.append(GroundTruthItem(case=case, disc_level=box["level"], finding_type=box["finding"],
                                        value=_value(box["value"]), instance=instance, x0=box["box"][0],
                                        y0=box["box"][1], x1=box["box"][2], y1=box["box"][3],
                                        provenance=GroundTruthItem.Provenance.IMPORTED))
            expected.append((case.pk, instance.pk, box["class_name"], tuple(box["box"])))
        GroundTruthItem.objects.bulk_create(rows)
        Case.objects.filter(pk=case.pk).update(status=Case.Status.GROUND_TRUTH, split=split)
    return cases, sorted(expected)


@pytest.fixture
def exported(tmp_path, project):
    """Two cases (splits train and study) with final ground truth; expected boxes sorted
    (case id, instance id, class name, box)."""
    cases, expected = phantom_project_with_truth(tmp_path, project)
    return project, cases, expected


@pytest.fixture
def one_case_exported(tmp_path, project):
    """One training case with final ground truth."""
    cases, expected = phantom_project_with_truth(tmp_path, project, n_cases=1, splits=("train",))
    return project, cases[0], expected
