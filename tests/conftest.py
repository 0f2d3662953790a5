"""Shared test set-up: every test writes media into its own temporary folder."""
import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from annotation import services
from annotation.models import Role


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    # PBKDF2's deliberate slowness costs ~0.3 s per user; tests create many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def deid_audit_after_imports(request, media_root):
    """Every test that stored DICOM ends with the de-identification audit of everything it stored (the
    `deid_audit` command's check): no file or copied header field may hold what the profile removes."""
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    transactional = bool({"transactional_db", "live_server"} & names) or bool(
        marker and marker.kwargs.get("transaction"))
    if not (marker or {"db", "transactional_db", "live_server"} & names) or request.node.get_closest_marker(
            "raw_storage"):
        yield
        return
    request.getfixturevalue("transactional_db" if transactional else "db")  # torn down after this check
    yield
    from annotation.deid_audit import audit_storage
    from annotation.models import Instance

    if Instance.objects.exists():
        report = audit_storage()
        assert report.clean, "\n".join(str(v) for v in report.violations[:20])


@pytest.fixture(autouse=True)
def no_gpu_worker_left_announced():
    """A GPU-queue worker an earlier test killed stays announced for a minute and a half (mlbackend.routing):
    each test starts with none, and those that want one start it."""
    from mlbackend import routing

    try:
        routing.gpu_workers_forget()
    except Exception:  # no Redis behind the broker URL (tests that stop it): nothing announced either
        pass


def make_user(username: str, role: str | None, *, project=None, **profile):
    """A user with a platform role; with `project`, also that role on the project (who may be given its work)."""
    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    if role:
        services.user_set_role(user=user, role=role, **profile)
    if project is not None:
        services.project_member_add(project=project, user=user, role=role)
    return user


@pytest.fixture
def coordinator(db):
    return make_user("coord", Role.COORDINATOR)


@pytest.fixture
def reader(db):
    return make_user("reader1", Role.READER, specialty="radiology", years_experience=8)


@pytest.fixture
def other_reader(db):
    return make_user("reader2", Role.READER, specialty="spine surgery", years_experience=12)


@pytest.fixture
def project(db, coordinator):
    return services.project_create(slug="lumbar", name="Lumbar MRI", actor=coordinator)


def celery_worker_started(settings, tmp_path, *, name: str, queue: str | None = None):
    """A real Celery worker process on the real broker and this test database; skips outside the CI set-up."""
    if not os.environ.get("CELERY_BROKER_URL") or connection.vendor != "postgresql":
        pytest.skip("needs CELERY_BROKER_URL and PostgreSQL (the CI set-up)")
    db = connection.settings_dict
    env = dict(os.environ, DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
               SPINEREAD_VAR_DIR=str(tmp_path), MEDIA_ROOT=str(settings.MEDIA_ROOT))
    command = [sys.executable, "-m", "celery", "-A", "spineplatform", "worker", "--pool=solo", "--concurrency=1",
               "--loglevel=WARNING", "-n", f"{name}-{os.getpid()}@%h"] + (["-Q", queue] if queue else [])
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
