"""Soak: mixed load on the live stack with a Redis restart and a killed Celery worker, then every accepted write
checked in the database.

Sets up its own PostgreSQL database (--database, dropped at the end) and its own redis-server on a free port
(AOF on, as docker/ runs it: queued tasks survive the restart; --redis-ephemeral runs it without), migrates,
creates an exhaustive project served by the shipped starter model (mlbackend/starter), a coordinator and
--readers readers in pairs, each pair double-reading its own image-less cases (reads need no pixels; the
phantom studies go through the upload path). Starts gunicorn and one Celery worker (with beat, which relays
the outbox every 30 s), then for --seconds:

- every reader opens a case, autosaves its full draft every ~--think s (2 to 5 times) and submits it;
- the coordinator uploads a new phantom study every --upload-every s; the import's hook has the worker
  pre-annotate it with the served model (the predictions; /ml/predict, Label Studio's protocol, is not called:
  it needs a Label Studio label config and an image host);
- at 1/3 of the run Redis is SIGKILLed and started again --redis-down s later; at 1/2 the worker is SIGKILLed
  and a new one started.

Every write the server accepted (2xx) is recorded with what was sent. At the end, once the tasks are done (or
--drain-timeout passed): each read's final state is the last accepted write (or a later request whose answer
never came), each accepted draft save left its audit row (same transaction), each accepted upload's images
are stored and its cases pre-annotated, and no outbox row is unsent. Anything else is a lost write.

recovery_seconds: from Redis being started again until a draft save answers 200 within a second and
/api/health?worker=1 (a task through the broker, run by the worker, its result back) answers 200.
outbox_drained_seconds: until no task saved during the outage is waiting for the relay.
draft_p95_ms is compared with baseline_draft_p95_ms, the same saves before any fault in the same run.

    .venv/bin/python bench/soak.py [--seconds 600] [--readers 100]     # last line: one JSON object
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server of the soak's own, on its own port (the machine's usual Redis is left alone)."""

    def __init__(self, folder: Path, persistent: bool):
        self.port, self.folder, self.persistent, self.process = free_port(), folder, persistent, None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--dir", str(self.folder), "--appendonly", "yes" if self.persistent else "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


