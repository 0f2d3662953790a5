# Owned by the interchange app; included at the site root by spineplatform/urls.py.
from django.urls import path

from interchange import api

urlpatterns = [
    path("api/projects/<slug:slug>/import/label-studio/", api.LabelStudioImportApi.as_view(),
         name="api-import-label-studio"),
]
