"""A real Label Studio 1.23 against a live SpineRead: the ML backend connected through label-studio-sdk with the
ML client's HTTP Basic auth and no extra params, predictions retrieved for an uploaded task and a URL task, an
annotation's webhook confirmed and stored as a read, and SpineRead's Label Studio JSON export imported into that
Label Studio and exported back unchanged.

Label Studio pins its own Django, so it lives in its own venv: $LS_VENV, else var/label-studio-venv (made and
filled with ``pip install label-studio==1.23.*`` when missing; skipped when that is impossible). It starts on
loopback with the offline settings (no version check, analytics or Sentry; local-IP ML and webhook targets
allowed). For quick local iteration, LS_TEST_URL and LS_TEST_TOKEN name an already running one instead.
"""
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from annotation import services as annotation_services
from annotation.models import Read, Role
from annotation.rendering import instance_to_uint8
from fixtures.phantoms import generate_phantoms
from interchange.exports import export_set
from interchange.formats.label_studio import label_studio_config, label_studio_tasks
from mlbackend.services.ml_client import ml_client_rotate
from mlbackend.services.registry import starter_register
from tests.conftest import make_user
from tests.mlbackend.conftest import import_phantom, make_ground_truth

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
LS_USER, LS_PASSWORD, LS_TOKEN = "annotator@hospital.example", "Ls-pass-1234", "spineread-ls-test-token-0123"
START_SECONDS = 180
TIMINGS = {}


def _timed(name, since):
    TIMINGS[name] = round(time.monotonic() - since, 1)
    print(f"[label-studio-real] {name}: {TIMINGS[name]} s", flush=True)


