"""The chunked, resumable upload: chunks in order, a wrong offset answered with the right one, the finished
file ingested file by file (stored, duplicate, refused with the reason), and nobody else's upload reachable."""
import io
import zipfile

import pytest
from django.core.files.storage import default_storage

from annotation import api_upload
from annotation.models import AuditEvent, Case, Instance, Role, Upload
from annotation.services import project_create
from tests.annotation.test_burned_in import burned_in
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory) -> dict[str, bytes]:
    from fixtures.phantoms import generate_phantoms

    out = tmp_path_factory.mktemp("phantoms")
    generate_phantoms(n_cases=1, out_dir=out, seed=3)
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.dcm"))}


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def start(client, slug, filename, size):
    return client.post(f"/api/projects/{slug}/uploads/", {"filename": filename, "size": size},
                       content_type="application/json")


def put_chunk(client, url, content: bytes, offset: int, length: int = CHUNK):
    chunk = content[offset:offset + length]
    return client.put(url, data=chunk, content_type="application/octet-stream",
                      HTTP_CONTENT_RANGE=f"bytes {offset}-{offset + len(chunk) - 1}/{len(content)}")


def send(client, project, content: bytes, filename="study.zip"):
    """Starts an upload and sends every chunk; returns the answer to the last PUT."""
    created = start(client, project.slug, filename, len(content))
    assert created.status_code == 201, created.content
    url = created.json()["url"]
    for offset in range(0, len(content), CHUNK):
        response = put_chunk(client, url, content, offset)
        assert response.status_code == 200, response.content
    return response


def partial_uploads() -> dict[str, bytes]:
    """What storage holds of unfinished uploads: each upload's folder of chunks (by upload id), the chunks joined
    in offset order. An emptied folder left behind counts too."""
    try:
        folders, _ = default_storage.listdir("uploads-partial")
    except FileNotFoundError:
        return {}
    held = {}
    for folder in sorted(folders):
        _, names = default_storage.listdir(f"uploads-partial/{folder}")
        held[folder] = b"".join(default_storage.open(f"uploads-partial/{folder}/{name}").read()
                                for name in sorted(names, key=int))
    return held


def counts():
    return Upload.objects.count(), Case.objects.count(), Instance.objects.count()


def test_a_phantom_zip_sent_in_chunks_is_stored_with_one_result_per_file(client, coordinator, project, phantom_files,
                                                                        media_root):
    content = zip_of({**phantom_files, "README.txt": b"viewer software notes", "scan-with-name.dcm": burned_in()})
    client.force_login(coordinator)
    created = start(client, project.slug, "study.zip", len(content))
    assert created.status_code == 201
    assert created.json()["received"] == 0 and created.json()["status"] == "receiving"
    url = created.json()["url"]

    first = put_chunk(client, url, content, 0)
    assert first.status_code == 200 and first.json()["received"] == CHUNK and first.json()["status"] == "receiving"
    assert len(partial_uploads()) == 1
    for offset in range(CHUNK, len(content), CHUNK):
        last = put_chunk(client, url, content, offset)
        assert last.status_code == 200, last.content

    body = last.json()
    assert body["status"] == "done" and body["received"] == len(content) > 3 * CHUNK
    by_file = {entry["file"].removeprefix("study.zip/"): entry for entry in body["results"]}  # zip/member
    assert len(by_file) == len(phantom_files) + 2
    assert by_file["README.txt"]["result"] == "refused" and by_file["README.txt"]["reason"] == "not a DICOM file"
    assert by_file["scan-with-name.dcm"]["result"] == "refused"
    assert "burned-in" in by_file["scan-with-name.dcm"]["reason"]
    case = Case.objects.get()
    assert {by_file[name]["result"] for name in phantom_files} == {"stored"}
    assert {by_file[name]["case_id"] for name in phantom_files} == {case.pk}
    assert Instance.objects.count() == len(phantom_files)
    assert Upload.objects.get().results == body["results"]
    assert partial_uploads() == {}  # the temporary file is gone
    assert client.get(url).json()["results"] == body["results"]  # and the results stay readable
    audit = AuditEvent.objects.get(action="upload_finish")
    assert audit.payload["counts"] == {"stored": len(phantom_files), "duplicate": 0, "refused": 2}


