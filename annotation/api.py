"""REST API for cases and DICOM. Views validate, call one selector or service, and serialise."""
from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import selectors, services
from annotation.serializers import (
    CaseDetailSerializer,
    CaseListSerializer,
    DicomUploadSerializer,
    ImportResultSerializer,
    ProjectSerializer,
)


class IsCoordinator(permissions.BasePermission):
    message = "Only coordinators may do this."

    def has_permission(self, request, view):
        return selectors.is_coordinator(request.user)


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectSerializer(many=True))
    def get(self, request):
        projects = selectors.projects_visible_to(request.user)
        return Response(ProjectSerializer(projects, many=True).data)


class CaseListApi(APIView):
    @extend_schema(responses=CaseListSerializer(many=True))
    def get(self, request, slug):
        project = selectors.project_get_for(request.user, slug)
        cases = selectors.case_list_with_counts(selectors.cases_visible_to(request.user, project=project))
        return Response(CaseListSerializer(cases.order_by("-priority", "id"), many=True).data)


class CaseDetailApi(APIView):
    @extend_schema(responses=CaseDetailSerializer)
    def get(self, request, case_id):
        case = selectors.case_detail(selectors.case_get_for(request.user, case_id))
        return Response(CaseDetailSerializer(case).data)


class DicomUploadApi(APIView):
    """Upload DICOM files or .zip archives into a project (coordinators only).

    The whole upload is checked before anything is stored: one bad file rejects it with 400 (413 when over the
    size limit) and stores nothing. Re-uploading an instance already held is not an error; it is counted.
    """

    permission_classes = [permissions.IsAuthenticated, IsCoordinator]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": DicomUploadSerializer}, responses={201: ImportResultSerializer})
    def post(self, request, slug):
        project = selectors.project_get_for(request.user, slug)
        serializer = DicomUploadSerializer(data={"files": request.FILES.getlist("files"),
                                                 "site_code": request.data.get("site_code", "")})
        serializer.is_valid(raise_exception=True)
        files = serializer.validated_data["files"]
        too_big = [f.name for f in files if f.size > max(settings.DICOM_MAX_FILE_BYTES, settings.DICOM_MAX_UPLOAD_BYTES)]
        if too_big:
            return Response({"detail": "file over the size limit", "errors": [{"file": n} for n in too_big]},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            result = services.case_import(
                project=project,
                sources=((f.name, f.read(), False) for f in files),
                actor=request.user,
                site_code=serializer.validated_data.get("site_code", ""),
            )
        except services.ImportRejected as rejection:
            return Response(
                {"detail": "upload rejected; nothing was stored",
                 "errors": [{"file": name, "reason": reason} for name, reason in rejection.errors]},
                status=rejection.status_code,
            )
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


class InstanceDicomApi(APIView):
    """The stored (de-identified) DICOM file, for the viewer's WADO-URI loader; same access rule as the case."""

    @extend_schema(responses={(200, "application/dicom"): bytes})
    def get(self, request, instance_id):
        instance = selectors.instance_get_for(request.user, instance_id)
        response = FileResponse(instance.file.open("rb"), content_type="application/dicom")
        response["Cache-Control"] = "private, max-age=3600"
        return response
