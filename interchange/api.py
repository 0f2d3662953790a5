"""REST API of the interchange formats. Views validate, call one service, and serialise."""
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

import access
from annotation import selectors as annotation_selectors
from annotation.api import error_response
from annotation.models import Role
from interchange import imports
from interchange.serializers import LabelStudioImportSerializer


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
