"""Real peers for the fault tests: a gunicorn web process on this test database, Bearer tokens to call it."""
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.db import connection
from knox.models import AuthToken

# The ML fixtures (a phantom project, a tiny real checkpoint) for the pre-annotation and training tests.
from tests.mlbackend.conftest import eager_tasks, gt_cases, ml_project, phantom_dir, readers, tiny_weights  # noqa: F401

PORT = 5510  # this helper's range is 5500-5599; 5599 is the port where no Redis listens
DEAD_REDIS = "redis://127.0.0.1:5599"
# libpq names the web process's connections so, and a test can single out exactly those.
WEB_APP_NAME = "spineread-faults-web"


def postgres_database_url() -> str:
    """The URL of the test database for processes started by a test; skips on SQLite (those need a server)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): other processes share the test database")
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def bearer(user) -> dict:
    _, token = AuthToken.objects.create(user)
    return {"Authorization": f"Bearer {token}"}


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def web_server(settings, tmp_path):
    """Starts gunicorn (one sync worker, as one web replica) on PORT against the test database with the
    environment given; returns its base URL. Stopped at the end of the test."""
    processes = []

    def start(**environ) -> str:
        assert not _port_open(PORT), f"port {PORT} is taken"
        env = dict(os.environ, DATABASE_URL=postgres_database_url(), SPINEREAD_VAR_DIR=str(tmp_path / "var"),
                   MEDIA_ROOT=str(settings.MEDIA_ROOT), DEBUG="0", SECRET_KEY=os.environ.get("SECRET_KEY", "x"),
                   DEID_SALT=settings.DEID_SALT, LOG_LEVEL="WARNING", PGAPPNAME=WEB_APP_NAME, **environ)
        log = open(tmp_path / "gunicorn.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "spineplatform.wsgi", "--bind",
                                    f"127.0.0.1:{PORT}", "--workers", "1", "--timeout", "120"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if requests.get(f"http://127.0.0.1:{PORT}/login/", timeout=5).status_code == 200:
                    return f"http://127.0.0.1:{PORT}"
            # The master accepts before its worker has imported Django; under load that takes longer than a probe.
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn did not answer within 60 s")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
