"""Coordinators' pages for projects, label schemas, users and roles."""
from django.urls import path

from frontend import views_setup

urlpatterns = [
    # Not under projects/: a project's slug could be "new".
    path("new-project/", views_setup.project_new, name="project-new"),
    path("projects/<slug:slug>/schema/", views_setup.project_schema, name="project-schema"),
    path("projects/<slug:slug>/settings/", views_setup.project_settings, name="project-settings"),
    path("projects/<slug:slug>/people/", views_setup.project_people, name="project-people"),
    path("projects/<slug:slug>/people/remove/", views_setup.project_people_remove, name="project-people-remove"),
]
