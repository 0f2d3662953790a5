"""DICOM ingest through its three doors: the service, the REST upload and the import_dicom command."""
import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.core import serializers
from django.core.management import CommandError, call_command
from pydicom.data import get_testdata_file

from annotation import services
from annotation.dicom import path_sources
from annotation.models import AuditEvent, Case, Instance, Series

TESTDATA = Path(get_testdata_file("CT_small.dcm")).parent
DICOMDIR_MR = TESTDATA / "dicomdirtests" / "98892003"


def import_path(project, path, **kwargs):
    return services.case_import(project=project, sources=path_sources(path, max_file_bytes=10**8), **kwargs)


def stored_state(media_root):
    """Everything an import could have written: row counts and the files in storage."""
    files = sorted(str(p.relative_to(media_root)) for p in Path(media_root).rglob("*") if p.is_file()) \
        if Path(media_root).exists() else []
    return {
        "cases": Case.objects.count(),
        "series": Series.objects.count(),
        "instances": Instance.objects.count(),
        "audit": AuditEvent.objects.filter(action="case_import").count(),
        "files": files,
    }


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory):
    from fixtures.phantoms import generate_phantoms

    out = tmp_path_factory.mktemp("phantoms")
    generate_phantoms(n_cases=2, out_dir=out, seed=7)
    return out


# Real third-party files --------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(
    "file_name, modality, rows, transfer_syntax",
    [
        ("MR_small.dcm", "MR", 64, "1.2.840.10008.1.2.1"),
        ("CT_small.dcm", "CT", 128, "1.2.840.10008.1.2.1"),
        ("MR_small_jp2klossless.dcm", "MR", 64, "1.2.840.10008.1.2.4.90"),  # JPEG 2000 lossless
        ("MR_small_RLE.dcm", "MR", 64, "1.2.840.10008.1.2.5"),  # RLE lossless
    ],
)
def test_real_files_become_one_case_one_series_one_instance(project, file_name, modality, rows, transfer_syntax):
    result = import_path(project, get_testdata_file(file_name))

    assert (result.instances_created, result.instances_existing, result.series_count) == (1, 0, 1)
    case = Case.objects.get()
    instance = Instance.objects.select_related("series").get()
    assert case.modality == modality
    assert (instance.rows, instance.transfer_syntax_uid) == (rows, transfer_syntax)
    stored = pydicom.dcmread(instance.file.open("rb"))
    assert stored.pixel_array.shape == (rows, rows)  # compressed data still decodes after de-identification
    assert stored.SOPInstanceUID == instance.sop_instance_uid


@pytest.mark.django_db
def test_dicomdir_series_group_by_study_and_series_in_slice_order(project):
    originals = [pydicom.dcmread(p) for p in DICOMDIR_MR.rglob("*") if p.is_file()]
    expected_series = {}
    for ds in originals:
        expected_series.setdefault(ds.SeriesInstanceUID, []).append(ds)

    result = import_path(project, DICOMDIR_MR)

    assert result.instances_created == len(originals) == 17
    assert Case.objects.count() == len({ds.StudyInstanceUID for ds in originals}) == 3
    assert Series.objects.count() == len(expected_series) == 7
    for series in Series.objects.prefetch_related("instances"):
        stored_numbers = [i.instance_number for i in series.instances.all()]  # Meta.ordering: slice position
        members = next(v for v in expected_series.values() if len(v) == len(stored_numbers)
                       and sorted(int(d.InstanceNumber) for d in v) == sorted(stored_numbers))
        positions = {int(d.InstanceNumber): d for d in members}
        # independent slice position: the projection of ImagePositionPatient on the slice normal
        def along_normal(ds):
            o = [float(x) for x in ds.ImageOrientationPatient]
            n = (o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3])
            return sum(float(p) * c for p, c in zip(ds.ImagePositionPatient, n))
        assert stored_numbers == sorted(stored_numbers, key=lambda k: along_normal(positions[k]))


@pytest.mark.django_db
def test_dicomdir_index_file_is_skipped_not_stored(project, tmp_path):
    folder = tmp_path / "cd"
    folder.mkdir()
    (folder / "DICOMDIR").write_bytes((TESTDATA / "dicomdirtests" / "DICOMDIR").read_bytes())
    (folder / "IMG1").write_bytes(Path(get_testdata_file("MR_small.dcm")).read_bytes())
    (folder / "README.txt").write_text("viewer software on the CD")

    result = import_path(project, folder)

    assert result.instances_created == 1
    assert sorted(reason for _, reason in result.skipped) == ["DICOMDIR index", "not a DICOM file"]


