"""A real S3-protocol server on loopback for the storage tests: moto's standalone server (moto[server] in
requirements.txt), started as its own process once per test session. Nothing leaves the machine.

`s3` gives each test a bucket of its own and makes it the default storage; `s3_objects` lists what it holds."""
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import boto3
import pytest

from spineplatform.settings import s3_storage

# moto accepts any key pair; a real store would check these.
ACCESS_KEY, SECRET_KEY = "spineread-test", "spineread-test-secret"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """The endpoint URL of a moto server running in a subprocess (stopped at the end of the session)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3(s3_server, settings, media_root):
    """A fresh bucket as the default storage; yields the environment a process needs to use it (S3_*).

    Set through pytest-django's `settings`, which is undone after the end-of-test de-identification audit, so
    that audit reads the files from the bucket too."""
    env = {"S3_BUCKET": f"spineread-{uuid.uuid4().hex[:12]}", "S3_ENDPOINT_URL": s3_server,
           "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY, "S3_REGION": "us-east-1"}
    s3_client(env).create_bucket(Bucket=env["S3_BUCKET"])
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(env)}
    return env


def s3_client(env: dict):
    return boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"], aws_access_key_id=env["S3_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["S3_SECRET_ACCESS_KEY"], region_name=env["S3_REGION"])


def s3_objects(env: dict, prefix: str = "") -> dict[str, bytes]:
    """Every object in the bucket under `prefix`, by key, read straight from the server (not through Django)."""
    client = s3_client(env)
    keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=env["S3_BUCKET"], Prefix=prefix) for item in page.get("Contents", [])]
    return {key: client.get_object(Bucket=env["S3_BUCKET"], Key=key)["Body"].read() for key in keys}


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
