"""Chunked, resumable DICOM upload (coordinators of the project; each upload only for the one who started it).

POST names the file and its size; PUTs send its bytes in order with `Content-Range: bytes START-END/TOTAL`; GET
says how far it got, so that a client whose connection dropped resumes from there. The PUT that completes the
file ingests it and answers the per-file results.
"""
import re

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

import access
from annotation import services
from annotation.services.uploads import CHUNK_MAX_BYTES

CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class UploadStartSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=1000)
    size = serializers.IntegerField()


class UploadResultSerializer(serializers.Serializer):
    file = serializers.CharField()
    result = serializers.ChoiceField(choices=["stored", "duplicate", "refused"])
    reason = serializers.CharField(allow_blank=True)
    case_id = serializers.IntegerField(allow_null=True)


class UploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    received = serializers.IntegerField()
    status = serializers.CharField()
    results = UploadResultSerializer(many=True)
    url = serializers.SerializerMethodField()

    def get_url(self, upload) -> str:
        return reverse("api-upload", args=[upload.project.slug, upload.pk])


class UploadStartApi(APIView):
    @extend_schema(request=UploadStartSerializer, responses={201: UploadSerializer})
    def post(self, request, slug):
        project = access.project_coordinated_get_for(request.user, slug)
        serializer = UploadStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        size = serializer.validated_data["size"]
        if size > settings.DICOM_MAX_UPLOAD_BYTES:
            return Response({"detail": f"the file is over the upload size limit of "
                                       f"{settings.DICOM_MAX_UPLOAD_BYTES} bytes"},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        try:
            upload = services.upload_start(project=project, user=request.user,
                                           filename=serializer.validated_data["filename"], size=size)
        except ValueError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


def _content_range(request) -> tuple[int, int, int] | None:
    match = CONTENT_RANGE.match(request.META.get("HTTP_CONTENT_RANGE", "").strip())
    return tuple(int(part) for part in match.groups()) if match else None


def _chunk(request) -> bytes:
    """The raw body, read from the stream: Django's DATA_UPLOAD_MAX_MEMORY_SIZE guards form bodies, and this
    view has its own, larger, limit (checked against the Content-Length before it is read)."""
    stream = request.stream
    return stream.read(CHUNK_MAX_BYTES + 1) if stream is not None else b""


class UploadApi(APIView):
    @extend_schema(responses=UploadSerializer)
    def get(self, request, slug, upload_id):
        project = access.project_coordinated_get_for(request.user, slug)
        return Response(UploadSerializer(access.upload_get_for(request.user, project, upload_id)).data)

    @extend_schema(request={"application/octet-stream": bytes}, responses=UploadSerializer, parameters=[
        OpenApiParameter("Content-Range", location=OpenApiParameter.HEADER, required=True,
                         description="bytes START-END/TOTAL; START must equal the upload's `received`")])
    def put(self, request, slug, upload_id):
        project = access.project_coordinated_get_for(request.user, slug)
        upload = access.upload_get_for(request.user, project, upload_id)
        if int(request.META.get("CONTENT_LENGTH") or 0) > CHUNK_MAX_BYTES:
            return Response({"detail": f"a chunk may hold at most {CHUNK_MAX_BYTES} bytes"},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        content_range = _content_range(request)
        if content_range is None:
            return Response({"detail": "the Content-Range header must read 'bytes START-END/TOTAL'"},
                            status=status.HTTP_400_BAD_REQUEST)
        start, end, total = content_range
        chunk = _chunk(request)
        if len(chunk) > CHUNK_MAX_BYTES:
            return Response({"detail": f"a chunk may hold at most {CHUNK_MAX_BYTES} bytes"},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        if not chunk or end - start + 1 != len(chunk):
            return Response({"detail": f"the body holds {len(chunk)} bytes; the Content-Range says "
                                       f"{max(end - start + 1, 0)}"}, status=status.HTTP_400_BAD_REQUEST)
        try:
            upload = services.upload_receive(upload=upload, start=start, total=total, chunk=chunk,
                                             actor=request.user)
        except services.UploadConflict as conflict:
            return Response({"detail": str(conflict), "received": conflict.received},
                            status=status.HTTP_409_CONFLICT)
        except ValueError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(UploadSerializer(upload).data)
