"""The health endpoint, and a real Celery worker on the real broker answering through it."""
import time

import pytest
from django.db import connection

from tests.conftest import celery_worker_started


@pytest.mark.django_db
def test_health_reports_database_up(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "UP"
    assert response.json()["database"] == connection.vendor


@pytest.fixture
def celery_worker_process(settings, tmp_path):
    worker = celery_worker_started(settings, tmp_path, name="test")
    yield worker
    worker.terminate()
    worker.wait(timeout=20)


@pytest.mark.worker
@pytest.mark.django_db
def test_health_with_worker_runs_a_task_on_a_real_worker(client, celery_worker_process):
    deadline = time.monotonic() + 60
    while True:
        response = client.get("/api/health", {"worker": "1", "timeout": "3"})
        if response.status_code == 200 or time.monotonic() > deadline:
            break
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["broker"] == "redis"
    assert body["worker"]["database"] == "ok" and body["worker"]["worker"]


@pytest.mark.django_db
def test_health_without_worker_says_down(client, settings):
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("tasks run in process: there is no worker to miss")
    response = client.get("/api/health", {"worker": "1", "timeout": "0.5"})
    assert response.status_code == 503 and response.json()["status"] == "DOWN"


@pytest.mark.django_db
@pytest.mark.parametrize("timeout", ["abc", "-1", "nan", "inf", "1e"])
def test_health_refuses_a_timeout_that_is_not_a_number_of_seconds(client, timeout):
    response = client.get("/api/health", {"worker": "1", "timeout": timeout})
    assert response.status_code == 400
    assert list(response.json()) == ["error"] and "timeout must be a number" in response.json()["error"]


class _PingResult:
    def __init__(self, waits):
        self.waits = waits

    def get(self, timeout):
        self.waits.append(timeout)
        return {"database": "ok", "worker": "test"}


@pytest.mark.django_db
@pytest.mark.parametrize("given, waited", [("3600", 10.0), ("2.5", 2.5), (None, 5.0), ("0", 0.0)])
def test_health_caps_how_long_it_waits_for_the_worker(client, monkeypatch, given, waited):
    from annotation.tasks import worker_ping

    waits = []
    monkeypatch.setattr(worker_ping, "delay", lambda: _PingResult(waits))
    query = {"worker": "1"} if given is None else {"worker": "1", "timeout": given}

    response = client.get("/api/health", query)

    assert response.status_code == 200 and waits == [waited]
