"""REST API of the interchange formats. Views validate, call one service, and serialise."""
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

import access
from annotation import selectors as annotation_selectors
from annotation.api import error_response
from annotation.models import Role
from interchange import external, imports
from interchange.serializers import LabelStudioImportSerializer
from mlbackend.services import external as external_services


class LabelStudioImportApi(APIView):
    """Label Studio JSON export (a list of tasks with annotations) -> submitted reads of one reader."""

    @extend_schema(request=LabelStudioImportSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        serializer = LabelStudioImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            reader = annotation_selectors.users_with_role([serializer.validated_data["reader"]], Role.READER,
                                                          project=project)[0]
            result = imports.label_studio_import(project=project, tasks=serializer.validated_data["tasks"],
                                                 reader=reader, context=serializer.validated_data["context"],
                                                 actor=request.user)
        except ValueError as error:
            return error_response(error)
        return Response(result, status=status.HTTP_201_CREATED)


class ExternalPredictionsImportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=external.FORMATS)
    model_version = serializers.CharField(max_length=64)
    min_score = serializers.FloatField(min_value=0, max_value=1, default=external_services.DEFAULT_MIN_SCORE)
    predictions = serializers.JSONField()


class ExternalPredictionsImportApi(APIView):
    """Another model's predictions (COCO results JSON or Label Studio predictions) -> model version
    "external:<name>", scored by reader studies pinned to it. An entry point composing the rooms: it calls the ML
    backend's service, which places boxes on levels as our own detector's are."""

    @extend_schema(request=ExternalPredictionsImportSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        serializer = ExternalPredictionsImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = external_services.external_predictions_import(
                project=project, model_version=data["model_version"], fmt=data["format"],
                data=data["predictions"], actor=request.user, min_score=data["min_score"])
        except ValueError as error:
            return error_response(error)
        return Response(result, status=status.HTTP_201_CREATED)
