"""The ML client account: the login Label Studio uses to call a project's ML backend (/ml/setup, /ml/predict).

One account per project, ``ml-<slug>``, holding a ``ProjectMembership`` of role ml_client and no platform role.
Label Studio sends it as HTTP Basic (``basic_auth_user`` / ``basic_auth_pass``); scripts may send the password
alone as ``Authorization: Token <password>``: the password starts with the account's name and a dot, so the
token says whose it is and is checked like a login (``django.contrib.auth.authenticate``, which a lockout
backend sees).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.crypto import constant_time_compare

import access
from annotation import services as annotation_services
from annotation.models import Project, ProjectMembership


class MlClientError(Exception):
    pass


@dataclass(frozen=True)
class MlClientCredentials:
    username: str
    password: str


# A verified login is remembered this long, so that Label Studio's stream of /ml/predict calls does not pay a
# password hash (PBKDF2, ~0.3 s) each; only the exact credentials that authenticate() accepted hit it, and a new
# password or a deactivated account ends it at once (the entry holds the password hash it was verified against).
VERIFIED_SECONDS = 300


def _verified_key(username: str, password: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), hashlib.sha256)
    return f"ml-client-verified:{digest.hexdigest()}"


def ml_client_authenticate(*, request, username: str, password: str) -> tuple[object, Project] | None:
    """(account, its project) when the credentials log in as a project's ML client; None otherwise (wrong
    password, locked out, not an ML client). Failures always go through ``authenticate``."""
    key = _verified_key(username, password)
    remembered = cache.get(key)
    if remembered:
        found = access.ml_client_login(remembered[0], username)
        if found is not None and constant_time_compare(found[0].password, remembered[1]):
            return found
        cache.delete(key)
    try:
        user = authenticate(request=request, username=username, password=password)
    except PermissionDenied:  # the lockout backend's answer for a locked-out login
        return None
    if user is None:
        return None
    project = access.ml_client_project(user)
    if project is None:
        return None
    cache.set(key, (user.pk, user.password), VERIFIED_SECONDS)
    return user, project


def ml_client_username(project: Project) -> str:
    return f"ml-{project.slug}"


def token_username(token: str) -> str:
    """The account a Token header's password belongs to (see the module docstring); "" when it names none."""
    username, dot, secret = token.rpartition(".")
    return username if dot and username and secret else ""


@transaction.atomic
def ml_client_rotate(*, project: Project, actor=None) -> MlClientCredentials:
    """Creates the project's ML client account, or gives it a new password (the old one stops working).

    Raises MlClientError when the account name is taken by a user who is not this project's ML client (a
    reader called ``ml-demo`` must not become one)."""
    User = get_user_model()
    username = ml_client_username(project)
    user = User.objects.select_for_update().filter(username=username).first()
    created = user is None
    if created:
        user = User(username=username, first_name="ML client", last_name=project.slug[:150])
    elif access.ml_client_project(user) != project:
        raise MlClientError(f"user {username} exists and is not the ML client of project {project.slug}")
    password = f"{username}.{secrets.token_urlsafe(24)}"
    user.set_password(password)
    user.is_active = True
    user.save()
    annotation_services.project_member_add(project=project, user=user, role=ProjectMembership.Role.ML_CLIENT,
                                           actor=actor)
    annotation_services.audit_log(actor=actor, action="ml_client_rotate", target=project,
                                  payload={"user": username, "created": created})
    return MlClientCredentials(username=username, password=password)