# Phantoms ------------------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_phantoms_import_as_sagittal_and_axial_series_in_slice_order(project, phantom_dir):
    truth = json.loads((phantom_dir / "truth.json").read_text())

    result = import_path(project, phantom_dir)

    assert len(result.case_ids) == 2
    assert [reason for _, reason in result.skipped] == ["not a DICOM file"]  # truth.json
    for case_truth, case in zip(truth["cases"], Case.objects.order_by("id")):
        sagittal = case.series.get(plane="sagittal")
        axial = case.series.get(plane="axial")
        sag_files = sorted((phantom_dir / case_truth["case_key"]).glob("sag_*.dcm"))
        assert 9 <= sagittal.instances.count() == len(sag_files) <= 15
        assert axial.instances.count() == 5
        assert sagittal.sequence == "T2" and sagittal.field_strength == case_truth["field_strength"]
        stored_numbers = list(sagittal.instances.values_list("instance_number", flat=True))
        original_numbers = [int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber) for f in sag_files]
        assert stored_numbers == sorted(original_numbers)
        positions = list(sagittal.instances.values_list("slice_position", flat=True))
        assert positions == sorted(positions) and len(set(positions)) == len(positions)


@pytest.mark.django_db
def test_reimport_is_idempotent(project, phantom_dir, coordinator):
    first = import_path(project, phantom_dir, actor=coordinator)
    state = stored_state_rows()

    second = import_path(project, phantom_dir, actor=coordinator)

    assert second.instances_created == 0
    assert second.instances_existing == first.instances_created > 0
    assert sorted(second.case_ids) == sorted(first.case_ids)
    assert stored_state_rows() == state
    assert AuditEvent.objects.filter(action="case_import", actor=coordinator).count() == 4  # 2 cases x 2 imports


def stored_state_rows():
    return (Case.objects.count(), Series.objects.count(), Instance.objects.count())


@pytest.mark.django_db
def test_deidentification_leaves_no_original_identifier_in_files_or_rows(project, phantom_dir, media_root):
    sources = [get_testdata_file("MR_small.dcm"), get_testdata_file("CT_small.dcm")]
    sources += sorted(phantom_dir.glob("*/*.dcm"))[:3]
    identifiers = set()
    for path in sources:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "PatientAddress",
                        "ReferringPhysicianName", "AccessionNumber"):
            value = str(ds.get(keyword, "")).strip()
            # CT_small's institution is its vendor's name, which the Manufacturer attribute rightly keeps.
            if len(value) >= 4 and value not in str(ds.get("Manufacturer", "")):
                identifiers.add(value)
    assert {"CompressedSamples^MR1", "4MR1", "CompressedSamples^CT1", "1CT1"} <= identifiers

    for path in sources:
        import_path(project, path)

    stored_bytes = b"".join(p.read_bytes() for p in Path(media_root).rglob("*.dcm"))
    rows = serializers.serialize("json", [*Case.objects.all(), *Series.objects.all(), *Instance.objects.all(),
                                          *AuditEvent.objects.all()])
    for identifier in identifiers:
        assert identifier.encode() not in stored_bytes, identifier
        assert identifier not in rows, identifier
    for path in Path(media_root).rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert "PatientBirthDate" not in ds and "ImageComments" not in ds
        assert ds.PatientIdentityRemoved == "YES"


@pytest.mark.django_db
def test_same_patient_gets_the_same_key_across_imports(project):
    import_path(project, get_testdata_file("MR_small.dcm"))
    import_path(project, get_testdata_file("MR_small_bigendian.dcm"))  # same patient, another encoding
    keys = set(Case.objects.values_list("patient_key", flat=True))
    assert len(keys) == 1 and len(next(iter(keys))) == 32


# Bad input: a clear 4xx (or non-zero exit) and nothing stored ----------------------------------------------------

def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


GOOD = Path(get_testdata_file("MR_small.dcm")).read_bytes()


def upload(client, user, *files, slug="lumbar"):
    client.force_login(user)
    payload = {"files": [_named(name, content) for name, content in files]}
    return client.post(f"/api/projects/{slug}/dicom/", payload)


def _named(name, content):
    handle = io.BytesIO(content)
    handle.name = name
    return handle


