"""Detector alone versus the two-stage model, per disc level, on phantoms of a seed the training never saw.

Both arms share one detector: the platform trains it (training_run_execute, config yolov8n, fine-tuning the
shipped starter model as a project does) on the ground truth of `--train` phantom cases. The detector-only
arm reads levels from its placed boxes (mlbackend.level_eval.detector_calls); the two-stage arm adds the level
classifier, trained on the same cases (services.two_stage.classifier_train) for `--level-epochs`: the extra
training it costs is reported as `classifier_train_seconds`. Both are scored on `--test` held-out cases of
another phantom seed (split "test", so no training ever sees them) with the figures the promotion gate uses:
quadratic-weighted kappa for the Pfirrmann grade, AUC for herniation (protrusion or worse), HIZ, Schmorl's
nodes and listhesis. Last line: one JSON object.

    .venv/bin/python bench/level_classifier.py [--train 16] [--test 12] [--epochs 5] [--level-epochs 15]
        [--level-lr 0.001] [--imgsz 256]
"""
import argparse
import dataclasses
import json
import sys
import time
import uuid

import _ml_common  # noqa: F401  (sets up Django)
from django.db import connection

from annotation import services as annotation_services
from annotation.models import Case
from annotation.schema import anchor_finding
from fixtures.phantoms import generate_phantoms
from mlbackend import services
from mlbackend.adapter import training_device
from mlbackend.configs import config_load
from mlbackend.level_model import TwoStageAdapter
from mlbackend.selectors import model_file, served_model
from mlbackend.services import two_stage

TRAIN_SEED, TEST_SEED = 23, 29  # the starter model was trained on seed 101


def figures(metrics: dict) -> dict:
    out = {f"{name}_{kind}": value for name, result in metrics.items() if isinstance(result, dict)
           for kind, value in result.items() if kind in ("qwk", "auc")}
    return {**out, "level_score": metrics["level_score"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=16)
    parser.add_argument("--test", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--level-epochs", type=int, default=15)
    parser.add_argument("--level-lr", type=float, default=None, help="the classifier's learning rate (the config's)")
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    with _ml_common.bench_folder() as tmp:
        train_truth = generate_phantoms(n_cases=args.train, out_dir=tmp / "train", seed=TRAIN_SEED)
        test_truth = generate_phantoms(n_cases=args.test, out_dir=tmp / "test", seed=TEST_SEED)
        project = annotation_services.project_create(slug=f"bench-levels-{uuid.uuid4().hex[:8]}", name="bench",
                                                     labelling_mode="positive_only")
        readers = _ml_common.bench_readers("bench-levels")
        try:
            for case_truth in train_truth["cases"]:
                _ml_common.phantom_ground_truth(project, tmp / "train", case_truth, readers)
            test_cases = [_ml_common.phantom_ground_truth(project, tmp / "test", c, readers)
                          for c in test_truth["cases"]]
            Case.objects.filter(pk__in=[c.pk for c in test_cases]).update(split=Case.Split.TEST)
            test_cases = list(Case.objects.filter(pk__in=[c.pk for c in test_cases]).select_related("project"))
            services.starter_register(project=project)

            run = services.training_request(project=project, epochs=args.epochs, imgsz=args.imgsz)
            run = services.training_run_execute(run_id=run.pk, batch=args.batch)
            assert run.status == "succeeded", run.error
            detector_version = run.model_version
            detector = served_model(detector_version)
            schema = project.label_schema
            config = config_load("two-stage")
            if args.level_lr:
                config = dataclasses.replace(config, level={**config.level, "lr": args.level_lr})
            _, classifier, classifier_seconds, samples = two_stage.classifier_train(
                parts=services.case_partition(project), schema=schema, config=config,
                detector_weights=model_file(detector_version), out=tmp, epochs=args.level_epochs,
                device=training_device(),
                on_epoch=lambda e: print(f"classifier epoch {e.epoch}/{e.epochs} loss {e.loss:.3f}", file=sys.stderr))
            model = TwoStageAdapter(detector, classifier, two_stage.schema_classes(schema), anchor_finding(schema))

            conf = config.conf
            results = {}
            for name, arm in (("detector", detector), ("two_stage", model)):
                started = time.perf_counter()
                metrics = two_stage.heldout_level_metrics(test_cases, arm, imgsz=args.imgsz, conf=conf)
                results[name] = {**figures(metrics),
                                 "seconds_per_case": round((time.perf_counter() - started) / len(test_cases), 3)}
                print(name, json.dumps(metrics), file=sys.stderr)
        finally:
            _ml_common.project_cleanup(project)
    gain = {key: round(results["two_stage"][key] - results["detector"][key], 4)
            for key in results["detector"] if key != "seconds_per_case"
            and results["detector"][key] is not None and results["two_stage"][key] is not None}
    print(json.dumps({
        "train_cases": args.train, "test_cases": args.test, "seeds": {"train": TRAIN_SEED, "test": TEST_SEED},
        "epochs": args.epochs, "level_epochs": args.level_epochs, "imgsz": args.imgsz,
        "level_samples": samples, "detector_train_seconds": detector_version.train_seconds,
        "classifier_train_seconds": round(classifier_seconds, 2),
        "detector": results["detector"], "two_stage": results["two_stage"], "two_stage_minus_detector": gain,
        "device": training_device(), "database": connection.vendor,
    }))


if __name__ == "__main__":
    main()
