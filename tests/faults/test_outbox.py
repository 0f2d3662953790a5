"""The transactional outbox (annotation.outbox): a task is recorded with the work that calls for it, published
after the commit, kept when the broker refuses it, and sent once by the relay when the broker is back."""
import threading
from datetime import timedelta

import pytest
from celery import current_app
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from annotation import outbox
from annotation.models import TaskOutbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    """Sets whether tasks run in process (no broker configured) for one test: `eager(False)`."""
    before = current_app.conf.task_always_eager

    def set_eager(value: bool) -> None:
        current_app.conf.task_always_eager = value

    yield set_eager
    current_app.conf.task_always_eager = before


@pytest.fixture
def broker(monkeypatch, eager):
    """Stands for the broker: records what is published, or refuses everything while `down` is set."""
    eager(False)
    state = {"down": False, "sent": []}

    def publish(row):
        if state["down"]:
            raise OperationalError("Error 111 connecting to 127.0.0.1:5599. Connection refused.")
        state["sent"].append((row.name, row.args, row.kwargs, row.queue))

    monkeypatch.setattr(outbox, "_publish", publish)
    return state


def test_a_task_is_published_only_once_its_transaction_commits(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            row = outbox.task_send("mlbackend.preannotate_cases", args=[[7, 8]])
            assert broker["sent"] == [] and TaskOutbox.objects.get().sent_at is None

    assert broker["sent"] == [("mlbackend.preannotate_cases", [[7, 8]], {}, "")]
    row.refresh_from_db()
    assert row.sent_at is not None and row.attempts == 1 and row.last_error == ""


def test_work_rolled_back_sends_nothing_and_leaves_no_row(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ZeroDivisionError):
            with transaction.atomic():
                outbox.task_send("mlbackend.project_model_changed", args=[3])
                1 / 0
    assert broker["sent"] == [] and not TaskOutbox.objects.exists()


def test_a_refused_task_stays_unsent_without_failing_the_caller_and_the_relay_sends_it_once(
        broker, django_capture_on_commit_callbacks):
    broker["down"] = True
    with django_capture_on_commit_callbacks(execute=True):
        first = outbox.task_send("mlbackend.training_run", args=[5], queue="gpu")
        second = outbox.task_send("mlbackend.preannotate_cases", args=[[9]], kwargs={})
    assert broker["sent"] == []
    assert list(TaskOutbox.objects.values_list("sent_at", "attempts")) == [(None, 1), (None, 1)]
    assert TaskOutbox.objects.get(pk=first.pk).last_error.startswith("OperationalError: Error 111")

    assert outbox.outbox_relay() == 0  # still down: the relay stops at the first refusal
    assert list(TaskOutbox.objects.values_list("sent_at", "attempts")) == [(None, 2), (None, 1)]

    broker["down"] = False
    assert outbox.outbox_relay() == 2
    assert broker["sent"] == [("mlbackend.training_run", [5], {}, "gpu"),  # oldest first, its queue kept
                              ("mlbackend.preannotate_cases", [[9]], {}, "")]
    assert list(TaskOutbox.objects.values_list("attempts", flat=True)) == [3, 2]
    assert not TaskOutbox.objects.filter(sent_at__isnull=True).exists()
    assert outbox.outbox_relay() == 0 and len(broker["sent"]) == 2


def test_the_relay_works_through_more_rows_than_one_batch(broker, django_capture_on_commit_callbacks):
    broker["down"] = True
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(5):
            outbox.task_send("mlbackend.project_model_changed", args=[number])
    broker["down"] = False
    assert outbox.outbox_relay(batch=2) == 5
    assert [args for _, args, _, _ in broker["sent"]] == [[0], [1], [2], [3], [4]]


def test_sent_rows_are_pruned_after_a_day_unsent_rows_never(broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        old = outbox.task_send("mlbackend.project_model_changed", args=[1])
        recent = outbox.task_send("mlbackend.project_model_changed", args=[2])
        broker["down"] = True
        unsent = outbox.task_send("mlbackend.project_model_changed", args=[3])
    TaskOutbox.objects.filter(pk__in=[old.pk, unsent.pk]).update(created_at=timezone.now() - timedelta(days=3))
    TaskOutbox.objects.filter(pk=old.pk).update(sent_at=timezone.now() - timedelta(days=1, seconds=1))

    assert outbox.outbox_prune() == 1
    assert sorted(TaskOutbox.objects.values_list("pk", flat=True)) == [recent.pk, unsent.pk]


def test_the_command_and_the_beat_task_relay(broker, django_capture_on_commit_callbacks, capsys):
    from annotation.tasks import outbox_relay_task

    broker["down"] = True
    with django_capture_on_commit_callbacks(execute=True):
        outbox.task_send("mlbackend.project_model_changed", args=[1])
        outbox.task_send("mlbackend.project_model_changed", args=[2])
    broker["down"] = False
    call_command("outbox_relay")
    assert capsys.readouterr().out == "outbox: 2 sent, 0 old rows pruned\n"
    TaskOutbox.objects.update(sent_at=timezone.now() - timedelta(days=2))
    assert outbox_relay_task.apply().get() == {"sent": 0, "pruned": 2}


def test_published_through_celery_send_task_by_name_with_the_router_choosing_unless_a_queue_is_given(
        monkeypatch, eager, django_capture_on_commit_callbacks):
    calls = []
    eager(False)
    monkeypatch.setattr(current_app, "send_task", lambda name, **options: calls.append((name, options)))
    with django_capture_on_commit_callbacks(execute=True):
        outbox.task_send("mlbackend.training_run", args=[4], queue="gpu")
        outbox.task_send("mlbackend.preannotate_cases", args=[[1, 2]])
    assert calls == [
        ("mlbackend.training_run", {"args": [4], "kwargs": {}, "ignore_result": True, "queue": "gpu"}),
        ("mlbackend.preannotate_cases", {"args": [[1, 2]], "kwargs": {}, "ignore_result": True}),
    ]
    assert TaskOutbox.objects.filter(sent_at__isnull=True).count() == 0


def test_without_a_broker_the_task_runs_in_process_after_the_commit(monkeypatch, eager,
                                                                     django_capture_on_commit_callbacks):
    from annotation.tasks import worker_ping

    ran = []
    eager(True)
    monkeypatch.setattr(worker_ping, "run", lambda: ran.append("ran") or {"database": "ok"})
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            outbox.task_send("annotation.worker_ping")
            assert ran == []
    assert ran == ["ran"] and TaskOutbox.objects.get().sent_at is not None
    assert outbox.outbox_relay() == 0 and ran == ["ran"]


def test_every_enqueue_helper_goes_through_the_outbox(broker, django_capture_on_commit_callbacks):
    from mlbackend import tasks

    class Run:  # what training_run_enqueue reads of a run
        pk, queue = 12, "gpu"

    with django_capture_on_commit_callbacks(execute=True):
        tasks.training_run_enqueue(Run())
        tasks.project_model_changed_enqueue(3)
        tasks.after_cases_imported(case_ids=(5, 6))
        tasks.after_cases_imported(case_ids=[])
    assert broker["sent"] == [("mlbackend.training_run", [12], {}, "gpu"),
                              ("mlbackend.project_model_changed", [3], {}, "celery"),  # mlbackend.routing
                              ("mlbackend.preannotate_cases", [[5, 6]], {}, "celery")]
    assert {name for name, *_ in broker["sent"]} <= set(current_app.tasks)


@pytest.mark.django_db(transaction=True)
def test_two_relays_at_once_never_send_one_row_twice(monkeypatch, eager):
    """PostgreSQL's SKIP LOCKED: the second relay passes over the rows the first holds while it publishes."""
    if connection.vendor != "postgresql":
        pytest.skip("SELECT ... FOR UPDATE SKIP LOCKED needs PostgreSQL")
    eager(False)
    for number in range(6):
        TaskOutbox.objects.create(name="mlbackend.project_model_changed", args=[number])
    sent, first_is_publishing, release = [], threading.Event(), threading.Event()

    def publish(row):
        if threading.current_thread().name == "first":
            first_is_publishing.set()
            release.wait(10)
        sent.append((threading.current_thread().name, row.args[0]))

    monkeypatch.setattr(outbox, "_publish", publish)
    counts = {}

    def relay(name, batch):
        try:
            counts[name] = outbox.outbox_relay(batch=batch)
        finally:
            connection.close()

    first = threading.Thread(target=relay, args=("first", 3), name="first")
    first.start()
    assert first_is_publishing.wait(10)
    second = threading.Thread(target=relay, args=("second", 100), name="second")
    second.start()
    second.join(10)
    release.set()
    first.join(10)

    assert counts == {"first": 3, "second": 3}
    assert sorted(number for _, number in sent) == [0, 1, 2, 3, 4, 5]
    assert {number for name, number in sent if name == "first"} == {0, 1, 2}
    assert TaskOutbox.objects.filter(sent_at__isnull=True).count() == 0
