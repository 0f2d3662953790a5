from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from spineplatform.health import health
from spineplatform.tokens import TokenCreateView, TokenRevokeAllView, TokenRevokeView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/health", health, name="health"),
    path("api/auth/token/", TokenCreateView.as_view(), name="api-token-create"),
    path("api/auth/token/revoke/", TokenRevokeView.as_view(), name="api-token-revoke"),
    path("api/auth/token/revoke-all/", TokenRevokeAllView.as_view(), name="api-token-revoke-all"),
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
