"""Which queue model work goes to (mlbackend.routing): `gpu` while a GPU-queue worker is announced in the broker's
Redis, `celery` otherwise, the overrides first. The announcement tests use the broker CI configures (skipped
without one); the rest run anywhere."""
import os
import time

import pytest
from celery import current_app

from mlbackend import routing, services, tasks
from mlbackend.routing import CPU_QUEUE, GPU_QUEUE, ml_queue

BROKER = os.environ.get("CELERY_BROKER_URL", "")
needs_redis = pytest.mark.skipif(not BROKER.startswith("redis"), reason="needs CELERY_BROKER_URL (Redis)")


@pytest.fixture
def broker(settings):
    settings.CELERY_BROKER_URL = BROKER
    settings.ML_QUEUE = settings.ML_TRAIN_QUEUE = ""
    routing.gpu_workers_forget()
    yield routing.broker_redis()
    routing.gpu_workers_forget()


def test_without_a_broker_model_work_goes_to_the_cpu_queue_and_overrides_win(settings):
    settings.CELERY_BROKER_URL = ""
    settings.ML_QUEUE = settings.ML_TRAIN_QUEUE = ""
    assert (ml_queue(), ml_queue(training=True)) == (CPU_QUEUE, CPU_QUEUE)
    settings.ML_TRAIN_QUEUE = "train-hosts"
    assert (ml_queue(), ml_queue(training=True)) == (CPU_QUEUE, "train-hosts")
    settings.ML_QUEUE = "ml-hosts"
    assert (ml_queue(), ml_queue(training=True)) == ("ml-hosts", "train-hosts")


