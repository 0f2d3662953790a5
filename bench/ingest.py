"""Ingest throughput: per file against bare pydicom.dcmread of the same files, and a backlog worked off by 1 and 2
real Celery workers. Last line: one JSON object.

Needs PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, DEID_SALT); workers get the same
environment. Makes `--studies` studies from a few phantom studies (new UIDs and patient for each copy), then

- dcmread: bare `pydicom.dcmread` of every file, in this process (median of `--rounds`);
- service: the backlog batch ingest (`backlog_batch_ingest`: read, check, de-identify, write, rows) of the
  first `--service-files` files in this process, rounds alternating with dcmread of the same files, so that
  both see the same machine noise;
- workers: for 1 and 2 worker processes (solo pool, own queue), the wall time from `import_backlog`'s enqueue
  to the last instance stored, into a fresh project each.

ratio_to_dcmread is one worker's seconds per file over dcmread's; service_ratio_to_dcmread the same without
Celery. speedup_2 = per_s_2 / per_s_1 (at best about the number of free cores: PostgreSQL and Redis share them).

    .venv/bin/python bench/ingest.py [--studies 60] [--batch-files 50] [--rounds 3]
    .venv/bin/python bench/ingest.py --studies 1000        # the 1,000-study backlog
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")
# Pre-annotation after each batch would load a model in the workers: not what is measured here.
os.environ["SPINEREAD_AFTER_IMPORT"] = ""
QUEUE = f"bench-ingest-{os.getpid()}"

import django  # noqa: E402

django.setup()

import pydicom  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from annotation import services  # noqa: E402
from annotation.models import Instance, Project  # noqa: E402
from annotation.services.backlog import backlog_batch_ingest, backlog_enqueue  # noqa: E402
from fixtures.phantoms import generate_phantoms  # noqa: E402
from spineplatform.celery import app  # noqa: E402

BASE_STUDIES = 4  # distinct phantom studies; the rest are copies of them with new UIDs


def make_backlog(out: Path, studies: int, *, first: int = 0) -> list[Path]:
    """`studies` folders of DICOM files; copy k of a phantom study gets its own UIDs and patient."""
    base = out.parent / "phantoms"
    if not base.exists():
        generate_phantoms(n_cases=BASE_STUDIES, out_dir=base, seed=1)
    sources = sorted(p for p in base.iterdir() if p.is_dir())
    for index in range(first, first + studies):
        source = sources[index % len(sources)]
        target = out / f"study{index:05d}"
        target.mkdir(parents=True)
        for path in sorted(source.glob("*.dcm")):
            ds = pydicom.dcmread(path)
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
                setattr(ds, keyword, generate_uid(entropy_srcs=[str(getattr(ds, keyword)), str(index)]))
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientID = f"BENCH{index:05d}"
            ds.save_as(target / path.name, enforce_file_format=True)
    return sorted(out.rglob("*.dcm"))


def dcmread_seconds(files: list[Path], clock=time.perf_counter) -> float:
    started = clock()
    for path in files:
        pydicom.dcmread(path)
    return clock() - started


def service_rounds(root: Path, files: list[Path], rounds: int) -> tuple[float, float]:
    """(median ingest s, median dcmread s) for `files`, in this process, rounds alternating."""
    paths = [p.relative_to(root).as_posix() for p in files]
    ingest_times, read_times = [], []
    for _ in range(rounds):
        read_times.append(dcmread_seconds(files))
        project = services.project_create(slug=f"bench-{uuid.uuid4().hex[:8]}", name="bench")
        started = time.perf_counter()
        summary = backlog_batch_ingest(project=project, root=root, paths=paths)
        ingest_times.append(time.perf_counter() - started)
        assert summary["stored"] == len(files), summary
        project.delete()
    return statistics.median(ingest_times), statistics.median(read_times)


def workers_started(count: int, media: Path) -> list[subprocess.Popen]:
    env = dict(os.environ, MEDIA_ROOT=str(media))
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "spineplatform", "worker", "--pool=solo", "--concurrency=1",
         "--loglevel=WARNING", "-Q", QUEUE, "-n", f"{QUEUE}-{index}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for index in range(count)]
    deadline = time.monotonic() + 120
    while sum(name.startswith(QUEUE) for reply in app.control.ping(timeout=1.0) for name in reply) < count:
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            workers_stopped(workers)
            raise SystemExit(f"{count} worker(s) did not start")
    return workers


def workers_stopped(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def backlog_stored(project, root: Path, n_files: int, batch_files: int, workers) -> None:
    backlog_enqueue(project=project, root=root, batch_files=batch_files, queue=QUEUE)
    stored = Instance.objects.filter(series__case__project=project)
    while stored.count() < n_files:
        if any(w.poll() is not None for w in workers):
            raise SystemExit("a worker died")
        time.sleep(0.25)


def cpu_seconds(worker: subprocess.Popen) -> float:
    """User + system CPU time of a live worker process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backlog_seconds(root: Path, n_files: int, n_workers: int, media: Path, batch_files: int,
                    warmup: tuple[Path, int]) -> tuple[float, float]:
    """Wall time for `n_workers` to store the whole backlog, from the enqueue on, after a warm-up backlog of one
    file a worker (a worker's first task pays for imports and connections; a real backlog amortises that).
    Returns (wall seconds, the workers' CPU seconds in that time)."""
    workers = workers_started(n_workers, media)
    scratch = services.project_create(slug=f"bench-{uuid.uuid4().hex[:8]}", name="warm-up")
    project = services.project_create(slug=f"bench-{uuid.uuid4().hex[:8]}", name="bench")
    try:
        backlog_stored(scratch, warmup[0], warmup[1], 1, workers)
        cpu_before = sum(cpu_seconds(w) for w in workers)
        started = time.perf_counter()
        backlog_stored(project, root, n_files, batch_files, workers)
        return time.perf_counter() - started, sum(cpu_seconds(w) for w in workers) - cpu_before
    finally:
        workers_stopped(workers)
        scratch.delete()
        project.delete()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=60, help="studies in the backlog (~17 images each)")
    parser.add_argument("--batch-files", type=int, default=50, help="files per task")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the in-process comparison")
    parser.add_argument("--service-files", type=int, default=200, help="files in the in-process comparison")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    args = parser.parse_args()
    if connection.vendor != "postgresql" or settings.CELERY_TASK_ALWAYS_EAGER:
        raise SystemExit("needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis): real workers")
    call_command("migrate", verbosity=0)
    counts = [int(n) for n in args.workers.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings.MEDIA_ROOT = tmp / "media"
        root = tmp / "backlog"
        files = make_backlog(root, args.studies)
        warmup = tmp / "warm-up"
        # one single-file batch a worker: each worker takes one (prefetch 1), so each pays its first-task costs
        make_backlog(warmup, max(counts), first=args.studies)
        for study in warmup.iterdir():
            for path in sorted(study.glob("*.dcm"))[1:]:
                path.unlink()
        warmup_files = sorted(warmup.rglob("*.dcm"))
        read_s = statistics.median(dcmread_seconds(files) for _ in range(args.rounds))
        read_cpu_s = statistics.median(dcmread_seconds(files, time.process_time) for _ in range(args.rounds))
        service_s, service_read_s = service_rounds(root, files[: args.service_files], args.rounds)
        per_s, cpu_ms = {}, {}
        for n_workers in counts:
            seconds, cpu = backlog_seconds(root, len(files), n_workers, tmp / f"media-{n_workers}",
                                           args.batch_files, (warmup, len(warmup_files)))
            per_s[n_workers], cpu_ms[n_workers] = len(files) / seconds, cpu * 1000 / len(files)
            print(f"{n_workers} worker(s): {len(files)} files in {seconds:.1f} s, {per_s[n_workers]:.1f}/s, "
                  f"{cpu_ms[n_workers]:.2f} ms of worker CPU a file", file=sys.stderr)
        shutil.rmtree(root)

    dcmread_ms = read_s * 1000 / len(files)
    result = {
        "bench": "ingest",
        "studies": args.studies,
        "files": len(files),
        "batch_files": args.batch_files,
        "dcmread_ms": round(dcmread_ms, 3),
        "service_ms": round(service_s * 1000 / min(len(files), args.service_files), 3),
        "service_ratio_to_dcmread": round(service_s / service_read_s, 2),
    }
    if 1 in per_s:
        result["ratio_to_dcmread"] = round(1000 / per_s[1] / dcmread_ms, 2)
        # The same in CPU time (the worker's, dcmread's): what other tenants of the machine leave unchanged.
        result["cpu_ratio_to_dcmread"] = round(cpu_ms[1] / (read_cpu_s * 1000 / len(files)), 2)
    result.update({f"worker_cpu_ms_{n}": round(v, 2) for n, v in cpu_ms.items()})
    result.update({f"per_s_{n}": round(v, 1) for n, v in per_s.items()})
    if 1 in per_s and 2 in per_s:
        result["speedup_2"] = round(per_s[2] / per_s[1], 2)
    result.update({"database": connection.vendor, "cpus": os.cpu_count()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
