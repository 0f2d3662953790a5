"""The DICOM upload page."""
from django.urls import path

from frontend import views_upload

urlpatterns = [
    path("projects/<slug:slug>/upload/", views_upload.project_upload, name="project-upload"),
]
