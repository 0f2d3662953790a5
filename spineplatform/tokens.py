"""Personal API tokens: ``Authorization: Bearer <token>`` for scripts and DICOMweb viewers (OHIF, 3D Slicer).

django-rest-knox keeps only a SHA-512 digest of each token, with an expiry (settings.REST_KNOX). A token is
made by a signed-in person (HTTP Basic, which the lockout counts, or the browser's session), never by another
token, so a stolen token cannot outlive its expiry by minting more. A token reaches exactly what its owner's
password reaches: the access module is asked per request, so a reader's token sees only the reader's cases.
The ``Token`` header prefix stays the ML client's (mlbackend.services.ml_client).
"""
from __future__ import annotations

from knox.auth import TokenAuthentication
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.views import LoginView, LogoutAllView, LogoutView
from rest_framework.authentication import SessionAuthentication

from spineplatform.lockout import LockoutAwareBasicAuthentication


@extend_schema(request=None, responses={200: OpenApiResponse(description='{"expiry": ..., "token": ...}')})
class TokenCreateView(LoginView):
    """POST: a new token for the signed-in person, {"expiry", "token"}; the token is shown only this once."""

    authentication_classes = [LockoutAwareBasicAuthentication, SessionAuthentication]


@extend_schema(request=None, responses={204: None})
class TokenRevokeAllView(LogoutAllView):
    """POST: every token of the caller stops working (for a token that was lost, sign in with the password)."""

    authentication_classes = [LockoutAwareBasicAuthentication, SessionAuthentication, TokenAuthentication]


@extend_schema(request=None, responses={204: None})
class TokenRevokeView(LogoutView):
    """POST with the token itself: that token stops working."""
