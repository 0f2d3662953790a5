"""The Celery app. Settings live in Django settings under the CELERY_ prefix."""
import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")

app = Celery("spineplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def gpu_worker_announced(sender, **kwargs):
    """A worker consuming the `gpu` queue tells web processes it is there (mlbackend.routing)."""
    from mlbackend.routing import worker_heartbeat_start

    worker_heartbeat_start(sender.hostname, {queue.name for queue in sender.task_consumer.queues})


@worker_shutdown.connect
def gpu_worker_withdrawn(sender, **kwargs):
    from mlbackend.routing import worker_heartbeat_stop

    worker_heartbeat_stop(sender.hostname)
