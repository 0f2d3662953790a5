# The design card calls this package `platform`; that name would shadow the standard-library module `platform`,
# which torch and Ultralytics import, so the project package is `spineplatform`.
from .celery import app as celery_app

__all__ = ("celery_app",)
