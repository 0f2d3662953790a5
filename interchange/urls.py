# Owned by the interchange app; included at the site root by spineplatform/urls.py.
from django.urls import path

from interchange import api, views

urlpatterns = [
    path("api/projects/<slug:slug>/import/label-studio/", api.LabelStudioImportApi.as_view(),
         name="api-import-label-studio"),
    path("api/projects/<slug:slug>/predictions/import/", api.ExternalPredictionsImportApi.as_view(),
         name="api-import-predictions"),
    path("projects/<slug:slug>/downloads/", views.project_downloads, name="project-downloads"),
    path("projects/<slug:slug>/downloads/dataset.zip", views.project_dataset_download,
         name="project-dataset-download"),
]
