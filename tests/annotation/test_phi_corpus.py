"""Acceptance test of de-identification: our PHI corpus through every door into storage, then nothing left.

The corpus (fixtures/phi_corpus.py) puts a distinctive token in every place PHI is known to hide, nested up to
four sequences deep, in private tags and in the file meta, in four transfer syntaxes. It goes in through the
upload API (the files, and the same files as a .zip) and the import_dicom command, each into a project of its
own, and again into the first project to show that re-importing changes nothing. Then every stored byte, every
answer and a dump of the whole database are searched for every token, case-insensitively, for the original
UIDs and for the original dates; none may be there, and deid_audit must find the storage clean.
"""
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import call_command

from annotation import services
from annotation.deid_audit import DERIVED_DESCRIPTION, audit_storage
from annotation.models import Case, Instance, Series
from annotation.rendering import instance_to_uint8
from fixtures.phi_corpus import write_phi_corpus

SLUGS = ("lumbar", "lumbar-zip", "lumbar-folder")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_phi_corpus(tmp_path_factory.mktemp("phi_corpus") / "MR")


def _upload(client, *files, slug):
    payload = {"files": []}
    for name, content in files:
        handle = io.BytesIO(content)
        handle.name = name
        payload["files"].append(handle)
    return client.post(f"/api/projects/{slug}/dicom/", payload)


def _zipped(paths) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, f"MR/{path.name}")
    return buffer.getvalue()


def _stored_state(project):
    instances = Instance.objects.filter(series__case__project=project).order_by("sop_instance_uid")
    return {
        "cases": list(Case.objects.filter(project=project).values_list("pk", "study_instance_uid", "study_date")),
        "series": list(Series.objects.filter(case__project=project).order_by("pk")
                       .values_list("pk", "series_instance_uid", "description", "plane")),
        "instances": list(instances.values_list("pk", "sop_instance_uid", "file", "sha256")),
    }


@pytest.fixture
def imported(client, coordinator, project, corpus, media_root):
    """The corpus imported through every door; returns the answers and printed output the imports produced."""
    for slug in SLUGS[1:]:
        services.project_create(slug=slug, name=slug, actor=coordinator)
    client.force_login(coordinator)
    files = [(path.name, path.read_bytes()) for path in corpus["files"]]
    folder = corpus["files"][0].parent
    answers = []

    first = _upload(client, *files, slug="lumbar")
    assert first.status_code == 201, first.content
    assert (first.json()["instances_created"], first.json()["series"]) == (7, 2)
    answers.append(first.content)
    after_first = _stored_state(project)

    zipped = _zipped(corpus["files"])
    for slug in ("lumbar-zip", "lumbar"):
        answer = _upload(client, ("corpus.zip", zipped), slug=slug)
        assert answer.status_code == 201, answer.content
        answers.append(answer.content)
    assert (json.loads(answers[-1])["instances_created"], json.loads(answers[-1])["instances_existing"]) == (0, 7)

    printed = []
    for slug in ("lumbar-folder", "lumbar"):
        out = io.StringIO()
        call_command("import_dicom", str(folder), project=slug, stdout=out)
        printed.append(out.getvalue())
    assert printed[-1].startswith("imported 0 new instances (7 already held)"), printed[-1]

    again = _upload(client, *files, slug="lumbar")
    assert (again.status_code, again.json()["instances_created"]) == (201, 0)
    answers.append(again.content)
    assert _stored_state(project) == after_first  # idempotent: no row, file or field changed
    return {"answers": answers, "printed": printed}


def _needles(corpus) -> dict[str, str]:
    """Every string that must not survive, lower case, with where it came from."""
    needles = {token.lower(): f"PHI token at {', '.join(places)}" for token, places in corpus["phi"].items()}
    needles[corpus["uid_root"].lower()] = "original UID root"
    for uid in corpus["uids"]:
        needles[uid.lower()] = "original UID"
    for value in corpus["dates"]:
        needles[value] = "original date"
        needles[date(int(value[:4]), int(value[4:6]), int(value[6:])).isoformat()] = "original date (ISO)"
    return needles


