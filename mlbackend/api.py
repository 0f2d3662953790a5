"""HTTP: the Label Studio ML-backend protocol (/ml/*) and the platform's own registry/training API (api/ml/*).

Label Studio calls without CSRF tokens or trailing slashes and with short time limits: /ml/health and
/ml/setup never load a model; /ml/predict does, on a worker when a broker is configured (503 with Retry-After
when none answers in time), in process otherwise.

Who may call what: /ml/health is public. /ml/setup and /ml/predict need the project's ML client account
(``manage.py ml_client``), as HTTP Basic (what Label Studio sends: its ML connection's basic_auth_user and
basic_auth_pass) or as ``Authorization: Token <password>``; anything else is 401, whatever the settings. The
credentials are checked by ``django.contrib.auth.authenticate`` so that the login-lockout backend counts the
failures. /ml/webhook carries no credentials (Label Studio sends none): its events are believed only once the
registered Label Studio confirms them (``label_studio.annotation_confirm``); the rest is answered "ignored".
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

import access
from annotation.models import Project
from mlbackend import selectors, services, tasks
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.serializers import (
    ModelSettingsSerializer,
    ModelVersionSerializer,
    TrainingRequestSerializer,
    TrainingRunSerializer,
)
from mlbackend.services import label_studio
from mlbackend.services.ml_client import ml_client_authenticate, token_username
from spineplatform.parsers import JSONTooDeep, json_loads_limited

MODEL_CLASS = "SpineReadYOLO"
REALM = 'Basic realm="SpineRead ML"'


@dataclass(frozen=True)
class MlClient:
    user: object
    project: Project


def _credentials(request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            username, colon, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            return None
        return (username, password) if colon and username else None
    if scheme.lower() == "token" and token_username(value):
        return token_username(value), value
    return None


def ml_client_for(request) -> MlClient | None:
    """The ML client account the request's credentials log in as, with its project; None otherwise."""
    credentials = _credentials(request)
    if credentials is None:
        return None
    found = ml_client_authenticate(request=request, username=credentials[0], password=credentials[1])
    return MlClient(user=found[0], project=found[1]) if found else None


def _refused() -> JsonResponse:
    response = JsonResponse({"error": "ML client credentials required (HTTP Basic, see manage.py ml_client)"},
                            status=401)
    response["WWW-Authenticate"] = REALM
    return response


def _json_body(request) -> dict:
    try:
        body = json_loads_limited(request.body or b"{}", getattr(settings, "JSON_MAX_DEPTH", 64))
    except JSONTooDeep as error:
        raise label_studio.ProtocolError(str(error))
    except ValueError:  # json.JSONDecodeError, UnicodeDecodeError
        raise label_studio.ProtocolError("body is not JSON")
    if not isinstance(body, dict):
        raise label_studio.ProtocolError("body must be a JSON object")
    return body


def protocol_view(view=None, *, ml_client: bool = True):
    """csrf-exempt; with ``ml_client`` the view gets the authenticated MlClient (401 without one);
    ProtocolError -> its status with {"error": ...}."""

    def decorate(view):
        @csrf_exempt
        def wrapped(request, *args, **kwargs):
            if ml_client:
                client = ml_client_for(request)
                if client is None:
                    return _refused()
                kwargs["client"] = client
            try:
                return view(request, *args, **kwargs)
            except label_studio.ProtocolError as error:
                response = JsonResponse({"error": str(error)}, status=error.status_code)
                if error.retry_after is not None:
                    response["Retry-After"] = str(error.retry_after)
                return response

        wrapped.__name__ = view.__name__
        return wrapped

    return decorate(view) if view is not None else decorate


@protocol_view(ml_client=False)
@require_GET
def ml_health(request):
    return JsonResponse({"status": "UP", "model_class": MODEL_CLASS})


@protocol_view
@require_POST
def ml_setup(request, client: MlClient):
    body = _json_body(request)
    extra_params = body.get("extra_params") if isinstance(body.get("extra_params"), dict) else None
    version = label_studio.setup(client=client.user, project=client.project, ls_project=str(body.get("project") or ""),
                                 label_config=body.get("schema") or "", hostname=body.get("hostname") or "",
                                 access_token=body.get("access_token") or "", extra_params=extra_params)
    return JsonResponse({"model_version": version})


