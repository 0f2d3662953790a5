"""Load on the reading API: simulated readers saving drafts through the real HTTP server (gunicorn).

Each of N readers logs in once, then saves a full draft of their case (25 graded findings) again and again for
the duration, pausing `--think` seconds between saves (the page itself autosaves every 10 s; 1 s is ten times
harsher). The server runs against the configured database (PostgreSQL in CI: set DATABASE_URL). Last line:
one JSON object with p50_ms, p95_ms, req_per_s and errors; health_p95_ms is the baseline of the same run: a
probe's GET /api/health (no session, one SELECT 1) under the same load and the same machine noise, so that a
slow save can be told from a busy machine.

Readers are signed in by sessions written before the clock starts (the page's own cookie and CSRF header), not
through the log-in form: hundreds of deliberately slow password hashes would cost minutes and measure nothing
the autosave does. Their one password hash is made once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/api_load.py [--readers 50] [--seconds 30]
    ... bench/api_load.py --readers 500 --think 10     # the reading page's own rate, 50 saves a second
"""
import argparse
import json
import multiprocessing
import os
import random
import resource
import secrets
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
from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
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


def reader_users(tag: str, count: int) -> list:
    """`count` readers sharing one password hash (PASSWORD): hashing it per user would take minutes."""
    User = get_user_model()
    password = make_password(PASSWORD)
    users = User.objects.bulk_create([User(username=f"bench-{tag}-{i}", password=password) for i in range(count)])
    users = list(User.objects.filter(username__in=[u.username for u in users]).order_by("id"))
    for user in users:
        services.user_set_role(user=user, role=Role.READER)
    return users


def session_cookies(user) -> dict:
    """The cookies of a signed-in browser: a session as django.contrib.auth.login writes it, and a CSRF secret
    (the reading page sends it back as X-CSRFToken)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    csrf = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
    return {settings.SESSION_COOKIE_NAME: session.session_key, settings.CSRF_COOKIE_NAME: csrf}


def set_up(readers: int, tag: str):
    project = services.project_create(slug=f"bench-{tag}", name="API load bench")
    users = []
    for i, user in enumerate(reader_users(tag, readers)):
        case = Case.objects.create(project=project, patient_key=f"{tag}{i:028d}", study_instance_uid=f"2.25.{tag}.{i}")
        services.case_assign(case=case, user=user, role=Role.READER)
        users.append((user.username, case.pk, session_cookies(user)))
    return project, users


def tear_down(project, users):
    """Removes the bench's project and its reads; its audit rows stay (the audit log is append-only, on
    PostgreSQL by trigger), so the users they name are deactivated rather than deleted."""
    from annotation.models import Read

    Read.objects.filter(case__project=project).delete()
    project.delete()
    get_user_model().objects.filter(username__in=[user[0] for user in users]).update(is_active=False)


def signed_in(cookies: dict) -> requests.Session:
    session = requests.Session()
    for name, value in cookies.items():
        session.cookies.set(name, value, domain="127.0.0.1", path="/")
    session.headers["X-CSRFToken"] = cookies[settings.CSRF_COOKIE_NAME]
    return session


def log_in(base: str, username: str, case_id: int, cookies: dict, sessions: dict, errors: list) -> None:
    """Opens the reader's read (POST read/, as the page does) in their signed-in session."""
    session = signed_in(cookies)
    try:
        session.post(f"{base}/api/cases/{case_id}/read/", timeout=60).raise_for_status()
        sessions[username] = session
    except Exception as error:  # a failed start counts as an error of the run
        errors.append(f"open {username}: {error}")


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
    for start in range(0, len(readers), 16):
        run_threads(log_in, [(base, name, case_id, cookies, sessions, errors)
                             for name, case_id, cookies in readers[start:start + 16]])
    barrier.wait()
    until = time.monotonic() + seconds
    run_threads(save_loop, [(base, sessions[name], name, case_id, until, think, latencies, errors)
                            for name, case_id, _ in readers if name in sessions])
    results.put((latencies, errors))