def test_a_chunk_at_the_wrong_offset_gets_the_offset_and_the_upload_resumes_from_it(client, coordinator, project,
                                                                                   phantom_files):
    content = zip_of(phantom_files)
    client.force_login(coordinator)
    url = start(client, project.slug, "study.zip", len(content)).json()["url"]
    assert put_chunk(client, url, content, 0).status_code == 200

    skipped_ahead = put_chunk(client, url, content, 2 * CHUNK)  # the chunk in between was lost
    assert skipped_ahead.status_code == 409
    assert skipped_ahead.json()["received"] == CHUNK
    repeated = put_chunk(client, url, content, 0)  # the answer to the first one was lost: it is sent again
    assert repeated.status_code == 409 and repeated.json()["received"] == CHUNK
    assert Upload.objects.get().received == CHUNK

    offset = client.get(url).json()["received"]  # what a client asks after a dropped connection
    assert offset == CHUNK
    while offset < len(content):
        response = put_chunk(client, url, content, offset)
        assert response.status_code == 200, response.content
        offset = response.json()["received"]
    assert response.json()["status"] == "done"
    assert Instance.objects.count() == len(phantom_files)
    finished = put_chunk(client, url, content, 0)
    assert finished.status_code == 409 and "already finished" in finished.json()["detail"]


def test_uploading_the_same_study_again_reports_every_file_as_a_duplicate(client, coordinator, project,
                                                                         phantom_files):
    client.force_login(coordinator)
    send(client, project, zip_of(phantom_files))
    instances = Instance.objects.count()

    again = send(client, project, zip_of(phantom_files), filename="study-again.zip").json()

    assert again["status"] == "done"
    assert {entry["result"] for entry in again["results"]} == {"duplicate"}
    assert {entry["case_id"] for entry in again["results"]} == {Case.objects.get().pk}
    assert Instance.objects.count() == instances


def test_a_single_file_that_is_not_dicom_is_refused_and_the_upload_failed(client, coordinator, project, media_root):
    client.force_login(coordinator)
    body = send(client, project, b"not an image at all" * 50, filename="notes.txt").json()

    assert body["status"] == "failed"
    assert [(e["file"], e["result"]) for e in body["results"]] == [("notes.txt", "refused")]
    assert body["results"][0]["reason"]
    assert (Case.objects.count(), Instance.objects.count()) == (0, 0)
    assert partial_uploads() == {}


def test_a_corrupt_zip_is_refused_as_one_file_and_nothing_is_stored(client, coordinator, project, phantom_files):
    client.force_login(coordinator)
    body = send(client, project, zip_of(phantom_files)[:-2000], filename="broken.zip").json()

    assert body["status"] == "failed"
    assert len(body["results"]) == 1 and body["results"][0]["result"] == "refused"
    assert (Case.objects.count(), Instance.objects.count()) == (0, 0)


@pytest.mark.parametrize("size, code", [(0, 400), (-5, 400), ("many", 400), (10**13, 413)])
def test_an_upload_of_no_or_too_many_bytes_is_refused_and_nothing_is_made(client, coordinator, project, size, code):
    client.force_login(coordinator)
    response = start(client, project.slug, "study.zip", size)

    assert response.status_code == code
    assert response.json()
    assert Upload.objects.count() == 0


def test_bad_chunks_are_refused_in_words_and_change_nothing(client, coordinator, project, phantom_files, media_root,
                                                           monkeypatch):
    content = zip_of(phantom_files)
    client.force_login(coordinator)
    url = start(client, project.slug, "study.zip", len(content)).json()["url"]
    assert put_chunk(client, url, content, 0).status_code == 200
    written = partial_uploads()

    no_range = client.put(url, data=content[CHUNK:2 * CHUNK], content_type="application/octet-stream")
    short_body = client.put(url, data=b"xy", content_type="application/octet-stream",
                            HTTP_CONTENT_RANGE=f"bytes {CHUNK}-{2 * CHUNK - 1}/{len(content)}")
    past_end = client.put(url, data=b"x" * 10, content_type="application/octet-stream",
                          HTTP_CONTENT_RANGE=f"bytes {CHUNK}-{CHUNK + 9}/{CHUNK + 5}")
    monkeypatch.setattr(api_upload, "CHUNK_MAX_BYTES", 1000)
    too_big = put_chunk(client, url, content, CHUNK)

    assert [r.status_code for r in (no_range, short_body, past_end, too_big)] == [400, 400, 400, 413]
    assert "Content-Range" in no_range.json()["detail"]
    assert "at most 1000 bytes" in too_big.json()["detail"]
    assert Upload.objects.get().received == CHUNK
    assert partial_uploads() == written


