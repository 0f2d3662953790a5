"""GET /api/health: database, broker and worker status for load balancers and the deployment check."""
import math

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from annotation.tasks import worker_ping

# How long ?worker=1 waits for the worker's answer: a web worker is held for that long, so it is capped.
WORKER_TIMEOUT_DEFAULT_S = 5.0
WORKER_TIMEOUT_MAX_S = 10.0


def _worker_timeout(raw: str | None) -> float:
    """Seconds from ?timeout=, capped at WORKER_TIMEOUT_MAX_S; ValueError when not a non-negative number."""
    if raw is None or raw == "":
        return WORKER_TIMEOUT_DEFAULT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("timeout must be a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError("timeout must be a number of seconds, 0 or more")
    return min(value, WORKER_TIMEOUT_MAX_S)


@require_GET
def health(request):
    try:
        timeout = _worker_timeout(request.GET.get("timeout"))
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    report = {"database": connection.vendor, "broker": "in-process" if settings.CELERY_TASK_ALWAYS_EAGER else "redis"}
    status = 200
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        report["database_error"] = str(error)
        status = 503
    if request.GET.get("worker") == "1":
        try:
            report["worker"] = worker_ping.delay().get(timeout=timeout)
        except (CeleryTimeout, OSError, ConnectionError) as error:
            report["worker"] = {"error": f"{error.__class__.__name__}: {error}"}
            status = 503
    report["status"] = "UP" if status == 200 else "DOWN"
    return JsonResponse(report, status=status)
