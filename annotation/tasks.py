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
