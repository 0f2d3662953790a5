"""Chunked, resumable DICOM uploads."""
from django.urls import path

from annotation import api_upload

urlpatterns = [
    path("projects/<slug:slug>/uploads/", api_upload.UploadStartApi.as_view(), name="api-uploads"),
    path("projects/<slug:slug>/uploads/<uuid:upload_id>/", api_upload.UploadApi.as_view(), name="api-upload"),
]
