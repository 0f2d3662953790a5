"""Personal API tokens (spineplatform.tokens): made with a password or session, sent as Bearer, stored as digests,
expiring, revocable; a token never makes another. The Token prefix stays the ML client's."""
from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken

from annotation.models import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:pw-{username}".encode()).decode()


def _refused(response) -> bool:
    # The API's first authentication is the session, which sends no challenge: DRF answers 403 then, not 401.
    return response.status_code in (401, 403)


def _make(client, username: str = "tok_reader") -> str:
    response = client.post("/api/auth/token/", HTTP_AUTHORIZATION=_basic(username))
    assert response.status_code == 200, response.content
    return response.json()["token"]


def test_a_token_is_shown_once_and_stored_as_a_digest(client, project):
    user = make_user("tok_reader", Role.READER, project=project)
    token = _make(client)
    stored = AuthToken.objects.get(user=user)
    assert token.startswith("sr_") and len(token) > 60
    assert token not in (stored.digest, stored.token_key) and stored.expiry > timezone.now() + timedelta(days=29)
    by_token = client.get("/api/projects/", HTTP_AUTHORIZATION=f"Bearer {token}")
    client.force_login(user)
    assert by_token.status_code == 200 and by_token.json() == client.get("/api/projects/").json()


def test_refused_without_a_password(client, project):
    make_user("tok_reader", Role.READER, project=project)
    token = _make(client)
    # A token cannot mint tokens, and a wrong password mints none.
    assert client.post("/api/auth/token/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    bad = "Basic " + base64.b64encode(b"tok_reader:wrong").decode()
    assert client.post("/api/auth/token/", HTTP_AUTHORIZATION=bad).status_code == 401
    assert client.post("/api/auth/token/").status_code in (401, 403)
    assert AuthToken.objects.count() == 1
    for header in (f"Bearer {token}x", "Bearer ", f"Token {token}"):
        assert _refused(client.get("/api/projects/", HTTP_AUTHORIZATION=header))


def test_expired_and_revoked_tokens_stop_working(client, project):
    user = make_user("tok_reader", Role.READER, project=project)
    first, second, third = _make(client), _make(client), _make(client)
    AuthToken.objects.filter(user=user, token_key=first[:15]).update(expiry=timezone.now() - timedelta(seconds=1))
    assert _refused(client.get("/api/projects/", HTTP_AUTHORIZATION=f"Bearer {first}"))
    assert client.post("/api/auth/token/revoke/", HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 204
    assert _refused(client.get("/api/projects/", HTTP_AUTHORIZATION=f"Bearer {second}"))
    assert client.get("/api/projects/", HTTP_AUTHORIZATION=f"Bearer {third}").status_code == 200
    assert client.post("/api/auth/token/revoke-all/", HTTP_AUTHORIZATION=_basic("tok_reader")).status_code == 204
    assert _refused(client.get("/api/projects/", HTTP_AUTHORIZATION=f"Bearer {third}"))
    assert not AuthToken.objects.filter(user=user).exists()


def test_tokens_per_person_are_capped(client, project, settings):
    make_user("tok_reader", Role.READER, project=project)
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}
    _make(client), _make(client)
    assert client.post("/api/auth/token/", HTTP_AUTHORIZATION=_basic("tok_reader")).status_code == 403
    assert AuthToken.objects.count() == 2


def test_a_token_reaches_only_what_its_owner_may(client, project):
    make_user("tok_reader", Role.READER, project=project)
    token = _make(client)
    # A reader's token is refused where the reader's password is: the coordinator's pages and the ML registry.
    assert client.get(f"/api/projects/{project.slug}/progress/", HTTP_AUTHORIZATION=f"Bearer {token}"
                      ).status_code == 404
