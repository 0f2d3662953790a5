"""A web process with a broker configured never imports torch or ultralytics.

Gunicorn serves `spineplatform.wsgi`; with CELERY_BROKER_URL set, whatever needs a model goes to a worker
(pre-annotation of an upload, a training, /ml/predict). The test runs this module twice as a script: `setup`
builds a SQLite database (it may import anything), then `serve` imports the WSGI application, as a gunicorn
worker does, and drives the main pages and APIs through django.test.Client as every role: reader, senior,
coordinator, the ML client (Label Studio), anonymous. It then reports which of torch and ultralytics are in
sys.modules. The broker is configured but down (a refused port), so that nothing this test sends can reach a
real worker's queue; /ml/predict must answer 503 with Retry-After, fast, without loading the model.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DEAD_BROKER = "redis://127.0.0.1:9/0"  # the discard port: connections are refused at once
MODEL_MODULES = ("torch", "ultralytics")


def _environment(folder: Path, **extra) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DATABASE_URL", "CELERY_", "CACHE_URL", "S3_", "ML_"))}
    env.update(DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}", SPINEREAD_VAR_DIR=str(folder / "var"),
               MEDIA_ROOT=str(folder / "media"), DJANGO_SETTINGS_MODULE="spineplatform.settings", DEBUG="0",
               ALLOWED_HOSTS="testserver", SPINEREAD_AFTER_IMPORT="")
    env.update(extra)
    return env


def _run(step: str, folder: Path, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.test_web_no_torch", step, str(folder)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((folder / f"{step}.json").read_text())


def test_the_web_process_serves_every_role_without_importing_torch_or_ultralytics(tmp_path):
    made = _run("setup", tmp_path, _environment(tmp_path))
    served = _run("serve", tmp_path, _environment(
        tmp_path, CELERY_BROKER_URL=DEAD_BROKER, CELERY_RESULT_BACKEND=DEAD_BROKER,
        SPINEREAD_AFTER_IMPORT="mlbackend.tasks.after_cases_imported", ML_PREDICT_TIMEOUT="5"))

    assert served["loaded_after_wsgi_import"] == []
    assert len(served["statuses"]) > 70
    assert {label: status for label, (status, expected) in served["statuses"].items() if status != expected} == {}
    # The upload was stored and its pre-annotation left in the outbox for a worker (the broker being down).
    assert served["uploaded_cases"] == 1 and served["outbox_unsent"] == ["mlbackend.preannotate_cases",
                                                                          "mlbackend.training_run"]
    assert served["training_queue"] == "celery"  # no GPU worker announced (no Redis to announce in)
    predict = served["predict"]
    assert (predict["status"], predict["retry_after"]) == (503, "30")
    assert "broker" in predict["body"]["error"] and predict["seconds"] < 5
    assert served["loaded"] == [], f"the web process imported {served['loaded']} ({made['cases']} cases)"


# The two steps, run as `python -m tests.test_web_no_torch setup|serve FOLDER` -------------------------------------

def _setup(folder: Path) -> dict:
    """Users of every role, a project with two phantom cases (one read by both readers), model findings, a
    served model (a file that is no model at all: nothing may try to load it), a study and an ML client."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from annotation import services
    from annotation.dicom import path_sources
    from annotation.models import Role
    from fixtures.phantoms import generate_phantoms
    from mlbackend.services.ml_client import ml_client_rotate
    from tests.conftest import make_user
    from tests.factories import unaided_study_of_one_case
    from tests.mlbackend.conftest import register_served

    services.roles_ensure()
    coordinator = make_user("coord", Role.COORDINATOR)
    project = services.project_create(slug="web", name="Web process", actor=coordinator)
    users = {"reader1": make_user("reader1", Role.READER, project=project),
             "reader2": make_user("reader2", Role.READER, project=project),
             "senior": make_user("senior", Role.SENIOR, project=project)}
    truth = generate_phantoms(n_cases=3, out_dir=folder / "phantoms", seed=5)
    keys = [case["case_key"] for case in truth["cases"]]
    case_ids = []
    for key in keys[:2]:
        result = services.case_import(project=project, sources=path_sources(folder / "phantoms" / key,
                                                                             max_file_bytes=10**8))
        case_ids += result.case_ids
    case = project.cases.get(pk=case_ids[0])
    for name in ("reader1", "reader2"):
        services.case_assign(case=case, user=users[name], role=Role.READER)
    services.case_assign(case=case, user=users["senior"], role=Role.SENIOR)
    instance = case.series.get(plane="sagittal").instances.order_by("pk")[0]
    weights = folder / "not-a-model.pt"
    weights.write_bytes(b"no weights: a web process that loads this fails the test")
    version = register_served(project, weights)
    services.model_findings_replace(case=case, model_version=version.label, findings=[services.ModelFindingInput(
        disc_level="L4/L5", finding_type="pfirrmann", value="3", instance_id=instance.pk, box=(10, 10, 40, 30),
        score=0.9)])
    study, study_reader = unaided_study_of_one_case(case=project.cases.get(pk=case_ids[1]), name="Web study",
                                                    coordinator=coordinator)
    client = ml_client_rotate(project=project, actor=coordinator)
    return {"cases": case_ids, "case": case.pk, "instance": instance.pk, "study": study.pk,
            "study_reader": study_reader.username, "upload_dir": str(folder / "phantoms" / keys[2]),
            "ml_client": [client.username, client.password]}


