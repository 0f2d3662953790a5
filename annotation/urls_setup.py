"""The API beneath the set-up pages: projects, label schemas, users and roles."""
from django.urls import path

from annotation import api_setup

urlpatterns = [
    path("projects/create/", api_setup.ProjectCreateApi.as_view(), name="api-project-create"),
    path("projects/<slug:slug>/schema/", api_setup.ProjectSchemaApi.as_view(), name="api-project-schema"),
    path("projects/<slug:slug>/settings/", api_setup.ProjectSettingsApi.as_view(), name="api-project-settings"),
    path("projects/<slug:slug>/members/", api_setup.ProjectMembersApi.as_view(), name="api-project-members"),
    path("projects/<slug:slug>/members/remove/", api_setup.ProjectMemberRemoveApi.as_view(),
         name="api-project-member-remove"),
]
