"""DICOMweb under /dicomweb/, driven by the real dicomweb-client against the live server.

Two phantom studies in one project; a reader assigned to the first only. Every answer a reader gets is checked to
hold nothing of the other study; the coordinator stores a third through STOW-RS, through the same ingest.
"""
from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Case, Instance, Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

IMPORTED: list[list[int]] = []


def record_import(*, case_ids: list[int]) -> None:
    """settings.SPINEREAD_AFTER_IMPORT in these tests: shows that STOW-RS runs the after-import step."""
    IMPORTED.append(list(case_ids))


@pytest.fixture
def phantoms(tmp_path_factory):
    from fixtures.phantoms import generate_phantoms

    out = tmp_path_factory.mktemp("phantoms")
    generate_phantoms(n_cases=2, out_dir=out, seed=3)
    return out


@pytest.fixture
def world(settings, project, coordinator, phantoms):
    settings.SPINEREAD_AFTER_IMPORT = "tests.interop.test_dicomweb.record_import"
    IMPORTED.clear()
    cases = []
    for key in ("PH0000", "PH0001"):
        result = services.case_import(project=project, sources=path_sources(
            phantoms / key, max_file_bytes=settings.DICOM_MAX_FILE_BYTES), actor=coordinator)
        cases.append(Case.objects.get(pk=result.case_ids[0]))
    reader = make_user("reader", Role.READER, project=project)
    services.case_assign(case=cases[0], user=reader, role=Role.READER)
    IMPORTED.clear()
    return {"mine": cases[0], "other": cases[1], "reader": reader}


def _client(live_server, username: str | None, base: str = "/dicomweb") -> DICOMwebClient:
    session = requests.Session()
    if username:
        session.auth = (username, f"pw-{username}")
    return DICOMwebClient(url=live_server.url + base, session=session)


def _instance(case: Case) -> Instance:
    return Instance.objects.filter(series__case=case).select_related("series__case").order_by("pk").first()


def _uids(instance: Instance) -> tuple[str, str, str]:
    return instance.series.case.study_instance_uid, instance.series.series_instance_uid, instance.sop_instance_uid


def test_qido_reader_sees_only_their_case(live_server, world):
    mine, other = world["mine"], world["other"]
    reader = _client(live_server, "reader")
    studies = reader.search_for_studies()
    assert [s["0020000D"]["Value"] for s in studies] == [[mine.study_instance_uid]]
    assert studies[0]["00100020"]["Value"] == [mine.patient_key[:16]]
    assert studies[0]["00201208"]["Value"] == [Instance.objects.filter(series__case=mine).count()]
    every = (reader.search_for_series() + reader.search_for_instances()
             + reader.search_for_studies(search_filters={"PatientID": other.patient_key[:16]}))
    assert other.study_instance_uid not in str(every) and other.patient_key[:16] not in str(every)
    assert {s["0020000D"]["Value"][0] for s in every} == {mine.study_instance_uid}
    with pytest.raises(requests.HTTPError) as refused:
        reader.search_for_series(study_instance_uid=other.study_instance_uid)
    assert refused.value.response.status_code == 404
    coordinator = _client(live_server, "coord")
    assert {s["0020000D"]["Value"][0] for s in coordinator.search_for_studies()} == {
        mine.study_instance_uid, other.study_instance_uid}


def test_qido_filters_paging_and_includefield(live_server, world):
    mine = world["mine"]
    client = _client(live_server, "coord")
    assert len(client.search_for_studies(search_filters={"StudyInstanceUID": mine.study_instance_uid})) == 1
    day = mine.study_date.strftime("%Y%m%d")
    assert len(client.search_for_studies(search_filters={"StudyDate": f"{day}-{day}"})) >= 1
    assert client.search_for_studies(search_filters={"StudyDate": "19000101-19000102"}) == []
    assert client.search_for_studies(search_filters={"ModalitiesInStudy": "CT"}) == []
    assert len(client.search_for_studies(search_filters={"PatientName": "anon"}, fuzzymatching=True)) == 2
    assert len(client.search_for_studies(limit=1)) == 1
    series = client.search_for_series(study_instance_uid=mine.study_instance_uid, search_filters={"Modality": "MR"},
                                      fields=["SeriesDate", "00180050"])
    expected = set(mine.series.values_list("series_instance_uid", flat=True))
    assert {s["0020000E"]["Value"][0] for s in series} == expected
    assert all("00180050" in s for s in series)  # SliceThickness: from the stored file, asked for by tag
    one = series[0]["0020000E"]["Value"][0]
    instances = client.search_for_instances(study_instance_uid=mine.study_instance_uid, series_instance_uid=one,
                                            search_filters={"InstanceNumber": 1}, fields=["all"])
    assert len(instances) == 1
    assert instances[0]["00080016"]["Value"] == ["1.2.840.10008.5.1.4.1.1.4"]  # MR Image Storage
    assert instances[0]["00100010"]["Value"][0]["Alphabetic"].startswith("ANON^")  # de-identified file header
    assert "7FE00010" not in instances[0] or "BulkDataURI" in instances[0]["7FE00010"]