def _leaks(haystack: bytes, needles: dict[str, str]) -> list[str]:
    lowered = haystack.lower()
    return [f"{needle!r} ({why})" for needle, why in needles.items() if needle.encode() in lowered]


def test_corpus_covers_the_places_it_promises(corpus):
    places = {place for places in corpus["phi"].values() for place in places}
    for keyword in ("PatientName", "PatientID", "OtherPatientIDsSequence[0].PatientID", "PatientAddress",
                    "PatientTelephoneNumbers", "PatientAge", "InstitutionName", "InstitutionAddress",
                    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "AccessionNumber",
                    "StudyID", "StudyDescription", "SeriesDescription", "ProtocolName",
                    "RequestedProcedureDescription", "PerformedProcedureStepDescription",
                    "AdmittingDiagnosesDescription", "DeviceSerialNumber", "StationName", "ImageComments",
                    "PatientComments", "RequestAttributesSequence[0].ScheduledProcedureStepDescription",
                    "RequestAttributesSequence[0].RequestedProcedureID",
                    "RequestAttributesSequence[0].RequestedProcedureCodeSequence[0].CodeMeaning",
                    "ProcedureCodeSequence[0].CodeMeaning", "RequestAttributesSequence[0].PatientComments",
                    "RequestAttributesSequence[0].ImageComments", "RequestAttributesSequence[0].AccessionNumber",
                    "RequestAttributesSequence[0].PlacerOrderNumberImagingServiceRequest",
                    "RequestAttributesSequence[0].FillerOrderNumberImagingServiceRequest"):
        assert keyword in places, keyword
    assert any(place.startswith("(0009,") for place in places)  # a private block
    assert any(place.count("Sequence[0]") >= 3 for place in places)  # PHI at least three sequences deep
    assert {"20190317", "19231108"} <= set(corpus["dates"])
    syntaxes = set(corpus["transfer_syntaxes"].values())
    assert "1.2.840.10008.1.2.5" in syntaxes  # RLE Lossless, pydicom's own encoder
    assert "1.2.840.10008.1.2.4.90" in syntaxes or corpus["notes"], "JPEG 2000 neither written nor noted"
    for path in corpus["files"]:  # every file carries its PHI: a clean result is not a vacuous one
        ds = pydicom.dcmread(path)
        assert ds.PatientName.family_name == "PHI-PATNAME-7731"
        assert ds.RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0].ProtocolContextSequence[0] \
            .ConceptNameCodeSequence[0].CodeMeaning == "PHI-DEEPCONCEPT-7731"
        assert ds.pixel_array.shape == (64, 64)


@pytest.mark.django_db
def test_no_phi_in_stored_files_answers_or_database(imported, corpus, media_root):
    needles = _needles(corpus)
    assert Instance.objects.count() == 7 * len(SLUGS)
    for instance in Instance.objects.all():
        with instance.file.open("rb") as handle:
            assert not _leaks(handle.read(), needles), f"{instance.file.name}: {_leaks(handle.read(), needles)}"
    # Also files no row points at (an orphan is still a stored copy of PHI).
    for path in Path(media_root).rglob("*"):
        if path.is_file():
            assert not _leaks(path.read_bytes(), needles), f"{path}: {_leaks(path.read_bytes(), needles)}"
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    assert not _leaks(dump.getvalue().encode(), needles), _leaks(dump.getvalue().encode(), needles)
    rows = repr([list(Case.objects.values()), list(Series.objects.values()), list(Instance.objects.values())])
    assert not _leaks(rows.encode(), needles), _leaks(rows.encode(), needles)
    for output in imported["answers"] + [text.encode() for text in imported["printed"]]:
        assert not _leaks(output, needles), _leaks(output, needles)


