import socket
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone


@shared_task(name="annotation.worker_ping")
def worker_ping() -> dict:
    """Proves a worker is up and reaches the database; the health endpoint waits for it briefly."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"worker": socket.gethostname(), "database": "ok"}


@shared_task(name="annotation.uploads_sweep")
def uploads_sweep() -> int:
    """Gives up chunked uploads no chunk has reached for UPLOAD_ABANDONED_HOURS (celery beat runs it hourly)."""
    from annotation.services.uploads import uploads_abandoned_sweep

    return uploads_abandoned_sweep(older_than=timezone.now() - timedelta(hours=settings.UPLOAD_ABANDONED_HOURS))


@shared_task(name="annotation.outbox_relay")
def outbox_relay_task() -> dict:
    """Beat, every 30 s: publishes the outbox rows the broker refused when their work was saved (it was down),
    and deletes rows sent more than a day ago."""
    from annotation.outbox import outbox_prune, outbox_relay

    return {"sent": outbox_relay(), "pruned": outbox_prune()}


@shared_task(name="annotation.ingest_batch", bind=True, max_retries=3)
def ingest_batch(self, *, project_id: int, root: str, paths: list[str], actor_id: int | None = None,
                 site_code: str = "") -> dict:
    """One batch of a backlog import (annotation.services.backlog). Safe to run twice or in several workers at
    once: a file already held is a duplicate. A database error (a dropped connection, a deadlock) retries the
    whole batch, whose transaction rolled back."""
    from django.contrib.auth import get_user_model
    from django.db import OperationalError

    from annotation.models import Project
    from annotation.services.backlog import backlog_batch_ingest

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return {"stored": 0, "duplicate": 0, "refused": len(paths), "case_ids": [], "error": "project deleted"}
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    try:
        return backlog_batch_ingest(project=project, root=root, paths=paths, actor=actor, site_code=site_code)
    except OperationalError as error:
        raise self.retry(exc=error, countdown=5)
