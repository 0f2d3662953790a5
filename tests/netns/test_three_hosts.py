"""Web, a CPU worker and a GPU-queue worker on three hosts (network namespaces, each with its own address) that
share only PostgreSQL, Redis and an S3 server over the network: a training requested on the web host runs on
the worker host and its model is served; a study uploaded on the web host is pre-annotated there and its boxes
show through the web host's API; the web host never loads torch and keeps no stored file of its own."""
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from django.db import connection

from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.routing import ml_queue
from mlbackend.selectors import served_version_for
from spineplatform.settings import s3_storage
from tests.mlbackend.conftest import register_served
from tests.netns.hosts import Relay, free_port, netns_unavailable, network_create, port_wait

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PG_PORT, REDIS_PORT, WEB_PORT = 5432, 6379, 8000
BUCKET = "spineread-hosts"


def processes_stopped(processes) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, 15)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)


def loaded_libraries(pid: int) -> str:
    """What the process and its children (gunicorn's workers) have mapped: torch's libraries show here."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                    text=True).stdout.split()]
    maps = []
    for each in pids:
        for child in [each] + [int(p) for p in subprocess.run(["pgrep", "-P", str(each)], capture_output=True,
                                                               text=True).stdout.split()]:
            try:
                maps.append(Path(f"/proc/{child}/maps").read_text())
            except OSError:
                pass
    return "\n".join(maps)


@pytest.fixture
def hosts(settings, tmp_path):
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker or connection.vendor != "postgresql":
        pytest.skip("needs CELERY_BROKER_URL and PostgreSQL (the CI set-up)")
    if why := netns_unavailable():
        pytest.skip(why)
    network = network_create()
    started, relays, s3 = [], [], None
    try:
        for name in ("web", "cpu", "gpu"):
            network.host_add(name)
        gateway = network.gateway
        db = connection.settings_dict
        broker_parts = urlsplit(broker)
        relays = [Relay((gateway, PG_PORT), (db["HOST"], int(db["PORT"] or 5432))),
                  Relay((gateway, REDIS_PORT), (broker_parts.hostname, broker_parts.port or 6379))]
        s3_port = free_port()
        s3_log = open(tmp_path / "s3.log", "wb")
        s3 = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", gateway, "-p", str(s3_port)],
                              stdout=s3_log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(s3)
        port_wait(gateway, s3_port, timeout=30, process=s3)
        s3_env = {"S3_BUCKET": BUCKET, "S3_ENDPOINT_URL": f"http://{gateway}:{s3_port}",
                  "S3_ACCESS_KEY_ID": "test", "S3_SECRET_ACCESS_KEY": "test", "S3_REGION": "us-east-1"}
        bucket = boto3.client("s3", endpoint_url=s3_env["S3_ENDPOINT_URL"], aws_access_key_id="test",
                              aws_secret_access_key="test", region_name="us-east-1")
        bucket.create_bucket(Bucket=BUCKET)
        # This process (the test, standing in for a coordinator's tools) stores through the same bucket.
        settings.STORAGES = {**settings.STORAGES, "default": s3_storage(s3_env)}

        def host_env(name: str) -> dict:
            folder = tmp_path / name
            folder.mkdir()
            return dict(os.environ, **s3_env,
                        DATABASE_URL=f"postgres://{db['USER']}@{gateway}:{PG_PORT}/{db['NAME']}",
                        CELERY_BROKER_URL=broker_parts._replace(netloc=f"{gateway}:{REDIS_PORT}").geturl(),
                        CELERY_RESULT_BACKEND="", CACHE_URL=f"redis://{gateway}:{REDIS_PORT}/9",
                        SPINEREAD_VAR_DIR=str(folder), MEDIA_ROOT=str(folder / "media"),
                        ML_MODEL_CACHE_DIR=str(folder / "model-cache"), ML_TRAIN_QUEUE="",
                        ALLOWED_HOSTS=network.hosts["web"], DEBUG="0")

        # Messages earlier tests left on the shared broker (sent with no worker listening) are not this test's.
        from spineplatform.celery import app
        with app.connection_for_write() as broker_connection:
            for queue in ("celery", "gpu"):
                broker_connection.default_channel.queue_purge(queue)

        web = network.popen("web", [sys.executable, "-m", "gunicorn", "spineplatform.wsgi", "--bind",
                                    f"{network.hosts['web']}:{WEB_PORT}", "--workers", "2", "--timeout", "120"],
                            env=host_env("web"), log_path=tmp_path / "web.log")
        workers = {name: network.popen(name, [sys.executable, "-m", "celery", "-A", "spineplatform", "worker",
                                              "--pool=solo", "--loglevel=INFO", "-n", f"{name}-{os.getpid()}@%h",
                                              "-Q", queue], env=host_env(name), log_path=tmp_path / f"{name}.log")
                   for name, queue in (("cpu", "celery"), ("gpu", "gpu"))}
        started += [web, *workers.values()]
        port_wait(network.hosts["web"], WEB_PORT, timeout=60, process=web)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            answered = {next(iter(reply)).split("-")[0] for reply in app.control.ping(timeout=1)}
            if {"cpu", "gpu"} <= answered and ml_queue() == "gpu":  # answering, and the GPU worker announced
                break
            time.sleep(0.5)
        else:
            pytest.fail("the workers on the other hosts never answered: " + (tmp_path / "gpu.log").read_text()[-2000:])
        yield {"url": f"http://{network.hosts['web']}:{WEB_PORT}", "web": web, "logs": tmp_path, "bucket": bucket,
               "web_media": tmp_path / "web" / "media"}
    finally:
        processes_stopped([p for p in started if p is not s3])
        # The de-identification audit every test ends with reads the stored files: while the S3 server is up.
        from annotation.deid_audit import audit_storage
        from annotation.models import Instance
        if s3 is not None and Instance.objects.exists():
            report = audit_storage()
            assert report.clean, "\n".join(str(v) for v in report.violations[:20])
            Instance.objects.all().delete()
        processes_stopped([s3] if s3 else [])
        for relay in relays:
            relay.close()
        network.down()


def until(check, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def test_training_and_pre_annotation_run_on_the_worker_host_and_show_through_the_web_host(
        hosts, gt_cases, ml_project, coordinator, phantom_dir, tiny_weights, settings):
    # The web host checks passwords with the production hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    coordinator.set_password("pw-coord")
    coordinator.save()
    api = requests.Session()
    api.auth = ("coord", "pw-coord")
    url = hosts["url"]

    # A training requested on the web host runs on the GPU-queue host; its model is served.
    requested = api.post(f"{url}/api/ml/projects/ml/trainings/", json={"epochs": 1, "imgsz": 64}, timeout=30)
    assert requested.status_code == 202, requested.text
    run_id = requested.json()["id"]
    run = until(lambda: TrainingRun.objects.filter(pk=run_id).exclude(
        status__in=(TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)).first(), timeout=240,
        what="the training")
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.queue == "gpu" and run.model_version.decision == ModelVersion.Decision.PROMOTED
    models = api.get(f"{url}/api/ml/projects/ml/models/", timeout=30).json()
    assert models["served_version"] == run.model_version.version
    stored = {o["Key"] for o in hosts["bucket"].list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert run.model_version.file in stored

    # A model registered by this process (another host) is fetched from storage by the worker host.
    boxes_model = register_served(ml_project, tiny_weights, conf=0.001)  # a one-epoch model boxes little
    assert served_version_for(ml_project) == boxes_model

    # The unread phantom study arrives again as a new case (its first copy gone): the upload is what triggers
    # its pre-annotation on the worker host.
    folder, truth = phantom_dir
    gt_cases["unread"].delete()
    study = sorted((folder / truth["cases"][5]["case_key"]).rglob("*.dcm"))
    files = [("files", (path.name, path.read_bytes(), "application/dicom")) for path in study]
    uploaded = api.post(f"{url}/api/projects/ml/dicom/", files=files, timeout=120)
    assert uploaded.status_code == 201, uploaded.text
    case_id = uploaded.json()["case_ids"][0]
    findings = until(lambda: [f for f in api.get(f"{url}/api/cases/{case_id}/model-findings/", timeout=30).json()
                              if f.get("model_version") == boxes_model.label and f.get("box")],
                     timeout=120, what="the uploaded study's model boxes")
    assert findings

    logs = {name: (hosts["logs"] / f"{name}.log").read_text() for name in ("cpu", "gpu", "web")}
    ran = {name: {task for task in ("training_run", "preannotate_cases") if f"Task mlbackend.{task}[" in log}
           for name, log in logs.items()}
    assert ran == {"gpu": {"training_run", "preannotate_cases"}, "cpu": set(), "web": set()}
    # The web host ran no model and holds no stored file: everything is in the bucket.
    libraries = loaded_libraries(hosts["web"].pid)
    assert "libtorch" not in libraries and "ultralytics" not in libraries
    web_files = [p for p in hosts["web_media"].rglob("*") if p.is_file()] if hosts["web_media"].exists() else []
    assert web_files == []