BAD_UPLOADS = {
    "not_dicom": ([("notes.txt", b"this is not DICOM at all" * 20)], 400, "not a readable DICOM file"),
    "truncated": ([("trunc.dcm", Path(get_testdata_file("MR_truncated.dcm")).read_bytes())], 400, "truncated"),
    "no_pixels": ([("dir.dcm", (TESTDATA / "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000000")
                   .read_bytes())], 400, "no pixel data"),
    "zip_dotdot": ([("study.zip", zip_bytes({"ok.dcm": GOOD, "../../evil.dcm": GOOD}))], 400, "'..'"),
    "zip_absolute": ([("study.zip", zip_bytes({"/etc/evil.dcm": GOOD}))], 400, "absolute path"),
    "good_and_bad": ([("good.dcm", GOOD), ("bad.dcm", GOOD[:400])], 400, "bad.dcm"),
    "corrupt_zip": ([("study.zip", b"PK\x03\x04" + b"\0" * 100)], 400, "corrupt zip"),
    "only_dicomdir": ([("DICOMDIR", (TESTDATA / "dicomdirtests" / "DICOMDIR").read_bytes())], 400,
                      "no DICOM images"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case_name", sorted(BAD_UPLOADS))
def test_bad_upload_is_rejected_and_changes_nothing(client, coordinator, project, media_root, case_name):
    files, status, message = BAD_UPLOADS[case_name]
    upload(client, coordinator, ("first.dcm", Path(get_testdata_file("CT_small.dcm")).read_bytes()))
    before = stored_state(media_root)

    response = upload(client, coordinator, *files)

    assert response.status_code == status, response.content
    assert message in json.dumps(response.json())
    assert stored_state(media_root) == before


@pytest.mark.django_db
def test_file_over_size_limit_gets_413_and_changes_nothing(client, coordinator, project, media_root, settings):
    settings.DICOM_MAX_FILE_BYTES = 5000
    before = stored_state(media_root)

    response = upload(client, coordinator, ("big.dcm", GOOD))
    zipped = upload(client, coordinator, ("big.zip", zip_bytes({"a.dcm": GOOD})))

    assert (response.status_code, zipped.status_code) == (413, 413)
    assert "size limit" in response.json()["errors"][0]["reason"]
    assert stored_state(media_root) == before


@pytest.mark.django_db
def test_zip_upload_imports_dicom_and_skips_other_files(client, coordinator, project):
    archive = zip_bytes({"study/a.dcm": GOOD, "study/ct.dcm": Path(get_testdata_file("CT_small.dcm")).read_bytes(),
                         "study/README": b"hello"})

    response = upload(client, coordinator, ("study.zip", archive))

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["instances_created"], len(body["case_ids"])) == (2, 2)
    assert body["skipped"] == [{"file": "study.zip/study/README", "reason": "not a DICOM file"}]


@pytest.mark.django_db
def test_storage_failure_midway_rolls_back_rows_and_files(project, phantom_dir, media_root, monkeypatch):
    from django.core.files.storage import default_storage

    real_save, calls = default_storage.save, []

    def failing_save(name, content, **kwargs):
        calls.append(name)
        if len(calls) == 5:
            raise OSError("disk full")
        return real_save(name, content, **kwargs)

    monkeypatch.setattr(default_storage, "save", failing_save)
    with pytest.raises(OSError):
        import_path(project, phantom_dir)
    assert stored_state(media_root) == {"cases": 0, "series": 0, "instances": 0, "audit": 0, "files": []}


@pytest.mark.django_db
def test_only_coordinators_may_upload(client, reader, project, media_root):
    response = upload(client, reader, ("a.dcm", GOOD))
    client.logout()
    anonymous = client.post("/api/projects/lumbar/dicom/", {"files": [_named("a.dcm", GOOD)]})

    assert response.status_code == 404  # not their project: existence is not confirmed
    assert anonymous.status_code in (401, 403)
    assert stored_state(media_root)["instances"] == 0


@pytest.mark.django_db
def test_import_command_exits_non_zero_on_bad_input_and_stores_nothing(project, tmp_path, media_root):
    (tmp_path / "bad.dcm").write_bytes(b"nope" * 100)
    with pytest.raises(CommandError, match="not a readable DICOM file"):
        call_command("import_dicom", str(tmp_path / "bad.dcm"), "--project", "lumbar")
    with pytest.raises(CommandError, match="no project"):
        call_command("import_dicom", get_testdata_file("MR_small.dcm"), "--project", "missing")
    assert stored_state(media_root)["instances"] == 0


@pytest.mark.django_db
def test_import_command_imports_a_folder(project, capsys):
    call_command("import_dicom", str(DICOMDIR_MR), "--project", "lumbar", "--site", "ext-1")
    assert "imported 17 new instances" in capsys.readouterr().out
    assert set(Case.objects.values_list("site_code", flat=True)) == {"ext-1"}