def test_wado_instance_metadata_frames_rendered(live_server, world):
    instance = _instance(world["mine"])
    study, series, sop = _uids(instance)
    client = _client(live_server, "reader")
    stored = instance.file.open("rb").read()
    assert client.retrieve_instance(study, series, sop).to_json_dict() == pydicom.dcmread(
        io.BytesIO(stored)).to_json_dict()
    raw = requests.get(f"{live_server.url}/dicomweb/studies/{study}/series/{series}/instances/{sop}",
                       auth=("reader", "pw-reader"), headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert raw.status_code == 200 and stored in raw.content  # the stored bytes, unchanged
    metadata = client.retrieve_instance_metadata(study, series, sop)
    assert metadata["00080018"]["Value"] == [sop] and metadata["00100010"]["Value"][0]["Alphabetic"].startswith("ANON^")
    assert "InlineBinary" not in str(metadata.get("7FE00010"))
    frame = client.retrieve_instance_frames(study, series, sop, frame_numbers=[1])
    assert frame == [pydicom.dcmread(io.BytesIO(stored)).PixelData]
    jpeg = client.retrieve_instance_rendered(study, series, sop)
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    png = client.retrieve_instance_rendered(study, series, sop, media_types=("image/png",))
    assert Image.open(io.BytesIO(png)).size == (instance.columns, instance.rows)
    series_files = list(client.iter_series(study, series))
    assert len(series_files) == instance.series.instances.count()
    assert len(client.retrieve_study_metadata(study)) == Instance.objects.filter(series__case=world["mine"]).count()


def test_wado_refuses_what_the_reader_may_not_see(live_server, world):
    study, series, sop = _uids(_instance(world["other"]))
    base = f"{live_server.url}/dicomweb/studies/{study}"
    for url in (base, f"{base}/metadata", f"{base}/series/{series}", f"{base}/series/{series}/instances/{sop}",
                f"{base}/series/{series}/instances/{sop}/frames/1", f"{base}/series/{series}/instances/{sop}/rendered"):
        assert requests.get(url, auth=("reader", "pw-reader")).status_code == 404, url
        anonymous = requests.get(url)
        assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic"), url
    assert requests.get(f"{live_server.url}/dicomweb/studies").status_code == 401


def test_bad_queries_answer_400(live_server, world):
    study, series, sop = _uids(_instance(world["mine"]))
    auth = ("reader", "pw-reader")
    for query in ("limit=-1", "offset=x", "StudyDate=2022", "StudyDate=20221399", "includefield=NotAnAttribute",
                  "fuzzymatching=maybe", "SeriesNumber=two"):
        response = requests.get(f"{live_server.url}/dicomweb/series?{query}", auth=auth)
        assert response.status_code == 400, query
        assert response.json()["detail"]
    frames = f"{live_server.url}/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames"
    assert requests.get(f"{frames}/0", auth=auth).status_code == 400
    assert requests.get(f"{frames}/1,x", auth=auth).status_code == 400
    assert requests.get(f"{frames}/2", auth=auth).status_code == 404  # a single-frame image


def _new_study(tmp_path) -> list[Path]:
    from fixtures.phantoms import generate_phantoms

    generate_phantoms(n_cases=1, out_dir=tmp_path / "stow", seed=11)
    return sorted((tmp_path / "stow").glob("*/sag_0[1-3].dcm"))


def test_stow_stores_through_ingest(live_server, world, tmp_path):
    files = _new_study(tmp_path)
    before = Instance.objects.count()
    client = _client(live_server, "coord", "/dicomweb/projects/lumbar")
    response = client.store_instances([pydicom.dcmread(f) for f in files])
    assert Instance.objects.count() == before + len(files)
    referenced = response.ReferencedSOPSequence
    assert [item.ReferencedSOPInstanceUID for item in referenced] == [pydicom.dcmread(f).SOPInstanceUID for f in files]
    assert "FailedSOPSequence" not in response
    new_case = Case.objects.exclude(pk__in=[world["mine"].pk, world["other"].pk]).get()
    assert IMPORTED == [[new_case.pk]]  # the after-import step (pre-annotation) ran for the new case
    # dicomweb-client sends Host without the port (its `self.host`), so the URL is checked by its path
    stored = requests.get(live_server.url + urlsplit(referenced[0].RetrieveURL).path, auth=("coord", "pw-coord"))
    assert stored.status_code == 200
    ds = next(iter(_client(live_server, "coord").retrieve_study(new_case.study_instance_uid)))
    assert str(ds.PatientName).startswith("ANON^") and ds.StudyInstanceUID != pydicom.dcmread(files[0]).StudyInstanceUID
    again = client.store_instances([pydicom.dcmread(files[0])])  # the same image again: held once
    assert len(again.ReferencedSOPSequence) == 1 and Instance.objects.count() == before + len(files)


def _multipart(parts: list[bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    body = b"".join(b"\r\n--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + part
                    for part in parts) + b"\r\n--" + boundary.encode() + b"--"
    return body, f'multipart/related; type="application/dicom"; boundary="{boundary}"'


def test_stow_partial_and_total_failure(live_server, world, tmp_path):
    files = _new_study(tmp_path)
    url = f"{live_server.url}/dicomweb/projects/lumbar/studies"
    before = Instance.objects.count()
    body, content_type = _multipart([files[0].read_bytes(), b"this is not DICOM" * 20])
    partial = requests.post(url, data=body, headers={"Content-Type": content_type}, auth=("coord", "pw-coord"))
    assert partial.status_code == 202 and partial.headers["Content-Type"] == "application/dicom+json"
    answer = pydicom.Dataset.from_json(partial.json())
    assert len(answer.ReferencedSOPSequence) == 1 and len(answer.FailedSOPSequence) == 1
    assert answer.FailedSOPSequence[0].FailureReason == 0xC000
    assert Instance.objects.count() == before + 1
    body, content_type = _multipart([b"junk" * 50])
    total = requests.post(url, data=body, headers={"Content-Type": content_type}, auth=("coord", "pw-coord"))
    assert total.status_code == 409 and len(pydicom.Dataset.from_json(total.json()).FailedSOPSequence) == 1
    wrong_type = requests.post(url, data=b"{}", headers={"Content-Type": "application/json"},
                               auth=("coord", "pw-coord"))
    assert wrong_type.status_code == 415
    no_boundary = requests.post(url, data=body, headers={"Content-Type": 'multipart/related; type="application/dicom"'},
                                auth=("coord", "pw-coord"))
    assert no_boundary.status_code == 400
    assert Instance.objects.count() == before + 1


def test_stow_refused_to_readers_and_anonymous(live_server, world, tmp_path):
    files = _new_study(tmp_path)
    before = Instance.objects.count()
    with pytest.raises(requests.HTTPError) as refused:
        _client(live_server, "reader", "/dicomweb/projects/lumbar").store_instances([pydicom.dcmread(files[0])])
    assert refused.value.response.status_code == 404  # as for every project the caller does not coordinate
    body, content_type = _multipart([files[0].read_bytes()])
    anonymous = requests.post(f"{live_server.url}/dicomweb/projects/lumbar/studies", data=body,
                              headers={"Content-Type": content_type})
    assert anonymous.status_code == 401
    assert Instance.objects.count() == before and IMPORTED == []


def test_a_personal_token_reaches_what_its_owner_reaches(live_server, world):
    """OHIF's way in: a Bearer token made with the reader's password sees the reader's study and no other."""
    made = requests.post(live_server.url + "/api/auth/token/", auth=("reader", "pw-reader"), timeout=10)
    assert made.status_code == 200
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {made.json()['token']}"
    reader = DICOMwebClient(url=live_server.url + "/dicomweb", session=session)
    assert [s["0020000D"]["Value"] for s in reader.search_for_studies()] == [[world["mine"].study_instance_uid]]
    study, series, sop = _uids(_instance(world["other"]))
    refused = session.get(f"{live_server.url}/dicomweb/studies/{study}/series/{series}/instances/{sop}/metadata",
                          timeout=10)
    assert refused.status_code == 404
    session.headers["Authorization"] = "Bearer sr_" + "0" * 64
    assert session.get(live_server.url + "/dicomweb/studies", timeout=10).status_code == 401
