"""Which Celery queue model work goes to: `gpu` while a worker consuming it is alive, else the CPU queue.

Pre-annotation, a project's re-annotation after its model changed, /ml/predict and training all ask
`ml_queue()` when they are sent. A worker started with `-Q gpu` (on a GPU machine) announces itself in the
broker's Redis, the one service every web process and worker already shares: its name in a sorted set scored by
the time, refreshed every HEARTBEAT_SECONDS by a thread of its own (a solo-pool worker's event loop stands still
for the hours a training takes), removed when it shuts down cleanly. A worker killed outright drops out
PRESENT_SECONDS later; work sent to `gpu` in between waits in that queue for a GPU worker, it is not lost. So a
web process knows where the GPU is without importing torch, and a site with no GPU worker runs everything on
its CPU workers. ML_QUEUE (all model work) and ML_TRAIN_QUEUE (training only) override the choice.
"""
from __future__ import annotations

import functools
import logging
import threading
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

GPU_QUEUE = "gpu"
CPU_QUEUE = "celery"
WORKERS_KEY = "spineread:gpu-workers"
HEARTBEAT_SECONDS = 30
PRESENT_SECONDS = 90  # three missed heartbeats
TRAINING_TASK = "mlbackend.training_run"
# The tasks that load a model; the Celery router (CELERY_TASK_ROUTES) sends them where ml_queue() says.
MODEL_TASKS = frozenset({"mlbackend.preannotate_cases", "mlbackend.project_model_changed", "mlbackend.predict",
                         TRAINING_TASK})


def ml_queue(*, training: bool = False) -> str:
    """The queue for model work sent now: the override if one is set, `gpu` while a GPU worker is present,
    else `celery`. Never raises: a Redis that cannot be asked means the CPU queue, which every worker set-up has."""
    override = (settings.ML_TRAIN_QUEUE if training else "") or settings.ML_QUEUE
    if override:
        return override
    return GPU_QUEUE if gpu_worker_present() else CPU_QUEUE


def route_task(name, args, kwargs, options, task=None, **extra):
    """Celery router (CELERY_TASK_ROUTES) for model tasks sent without a queue; the rest go the default way."""
    if name in MODEL_TASKS:
        return {"queue": ml_queue(training=name == TRAINING_TASK)}
    return None


@functools.cache
def _redis_for(url: str, socket_timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=socket_timeout)


def broker_redis(*, blocking_seconds: float = 0) -> redis.Redis | None:
    """A client of the broker's Redis (None without a Redis broker). Short timeouts: it sits on request paths (an
    upload, a training request, /ml/predict), where a Redis that is down must cost a second, never a hang; a
    blocking call (BLPOP) names how long it blocks."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None  # no broker (tasks run in process) or not Redis: nobody to announce to
    return _redis_for(url, 1 + blocking_seconds)


def gpu_worker_present(*, now: float | None = None) -> bool:
    """True when some GPU-queue worker has announced itself within PRESENT_SECONDS."""
    client = broker_redis()
    if client is None:
        return False
    now = time.time() if now is None else now
    try:
        return client.zcount(WORKERS_KEY, now - PRESENT_SECONDS, "+inf") > 0
    except redis.RedisError as error:
        logger.warning("GPU workers cannot be looked up (%s): model work goes to %s", error, CPU_QUEUE)
        return False


def gpu_worker_announce(worker: str, *, now: float | None = None) -> None:
    """Records `worker` as present now and forgets workers silent for longer than PRESENT_SECONDS."""
    client = broker_redis()
    if client is None:
        return
    now = time.time() if now is None else now
    with client.pipeline() as pipe:
        pipe.zadd(WORKERS_KEY, {worker: now})
        pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - PRESENT_SECONDS)
        pipe.execute()


def gpu_worker_withdraw(worker: str) -> None:
    client = broker_redis()
    if client is not None:
        client.zrem(WORKERS_KEY, worker)


def gpu_workers_forget() -> None:
    """Forgets every announced GPU worker (live ones announce themselves again within HEARTBEAT_SECONDS)."""
    client = broker_redis()
    if client is not None:
        client.delete(WORKERS_KEY)


_stopped = threading.Event()
_announcing: set[str] = set()


def worker_heartbeat_start(worker: str, queues: set[str]) -> threading.Thread | None:
    """Called when a Celery worker is ready: a worker consuming `gpu` announces itself now and every
    HEARTBEAT_SECONDS until `worker_heartbeat_stop`. Redis errors are logged and retried on the next beat."""
    if GPU_QUEUE not in queues:
        return None
    _stopped.clear()
    _announcing.add(worker)

    def beat():
        while True:
            try:
                gpu_worker_announce(worker)
            except redis.RedisError as error:
                logger.warning("GPU worker %s not announced (%s); next try in %s s", worker, error,
                               HEARTBEAT_SECONDS)
            if _stopped.wait(HEARTBEAT_SECONDS):
                return

    thread = threading.Thread(target=beat, name="gpu-worker-heartbeat", daemon=True)
    thread.start()
    return thread


def worker_heartbeat_stop(worker: str) -> None:
    """Called on a clean worker shutdown: model work stops going to `gpu` at once if it was the last one."""
    if worker not in _announcing:
        return
    _announcing.discard(worker)
    _stopped.set()
    try:
        gpu_worker_withdraw(worker)
    except redis.RedisError as error:
        logger.warning("GPU worker %s not withdrawn (%s); it drops out in %s s", worker, error, PRESENT_SECONDS)
