"""/ml/predict end to end versus bare `model.predict` on the same images, and a whole case, in one run.

End to end: a Label Studio-style POST /ml/predict (one task, the platform's instance URL) through Django's
full request handling: JSON, project lookup, DICOM read and windowing, model, rectanglelabels. Bare: the
Ultralytics model's predict on the same images already in memory. Case: pre-annotation of a whole case (one
batch per series, findings stored). Uses the shipped starter model; two_stage_case_seconds is the same case
pre-annotated by a two-stage model (that detector and a level classifier of the config's size). Last line: one
JSON object.

    .venv/bin/python bench/inference.py [--rounds 3]
"""
import argparse
import base64
import json
import statistics
import sys
import time
import uuid

import _ml_common  # noqa: F401  (sets up Django)
from django.contrib.auth import get_user_model
from django.test import Client

from annotation import services as annotation_services
from annotation.dicom import path_sources
from annotation.models import Case, Instance
from annotation.rendering import instance_to_uint8
from fixtures.phantoms import generate_phantoms
from mlbackend import selectors, services
from mlbackend.adapter import _as_bgr, adapter_for, training_device
from annotation.schema import anchor_finding, detector_classes
from mlbackend.configs import config_load
from mlbackend.level_model import CropSpec, LevelClassifierModel, two_stage_save
from mlbackend.services import two_stage
from mlbackend.services.case_predictions import instances_to_predict
from mlbackend.services.registry import STARTER_WEIGHTS
from mlbackend.models import LabelStudioLink
from mlbackend.services.ml_client import ml_client_rotate


def two_stage_case_seconds(project, case, tmp, rounds: int) -> float:
    """Pre-annotation of the case by a two-stage model (the starter detector and a level classifier of the
    two-stage config's size, untrained: the same work as a trained one), median of `rounds`."""
    schema = project.label_schema
    config = config_load("two-stage")
    settings = two_stage.level_settings(config)
    classifier = LevelClassifierModel(heads=two_stage.heads_for(schema), spec=CropSpec(settings["crop"],
                                      settings["depth"]), width=settings["width"], layers=settings["layers"])
    weights = two_stage_save(tmp / "model.two-stage.pt", detector_weights=STARTER_WEIGHTS, classifier=classifier,
                             classes=two_stage.schema_classes(schema), anchor=anchor_finding(schema))
    version = services.model_version_register(
        project=project, weights=weights, config_name="two-stage", class_names=detector_classes(schema),
        metrics={}, gate={"reason": "bench"}, promote=True, imgsz=256, decision="registered")
    services.cases_preannotate(case_ids=[case.pk])  # loads the model
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        services.cases_preannotate(case_ids=[case.pk])
        timings.append(time.perf_counter() - started)
    assert version.is_two_stage
    return statistics.median(timings)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with _ml_common.bench_folder() as tmp:
        generate_phantoms(n_cases=1, out_dir=tmp / "phantoms", seed=3)
        project = annotation_services.project_create(slug=f"bench-inf-{uuid.uuid4().hex[:8]}", name="bench")
        try:
            version = services.starter_register(project=project)
            assert version is not None, "the starter model is missing: run manage.py train_starter"
            annotation_services.case_import(project=project, sources=path_sources(
                tmp / "phantoms", max_file_bytes=10**8))
            case = Case.objects.get(project=project)
            credentials = ml_client_rotate(project=project)  # Label Studio's login: HTTP Basic as the ML client
            LabelStudioLink.objects.create(ls_project="1", project=project,
                                           ml_client=get_user_model().objects.get(username=credentials.username))
            basic = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
            instances = list(Instance.objects.filter(series__case=case).order_by("series__plane", "slice_position"))
            images = [_as_bgr(instance_to_uint8(i)) for i in instances]
            adapter = adapter_for(selectors.model_file(version), version.sha256)
            model, imgsz, conf, device = adapter.model, version.imgsz, version.findings_conf, \
                training_device()
            client = Client(HTTP_AUTHORIZATION=f"Basic {basic}")
            bodies = [json.dumps({"tasks": [{"id": i.pk, "data": {"image": f"/api/instances/{i.pk}/dicom"}}],
                                  "project": "1.0"}) for i in instances]
            for image, body in zip(images[:3], bodies[:3]):  # warm-up
                model.predict(image, imgsz=imgsz, conf=conf, verbose=False, device=device)
                assert client.post("/ml/predict", body, content_type="application/json").status_code == 200
            bare, e2e, case_s = [], [], []
            for _ in range(args.rounds):  # alternate so both see the same machine noise
                for image, body in zip(images, bodies):
                    started = time.perf_counter()
                    model.predict(image, imgsz=imgsz, conf=conf, verbose=False, device=device)
                    bare.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    response = client.post("/ml/predict", body, content_type="application/json")
                    e2e.append(time.perf_counter() - started)
                    assert response.status_code == 200
                started = time.perf_counter()
                services.cases_preannotate(case_ids=[case.pk])
                case_s.append(time.perf_counter() - started)
            case_images = sum(len(instances_to_predict(s, list(s.instances.all())))
                              for s in case.series.all())
            two_stage_s = two_stage_case_seconds(project, case, tmp, args.rounds)
        finally:
            _ml_common.project_cleanup(project)
    bare_ms, e2e_ms = statistics.median(bare) * 1000, statistics.median(e2e) * 1000
    print(f"bare predict {bare_ms:.1f} ms, /ml/predict {e2e_ms:.1f} ms per image at {imgsz} px; case "
          f"{statistics.median(case_s):.2f} s for {case_images} images", file=sys.stderr)
    print(json.dumps({
        "images": len(images), "imgsz": imgsz, "rounds": args.rounds,
        "bare_ms_per_image": round(bare_ms, 2), "ms_per_image": round(e2e_ms, 2),
        "overhead_ratio": round(e2e_ms / bare_ms, 3),
        "case_seconds": round(statistics.median(case_s), 3), "case_images": case_images,
        "case_images_per_s": round(case_images / statistics.median(case_s), 2),
        "two_stage_case_seconds": round(two_stage_s, 3),
        "device": device,
    }))


if __name__ == "__main__":
    main()
