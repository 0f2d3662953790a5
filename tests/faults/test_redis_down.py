"""Redis down: a web process (gunicorn) whose broker and cache point at a port where nothing listens still saves
reads, an adjudication and an upload; the upload's pre-annotation waits in the outbox, and the relay sends it
to the real Redis once it is reachable."""
import base64
import io
import json
import os
import subprocess
import sys
import time
import zipfile

import pytest
import redis
import requests
from pydicom.data import get_testdata_file

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Adjudication, Case, GroundTruthItem, Instance, Read, Role, TaskOutbox, Upload
from tests.annotation.test_reading_api import full_read
from tests.conftest import make_user
from tests.faults.conftest import DEAD_REDIS, bearer, postgres_database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _real_broker() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url:
        pytest.skip("needs CELERY_BROKER_URL (a real Redis) for the relay's half")
    return url


def _submit(base, headers, case, findings):
    assert requests.post(f"{base}/api/cases/{case.pk}/read/", headers=headers, timeout=30).status_code == 200
    return requests.post(f"{base}/api/cases/{case.pk}/read/submit/", headers=headers, timeout=30,
                         json={"findings": findings, "active_seconds": 30})


def _upload(base, headers, project, content: bytes) -> tuple[requests.Response, float]:
    """Sends `content` as one chunked upload; returns the last chunk's answer and how long it took."""
    created = requests.post(f"{base}/api/projects/{project.slug}/uploads/", headers=headers, timeout=30,
                            json={"filename": "study.zip", "size": len(content)})
    assert created.status_code == 201, created.text
    url, chunk = created.json()["url"], 256 * 1024
    for offset in range(0, len(content), chunk):
        piece = content[offset:offset + chunk]
        started = time.monotonic()
        answer = requests.put(f"{base}{url}" if url.startswith("/") else url, data=piece, timeout=120, headers={
            **headers, "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {offset}-{offset + len(piece) - 1}/{len(content)}"})
        assert answer.status_code == 200, answer.text
    return answer, time.monotonic() - started


def _queued_messages(client: redis.Redis, task_name: str) -> list[tuple[str, bytes]]:
    """(queue, raw message) of every message for `task_name` waiting in the broker's queues."""
    found = []
    for queue in ("celery", os.environ.get("ML_GPU_QUEUE", "gpu")):
        for raw in client.lrange(queue, 0, -1):
            if json.loads(raw)["headers"]["task"] == task_name:
                found.append((queue, raw))
    return found


def test_reads_an_adjudication_and_an_upload_save_with_redis_down_and_the_relay_sends_the_pre_annotation(
        web_server, project, coordinator, reader, other_reader, phantom_dir, settings, tmp_path):
    broker_url = _real_broker()
    settings.SPINEREAD_AFTER_IMPORT = ""  # this process's set-up import below is not what is tested
    senior = make_user("senior", Role.SENIOR)
    imported = services.case_import(project=project, sources=path_sources(get_testdata_file("MR_small.dcm"),
                                                                          max_file_bytes=10**7))
    case = Case.objects.get(pk=imported.case_ids[0])
    for user, role in ((reader, Role.READER), (other_reader, Role.READER), (senior, Role.SENIOR)):
        services.case_assign(case=case, user=user, role=role)
    services.project_member_add(project=project, user=coordinator, role=Role.COORDINATOR)

    base = web_server(CELERY_BROKER_URL=f"{DEAD_REDIS}/0", CELERY_RESULT_BACKEND=f"{DEAD_REDIS}/0",
                      CACHE_URL=f"{DEAD_REDIS}/1")

    first = _submit(base, bearer(reader), case, full_read({"L4/L5": 3}))
    second = _submit(base, bearer(other_reader), case, full_read({"L4/L5": 4}))
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    senior_headers = bearer(senior)
    queue = requests.get(f"{base}/api/adjudications/", headers=senior_headers, timeout=30).json()
    detail = requests.get(f"{base}/api/adjudications/{queue[0]['id']}/", headers=senior_headers, timeout=30).json()
    resolved = requests.post(f"{base}/api/adjudications/{queue[0]['id']}/resolve/", headers=senior_headers,
                             timeout=30, json={"decisions": [{"item": detail["items"][0]["id"],
                                                              "choice": "reader_b", "reason": "dark nucleus"}]})
    assert resolved.status_code == 200, resolved.text

    folder, truth = phantom_dir
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((folder / truth["cases"][0]["case_key"]).rglob("*.dcm")):
            archive.write(path, path.relative_to(folder).as_posix())
    last, last_seconds = _upload(base, bearer(coordinator), project, buffer.getvalue())

    # Everything is stored: both reads, the senior's decision as ground truth, the uploaded study.
    assert sorted(Read.objects.filter(case=case).values_list("status", flat=True)) == ["submitted", "submitted"]
    gt = GroundTruthItem.objects.get(case=case, disc_level="L4/L5", finding_type="pfirrmann")
    assert (gt.value, gt.provenance, gt.decided_by) == ("4", "reader_b", senior)
    assert Adjudication.objects.get(case=case).status == Adjudication.Status.RESOLVED
    assert last.json()["status"] == "done" and Upload.objects.get().status == Upload.Status.DONE
    uploaded = Case.objects.exclude(pk=case.pk).get()
    assert Instance.objects.filter(series__case=uploaded).count() == len(last.json()["results"])
    # Reads and adjudications enqueue nothing (the beat's retrain check counts new ground truth); the upload's
    # pre-annotation is the one task, recorded and refused by the dead broker.
    row = TaskOutbox.objects.get()
    assert (row.name, row.args, row.queue, row.sent_at, row.attempts) == (
        "mlbackend.preannotate_cases", [[uploaded.pk]], "celery", None, 1)  # no GPU worker can be looked up
    assert "5599" in row.last_error
    print(f"\nlast upload chunk (ingest + refused publish) with Redis down: {last_seconds:.2f} s")

    # Redis is back: the relay (the beat task's command) sends it once.
    client = redis.Redis.from_url(broker_url)
    before = _queued_messages(client, "mlbackend.preannotate_cases")
    env = dict(os.environ, DATABASE_URL=postgres_database_url(), CELERY_BROKER_URL=broker_url,
               SPINEREAD_VAR_DIR=str(tmp_path / "var"), MEDIA_ROOT=str(settings.MEDIA_ROOT))
    relayed = subprocess.run([sys.executable, "manage.py", "outbox_relay"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert relayed.returncode == 0, relayed.stderr
    assert relayed.stdout.splitlines()[-1] == "outbox: 1 sent, 0 old rows pruned"
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 2
    waiting = [message for message in _queued_messages(client, "mlbackend.preannotate_cases")
               if message not in before]
    assert len(waiting) == 1
    queue_name, raw = waiting[0]
    body = json.loads(base64.b64decode(json.loads(raw)["body"]))
    assert body[0] == [[uploaded.pk]]
    client.lrem(queue_name, 1, raw)  # no worker of a later test should run it
