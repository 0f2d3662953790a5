import socket

from celery import shared_task
from django.db import connection


@shared_task(name="annotation.worker_ping")
def worker_ping() -> dict:
    """Proves a worker is up and reaches the database; the health endpoint waits for it briefly."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"worker": socket.gethostname(), "database": "ok"}
