"""Ingest throughput against bare pydicom.dcmread of the same files, in one run.

Imports N phantom instances through the real ingest service (check, de-identify, store, rows) into a fresh
project of the configured database, and reads the same files with bare `pydicom.dcmread`. Rounds alternate so
that both see the same machine noise; the medians are compared. Last line: one JSON object.

    .venv/bin/python bench/ingest.py [--instances 200] [--rounds 3]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")

import django  # noqa: E402

django.setup()

import pydicom  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from annotation import deid, services  # noqa: E402
from annotation.models import Project  # noqa: E402
from fixtures.phantoms import generate_phantoms  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings.MEDIA_ROOT = tmp / "media"
        n_cases = args.instances // 9 + 1  # at least 14 images a case, so this is always enough
        generate_phantoms(n_cases=n_cases, out_dir=tmp / "phantoms", seed=1)
        files = sorted((tmp / "phantoms").glob("*/*.dcm"))[: args.instances]
        assert len(files) == args.instances, f"only {len(files)} phantom files"
        contents = [(str(f), f.read_bytes(), False) for f in files]

        read_times, ingest_times, deid_times = [], [], []
        for round_number in range(args.rounds):
            started = time.perf_counter()
            for f in files:
                pydicom.dcmread(f)
            read_times.append(time.perf_counter() - started)
            # The de-identification walk alone, on datasets read outside the clock.
            datasets = [pydicom.dcmread(f) for f in files]
            started = time.perf_counter()
            for ds in datasets:
                deid.deidentify(ds, salt="bench", patient_key="0" * 32, series_description="T2 sagittal")
            deid_times.append(time.perf_counter() - started)

            project = services.project_create(slug=f"bench-{uuid.uuid4().hex[:8]}", name="bench")
            started = time.perf_counter()
            result = services.case_import(project=project, sources=iter(contents))
            ingest_times.append(time.perf_counter() - started)
            assert result.instances_created == args.instances
            project.delete()

    read_s, ingest_s = statistics.median(read_times), statistics.median(ingest_times)
    print(f"dcmread {read_s * 1000 / args.instances:.2f} ms/instance; "
          f"ingest {ingest_s * 1000 / args.instances:.2f} ms/instance on {connection.vendor}", file=sys.stderr)
    print(json.dumps({
        "instances": args.instances,
        "per_s": round(args.instances / ingest_s, 1),
        "dcmread_per_s": round(args.instances / read_s, 1),
        "ratio_to_dcmread": round(ingest_s / read_s, 2),
        "ingest_ms": round(ingest_s * 1000 / args.instances, 2),
        "dcmread_ms": round(read_s * 1000 / args.instances, 2),
        "deidentify_ms": round(statistics.median(deid_times) * 1000 / args.instances, 2),
        "database": connection.vendor,
        "rounds": args.rounds,
    }))


if __name__ == "__main__":
    main()