class Soak:
    def __init__(self, args, base: str, users, api_load):
        self.args, self.base, self.api = args, base, api_load
        self.readers, self.probe_user, self.coordinator = users
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = Counter()  # the load's failed requests, by kind
        self.probe_failures = Counter()  # the recovery probes', which fail by design until the stack is back
        self.writes = {}  # (reader, case) -> [(kind, findings, "ok" | "uncertain")], in order
        self.draft_oks = Counter()  # (reader, case) -> accepted draft saves
        self.uploads = []  # (case ids, files sent) of accepted uploads
        self.latencies = []  # (seconds since the start, draft save seconds)
        self.started = time.monotonic()
        self.until = self.started + args.seconds

    def call(self, session, method: str, path: str, kind: str, **kwargs):
        """One request; counted; an error is kept by kind. Returns the response, or None when none came."""
        errors = self.probe_failures if kind.startswith("probe") else self.errors
        with self.lock:
            self.requests += 1
        try:
            response = session.request(method, f"{self.base}{path}", timeout=kwargs.pop("timeout", 30), **kwargs)
        except requests.RequestException as error:
            with self.lock:
                errors[f"{kind} {type(error).__name__}"] += 1
            return None
        if not 200 <= response.status_code < 300:
            with self.lock:
                errors[f"{kind} {response.status_code}"] += 1
        return response

    def findings(self, rng) -> list:
        grades = [{"disc_level": level, "finding_type": self.api.GRADE, "value": rng.choice(self.api.GRADES)}
                  for level in self.api.LUMBAR_LEVELS]
        return grades + [{"disc_level": level, "finding_type": name, "value": value}
                         for level in self.api.LUMBAR_LEVELS for name, value in self.api.NEGATIVE.items()]

    def record(self, reader: str, case_id: int, kind: str, findings: list, response) -> None:
        content = frozenset((f["disc_level"], f["finding_type"], str(f["value"])) for f in findings)
        outcome = "ok" if response is not None and response.status_code < 300 else (
            "uncertain" if response is None or response.status_code >= 500 else None)
        if outcome is None:  # refused (4xx): nothing was stored
            return
        with self.lock:
            self.writes.setdefault((reader, case_id), []).append((kind, content, outcome))
            if kind == "draft" and outcome == "ok":
                self.draft_oks[(reader, case_id)] += 1

    def reader_loop(self, username: str, cookies: dict, case_ids: list, seed: int) -> None:
        rng = random.Random(seed)
        session = self.api.signed_in(cookies)
        time.sleep(rng.random() * self.args.think)
        for case_id in case_ids:
            if time.monotonic() >= self.until:
                return
            if self.call(session, "POST", f"/api/cases/{case_id}/read/", "open") is None:
                continue
            for _ in range(rng.randint(2, 5)):
                if time.monotonic() >= self.until:
                    return
                findings = self.findings(rng)
                started = time.perf_counter()
                response = self.call(session, "PUT", f"/api/cases/{case_id}/read/draft/", "draft",
                                     json={"findings": findings})
                if response is not None and response.status_code == 200:
                    with self.lock:
                        self.latencies.append((time.monotonic() - self.started, time.perf_counter() - started))
                self.record(username, case_id, "draft", findings, response)
                time.sleep(max(0.0, self.args.think * rng.uniform(0.8, 1.2) - (time.perf_counter() - started)))
            findings = self.findings(rng)
            response = self.call(session, "POST", f"/api/cases/{case_id}/read/submit/", "submit",
                                 json={"findings": findings})
            self.record(username, case_id, "submit", findings, response)

    def upload_next(self) -> None:
        """The coordinator uploads the next phantom study (each study once)."""
        with self.lock:
            if not self.studies:
                return
            study = self.studies.pop(0)
        files = sorted(study.glob("*.dcm"))
        response = self.call(self.api.signed_in(self.coordinator), "POST", f"/api/projects/{self.args.slug}/dicom/",
                             "upload", files=[("files", (f.name, f.read_bytes(), "application/dicom")) for f in files],
                             timeout=120)
        if response is not None and response.status_code == 201:
            with self.lock:
                self.uploads.append((response.json()["case_ids"], len(files)))

    def upload_loop(self) -> None:
        while True:
            time.sleep(self.args.upload_every)
            if time.monotonic() >= self.until:
                return
            self.upload_next()

    def healthy(self, session, case_id: int) -> bool:
        """A draft save answered 200 within a second, and a task went through the broker and the worker."""
        response = self.call(session, "PUT", f"/api/cases/{case_id}/read/draft/", "probe draft",
                             json={"findings": self.findings(random.Random(0))}, timeout=5)
        if response is None or response.status_code != 200 or response.elapsed.total_seconds() > 1:
            return False
        response = self.call(session, "GET", "/api/health?worker=1&timeout=2", "probe health", timeout=10)
        return response is not None and response.status_code == 200

    def wait_healthy(self, session, case_id: int, deadline_s: float = 300) -> float | None:
        started = time.monotonic()
        while time.monotonic() - started < deadline_s:
            if self.healthy(session, case_id):
                return round(time.monotonic() - started, 1)
            time.sleep(0.5)
        return None


def outbox_unsent() -> int:
    from annotation.models import TaskOutbox

    return TaskOutbox.objects.filter(sent_at__isnull=True).count()


def reads_by_key_now(project, probe_reader, readers) -> dict:
    """(reader, case) -> the latest version of the reader's read of the case, as stored."""
    from annotation.models import Read

    names = {r.pk: r.username for r in readers}
    reads = {}
    for read in (Read.objects.filter(case__project=project, context="").exclude(reader=probe_reader)
                 .prefetch_related("findings").order_by("version")):
        reads[(names[read.reader_id], read.case_id)] = {
            "id": read.pk, "status": read.status,
            "findings": frozenset((f.disc_level, f.finding_type, f.value) for f in read.findings.all())}
    return reads