@pytest.mark.django_db
def test_deid_audit_finds_the_imports_clean(imported):
    report = audit_storage()
    assert [str(v) for v in report.violations] == []
    assert report.files == 7 * len(SLUGS)
    out = io.StringIO()
    call_command("deid_audit", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == f"deid_audit: {7 * len(SLUGS)} files, 0 violations"


@pytest.mark.django_db
def test_stored_headers_follow_the_profile(imported, corpus):
    for instance in Instance.objects.select_related("series__case"):
        with instance.file.open("rb") as handle:
            ds = pydicom.dcmread(handle)
        assert ds.PatientIdentityRemoved == "YES"
        assert "DeidentificationMethodCodeSequence" in ds
        assert ds.get("PatientAge", "090Y") == "090Y"  # over 89: capped, or removed
        assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID == instance.sop_instance_uid
        assert ds.SeriesInstanceUID == instance.series.series_instance_uid
        assert ds.StudyInstanceUID == instance.series.case.study_instance_uid
        # Retain Longitudinal Temporal Information, modified dates: still there, not the original.
        assert ds.StudyDate and ds.StudyDate != "20190317"
        assert instance.series.case.study_date == date(int(ds.StudyDate[:4]), int(ds.StudyDate[4:6]),
                                                       int(ds.StudyDate[6:]))
        assert DERIVED_DESCRIPTION.match(str(ds.get("SeriesDescription", "")))
        assert ds.get("SeriesDescription", "") in ("", instance.series.description)
        assert not [elem.tag for elem in ds.iterall() if elem.tag.is_private]


@pytest.mark.django_db
def test_one_patient_is_one_case_of_two_series_in_slice_order(imported, corpus):
    uids_by_project = []
    for slug in SLUGS:
        case = Case.objects.get(project__slug=slug)
        assert case.study_instance_uid.startswith("2.25.") and case.study_date != date(2019, 3, 17)
        series = {row.plane: row for row in case.series.all()}
        assert sorted(series) == ["axial", "sagittal"]
        for plane, row in series.items():
            # Clean Descriptors: the typed description is gone; the one derived from the image replaces it.
            assert (row.description, row.sequence) == (f"T2 {plane}", "T2")
            assert row.series_instance_uid.startswith("2.25.")
            assert (row.manufacturer, row.manufacturer_model) == ("SIEMENS", "Avanto")  # kept (K)
            numbers = [i.instance_number for i in row.instances.all()]  # ordered by slice position
            assert numbers == list(range(1, {"sagittal": 5, "axial": 4}[plane]))
        uids_by_project.append(sorted(Instance.objects.filter(series__case=case)
                                      .values_list("sop_instance_uid", flat=True)))
    assert all(len(set(uids)) == 7 and all(u.startswith("2.25.") for u in uids) for uids in uids_by_project)
    # The same source UID maps to the same new UID in every import, whichever door and project.
    assert uids_by_project[0] == uids_by_project[1] == uids_by_project[2]


@pytest.mark.django_db
def test_images_still_render_and_keep_their_pixels(imported, corpus):
    originals = {}
    for path in corpus["files"]:
        ds = pydicom.dcmread(path)
        originals[(ds.SeriesNumber, ds.InstanceNumber)] = ds.pixel_array
    instances = Instance.objects.select_related("series").all()
    assert {i.transfer_syntax_uid for i in instances} >= set(corpus["transfer_syntaxes"].values()) - {
        "1.2.840.10008.1.2"}  # implicit VR may be rewritten as explicit
    for instance in instances:
        image = instance_to_uint8(instance)
        assert image.dtype == np.uint8 and image.shape == (64, 64) and image.std() > 10
        with instance.file.open("rb") as handle:
            stored = pydicom.dcmread(handle)
        # Lossless syntaxes, so de-identification must leave every pixel as it was.
        assert np.array_equal(stored.pixel_array, originals[(instance.series.series_number,
                                                             instance.instance_number)])
