"""GET /api/health: database, broker and worker status for load balancers and the deployment check."""
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from annotation.tasks import worker_ping


@require_GET
def health(request):
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
            report["worker"] = worker_ping.delay().get(timeout=float(request.GET.get("timeout", 5)))
        except (CeleryTimeout, OSError, ConnectionError) as error:
            report["worker"] = {"error": f"{error.__class__.__name__}: {error}"}
            status = 503
    report["status"] = "UP" if status == 200 else "DOWN"
    return JsonResponse(report, status=status)