def test_a_broker_that_is_down_means_the_cpu_queue_at_once(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # discard port: connection refused
    settings.ML_QUEUE = settings.ML_TRAIN_QUEUE = ""
    started = time.monotonic()
    assert ml_queue() == CPU_QUEUE and ml_queue(training=True) == CPU_QUEUE
    assert time.monotonic() - started < 3
    routing.worker_heartbeat_stop("never-started@host")  # nothing announced: nothing to withdraw, no error


@needs_redis
def test_an_announced_gpu_worker_takes_model_work_until_it_goes_silent_or_withdraws(broker):
    assert ml_queue() == CPU_QUEUE
    routing.gpu_worker_announce("gpu-1@host")
    assert ml_queue() == GPU_QUEUE and ml_queue(training=True) == GPU_QUEUE
    now = time.time()
    assert routing.gpu_worker_present(now=now + routing.PRESENT_SECONDS - 5)
    assert not routing.gpu_worker_present(now=now + routing.PRESENT_SECONDS + 5)  # missed three heartbeats

    routing.gpu_worker_announce("gpu-2@host")
    routing.gpu_worker_withdraw("gpu-1@host")
    assert ml_queue() == GPU_QUEUE  # one left
    routing.gpu_worker_withdraw("gpu-2@host")
    assert ml_queue() == CPU_QUEUE


@needs_redis
def test_an_old_announcement_is_dropped_by_the_next_one(broker):
    routing.gpu_worker_announce("gone@host", now=time.time() - routing.PRESENT_SECONDS - 1)
    assert ml_queue() == CPU_QUEUE
    routing.gpu_worker_announce("live@host")
    assert [name.decode() for name in broker.zrange(routing.WORKERS_KEY, 0, -1)] == ["live@host"]


@needs_redis
def test_the_overrides_win_over_a_present_gpu_worker(broker, settings):
    routing.gpu_worker_announce("gpu-1@host")
    settings.ML_QUEUE = "celery"
    assert ml_queue() == "celery" and ml_queue(training=True) == "celery"
    settings.ML_QUEUE, settings.ML_TRAIN_QUEUE = "", "big-gpu"
    assert ml_queue() == GPU_QUEUE and ml_queue(training=True) == "big-gpu"


@needs_redis
def test_only_a_worker_consuming_gpu_heartbeats_and_its_clean_shutdown_withdraws_it(broker):
    assert routing.worker_heartbeat_start("cpu-1@host", {"celery"}) is None
    assert ml_queue() == CPU_QUEUE
    thread = routing.worker_heartbeat_start("gpu-1@host", {"celery", "gpu"})
    try:
        assert ml_queue() == GPU_QUEUE
    finally:
        routing.worker_heartbeat_stop("gpu-1@host")
    thread.join(timeout=5)
    assert not thread.is_alive() and ml_queue() == CPU_QUEUE


@needs_redis
def test_the_celery_router_sends_model_tasks_where_ml_queue_says_and_the_rest_to_the_default(broker):
    def routed(name):
        return current_app.amqp.router.route({}, name)["queue"].name

    assert routed("mlbackend.preannotate_cases") == CPU_QUEUE
    routing.gpu_worker_announce("gpu-1@host")
    assert [routed(name) for name in sorted(routing.MODEL_TASKS)] == [GPU_QUEUE] * 4
    assert routed("annotation.outbox_relay") == CPU_QUEUE
    assert current_app.amqp.router.route({"queue": "elsewhere"}, "mlbackend.predict")["queue"].name == "elsewhere"


@needs_redis
def test_uploads_promotions_and_trainings_are_sent_to_the_gpu_queue_while_a_gpu_worker_is_there(
        broker, ml_project, sent_tasks, django_capture_on_commit_callbacks):
    routing.gpu_worker_announce("gpu-1@host")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.after_cases_imported(case_ids=[7])
        tasks.project_model_changed_enqueue(ml_project.pk)
        run = services.training_request(project=ml_project)
        tasks.training_run_enqueue(run)
    assert run.queue == GPU_QUEUE
    assert sent_tasks == [("preannotate_cases_task", [[7]], GPU_QUEUE),
                          ("project_model_changed_task", [ml_project.pk], GPU_QUEUE),
                          ("training_run_task", [run.pk], GPU_QUEUE)]

    routing.gpu_worker_withdraw("gpu-1@host")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.after_cases_imported(case_ids=[8])
    assert sent_tasks[-1] == ("preannotate_cases_task", [[8]], CPU_QUEUE)


# A real worker consuming only `gpu` (on CPU here: the queue's name is what routing looks at) -------------------

@pytest.fixture
def gpu_worker(settings, tmp_path):
    from tests.conftest import celery_worker_started

    settings.ML_QUEUE = settings.ML_TRAIN_QUEUE = ""
    process = celery_worker_started(settings, tmp_path, name="gpu-routing", queue=GPU_QUEUE)
    deadline = time.monotonic() + 90
    while not routing.gpu_worker_present():  # announced when it is ready to consume
        assert process.poll() is None and time.monotonic() < deadline, "the gpu worker never announced itself"
        time.sleep(0.3)
    yield process
    process.terminate()  # a clean shutdown: it withdraws
    process.wait(timeout=30)


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_upload_is_pre_annotated_and_ml_predict_answered_by_the_gpu_worker(
        gpu_worker, client, coordinator, ml_project, phantom_dir, tiny_weights, settings):
    from annotation.models import Case, Finding, Source, TaskOutbox
    from mlbackend.services.ml_client import ml_client_rotate
    from tests.mlbackend.conftest import register_served

    version = register_served(ml_project, tiny_weights, conf=0.001)
    folder, truth = phantom_dir
    client.force_login(coordinator)
    study = sorted((folder / truth["cases"][0]["case_key"]).rglob("*.dcm"))
    files = [open(path, "rb") for path in study]
    uploaded = client.post("/api/projects/ml/dicom/", {"files": files})
    for handle in files:
        handle.close()
    assert uploaded.status_code == 201, uploaded.content
    case = Case.objects.get(pk=uploaded.json()["case_ids"][0])
    sent = TaskOutbox.objects.get(name="mlbackend.preannotate_cases")
    assert (sent.args, sent.queue, sent.sent_at is not None) == ([[case.pk]], GPU_QUEUE, True)
    deadline = time.monotonic() + 120
    while not Finding.objects.filter(case=case, source=Source.MODEL).exists():
        assert gpu_worker.poll() is None and time.monotonic() < deadline, "no pre-annotation from the gpu worker"
        time.sleep(0.5)
    assert set(Finding.objects.filter(case=case, source=Source.MODEL).values_list("model_version", flat=True)) == {
        version.label}

    credentials = ml_client_rotate(project=ml_project)
    auth = {"HTTP_AUTHORIZATION": "Basic " + __import__("base64").b64encode(
        f"{credentials.username}:{credentials.password}".encode()).decode()}
    instance = case.series.get(plane="sagittal").instances.order_by("pk")[6]
    body = {"project": "7.1", "tasks": [{"id": 1, "data": {"image": f"/api/instances/{instance.pk}/dicom"}}]}
    answered = client.post("/ml/predict", body, content_type="application/json", **auth)
    assert answered.status_code == 200, answered.content
    [result] = answered.json()["results"]
    assert result["model_version"] == version.label and result["result"], "conf 0.001 boxes something"
    assert {item["value"]["rectanglelabels"][0] for item in result["result"]} <= set(version.class_names)
    refused = client.post("/ml/predict", {"tasks": []}, content_type="application/json", **auth)
    assert (refused.status_code, refused.json()) == (400, {"error": "tasks must be a non-empty list"})
    # A refusal found on the worker comes back as the same 400 at once.
    refused = client.post("/ml/predict", {**body, "label_config": "<View><Image name='img'"},
                          content_type="application/json", **auth)
    assert refused.status_code == 400 and refused.json()["error"]

    # Nobody consumes the queue asked for: 503 with Retry-After once the timeout is up; the prediction expires.
    settings.ML_QUEUE, settings.ML_PREDICT_TIMEOUT = "nobody-listens", 1
    started = time.monotonic()
    unanswered = client.post("/ml/predict", body, content_type="application/json", **auth)
    assert (unanswered.status_code, unanswered["Retry-After"]) == (503, "30")
    assert unanswered.json() == {"error": "no ML worker (queue nobody-listens) answered within 1 s"}
    assert 1 <= time.monotonic() - started < 5
    routing.broker_redis().delete("nobody-listens", "_kombu.binding.nobody-listens",
                                  "_kombu.binding_permanent.nobody-listens")
