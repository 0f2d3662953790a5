# Owned by the ML backend; included at the site root by spineplatform/urls.py, so paths are full.
from django.urls import path

from mlbackend import api, views

urlpatterns = [
    # Label Studio ML-backend protocol: no trailing slash, as Label Studio calls them.
    path("ml/health", api.ml_health, name="ml-health"),
    path("ml/setup", api.ml_setup, name="ml-setup"),
    path("ml/predict", api.ml_predict, name="ml-predict"),
    path("ml/webhook", api.ml_webhook, name="ml-webhook"),
    # Platform API (coordinators).
    path("api/ml/projects/<slug:slug>/models/", api.ModelListApi.as_view(), name="api-ml-models"),
    path("api/ml/projects/<slug:slug>/models/<int:version>/serve/", api.ModelServeApi.as_view(),
         name="api-ml-model-serve"),
    path("api/ml/projects/<slug:slug>/trainings/", api.TrainingListApi.as_view(), name="api-ml-trainings"),
    path("api/ml/projects/<slug:slug>/settings/", api.ModelSettingsApi.as_view(), name="api-ml-settings"),
    # Pages.
    path("ml/projects/<slug:slug>/", views.registry_page, name="ml-registry"),
    path("ml/projects/<slug:slug>/learning-curve.png", views.learning_curve_png, name="ml-learning-curve"),
    path("ml/", views.registry_index, name="ml-index"),
]