def tamper(project) -> None:
    """Three writes made to vanish, one of each kind the check looks at (--tamper)."""
    from django.db import connection

    from annotation.models import AuditEvent, Finding, Instance, Read

    with connection.cursor() as cursor:  # the audit log is append-only by trigger: this is the bench's own database
        cursor.execute("ALTER TABLE annotation_auditevent DISABLE TRIGGER USER")
        AuditEvent.objects.filter(pk=AuditEvent.objects.filter(action="read_save_draft").values("pk")[:1]).delete()
        cursor.execute("ALTER TABLE annotation_auditevent ENABLE TRIGGER USER")
    submitted = Read.objects.filter(case__project=project, status=Read.Status.SUBMITTED).first()
    Finding.objects.filter(read=submitted, finding_type="pfirrmann").delete()
    Instance.objects.filter(series__case__project=project).last().delete()


def verify(soak: Soak, reads_by_key: dict, preannotated: set, initial_cases: list) -> Counter:
    """What the database lacks of what the server accepted, by kind."""
    from annotation.models import AuditEvent, Instance

    lost = Counter()
    audit_counts = Counter(AuditEvent.objects.filter(action="read_save_draft").values_list("object_id", flat=True))
    for key, writes in soak.writes.items():
        read = reads_by_key.get(key)
        if read is None:
            lost["read missing"] += 1
            continue
        stored = ("submit" if read["status"] == "submitted" else "draft", read["findings"])
        last_ok = max((i for i, w in enumerate(writes) if w[2] == "ok"), default=None)
        # The state must be the last accepted write's, or that of a later request whose answer never came.
        candidates = writes[last_ok:] if last_ok is not None else writes
        if last_ok is not None and stored not in [(kind, content) for kind, content, _ in candidates]:
            lost[f"read state ({writes[last_ok][0]})"] += 1
        drafts_ok = soak.draft_oks[key]
        drafts_maybe = sum(1 for kind, _, outcome in writes if kind == "draft" and outcome == "uncertain")
        audited = audit_counts[str(read["id"])]
        if not drafts_ok <= audited <= drafts_ok + drafts_maybe:
            lost["draft save without its audit row"] += max(0, drafts_ok - audited) or 1
    for case_ids, files in soak.uploads:
        if Instance.objects.filter(series__case_id__in=case_ids).count() < files:
            lost["uploaded images"] += 1
    for case_id in {c for case_ids, _ in soak.uploads for c in case_ids} | set(initial_cases):
        if case_id not in preannotated:
            lost["pre-annotation task"] += 1
    if outbox_unsent():
        lost["outbox rows unsent"] += outbox_unsent()
    return lost


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--readers", type=int, default=100, help="an even number: readers read in pairs")
    parser.add_argument("--think", type=float, default=10.0, help="seconds between a reader's autosaves")
    parser.add_argument("--upload-every", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn processes (gthread)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--redis-down", type=float, default=5.0, help="seconds Redis stays down")
    parser.add_argument("--redis-ephemeral", action="store_true", help="Redis without AOF: queued tasks die with it")
    parser.add_argument("--postgres", default=os.environ.get("SOAK_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
                        help="the PostgreSQL server (no database name)")
    parser.add_argument("--database", default="soak")
    parser.add_argument("--drain-timeout", type=float, default=240.0,
                        help="how long the tasks may take to finish after the load stops")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs' folder")
    parser.add_argument("--tamper", action="store_true",
                        help="the check's own check: before it, delete one accepted draft save's audit row, one "
                             "submitted read's findings and one uploaded image; lost_writes must then be 3")
    args = parser.parse_args()
    args.readers -= args.readers % 2
    args.slug = "soak"

    admin = psycopg2.connect(f"{args.postgres}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{args.database}"')
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    redis = Redis(folder, persistent=not args.redis_ephemeral)
    redis.start()
    broker = f"redis://127.0.0.1:{redis.port}"
    # This process and every one it starts run on the soak's own database and Redis.
    os.environ.update(
        DATABASE_URL=f"{args.postgres}/{args.database}", CELERY_BROKER_URL=f"{broker}/0", CACHE_URL=f"{broker}/1",
        SPINEREAD_VAR_DIR=str(folder / "var"), MEDIA_ROOT=str(folder / "media"), DEBUG="0", LOG_LEVEL="WARNING",
        SECRET_KEY=os.environ.get("SECRET_KEY", "soak-secret-key"), DEID_SALT=os.environ.get("DEID_SALT", "soak-salt"),
        # A task whose worker was killed is handed out again after this long (12 h by default): within the run.
        CELERY_VISIBILITY_TIMEOUT="60",
    )
    sys.path.insert(0, str(ROOT / "bench"))
    import api_load  # noqa: E402  (sets Django up, on the environment above)

    from django.core.management import call_command
    from django.db import connection

    from annotation import services
    from annotation.dicom import path_sources
    from annotation.models import Case, Role
    from fixtures.phantoms import generate_phantoms
    from mlbackend import services as ml_services
    from mlbackend.models import CaseInformativeness

    processes = {}
    try:
        call_command("migrate", verbosity=0)
        services.roles_ensure()
        coordinator = api_load.reader_users("soak-coordinator", 1)[0]
        services.user_set_role(user=coordinator, role=Role.COORDINATOR)
        project = services.project_create(slug=args.slug, name="Soak", actor=coordinator)
        served = ml_services.starter_register(project=project)
        n_studies = int(args.seconds // args.upload_every) + 3
        generate_phantoms(n_cases=n_studies, out_dir=folder / "phantoms", seed=7)
        studies = sorted(p for p in (folder / "phantoms").iterdir() if p.is_dir())
        # Two phantom studies imported before the start: the project has images, and their pre-annotation
        # waits in Redis for the worker.
        initial = []
        for study in studies[:2]:
            initial += services.case_import(project=project, sources=path_sources(study, max_file_bytes=10**8)).case_ids
        readers = api_load.reader_users("soak", args.readers + 1)
        cases_per_pair = int(args.seconds // (3.5 * args.think)) + 2
        pairs = []
        for pair in range(args.readers // 2):
            two = readers[2 * pair:2 * pair + 2]
            cases = Case.objects.bulk_create([
                Case(project=project, patient_key=f"SOAK{pair:05d}{i:04d}", study_instance_uid=f"2.25.9{pair}.{i}")
                for i in range(cases_per_pair)])
            for case in cases:
                for reader in two:
                    services.case_assign(case=case, user=reader, role=Role.READER)
            pairs.append((two, [c.pk for c in cases]))
        probe_reader = readers[-1]
        probe_case = Case.objects.create(project=project, patient_key="SOAKPROBE", study_instance_uid="2.25.99")
        services.case_assign(case=probe_case, user=probe_reader, role=Role.READER)
        services.read_open(case=probe_case, reader=probe_reader)
        connection.close()

        port = api_load.free_port()
        base = f"http://127.0.0.1:{port}"
        logs = {name: open(folder / f"{name}.log", "w") for name in ("gunicorn", "worker-1", "worker-2")}
        processes["gunicorn"] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "spineplatform.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
             "--keep-alive", str(int(args.think + 5)), "--timeout", "120", "--log-level", "warning"],
            cwd=ROOT, stdout=logs["gunicorn"], stderr=subprocess.STDOUT)

        def worker_start(name: str):
            # solo pool: a SIGKILL takes the whole worker (and its embedded beat) down at once.
            return subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "spineplatform", "worker", "--beat", "--pool=solo",
                 "--loglevel=WARNING", "-n", f"{name}@%h"],
                cwd=ROOT, stdout=logs[name], stderr=subprocess.STDOUT)

        processes["worker"] = worker_start("worker-1")
        api_load.server_wait(base, processes["gunicorn"])
        users = ([(r.username, api_load.session_cookies(r)) for r in readers[:-1]],
                 api_load.session_cookies(probe_reader), api_load.session_cookies(coordinator))
        cookies = dict(users[0])
        soak = Soak(args, base, users, api_load)
        probe = api_load.signed_in(users[1])
        load_average = os.getloadavg()[0]

        threads = [threading.Thread(target=soak.reader_loop, args=(two[k].username, cookies[two[k].username],
                                                                  case_ids, 1000 * n + k))
                   for n, (two, case_ids) in enumerate(pairs) for k in range(2)]
        soak.studies = studies[2:]
        threads.append(threading.Thread(target=soak.upload_loop))
        for thread in threads:
            thread.start()

        faults = {}
        time.sleep(max(0.0, soak.started + args.seconds / 3 - time.monotonic()))
        redis.kill()
        faults["redis_killed_at_s"] = round(time.monotonic() - soak.started, 1)
        # An upload while Redis is down: its pre-annotation task must wait in the outbox, not be lost.
        threads.append(threading.Thread(target=soak.upload_next))
        threads[-1].start()
        time.sleep(args.redis_down)
        redis.start()
        back = time.monotonic()
        faults["recovery_seconds"] = soak.wait_healthy(probe, probe_case.pk)

        def outbox_drained() -> None:  # the beat relays every 30 s; the worker kill below does not wait for it
            while outbox_unsent() and time.monotonic() - back < 300:
                time.sleep(0.5)
            faults["outbox_drained_seconds"] = round(time.monotonic() - back, 1)
            connection.close()

        drain_thread = threading.Thread(target=outbox_drained)
        drain_thread.start()

        time.sleep(max(0.0, soak.started + args.seconds / 2 - time.monotonic()))
        processes["worker"].send_signal(signal.SIGKILL)
        processes["worker"].wait()
        killed = time.monotonic()
        faults["worker_killed_at_s"] = round(killed - soak.started, 1)
        processes["worker"] = worker_start("worker-2")
        faults["worker_recovery_seconds"] = soak.wait_healthy(probe, probe_case.pk)

        for thread in threads + [drain_thread]:
            thread.join()
        load_average = round((load_average + os.getloadavg()[0]) / 2, 2)

        # The load is over: the tasks get their time to finish, then everything is checked.
        uploaded = {c for case_ids, _ in soak.uploads for c in case_ids} | set(initial)
        drain_start = time.monotonic()
        while time.monotonic() - drain_start < args.drain_timeout:
            done = set(CaseInformativeness.objects.filter(case_id__in=uploaded).values_list("case_id", flat=True))
            if done >= uploaded and not outbox_unsent():
                break
            time.sleep(2)
        drained_s = round(time.monotonic() - drain_start, 1)
        preannotated = set(CaseInformativeness.objects.filter(case_id__in=uploaded).values_list("case_id", flat=True))
        if args.tamper:
            tamper(project)
        lost = verify(soak, reads_by_key_now(project, probe_reader, readers), preannotated, initial)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        if redis.process is not None and redis.process.poll() is None:
            redis.process.terminate()
            redis.process.wait()

    before = [s for at, s in soak.latencies if at < faults["redis_killed_at_s"]]
    after = [s for at, s in soak.latencies if at >= faults["redis_killed_at_s"]]
    accepted = sum(1 for writes in soak.writes.values() for w in writes if w[2] == "ok") + len(soak.uploads)
    result = {
        "bench": "soak", "seconds": args.seconds, "readers": args.readers, "requests": soak.requests,
        "errors": sum(soak.errors.values()), "error_kinds": dict(soak.errors),
        "probe_failures": dict(soak.probe_failures), "accepted_writes": accepted,
        "lost_writes": sum(lost.values()), "lost_kinds": dict(lost),
        "recovery_seconds": faults["recovery_seconds"], "redis_down_seconds": args.redis_down,
        "redis_persistent": redis.persistent, "outbox_drained_seconds": faults["outbox_drained_seconds"],
        "worker_recovery_seconds": faults["worker_recovery_seconds"],
        "uploads": len(soak.uploads), "cases_preannotated": len(preannotated),
        "served_model": served.label if served is not None else None, "tasks_drained_after_s": drained_s,
        "draft_p95_ms": api_load.percentile(after, 0.95), "baseline_draft_p95_ms": api_load.percentile(before, 0.95),
        "load_average_1m": load_average, "cpus": os.cpu_count(),
    }
    if not args.keep:
        connection.close()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"kept database {args.database} and {folder}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