@protocol_view
@require_POST
def ml_predict(request, client: MlClient):
    body = _json_body(request)
    # On a worker when a broker is configured: the web process never loads a model.
    results = tasks.predict_on_worker(project=client.project, tasks=body.get("tasks"),
                                      ls_project=str(body.get("project") or ""),
                                      label_config=body.get("label_config"), actor=client.user)
    return JsonResponse({"results": results})


IGNORED = {"status": "ignored"}


@protocol_view(ml_client=False)
@require_POST
def ml_webhook(request):
    body = _json_body(request)
    action = body.get("action")
    if not isinstance(action, str):
        raise label_studio.ProtocolError("action is required")
    if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
        confirmed = label_studio.annotation_confirm(body)
        if confirmed is None:
            return JsonResponse(IGNORED, status=200)
        stored = label_studio.annotation_store(confirmed=confirmed)
        if stored is None:
            return JsonResponse(IGNORED, status=200)
        return JsonResponse({"status": "ok", **stored}, status=201)
    if action == "START_TRAINING":
        link = label_studio.training_link_confirm(body)
        if link is None:
            return JsonResponse(IGNORED, status=200)
        try:
            run = services.training_request(project=link.project, trigger=TrainingRun.Trigger.LABEL_STUDIO,
                                            actor=link.ml_client)
        except services.TrainingError as error:
            raise label_studio.ProtocolError(str(error), error.status_code)
        tasks.training_run_enqueue(run)
        return JsonResponse({"status": "ok", "training": run.pk}, status=201)
    return JsonResponse({**IGNORED, "action": action[:64]}, status=200)


# Platform API (coordinators) ---------------------------------------------------------------------------------
# Signed in (DRF's default IsAuthenticated), then the project must be one the user coordinates: anyone else,
# readers and coordinators of other projects alike, gets 404 (access.project_coordinated_get_for).

def _coordinated_body(request, slug: str, serializer_class) -> tuple[Project, dict]:
    """The project the user coordinates (404 otherwise) and the request body, validated (400 otherwise)."""
    project = access.project_coordinated_get_for(request.user, slug)
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return project, serializer.validated_data


class ModelListApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        served = selectors.served_version_for(project)
        return Response({"served_version": served.version if served else None,
                         "versions": ModelVersionSerializer(selectors.model_versions_for(project), many=True).data})


class ModelServeApi(APIView):
    """Serve any registered version: rollback (or forward again)."""

    @extend_schema(request=None, responses=ModelVersionSerializer)
    def post(self, request, slug, version):
        project = access.project_coordinated_get_for(request.user, slug)
        model_version = ModelVersion.objects.filter(project=project, version=version).first()
        if model_version is None:
            return Response({"detail": "no such version"}, status=404)
        if services.model_version_serve(version=model_version, actor=request.user):
            tasks.project_model_changed_enqueue(project.pk)
        return Response(ModelVersionSerializer(model_version).data)


class TrainingListApi(APIView):
    @extend_schema(responses=TrainingRunSerializer(many=True))
    def get(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        services.training_runs_reap(project=project)
        return Response(TrainingRunSerializer(selectors.training_runs_for(project), many=True).data)

    @extend_schema(request=TrainingRequestSerializer, responses={202: TrainingRunSerializer})
    def post(self, request, slug):
        project, body = _coordinated_body(request, slug, TrainingRequestSerializer)
        try:
            run = services.training_request(project=project, actor=request.user, **body)
        except services.TrainingError as error:
            return Response({"detail": str(error)}, status=error.status_code)
        tasks.training_run_enqueue(run)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ModelSettingsApi(APIView):
    @extend_schema(request=ModelSettingsSerializer, responses=OpenApiTypes.OBJECT)
    def put(self, request, slug):
        project, body = _coordinated_body(request, slug, ModelSettingsSerializer)
        try:
            row = services.model_settings_update(project=project, actor=request.user, **body)
        except ValueError as error:  # an unknown config, a malformed schedule (services.ModelSettingsError)
            return Response({"detail": str(error)}, status=400)
        return Response({"config_name": row.config_name, "retrain_after_cases": row.retrain_after_cases,
                         "retrain_crontab": row.retrain_crontab})
