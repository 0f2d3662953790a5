"""The ML client account: the login Label Studio uses to call a project's ML backend (/ml/setup, /ml/predict).

One account per project, ``ml-<slug>``, holding a ``ProjectMembership`` of role ml_client and no platform role.
Label Studio sends it as HTTP Basic (``basic_auth_user`` / ``basic_auth_pass``); scripts may send the password
alone as ``Authorization: Token <password>``: the password starts with the account's name and a dot, so the
token says whose it is and is checked like a login (``django.contrib.auth.authenticate``, which a lockout
backend sees).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

import access
from annotation import services as annotation_services
from annotation.models import Project, ProjectMembership


class MlClientError(Exception):
    pass


@dataclass(frozen=True)
class MlClientCredentials:
    username: str
    password: str


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
