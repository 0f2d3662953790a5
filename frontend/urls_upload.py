"""The DICOM upload page."""
from django.urls import path  # noqa: F401

urlpatterns = []
