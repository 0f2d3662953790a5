"""Load on the reading API: simulated readers saving drafts through the real HTTP server (gunicorn).

Each of N readers logs in once, then saves a full draft of their case (25 graded findings) again and again for
the duration, pausing `--think` seconds between saves (the page itself autosaves every 10 s; 1 s is ten times
harsher). The server runs against the configured database (PostgreSQL in CI: set DATABASE_URL). Last line:
one JSON object with p50_ms, p95_ms, req_per_s and errors.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/api_load.py [--readers 50] [--seconds 30]
"""
import argparse
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from annotation import services  # noqa: E402
from annotation.models import Case, Role  # noqa: E402
from annotation.schema import (  # noqa: E402
    LUMBAR_LEVELS, anchor_finding, default_schema, finding_specs, negative_values
)

PASSWORD = "bench-reader-password"
SCHEMA = default_schema()
NEGATIVE = negative_values(SCHEMA)  # every finding that has a negative, at it: a full exhaustive draft
GRADE = anchor_finding(SCHEMA)
GRADES = finding_specs(SCHEMA)[GRADE].values


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_up(readers: int, tag: str):
    project = services.project_create(slug=f"bench-{tag}", name="API load bench")
    User = get_user_model()
    users = []
    for i in range(readers):
        user = User.objects.create_user(username=f"bench-{tag}-{i}", password=PASSWORD)
        services.user_set_role(user=user, role=Role.READER)
        case = Case.objects.create(project=project, patient_key=f"{tag}{i:028d}", study_instance_uid=f"2.25.{tag}.{i}")
        services.case_assign(case=case, user=user, role=Role.READER)
        users.append((user.username, case.pk))
    return project, users


def tear_down(project, users):
    """Removes the bench's project and its reads; its audit rows stay (the audit log is append-only, on
    PostgreSQL by trigger), so the users they name are deactivated rather than deleted."""
    from annotation.models import Read

    Read.objects.filter(case__project=project).delete()
    project.delete()
    get_user_model().objects.filter(username__in=[name for name, _ in users]).update(is_active=False)


def log_in(base: str, username: str, case_id: int, sessions: dict, errors: list) -> None:
    session = requests.Session()
    try:
        session.get(f"{base}/login/", timeout=60)
        response = session.post(f"{base}/login/", data={"username": username, "password": PASSWORD,
                                                        "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                                timeout=60)
        response.raise_for_status()
        session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
        session.post(f"{base}/api/cases/{case_id}/read/", timeout=60).raise_for_status()
        sessions[username] = session
    except Exception as error:  # a failed log-in counts as an error of the run
        errors.append(f"login {username}: {error}")


def save_loop(base: str, session, username: str, case_id: int, until: float, think: float, latencies: list,
              errors: list) -> None:
    rng = random.Random(username)
    seconds = 0.0
    time.sleep(rng.random() * think)  # readers do not all save in the same instant
    while time.monotonic() < until:
        findings = [{"disc_level": level, "finding_type": GRADE, "value": rng.choice(GRADES)}
                    for level in LUMBAR_LEVELS]
        findings += [{"disc_level": level, "finding_type": name, "value": value}
                     for level in LUMBAR_LEVELS for name, value in NEGATIVE.items()]
        seconds += think
        started = time.perf_counter()
        try:
            response = session.put(f"{base}/api/cases/{case_id}/read/draft/",
                                   json={"findings": findings, "active_seconds": seconds}, timeout=30)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors.append(f"{response.status_code}: {response.text[:200]}")
        except requests.RequestException as error:
            errors.append(str(error))
        time.sleep(max(0.0, think - (time.perf_counter() - started)))


def client_process(base: str, readers: list, seconds: float, think: float, barrier, results) -> None:
    """One client process: logs its readers in, waits for every process to be ready, then saves for `seconds`.
    Several processes keep the client's own GIL out of the measured latencies."""
    latencies, errors, sessions = [], [], {}
    for start in range(0, len(readers), 8):  # a few at a time: each log-in is a deliberately slow hash
        run_threads(log_in, [(base, name, case_id, sessions, errors) for name, case_id in readers[start:start + 8]])
    barrier.wait()
    until = time.monotonic() + seconds
    run_threads(save_loop, [(base, sessions[name], name, case_id, until, think, latencies, errors)
                            for name, case_id in readers if name in sessions])
    results.put((latencies, errors))


def run_threads(target, argument_lists) -> None:
    threads = [threading.Thread(target=target, args=arguments) for arguments in argument_lists]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--client-processes", type=int, default=1)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    tag = f"{os.getpid()}"
    project, users = set_up(args.readers, tag)
    connection.close()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "spineplatform.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
         "--log-level", "warning"], cwd=ROOT, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/api/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        # Each log-in costs a deliberately slow password hash: done before the clock starts (the barrier).
        context = multiprocessing.get_context("fork")
        barrier, results = context.Barrier(args.client_processes), context.Queue()
        clients = [context.Process(target=client_process, args=(
            base, users[i::args.client_processes], args.seconds, args.think, barrier, results))
            for i in range(args.client_processes)]
        for client in clients:
            client.start()
        latencies, errors = [], []
        for _ in clients:
            client_latencies, client_errors = results.get(timeout=args.seconds + 300)
            latencies += client_latencies
            errors += client_errors
        for client in clients:
            client.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
        tear_down(project, users)

    ordered = sorted(latencies)
    p = lambda q: round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None  # noqa: E731
    print(f"{len(ordered)} saves by {args.readers} readers, think {args.think} s, on {connection.vendor}; "
          f"mean {1000 * statistics.mean(ordered):.1f} ms" if ordered else "no successful request", file=sys.stderr)
    for line in errors[:5]:
        print("error:", line, file=sys.stderr)
    print(json.dumps({
        "readers": args.readers, "seconds": args.seconds, "think_s": args.think, "requests": len(ordered),
        "server": f"gunicorn {args.workers}x{args.threads} gthread", "client_processes": args.client_processes,
        "p50_ms": p(0.50), "p95_ms": p(0.95), "p99_ms": p(0.99),
        "req_per_s": round(len(ordered) / args.seconds, 1), "errors": len(errors),
        "database": connection.vendor,
    }))


if __name__ == "__main__":
    main()
