"""The API beneath the set-up pages: projects, label schemas, users and roles."""
from django.urls import path  # noqa: F401

urlpatterns = []
