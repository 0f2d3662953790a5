"""Coordinators' pages for projects, label schemas, users and roles."""
from django.urls import path  # noqa: F401

urlpatterns = []
