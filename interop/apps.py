from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "interop"
    verbose_name = "Hospital interop (DICOM networking, DICOMweb)"