@pytest.mark.parametrize("who", ["reader", "other_project_coordinator", "fellow_coordinator"])
def test_someone_elses_upload_answers_404_and_nothing_is_stored(client, coordinator, project, phantom_files,
                                                                media_root, who):
    content = zip_of(phantom_files)
    client.force_login(coordinator)
    url = start(client, project.slug, "study.zip", len(content)).json()["url"]
    assert put_chunk(client, url, content, 0).status_code == 200
    if who == "reader":
        someone = make_user("reader7", Role.READER)
    else:
        someone = make_user("coord2", Role.COORDINATOR)
        if who == "other_project_coordinator":
            project_create(slug="elsewhere", name="Elsewhere", actor=someone)
        else:
            from annotation.services import project_member_add
            project_member_add(project=project, user=someone, role="coordinator", actor=coordinator)
    before = counts()

    client.force_login(someone)
    answers = [client.get(url).status_code, put_chunk(client, url, content, CHUNK).status_code]
    answers.append(start(client, project.slug, "mine.zip", 100).status_code)
    if who == "other_project_coordinator":  # the same upload id under their own project is no way in either
        answers.append(client.get(url.replace(f"/{project.slug}/", "/elsewhere/")).status_code)

    expected_start = 201 if who == "fellow_coordinator" else 404
    assert answers[:2] == [404, 404] and answers[2] == expected_start and set(answers[3:]) <= {404}
    assert Upload.objects.filter(user=coordinator).get().received == CHUNK
    assert counts()[1:] == before[1:] and Upload.objects.count() == before[0] + (expected_start == 201)
    assert len(partial_uploads()) == 1


def test_the_upload_page_carries_its_endpoints_and_chunk_size_and_is_for_coordinators_only(client, coordinator,
                                                                                           project, settings):
    from django.urls import resolve

    from tests.frontend.test_pages import page_payload

    settings.DICOM_UPLOAD_CHUNK_BYTES = 1024 * 1024
    client.force_login(coordinator)
    response = client.get(f"/projects/{project.slug}/upload/")
    page = page_payload(response)

    assert resolve(page["endpoints"]["start"]).func.view_class is api_upload.UploadStartApi
    assert resolve(page["endpoints"]["cases"]).url_name == "project-cases"
    assert page["chunk_bytes"] == 1024 * 1024 and page["retries"] > 0
    assert b'<script type="module" src="/static/frontend/upload.js">' in response.content
    assert f'href="/projects/{project.slug}/upload/"'.encode() in client.get(f"/projects/{project.slug}/").content
    client.force_login(make_user("reader7", Role.READER))
    assert client.get(f"/projects/{project.slug}/upload/").status_code == 404


def test_an_abandoned_upload_is_given_up_and_its_bytes_deleted(client, coordinator, project, phantom_files,
                                                               media_root):
    from datetime import timedelta

    from django.utils import timezone

    from annotation.tasks import uploads_sweep

    content = zip_of(phantom_files)
    client.force_login(coordinator)
    stale_url = start(client, project.slug, "stale.zip", len(content)).json()["url"]
    assert put_chunk(client, stale_url, content, 0).status_code == 200
    fresh_url = start(client, project.slug, "fresh.zip", len(content)).json()["url"]
    assert put_chunk(client, fresh_url, content, 0).status_code == 200
    Upload.objects.filter(filename="stale.zip").update(updated_at=timezone.now() - timedelta(hours=25))
    assert len(partial_uploads()) == 2

    assert uploads_sweep() == 1  # what celery beat runs hourly
    stale, fresh = Upload.objects.get(filename="stale.zip"), Upload.objects.get(filename="fresh.zip")
    assert stale.status == Upload.Status.FAILED and "abandoned" in stale.results[0]["reason"]
    assert fresh.status == Upload.Status.RECEIVING
    assert list(partial_uploads()) == [str(fresh.pk)]
    assert put_chunk(client, stale_url, content, CHUNK).status_code == 409  # nothing more is taken
    assert not Instance.objects.exists()
