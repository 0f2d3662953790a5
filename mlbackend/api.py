"""HTTP: the Label Studio ML-backend protocol (/ml/*) and the platform's own registry/training API (api/ml/*).

Label Studio calls without CSRF tokens or trailing slashes and with short time limits: /ml/health and
/ml/setup never load a model. Its auth: any caller when ML_BACKEND_TOKEN is unset, else that token.
"""
from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.selectors import is_coordinator, project_get_for
from mlbackend import selectors, services
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.serializers import (
    ModelSettingsSerializer,
    ModelVersionSerializer,
    TrainingRequestSerializer,
    TrainingRunSerializer,
)
from mlbackend.services import label_studio

MODEL_CLASS = "SpineReadYOLO"


def _authorised(request) -> bool:
    token = settings.ML_BACKEND_TOKEN
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() in ("token", "bearer") and hmac.compare_digest(given.strip(), token)


def _json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise label_studio.ProtocolError("body is not JSON")
    if not isinstance(body, dict):
        raise label_studio.ProtocolError("body must be a JSON object")
    return body


def protocol_view(view):
    """csrf-exempt, token-checked, ProtocolError -> its status with {"error": ...}."""

    @csrf_exempt
    def wrapped(request, *args, **kwargs):
        if not _authorised(request):
            return JsonResponse({"error": "missing or wrong ML backend token"}, status=401)
        try:
            return view(request, *args, **kwargs)
        except label_studio.ProtocolError as error:
            return JsonResponse({"error": str(error)}, status=error.status_code)

    wrapped.__name__ = view.__name__
    return wrapped


@protocol_view
@require_GET
def ml_health(request):
    return JsonResponse({"status": "UP", "model_class": MODEL_CLASS})


@protocol_view
@require_POST
def ml_setup(request):
    body = _json_body(request)
    version = label_studio.setup(ls_project=str(body.get("project") or ""), label_config=body.get("schema") or "",
                                 hostname=body.get("hostname") or "", access_token=body.get("access_token") or "",
                                 extra_params=body.get("extra_params") if isinstance(body.get("extra_params"), dict)
                                 else None)
    return JsonResponse({"model_version": version})


@protocol_view
@require_POST
def ml_predict(request):
    body = _json_body(request)
    results = label_studio.predict(tasks=body.get("tasks"), ls_project=str(body.get("project") or ""),
                                   label_config=body.get("label_config"))
    return JsonResponse({"results": results})


@protocol_view
@require_POST
def ml_webhook(request):
    body = _json_body(request)
    action = body.get("action")
    if not isinstance(action, str):
        raise label_studio.ProtocolError("action is required")
    if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
        stored = label_studio.annotation_store(payload=body)
        return JsonResponse({"status": "ok", **stored}, status=201)
    if action == "START_TRAINING":
        project_field = body.get("project")
        ls_project = project_field.get("id") if isinstance(project_field, dict) else project_field
        project = label_studio.project_for(str(ls_project or ""))
        try:
            run = services.training_request(project=project, trigger=TrainingRun.Trigger.LABEL_STUDIO)
        except services.TrainingError as error:
            raise label_studio.ProtocolError(str(error), error.status_code)
        return JsonResponse({"status": "ok", "training": run.pk}, status=201)
    return JsonResponse({"status": "ignored", "action": action}, status=200)


# Platform API (coordinators) ---------------------------------------------------------------------------------

class IsCoordinator(permissions.BasePermission):
    message = "coordinators only"

    def has_permission(self, request, view):
        return is_coordinator(request.user)


class ModelListApi(APIView):
    permission_classes = [IsCoordinator]

    def get(self, request, slug):
        project = project_get_for(request.user, slug)
        served = selectors.served_version_for(project)
        return Response({"served_version": served.version if served else None,
                         "versions": ModelVersionSerializer(selectors.model_versions_for(project), many=True).data})


class ModelServeApi(APIView):
    """Serve any registered version: rollback (or forward again)."""

    permission_classes = [IsCoordinator]

    def post(self, request, slug, version):
        project = project_get_for(request.user, slug)
        model_version = ModelVersion.objects.filter(project=project, version=version).first()
        if model_version is None:
            return Response({"detail": "no such version"}, status=404)
        services.model_version_serve(version=model_version, actor=request.user)
        return Response(ModelVersionSerializer(model_version).data)


class TrainingListApi(APIView):
    permission_classes = [IsCoordinator]

    def get(self, request, slug):
        project = project_get_for(request.user, slug)
        services.training_runs_reap(project=project)
        return Response(TrainingRunSerializer(selectors.training_runs_for(project), many=True).data)

    def post(self, request, slug):
        project = project_get_for(request.user, slug)
        serializer = TrainingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run = services.training_request(project=project, actor=request.user, **serializer.validated_data)
        except services.TrainingError as error:
            return Response({"detail": str(error)}, status=error.status_code)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ModelSettingsApi(APIView):
    permission_classes = [IsCoordinator]

    def put(self, request, slug):
        project = project_get_for(request.user, slug)
        serializer = ModelSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            row = services.model_settings_update(project=project, actor=request.user, **serializer.validated_data)
        except (ValueError, services.TrainingError) as error:
            return Response({"detail": str(error)}, status=400)
        return Response({"config_name": row.config_name, "retrain_after_cases": row.retrain_after_cases,
                         "retrain_crontab": row.retrain_crontab})