def _venv() -> Path:
    """Label Studio's own venv, installed once and reused; skips when pip cannot reach an index."""
    venv = Path(os.environ.get("LS_VENV") or ROOT / "var" / "label-studio-venv")
    if (venv / "bin" / "label-studio").exists():
        return venv
    started = time.monotonic()
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "label-studio==1.23.*"], check=True,
                       capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(venv, ignore_errors=True)
        stderr = getattr(error, "stderr", b"") or b""
        pytest.skip(f"label-studio==1.23.* could not be installed (no network to PyPI?): {stderr[-300:]!r}")
    _timed("install", started)
    return venv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_up(url: str, process=None) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"Label Studio exited with {process.returncode} while starting")
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(f"Label Studio did not start within {START_SECONDS} s")


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """(base URL, token) of a Label Studio on loopback, stopped after the module."""
    if os.environ.get("LS_TEST_URL"):
        yield os.environ["LS_TEST_URL"].rstrip("/"), os.environ.get("LS_TEST_TOKEN", LS_TOKEN)
        return
    venv = _venv()
    data = tmp_path_factory.mktemp("label-studio-data")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in (
        "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "HOST", "PORT", "USERNAME", "PASSWORD", "DEBUG")}
    env.update(LATEST_VERSION_CHECK="false", COLLECT_ANALYTICS="false", SENTRY_DSN="", FRONTEND_SENTRY_DSN="",
               ML_BLOCK_LOCAL_IP="false", SSRF_PROTECTION_ENABLED="false", LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
               LABEL_STUDIO_BASE_DATA_DIR=str(data), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    log = open(data / "label-studio.log", "wb")
    started = time.monotonic()
    process = subprocess.Popen(
        [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1",
         "--port", str(port), "--username", LS_USER, "--password", LS_PASSWORD, "--user-token", LS_TOKEN,
         "--enable-legacy-api-token"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data)
    url = f"http://localhost:{port}"
    try:
        _wait_up(url, process)
        _timed("start", started)
        yield url, LS_TOKEN
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def spineread(live_server, coordinator, tmp_path):
    """A live SpineRead project with the starter model served, one phantom case with ground truth, its ML
    client's credentials, and a reader whose email is the Label Studio user's."""
    project = annotation_services.project_create(slug="lsreal", name="LS real", actor=coordinator,
                                                 labelling_mode="positive_only")
    version = starter_register(project=project)
    assert version is not None
    truth = generate_phantoms(n_cases=1, out_dir=tmp_path / "phantoms", seed=3)
    case = import_phantom(project, tmp_path / "phantoms", truth["cases"][0])
    make_ground_truth(case, truth["cases"][0], [make_user("gt-a", Role.READER), make_user("gt-b", Role.READER)])
    reader = make_user("ls-annotator", Role.READER)  # gets the Label Studio user's email in the test
    return {"project": project, "version": version, "case": case, "reader": reader, "credentials": ml_client_rotate(project=project),
            "url": live_server.url}


def _png(instance) -> bytes:
    """The instance as Label Studio users upload it: a PNG of the windowed slice."""
    buffer = io.BytesIO()
    Image.fromarray(instance_to_uint8(instance)).save(buffer, "PNG")
    return buffer.getvalue()


def _ls_session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    return session


def _predictions(session, base, task_id) -> list:
    return session.get(f"{base}/api/predictions/", params={"task": task_id}, timeout=10).json()


def test_label_studio_connects_predicts_sends_webhooks_and_round_trips_the_export(label_studio, spineread,
                                                                                   eager_tasks):
    from label_studio_sdk import LabelStudio

    base, token = label_studio
    ls = LabelStudio(base_url=base, api_key=token)
    session = _ls_session(token)
    project, case, credentials = spineread["project"], spineread["case"], spineread["credentials"]
    config = label_studio_config(project.label_schema)
    ls_project = ls.projects.create(title="SpineRead real", label_config=config)

    started = time.monotonic()
    backend = ls.ml.create(url=f"{spineread['url']}/ml", project=ls_project.id, title="SpineRead",
                           auth_method="BASIC_AUTH", basic_auth_user=credentials.username,
                           basic_auth_pass=credentials.password)
    _timed("ml.create", started)
    assert session.get(f"{base}/api/ml/{backend.id}", timeout=10).json().get("state") in ("CO", "Connected"), (
        "the ML backend is connected (health and setup answered)")

    # An uploaded task (relative /data/upload URL, fetched with Label Studio's token) and a URL task (one of
    # SpineRead's instance URLs, rendered without HTTP).
    instance = case.series.get(plane="sagittal").instances.all()[6]
    upload = session.post(f"{base}/api/projects/{ls_project.id}/import",
                          files={"file": ("scan.png", _png(instance), "image/png")}, timeout=30)
    assert upload.status_code in (200, 201), upload.text
    instance_url = f"{spineread['url']}/api/instances/{instance.pk}/dicom"
    ls.projects.import_tasks(id=ls_project.id, request=[{"image": instance_url}])
    tasks = list(ls.tasks.list(project=ls_project.id))
    assert len(tasks) == 2
    started = time.monotonic()
    ls.actions.create(id="retrieve_tasks_predictions", project=ls_project.id,
                      selected_items={"all": True, "excluded": []})
    _timed("retrieve_tasks_predictions", started)
    for task in tasks:
        predictions = _predictions(session, base, task.id)
        assert len(predictions) == 1, (task.data, predictions)
        assert predictions[0]["model_version"] == spineread["version"].label
        assert predictions[0]["result"], f"the starter model boxes discs on the slice ({task.data})"
        for region in predictions[0]["result"]:
            assert region["type"] == "rectanglelabels" and 0 <= region["value"]["x"] <= 100

    # An annotation by the reader (matched by email) on the URL task: the webhook, confirmed by fetching it back
    # from Label Studio, becomes the reader's draft read.
    spineread["reader"].email = ls.users.whoami().email
    spineread["reader"].save()
    annotation_services.case_assign(case=case, user=spineread["reader"], role=Role.READER)
    url_task = next(task for task in tasks if task.data["image"] == instance_url)
    w, h = instance.columns / 100, instance.rows / 100

    def rect(label, x0, y0, x1, y1):
        return {"from_name": "label", "to_name": "image", "type": "rectanglelabels",
                "original_width": instance.columns, "original_height": instance.rows,
                "value": {"x": x0 / w, "y": y0 / h, "width": (x1 - x0) / w, "height": (y1 - y0) / h, "rotation": 0,
                          "rectanglelabels": [label]}}

    # Five discs give the boxes their levels along the spine; the HIZ lands at the lowest (as in test_label_studio).
    regions = [rect("disc_p3", 100, 60 + 40 * i, 140, 72 + 40 * i) for i in range(5)] + [rect("hiz", 130, 222, 138, 228)]
    started = time.monotonic()
    ls.annotations.create(id=url_task.id, result=regions)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Read.objects.filter(reader=spineread["reader"], case=case).exists():
        time.sleep(0.5)
    _timed("webhook stored", started)
    read = Read.objects.get(reader=spineread["reader"], case=case)
    assert read.origin == Read.Origin.LABEL_STUDIO and read.status == Read.Status.DRAFT
    assert sorted(read.findings.values_list("finding_type", flat=True)) == ["hiz"] + ["pfirrmann"] * 5

    # SpineRead's Label Studio JSON export imports into Label Studio and comes back with the same results.
    exported = label_studio_tasks(export_set(project))
    assert exported
    target = ls.projects.create(title="SpineRead export", label_config=config)
    ls.projects.import_tasks(id=target.id, request=exported)
    back = session.get(f"{base}/api/projects/{target.id}/export", params={"exportType": "JSON"}, timeout=30)
    assert back.status_code == 200, back.text[:300]
    sent = {json.dumps(task["data"], sort_keys=True): task["annotations"][0]["result"] for task in exported}
    got = {json.dumps(task["data"], sort_keys=True): task["annotations"][0]["result"] for task in back.json()}
    assert got.keys() == sent.keys()
    for key, result in sent.items():
        assert _comparable(got[key]) == _comparable(result), key
    print(f"[label-studio-real] timings: {TIMINGS}", flush=True)


def _comparable(result: list) -> list:
    """A result as sent, without what Label Studio adds on its own (origin)."""
    return sorted((json.dumps({k: v for k, v in region.items() if k != "origin"}, sort_keys=True)
                   for region in result))
