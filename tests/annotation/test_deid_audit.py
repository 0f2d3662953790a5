"""deid_audit: what storage and the copied header fields still carry is found, whichever way it got there."""
import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from annotation import services
from annotation.deid_audit import audit_storage
from annotation.dicom import path_sources
from annotation.models import Case, Instance, Series
from fixtures.phi_corpus import write_phi_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_phi_corpus(tmp_path_factory.mktemp("phi_corpus"))


def _import(project, corpus):
    folder = corpus["files"][0].parent
    return services.case_import(project=project, sources=path_sources(folder, max_file_bytes=10**8))


def _raw_instance(project, path) -> Instance:
    """A corpus file stored as it came, bypassing de-identification (as a hand copy or an old rule would)."""
    case = Case.objects.create(project=project, patient_key="0" * 32,
                               study_instance_uid="1.2.826.0.1.3680043.9.7731.1.1", modality="MR")
    series = Series.objects.create(case=case, series_instance_uid="1.2.826.0.1.3680043.9.7731.1.2",
                                   description="T2_TSE_SAG PHI-SERIESDESCSAG-7731", plane="sagittal")
    name = default_storage.save(f"dicom/{project.slug}/raw/{path.name}", ContentFile(path.read_bytes()))
    return Instance.objects.create(series=series, sop_instance_uid="1.2.826.0.1.3680043.9.7731.2.11", file=name,
                                   sha256="0" * 64, size_bytes=path.stat().st_size,
                                   transfer_syntax_uid="1.2.840.10008.1.2.1", rows=64, columns=64)


def _run(**options):
    out = io.StringIO()
    try:
        call_command("deid_audit", stdout=out, **options)
    except CommandError as error:
        return out.getvalue().splitlines(), error
    return out.getvalue().splitlines(), None


@pytest.mark.django_db
def test_a_clean_import_reports_nothing_and_exits_zero(project, corpus):
    _import(project, corpus)

    report = audit_storage(project=project)
    assert (report.files, [str(v) for v in report.violations], report.clean) == (7, [], True)
    lines, error = _run(project="lumbar")
    assert (lines, error) == (["deid_audit: 7 files, 0 violations"], None)


@pytest.mark.django_db
@pytest.mark.raw_storage  # plants PHI on purpose
def test_a_stored_file_with_phi_is_reported_and_the_command_fails(project, corpus):
    _import(project, corpus)
    raw = _raw_instance(project, corpus["files"][0])
    case_id = raw.series.case_id

    report = audit_storage(project=project)
    assert report.files == 8
    assert {v.instance_id for v in report.violations if v.instance_id} == {raw.pk}
    file_findings = [v.message for v in report.violations if v.instance_id == raw.pk]
    for keyword in ("PatientName", "StudyDescription", "RequestAttributesSequence", "PatientAge", "StudyInstanceUID",
                    "SourceApplicationEntityTitle", "sop_instance_uid"):
        assert any(keyword in message for message in file_findings), keyword
    assert any(message.startswith("(0009,") for message in file_findings)  # the private block
    rows = {str(v) for v in report.violations if v.instance_id is None}
    assert rows == {
        f"case {case_id}: study_instance_uid '1.2.826.0.1.3680043.9.7731.1.1' is not a de-identified UID (2.25....)",
        f"series {raw.series_id} (case {case_id}): series_instance_uid '1.2.826.0.1.3680043.9.7731.1.2' is not a "
        f"de-identified UID (2.25....)",
        f"series {raw.series_id} (case {case_id}): description 'T2_TSE_SAG PHI-SERIESDESCSAG-7731' is not a derived "
        f"one (e.g. 'T2 sagittal')",
    }

    lines, error = _run(project="lumbar")
    assert error is not None and str(error) == f"{len(report.violations)} de-identification violations; see above"
    assert lines[-1] == f"deid_audit: 8 files, {len(report.violations)} violations"
    assert lines[:-1] == [str(v) for v in report.violations]
    assert any(line.startswith(f"instance {raw.pk} (case {case_id}): (0008,1030) StudyDescription") for line in lines)


@pytest.mark.django_db
@pytest.mark.raw_storage  # plants PHI on purpose
def test_project_option_audits_that_project_only(coordinator, project, corpus):
    other = services.project_create(slug="cervical", name="Cervical", actor=coordinator)
    _import(project, corpus)
    _raw_instance(other, corpus["files"][1])

    assert _run(project="lumbar") == (["deid_audit: 7 files, 0 violations"], None)
    lines, error = _run(project="cervical")
    assert error is not None and lines[-1].startswith("deid_audit: 1 files, ")
    lines, error = _run()
    assert error is not None and lines[-1].startswith("deid_audit: 8 files, ")
    with pytest.raises(CommandError, match="no project 'thoracic'"):
        call_command("deid_audit", project="thoracic", stdout=io.StringIO())


@pytest.mark.django_db
@pytest.mark.raw_storage  # plants PHI on purpose
def test_copied_header_fields_and_missing_files_are_reported(project, corpus):
    _import(project, corpus)
    series = Series.objects.filter(plane="sagittal").get()
    Series.objects.filter(pk=series.pk).update(description="PHI-SERIESDESCSAG-7731", sequence="PHI-SEQ-7731")
    instance = Instance.objects.filter(series=series).first()
    default_storage.delete(instance.file.name)

    report = audit_storage(project=project)
    assert [str(v) for v in report.violations] == [
        f"series {series.pk} (case {series.case_id}): description 'PHI-SERIESDESCSAG-7731' is not a derived one "
        f"(e.g. 'T2 sagittal')",
        f"series {series.pk} (case {series.case_id}): sequence 'PHI-SEQ-7731' is free text, not a sequence code",
        f"instance {instance.pk} (case {series.case_id}): stored file {instance.file.name} is missing",
    ]


@pytest.mark.django_db
def test_audit_reads_rows_in_three_queries_however_many_files(project, corpus, django_assert_num_queries):
    _import(project, corpus)
    with django_assert_num_queries(3):  # cases, series, instances with their series, case and project
        report = audit_storage()
    assert (report.files, report.clean) == (7, True)
