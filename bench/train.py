"""Platform training versus bare Ultralytics training on the same export, in one run.

The platform's training (training_run_execute: export from ground truth, train through the adapter with its
progress callback, evaluate on the held-out set, register, gate) against `YOLO(yaml).train(...)` with the same
arguments on the same exported dataset (bare runs before and after, averaged). Phantom ground truth is made the platform's way (two agreeing reads).
Last line: one JSON object.

    .venv/bin/python bench/train.py [--cases 12] [--epochs 3] [--imgsz 256]
"""
import argparse
import json
import sys
import time
import uuid

import _ml_common  # noqa: F401  (sets up Django)
from django.db import connection

from annotation import services as annotation_services
from annotation.models import Case
from fixtures.phantoms import generate_phantoms
from mlbackend import services
from mlbackend.adapter import _yolo, training_device


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    with _ml_common.bench_folder() as tmp:
        truth = generate_phantoms(n_cases=args.cases, out_dir=tmp / "phantoms", seed=5)
        project = annotation_services.project_create(slug=f"bench-train-{uuid.uuid4().hex[:8]}", name="bench",
                                                     labelling_mode="positive_only")
        readers = _ml_common.bench_readers("bench-train")
        try:
            cases = [_ml_common.phantom_ground_truth(project, tmp / "phantoms", c, readers) for c in truth["cases"]]
            Case.objects.filter(pk=cases[-1].pk).update(split=Case.Split.TEST)  # one held-out case
            export = services.dataset_export(project=project, out_dir=tmp / "bare-export")
            n_images = export.images["train"] + export.images["val"]

            def bare_training(name):
                started = time.perf_counter()
                model = _yolo()("yolov8n.yaml")
                model.train(data=str(export.data_yaml), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
                            device=training_device(), workers=0, project=str(tmp / "bare"), name=name,
                            exist_ok=True, amp=False, plots=False, verbose=False, seed=0, deterministic=False,
                            fliplr=0.0)  # the platform's augmentation, so both do the same work
                return time.perf_counter() - started

            # Bare before and after the platform, averaged: neither side gets the cold start alone.
            bare_runs = [bare_training("before")]
            started = time.perf_counter()
            run = services.training_request(project=project, epochs=args.epochs, imgsz=args.imgsz)
            run = services.training_run_execute(run_id=run.pk, batch=args.batch)
            platform_s = time.perf_counter() - started
            assert run.status == "succeeded", run.error
            platform_train_s = run.model_version.train_seconds
            bare_runs.append(bare_training("after"))
            bare_s = sum(bare_runs) / len(bare_runs)
        finally:
            _ml_common.project_cleanup(project)
    print(f"platform {platform_s:.1f} s (of which adapter.train {platform_train_s:.1f} s), bare {bare_s:.1f} s",
          file=sys.stderr)
    print(json.dumps({
        "images": n_images, "epochs": args.epochs, "imgsz": args.imgsz,
        "platform_seconds": round(platform_s, 2), "platform_train_seconds": round(platform_train_s, 2),
        "bare_seconds": round(bare_s, 2), "bare_runs_seconds": [round(b, 2) for b in bare_runs],
        "platform_overhead_ratio": round(platform_s / bare_s, 3),
        "train_only_overhead_ratio": round(platform_train_s / bare_s, 3),
        "device": training_device(), "database": connection.vendor,
    }))


if __name__ == "__main__":
    main()
