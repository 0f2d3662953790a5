"""DICOMweb (PS3.18) under /dicomweb/: QIDO-RS, WADO-RS, STOW-RS."""
from django.urls import path  # noqa: F401

urlpatterns = []
