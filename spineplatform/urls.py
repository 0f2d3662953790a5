from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from spineplatform.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/health", health, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the Content-Security-Policy allows no inline one.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("annotation.urls")),
    path("", include("interchange.urls")),
    path("", include("mlbackend.urls")),
    path("", include("studies.urls")),
    path("dicomweb/", include("interop.urls")),
    path("", include("frontend.urls")),
]