def _serve(folder: Path) -> dict:
    made = json.loads((folder / "setup.json").read_text())
    from spineplatform.wsgi import application  # noqa: F401  (what gunicorn imports: django.setup() and all apps)

    loaded_after_import = [name for name in MODEL_MODULES if name in sys.modules]
    import base64
    import time

    from django.test import Client

    from annotation.models import Case, TaskOutbox
    from mlbackend.models import TrainingRun

    statuses = {}
    case, instance, study = made["case"], made["instance"], made["study"]

    def visit(label: str, client: Client, method: str, path: str, expect: int = 200, **options):
        response = getattr(client, method)(path, **options)
        statuses[f"{label} {method.upper()} {path}"] = (response.status_code, expect)
        return response

    anonymous = Client()
    for path in ("/login/", "/ml/health", "/api/health"):
        visit("anonymous", anonymous, "get", path)
    for username in ("reader1", "reader2", "senior", "coord", made["study_reader"]):
        client = Client()
        visit(username, client, "post", "/login/", expect=302,
              data={"username": username, "password": f"pw-{username}"})
        visit(username, client, "get", "/", expect=200 if username == "coord" else 302)  # to their worklist
        for path in ("/worklist/", "/api/worklist/", "/api/projects/", "/studies/sessions/",
                     "/api/studies/sessions/"):
            visit(username, client, "get", path)
        if username in ("reader1", "reader2", "senior"):
            for path in (f"/api/cases/{case}/", f"/api/cases/{case}/model-findings/",
                         f"/api/instances/{instance}/dicom"):
                visit(username, client, "get", path)
        if username in ("reader1", "reader2"):
            visit(username, client, "get", f"/cases/{case}/read/")
            visit(username, client, "post", f"/api/cases/{case}/read/")  # opens the read
            visit(username, client, "put", f"/api/cases/{case}/read/draft/", content_type="application/json",
                  data={"findings": [{"disc_level": "L4/L5", "finding_type": "pfirrmann", "value": "4",
                                      "instance": instance, "box": [10, 10, 40, 30]}]})
            visit(username, client, "get", f"/api/cases/{case}/read/")
        if username == "senior":
            for path in ("/adjudications/", "/api/adjudications/"):
                visit(username, client, "get", path)
        if username == "coord":
            for path in ("/api/schema/", "/projects/web/", "/api/projects/web/cases/", "/api/projects/web/progress/",
                         f"/api/cases/{case}/reads/", "/ml/", "/ml/projects/web/", "/ml/projects/web/learning-curve.png",
                         "/api/ml/projects/web/models/", "/api/ml/projects/web/trainings/", "/studies/",
                         f"/studies/{study}/", f"/api/studies/{study}/", f"/api/studies/{study}/dashboard/"):
                visit(username, client, "get", path)
            visit(username, client, "post", "/api/ml/projects/web/trainings/", expect=202,
                  content_type="application/json",
                  data={"epochs": 1, "imgsz": 64})
            files = [open(path, "rb") for path in sorted(Path(made["upload_dir"]).rglob("*.dcm"))]
            visit(username, client, "post", "/api/projects/web/dicom/", expect=201, data={"files": files})
            for handle in files:
                handle.close()
    label_studio = Client(HTTP_AUTHORIZATION="Basic " + base64.b64encode(
        ":".join(made["ml_client"]).encode()).decode())
    visit("ml-client", label_studio, "post", "/ml/setup", content_type="application/json",
          data={"project": "7.1700000000", "schema": "", "hostname": ""})
    started = time.monotonic()
    predicted = visit("ml-client", label_studio, "post", "/ml/predict", expect=503,
                      content_type="application/json", data={
        "project": "7.1700000000",
        "tasks": [{"id": 1, "data": {"image": f"/api/instances/{instance}/dicom"}}]})
    return {
        "loaded_after_wsgi_import": loaded_after_import, "statuses": statuses,
        "uploaded_cases": Case.objects.count() - len(made["cases"]),
        "outbox_unsent": sorted(TaskOutbox.objects.filter(sent_at__isnull=True).values_list("name", flat=True)),
        "training_queue": TrainingRun.objects.get().queue,
        "predict": {"status": predicted.status_code, "retry_after": predicted.get("Retry-After"),
                    "body": predicted.json(), "seconds": round(time.monotonic() - started, 2)},
        "loaded": [name for name in MODEL_MODULES if name in sys.modules],
    }


if __name__ == "__main__":
    step, out = sys.argv[1], Path(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")
    answer = _setup(out) if step == "setup" else _serve(out)
    (out / f"{step}.json").write_text(json.dumps(answer, indent=1))