def health_probe(base: str, until: float, latencies: list) -> None:
    """The run's baseline: a request with no session and one SELECT 1, twice a second."""
    session = requests.Session()
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            if session.get(f"{base}/api/health", timeout=30).status_code == 200:
                latencies.append(time.perf_counter() - started)
        except requests.RequestException:
            pass
        time.sleep(0.5)


def server_wait(base: str, server, seconds: float = 180) -> None:
    """Returns once the server answers (its workers import the whole app: slow on a busy machine)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if requests.get(f"{base}/api/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {seconds:g} s")


def percentile(values: list, q: float) -> float | None:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None


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
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread",
                        help="sync is what docker/ runs behind Caddy: a worker takes a connection only when free")
    parser.add_argument("--keep-alive", type=int, default=None,
                        help="gunicorn's keep-alive in seconds; default: a little over --think, so that each "
                             "reader's connection is reused as a browser's is")
    parser.add_argument("--client-processes", type=int, default=0,
                        help="0: one per 150 readers, so that the client's own GIL stays out of the latencies")
    args = parser.parse_args()
    client_processes = args.client_processes or max(1, -(-args.readers // 150))
    keep_alive = int(args.keep_alive if args.keep_alive is not None else args.think + 5)
    # Each reader holds one connection: the client and the server need a descriptor each (default soft limit
    # is often 1024).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * args.readers + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.readers + 256)), hard))

    call_command("migrate", verbosity=0)
    tag = f"{os.getpid()}"
    project, users = set_up(args.readers, tag)
    connection.close()
    port = free_port()
    # Each worker thread keeps one database connection (CONN_MAX_AGE): workers x threads stays far below
    # PostgreSQL's max_connections (100 by default) whatever the number of readers, whose idle kept-alive
    # connections wait in gunicorn's poller, not in a thread (gthread; --worker-connections per worker).
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "spineplatform.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--worker-class", args.worker_class, "--threads", str(args.threads),
         "--keep-alive", str(keep_alive), "--worker-connections", str(max(1000, 2 * args.readers)),
         "--backlog", str(max(2048, 2 * args.readers)), "--log-level", "warning"], cwd=ROOT, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    probe_latencies = []
    try:
        server_wait(base, server)
        context = multiprocessing.get_context("fork")
        barrier, results = context.Barrier(client_processes + 1), context.Queue()
        clients = [context.Process(target=client_process, args=(
            base, users[i::client_processes], args.seconds, args.think, barrier, results))
            for i in range(client_processes)]
        for client in clients:
            client.start()
        barrier.wait()  # every reader's read is open: the clock starts
        load_average = os.getloadavg()[0]
        health_probe(base, time.monotonic() + args.seconds, probe_latencies)
        latencies, errors = [], []
        for _ in clients:
            client_latencies, client_errors = results.get(timeout=args.seconds + 300)
            latencies += client_latencies
            errors += client_errors
        for client in clients:
            client.join()
        load_average = round((load_average + os.getloadavg()[0]) / 2, 2)
    finally:
        server.terminate()
        server.wait(timeout=30)
        tear_down(project, users)

    print(f"{len(latencies)} saves by {args.readers} readers, think {args.think} s, on {connection.vendor}; "
          f"mean {1000 * statistics.mean(latencies):.1f} ms" if latencies else "no successful request",
          file=sys.stderr)
    for line in errors[:5]:
        print("error:", line, file=sys.stderr)
    print(json.dumps({
        "readers": args.readers, "seconds": args.seconds, "think_s": args.think, "requests": len(latencies),
        "server": f"gunicorn {args.workers}x{args.threads} {args.worker_class}, keep-alive {keep_alive} s"
                  if args.worker_class == "gthread" else f"gunicorn {args.workers} sync",
        "client_processes": client_processes,
        "p50_ms": percentile(latencies, 0.50), "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99), "req_per_s": round(len(latencies) / args.seconds, 1),
        "errors": len(errors), "health_p50_ms": percentile(probe_latencies, 0.50),
        "health_p95_ms": percentile(probe_latencies, 0.95), "load_average_1m": load_average,
        "cpus": os.cpu_count(), "database": connection.vendor,
    }))


if __name__ == "__main__":
    main()
