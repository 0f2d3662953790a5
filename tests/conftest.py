"""Shared test set-up: every test writes media into its own temporary folder."""
import pytest
from django.contrib.auth import get_user_model

from annotation import services
from annotation.models import Role


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    # PBKDF2's deliberate slowness costs ~0.3 s per user; tests create many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


def make_user(username: str, role: str | None, **profile):
    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    if role:
        services.user_set_role(user=user, role=role, **profile)
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
