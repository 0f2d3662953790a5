"""What a client locked out by django-axes sees: 429 with a plain message, on the log-in page and the API.

django-axes counts failed log-ins per username and client address (settings.AXES_*); once the limit is reached,
its backend refuses that pair, even with the right password, until the cool-off has passed.
"""
from __future__ import annotations

from axes.helpers import get_cool_off
from drf_spectacular.authentication import BasicScheme
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions, status
from rest_framework.authentication import BasicAuthentication


def client_address(request) -> str | None:
    """settings.AXES_CLIENT_IP_CALLABLE: REMOTE_ADDR, or the address the outermost trusted proxy was called from.

    Entries left of the trusted ones in X-Forwarded-For are whatever the client wrote, so they are not used;
    the same rule as DRF's throttle with NUM_PROXIES (settings.TRUSTED_PROXY_COUNT).
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if entry.strip()]
    if not forwarded:
        return remote
    return forwarded[-min(proxies, len(forwarded))]


def lockout_message(request: HttpRequest | None = None) -> str:
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    wait = f"try again in {minutes} minutes" if minutes else "ask an administrator to unlock it"
    return (f"Too many failed log-ins for this username from this address ({settings.AXES_FAILURE_LIMIT}): "
            f"log-in is locked; {wait}.")


def _retry_after(request) -> str | None:
    cool_off = get_cool_off(request)
    return str(int(cool_off.total_seconds())) if cool_off else None


def _wants_json(request: HttpRequest) -> bool:
    return (request.path.startswith(("/api/", "/ml/")) or "HTTP_AUTHORIZATION" in request.META
            or "application/json" in request.META.get("HTTP_ACCEPT", ""))


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """settings.AXES_LOCKOUT_CALLABLE: JSON for API clients, the log-in page with the message for people."""
    message = lockout_message(request)
    if _wants_json(request):
        response = JsonResponse({"detail": message}, status=status.HTTP_429_TOO_MANY_REQUESTS)
    else:
        form = AuthenticationForm(request)
        response = render(request, "registration/login.html",
                          {"form": form, "lockout_message": message, "next": request.POST.get("next", "")},
                          status=status.HTTP_429_TOO_MANY_REQUESTS)
    retry_after = _retry_after(request)
    if retry_after:
        response["Retry-After"] = retry_after
    return response


class LoginLockedOut(exceptions.Throttled):
    default_detail = "Too many failed log-ins."
    default_code = "login_locked_out"


class LockoutAwareBasicAuthentication(BasicAuthentication):
    """HTTP Basic that answers a locked-out username+address with 429 and why, not 'Invalid username/password'.

    django-axes flags the (DRF) request it was given during authenticate(); its middleware looks at Django's
    request instead, so the flag is read here.
    """

    def authenticate_credentials(self, userid, password, request=None):
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            if request is not None and getattr(request, "axes_locked_out", False):
                cool_off = get_cool_off(request)
                raise LoginLockedOut(wait=cool_off.total_seconds() if cool_off else None,
                                     detail=lockout_message(request))
            raise


class LockoutAwareBasicScheme(BasicScheme):
    """The OpenAPI description of the class above: plain HTTP Basic (drf-spectacular matches exact classes)."""

    target_class = LockoutAwareBasicAuthentication
