"""Log-ins, failed log-ins and log-outs in the audit trail: who got in, from where, and who tried.

Django announces these only through its auth signals (user_logged_in, user_login_failed, user_logged_out),
so the receivers below are connected in AnnotationConfig.ready(); each writes one AuditEvent and nothing else.
The password never reaches the row: Django hands user_login_failed credentials with the password masked, and
only the username is kept.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model

from annotation.models import AuditEvent
from annotation.services.audit import audit_log

USERNAME_MAX = 150  # the length of auth.User.username; a longer "username" is a mistake or an attack


def client_address(request) -> str | None:
    """The address django-axes counts failures against (it honours settings.AXES_IPWARE_*), else REMOTE_ADDR."""
    if request is None:
        return None
    address = getattr(request, "axes_ip_address", None)
    if address:
        return address
    return request.META.get("REMOTE_ADDR") or None


def _payload(request, username: str) -> dict:
    return {"username": username[:USERNAME_MAX], "ip": client_address(request)}


def login_succeeded(sender, request, user, **kwargs) -> None:
    audit_log(actor=user, action="login", target=user, payload=_payload(request, user.get_username()))


def login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    user_model = get_user_model()
    username = str(credentials.get(user_model.USERNAME_FIELD) or credentials.get("username") or "")
    payload = _payload(request, username)
    if getattr(request, "axes_locked_out", False):
        payload["locked_out"] = True
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username[:USERNAME_MAX]}).first()
    # Not audit_log(): there is no actor, and an unknown username has no row to point at.
    AuditEvent.objects.create(actor=None, action="login_failed", object_type="user",
                              object_id=str(user.pk) if user else "", payload=payload)


def logged_out(sender, request, user, **kwargs) -> None:
    if user is None:  # a log-out by someone who was not logged in
        return
    audit_log(actor=user, action="logout", target=user, payload=_payload(request, user.get_username()))


def connect() -> None:
    from django.contrib.auth import signals

    signals.user_logged_in.connect(login_succeeded, dispatch_uid="annotation.auth_audit.login")
    signals.user_login_failed.connect(login_failed, dispatch_uid="annotation.auth_audit.login_failed")
    signals.user_logged_out.connect(logged_out, dispatch_uid="annotation.auth_audit.logout")
