"""DICOMweb (PS3.18) under /dicomweb/: QIDO-RS, WADO-RS, STOW-RS.

STOW-RS names its target project in the path (/dicomweb/projects/<slug>/studies) rather than a query parameter:
a DICOMweb client takes one base URL and appends /studies, so the project's base URL is all a sender configures.
"""
from django.urls import path

from interop import dicomweb as views

STUDY = "studies/<str:study_uid>"
SERIES = STUDY + "/series/<str:series_uid>"
INSTANCE = SERIES + "/instances/<str:sop_uid>"

urlpatterns = [
    # QIDO-RS
    path("studies", views.StudiesSearch.as_view(), name="dicomweb-studies"),
    path("series", views.SeriesSearch.as_view(), name="dicomweb-series-search"),
    path("instances", views.InstancesSearch.as_view(), name="dicomweb-instances-search"),
    path(STUDY + "/series", views.SeriesSearch.as_view(), name="dicomweb-study-series"),
    path(STUDY + "/instances", views.InstancesSearch.as_view(), name="dicomweb-study-instances"),
    path(SERIES + "/instances", views.InstancesSearch.as_view(), name="dicomweb-series-instances"),
    # WADO-RS
    path(STUDY, views.Retrieve.as_view(), name="dicomweb-study"),
    path(STUDY + "/metadata", views.Metadata.as_view(), name="dicomweb-study-metadata"),
    path(SERIES, views.Retrieve.as_view(), name="dicomweb-series"),
    path(SERIES + "/metadata", views.Metadata.as_view(), name="dicomweb-series-metadata"),
    path(INSTANCE, views.Retrieve.as_view(), name="dicomweb-instance"),
    path(INSTANCE + "/metadata", views.Metadata.as_view(), name="dicomweb-instance-metadata"),
    path(INSTANCE + "/frames/<str:frames>", views.Frames.as_view(), name="dicomweb-instance-frames"),
    path(INSTANCE + "/rendered", views.Rendered.as_view(), name="dicomweb-instance-rendered"),
    # STOW-RS
    path("projects/<slug:slug>/studies", views.Store.as_view(), name="dicomweb-store"),
]
