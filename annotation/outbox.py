"""The transactional outbox: every Celery task the app sends is first a TaskOutbox row.

`task_send` writes the row in the caller's transaction and publishes it once that commits, so a task is sent
exactly when the work that called for it is saved: never for work rolled back, never lost for work saved while
the broker (Redis) is down. A row the broker refused stays unsent; `outbox_relay` publishes those, oldest
first (the beat task `annotation.outbox_relay` every 30 s, or `manage.py outbox_relay`). Rows are locked while
they are published (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL), so two relays, or a relay and the
committing process, never send one row twice. A process killed between the broker's acceptance and the row's
`sent_at` sends it again on the next relay: delivery is at least once, and the tasks are idempotent for that.

Which queue a task goes to stays with the router (CELERY_TASK_ROUTES) unless the caller names one.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import TaskOutbox

logger = logging.getLogger(__name__)

SENT_KEPT = timedelta(days=1)


def task_send(name: str, *, args=(), kwargs: dict | None = None, queue: str | None = None) -> TaskOutbox:
    """Records the task `name` (a registered Celery task name) in the caller's transaction and publishes it
    once that commits. Returns the row; publishing errors are logged, never raised (the relay retries).
    With CELERY_TASK_ALWAYS_EAGER (no broker) the task runs in process after the commit, as `.delay` did, and
    its exceptions propagate."""
    with transaction.atomic():
        row = TaskOutbox.objects.create(name=name, args=list(args), kwargs=dict(kwargs or {}), queue=queue or "")
        transaction.on_commit(lambda: _send_committed(row.pk))
    return row


def outbox_relay(*, batch: int = 100) -> int:
    """Publishes unsent rows oldest first; stops at the first the broker refuses (it is down: the rest wait
    for the next round). Returns how many were sent."""
    sent = 0
    while True:
        with transaction.atomic():
            rows = list(TaskOutbox.objects.select_for_update(skip_locked=True)
                        .filter(sent_at__isnull=True).order_by("id")[:batch])
            for row in rows:
                if not _attempt(row):
                    return sent
                sent += 1
        if len(rows) < batch:
            return sent


def outbox_prune(*, older_than: timedelta = SENT_KEPT) -> int:
    """Deletes rows sent more than `older_than` ago; unsent rows are never deleted. Returns how many."""
    deleted, _ = TaskOutbox.objects.filter(sent_at__lt=timezone.now() - older_than).delete()
    return deleted


def _send_committed(row_id: int) -> None:
    if current_app.conf.task_always_eager:
        # No broker to be down: marked sent first, so that a task failing in process is not run again by a
        # relay, then run outside any transaction of ours, its errors propagating as they did with .delay.
        if TaskOutbox.objects.filter(pk=row_id, sent_at__isnull=True).update(
                sent_at=timezone.now(), attempts=F("attempts") + 1):
            _publish(TaskOutbox.objects.get(pk=row_id))
        return
    with transaction.atomic():
        row = TaskOutbox.objects.select_for_update(skip_locked=True).filter(
            pk=row_id, sent_at__isnull=True).first()
        if row is not None:  # else a relay holds it or has sent it
            _attempt(row)


def _attempt(row: TaskOutbox) -> bool:
    """Publishes one locked row and records the outcome on it; True when the broker took it."""
    row.attempts += 1
    try:
        _publish(row)
    except Exception as error:  # kombu's OperationalError, redis-py's ConnectionError, a timeout: all the same
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        row.save(update_fields=["attempts", "last_error"])
        logger.warning("task %s (outbox %s) not published, left for the relay: %s", row.name, row.pk,
                       row.last_error)
        return False
    row.sent_at = timezone.now()
    row.save(update_fields=["attempts", "last_error", "sent_at"])
    return True


def _publish(row: TaskOutbox) -> None:
    """Hands one row to Celery: the broker, or the task itself in eager mode."""
    options = {"queue": row.queue} if row.queue else {}
    if current_app.conf.task_always_eager:
        current_app.tasks[row.name].apply_async(args=row.args, kwargs=row.kwargs, **options)
    else:
        # Nobody waits on these results: without ignore_result a web process would subscribe to each task's
        # result channel in Redis and keep the subscriptions for ever.
        current_app.send_task(row.name, args=row.args, kwargs=row.kwargs, ignore_result=True, **options)
