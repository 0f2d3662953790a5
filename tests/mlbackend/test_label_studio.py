"""The Label Studio ML-backend protocol: /ml/health, /ml/setup, /ml/predict, /ml/webhook, as Label Studio calls
them (no CSRF token, no trailing slash, HTTP Basic as the project's ML client), with images by instance URL,
data: URI and http URL, and webhook events confirmed by a fake Label Studio (a local server on 127.0.0.1)."""
import base64
import http.server
import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from annotation import services as annotation_services
from annotation.models import Read, Role
from mlbackend.adapter import Detection
from mlbackend.models import LabelStudioLink, TrainingRun
from mlbackend.services.ml_client import ml_client_rotate
from tests.conftest import make_user
from tests.mlbackend.conftest import import_phantom, register_served

# /ml/predict runs the model in this process, as without a broker (with one, on a worker: test_routing.py).
pytestmark = pytest.mark.usefixtures("eager_tasks")

LABEL_CONFIG = ('<View><Image name="img" value="$picture"/><RectangleLabels name="box" toName="img">'
                '<Label value="hiz"/></RectangleLabels></View>')


def png(width, height) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((np.arange(width * height) % 251).astype(np.uint8).reshape(height, width)).save(buffer, "PNG")
    return buffer.getvalue()


def data_uri(content: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(content).decode()


class FakeHost:
    """A tiny HTTP server on 127.0.0.1 (random port) standing in for Label Studio or any image host: answers the
    routes it is given (JSON, bytes, redirects; 404 otherwise) and records each request's path and Authorization
    header."""

    def __init__(self):
        self.routes = {}
        self.seen = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fake.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = fake.routes.get(self.path) or fake.routes.get(
                    self.path.split("?")[0], (404, {}, b""))
                if status == "slow":
                    time.sleep(headers)
                    status, headers = 200, {}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def json(self, path, payload, status=200):
        self.routes[path] = (status, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def bytes(self, path, body, content_type="image/png"):
        self.routes[path] = (200, {"Content-Type": content_type}, body)

    def redirect(self, path, location, status=302):
        self.routes[path] = (status, {"Location": location}, b"")

    def slow(self, path, seconds):
        """Answers only after ``seconds``."""
        self.routes[path] = ("slow", seconds, b"")

    def authorizations(self, path=None):
        """The Authorization headers of the requests seen (for one path, query ignored)."""
        return [auth for seen, auth in self.seen if path is None or seen.split("?")[0] == path.split("?")[0]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_ls():
    """The fake Label Studio: serves /data/upload/1/scan.png (a 120 x 90 PNG)."""
    fake = FakeHost()
    fake.bytes("/data/upload/1/scan.png", png(120, 90))
    yield fake
    fake.close()


@pytest.fixture
def other_host():
    """A second server (another port, so another host) that Label Studio's token must never reach."""
    fake = FakeHost()
    yield fake
    fake.close()


def basic(username, password) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def ml_client(ml_project):
    """The ml project's ML client account; ``auth`` is the header Label Studio sends (HTTP Basic)."""
    credentials = ml_client_rotate(project=ml_project)
    return {"username": credentials.username, "password": credentials.password,
            "auth": basic(credentials.username, credentials.password)}


@pytest.fixture
def served(ml_project, tiny_weights, phantom_dir):
    folder, truth = phantom_dir
    version = register_served(ml_project, tiny_weights, conf=0.0001)
    case = import_phantom(ml_project, folder, truth["cases"][0])
    return {"version": version, "case": case}


def post(client, path, body, **headers):
    return client.post(path, json.dumps(body) if not isinstance(body, bytes) else body,
                       content_type="application/json", **headers)


def refusal(response, caplog) -> str:
    """Why the batch's one task got an empty result: the answer stays 200 (Label Studio keeps the batch's other
    predictions) and the reason is logged, not sent."""
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == 1 and results[0]["result"] == [] and results[0]["score"] == 0, results
    messages = [r.getMessage() for r in caplog.records if r.name == "mlbackend.services.label_studio"]
    assert messages, "the reason is logged"
    return messages[-1].split(": ", 1)[1].removesuffix("; empty result")


def setup_body(host, project="12.1718000000"):
    return {"project": project, "schema": LABEL_CONFIG, "hostname": f"http://{host}", "access_token": "ls-secret",
            "extra_params": {}}


def test_health_is_public_and_setup_links_the_ml_clients_project(client, served, ml_client, fake_ls):
    assert client.get("/ml/health").json() == {"status": "UP", "model_class": "SpineReadYOLO"}
    assert post(client, "/ml/setup", setup_body(fake_ls.host)).status_code == 401

    response = post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])

    assert response.status_code == 200 and response.json() == {"model_version": "ml-v1"}
    link = LabelStudioLink.objects.get()
    assert (link.ls_project, link.project.slug, link.hostname, link.access_token, link.ml_client.username) == (
        "12", "ml", fake_ls.url, "ls-secret", "ml-ml")


@pytest.mark.slow
def test_predict_answers_one_result_per_task_in_order_with_valid_rectangles(client, served, ml_client, fake_ls):
    post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    instance = served["case"].series.get(plane="sagittal").instances.all()[6]
    tasks = [{"id": 101, "data": {"picture": data_uri(png(80, 64))}},
             {"id": 102, "data": {"picture": f"/api/instances/{instance.pk}/dicom"}},
             {"id": 103, "data": {"picture": "/data/upload/1/scan.png"}},
             {"id": 104, "data": {"picture": data_uri(png(50, 100))}}]

    response = post(client, "/ml/predict", {"tasks": tasks, "project": "12.1718000000", "label_config": LABEL_CONFIG,
                                            "params": {"context": None}}, **ml_client["auth"])

    assert response.status_code == 200
    results = response.json()["results"]
    sizes = [(r["result"][0]["original_width"], r["result"][0]["original_height"]) if r["result"] else None
             for r in results]
    assert len(results) == 4 and all(r["model_version"] == "ml-v1" for r in results)
    assert sizes[0] in (None, (80, 64)) and sizes[1] in (None, (instance.columns, instance.rows))
    assert sizes[2] in (None, (120, 90)) and sizes[3] in (None, (50, 100))
    assert fake_ls.authorizations() == ["Token ls-secret"]  # Label Studio's media fetched with its token
    boxes = [item for r in results for item in r["result"]]
    assert boxes, "a model at conf 0.0001 boxes something"
    for item in boxes:
        assert (item["from_name"], item["to_name"], item["type"]) == ("box", "img", "rectanglelabels")
        value = item["value"]
        assert 0 <= value["x"] <= 100 and 0 <= value["y"] <= 100 and value["x"] + value["width"] <= 100.0001
        assert value["y"] + value["height"] <= 100.0001 and value["rotation"] == 0 and 0 < item["score"] <= 1
        assert value["rectanglelabels"][0] in served["version"].class_names
    for r in results:
        assert r["score"] == pytest.approx(np.mean([i["score"] for i in r["result"]]) if r["result"] else 0, abs=1e-3)


def test_predict_converts_boxes_to_percent_of_the_original_size(client, served, ml_client, monkeypatch):
    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.predict",
                        lambda self, images, **kw: [[Detection("hiz", 0.91, (20.0, 16.0, 40.0, 32.0))] for _ in images])
    # No /setup yet: the account's project answers all the same.
    response = post(client, "/ml/predict", {"tasks": [{"id": 1, "data": {"image": data_uri(png(80, 64))}}],
                                            "project": "7.1"}, **ml_client["auth"])
    assert response.json()["results"] == [{"model_version": "ml-v1", "score": 0.91, "result": [{
        "from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": 80,
        "original_height": 64, "image_rotation": 0, "score": 0.91,
        "value": {"x": 25.0, "y": 25.0, "width": 25.0, "height": 25.0, "rotation": 0, "rectanglelabels": ["hiz"]}}]}]


@pytest.mark.parametrize("body, message", [
    (b"{not json", "not JSON"),
    ({"tasks": "x", "project": "7"}, "non-empty list"),
    ({"tasks": [], "project": "7"}, "non-empty list"),
    ({"tasks": [{"id": 1}], "project": "7", "label_config": "<View"}, "label_config is not valid XML"),
])
def test_bad_predict_requests_get_a_clear_400(client, served, ml_client, body, message):
    response = post(client, "/ml/predict", body, **ml_client["auth"])
    assert response.status_code == 400 and message in response.json()["error"]


# Was a 400 for the whole request; now one task's bad image costs that task only (Label Studio's batches).
@pytest.mark.parametrize("task, message", [
    ({"id": 1}, "task 1: no data"),
    ({"id": 1, "data": {"image": "http://example.org/a.png"}}, "task 1: image host is not an allowed host"),
    ({"id": 1, "data": {"image": "ftp://127.0.0.1/a.png"}}, "task 1: image URL scheme"),
    ({"id": 1, "data": {"image": "data:image/png;base64,bm90IGFuIGltYWdl"}}, "task 1: image is not an image"),
    ({"id": 1, "data": {"image": "data:image/png;base64,***"}}, "task 1: data: URI"),
    ({"id": 1, "data": {"image": "/api/instances/999999/dicom"}}, "task 1: no instance 999999"),
])
def test_a_task_whose_image_cant_be_had_gets_an_empty_result_and_the_reason_logged(client, served, ml_client,
                                                                                    caplog, task, message):
    response = post(client, "/ml/predict", {"tasks": [task], "project": "7"}, **ml_client["auth"])
    assert message in refusal(response, caplog)
    assert response.json()["results"][0]["model_version"] == "ml-v1"


def test_one_bad_task_never_fails_the_batch(client, served, ml_client, fake_ls, caplog, monkeypatch, settings):
    """Label Studio sends all tasks of an action in one /predict: a bad host, a 404, an oversize or non-image
    task gets an empty result in its place; the others get the model's boxes, in task order."""
    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.predict", lambda self, images, **kw: [
        [Detection("hiz", 0.5 + i / 10, (1.0, 1.0, 5.0, 5.0))] for i, _ in enumerate(images)])
    settings.ML_IMAGE_MAX_BYTES = 50_000
    post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    fake_ls.bytes("/data/upload/1/page.html", b"<html>sign in</html>", "text/html")
    tasks = [{"id": 1, "data": {"picture": "http://example.org/a.png"}},
             {"id": 2, "data": {"picture": data_uri(png(40, 20))}},
             {"id": 3, "data": {"picture": "/data/upload/1/missing.png"}},
             {"id": 4, "data": {"picture": "/data/upload/1/scan.png"}},
             {"id": 5, "data": {"picture": "/data/upload/1/page.html"}},
             {"id": 6, "data": {"picture": "data:image/png;base64," + "A" * 10**5}}]

    response = post(client, "/ml/predict", {"tasks": tasks, "project": "12.1718000000", "label_config": LABEL_CONFIG},
                    **ml_client["auth"])

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["model_version"] for r in results] == ["ml-v1"] * 6
    assert [r["score"] for r in results] == [0, 0.5, 0, 0.6, 0, 0]
    assert [len(r["result"]) for r in results] == [0, 1, 0, 1, 0, 0]
    assert (results[1]["result"][0]["original_width"], results[3]["result"][0]["original_width"]) == (40, 120)
    logged = " | ".join(r.getMessage() for r in caplog.records if r.name == "mlbackend.services.label_studio")
    for reason in ("task 1: image host is not an allowed host", "task 3: image could not be fetched (HTTP 404)",
                   "task 5: image is not an image", "task 6: image is over"):
        assert reason in logged


def test_unreachable_image_is_an_empty_result_and_changes_nothing(client, served, ml_client, settings, caplog):
    settings.ML_ALLOWED_IMAGE_HOSTS = ["127.0.0.1:9"]
    response = post(client, "/ml/predict", {"tasks": [{"id": 1, "data": {"image": "http://127.0.0.1:9/x.png"}}],
                                            "project": "7"}, **ml_client["auth"])
    assert refusal(response, caplog) == "task 1: image could not be fetched"
    assert LabelStudioLink.objects.count() == 0


def label_studio_annotation(fake, *, instance, result, email="reader@hospital.example", annotation_id=9, task_id=5,
                            ls_project=12):
    """What the fake Label Studio answers for the annotation and its task (as GET /api/annotations/<id>/ and
    /api/tasks/<id>/ do); returns the webhook body Label Studio would post."""
    fake.json(f"/api/annotations/{annotation_id}/", {
        "id": annotation_id, "task": task_id, "project": ls_project, "result": result,
        "completed_by": {"id": 3, "email": email}, "created_username": f" {email}, 3"})
    fake.json(f"/api/tasks/{task_id}/", {"id": task_id, "project": ls_project,
                                         "data": {"picture": f"/api/instances/{instance.pk}/dicom"}})
    return {"action": "ANNOTATION_CREATED", "project": {"id": ls_project},
            "task": {"id": task_id, "data": {"picture": f"/api/instances/{instance.pk}/dicom"}},
            "annotation": {"id": annotation_id, "completed_by": {"email": email}, "result": result}}


def test_webhook_annotation_becomes_the_readers_read_and_start_training_queues_one(client, served, ml_client,
                                                                                   fake_ls):
    post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    case = served["case"]
    reader = make_user("ls-reader", Role.READER)
    reader.email = "reader@hospital.example"
    reader.save()
    annotation_services.case_assign(case=case, user=reader, role=Role.READER)
    instance = case.series.get(plane="sagittal").instances.all()[6]
    w, h = instance.columns / 100, instance.rows / 100

    def rect(label, x0, y0, x1, y1):
        return {"from_name": "box", "to_name": "img", "type": "rectanglelabels",
                "value": {"x": x0 / w, "y": y0 / h, "width": (x1 - x0) / w, "height": (y1 - y0) / h,
                          "rotation": 0, "rectanglelabels": [label]}}

    discs = [rect("disc_p3", 100, 60 + 40 * i, 140, 72 + 40 * i) for i in range(5)]
    payload = label_studio_annotation(fake_ls, instance=instance, result=discs + [rect("hiz", 130, 222, 138, 228)])

    response = post(client, "/ml/webhook", payload)

    assert response.status_code == 201 and response.json()["status"] == "ok"
    read = Read.objects.get(reader=reader, case=case)
    assert read.status == Read.Status.DRAFT and read.origin == Read.Origin.LABEL_STUDIO
    stored = sorted(read.findings.values_list("disc_level", "finding_type", "value", "instance_id"))
    assert stored == sorted([(level, "pfirrmann", "3", instance.pk) for level in
                             ("L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")] + [("L5/S1", "hiz", "present", instance.pk)])
    box = read.findings.get(finding_type="hiz")
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((130, 222, 138, 228), abs=0.01)
    assert set(fake_ls.authorizations("/api/annotations/9/")) == {"Token ls-secret"}

    # an update replaces this image's boxes only; a stranger's annotation changes nothing
    payload = label_studio_annotation(fake_ls, instance=instance, result=discs)
    payload["action"] = "ANNOTATION_UPDATED"
    assert post(client, "/ml/webhook", payload).status_code == 201
    assert read.findings.count() == 5
    payload = label_studio_annotation(fake_ls, instance=instance, result=[], email="nobody@elsewhere.example")
    assert post(client, "/ml/webhook", payload).status_code == 400
    assert Read.objects.count() == 1 and read.findings.count() == 5

    assert post(client, "/ml/webhook", {"action": "PROJECT_UPDATED"}).json() == {"status": "ignored",
                                                                                 "action": "PROJECT_UPDATED"}
    assert post(client, "/ml/webhook", {"no": "action"}).status_code == 400
    fake_ls.json("/api/projects/12/", {"id": 12, "title": "Lumbar"})
    response = post(client, "/ml/webhook", {"action": "START_TRAINING", "project": {"id": 12}})
    assert response.status_code == 201
    run = TrainingRun.objects.get()
    assert (run.trigger, run.requested_by.username) == ("label_studio", "ml-ml")
    assert post(client, "/ml/webhook", {"action": "START_TRAINING", "project": {"id": 12}}).status_code == 409


@pytest.mark.parametrize("extra", [{"extra_params": None}, {}, {"extra_params": {}}])
def test_setup_as_label_studio_sends_it_maps_to_the_accounts_project(client, served, ml_client, fake_ls, extra):
    """Label Studio 1.23 sends extra_params null when the connection has none (or older ones omit it)."""
    body = {k: v for k, v in setup_body(fake_ls.host).items() if k != "extra_params"} | extra
    response = post(client, "/ml/setup", body, **ml_client["auth"])
    assert (response.status_code, response.json()) == (200, {"model_version": "ml-v1"})
    assert list(LabelStudioLink.objects.values_list("project__slug", "ls_project")) == [("ml", "12")]


def test_webhooks_for_what_isnt_spinereads_are_200_and_ignored(client, served, ml_client, fake_ls):
    post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    instance = served["case"].series.get(plane="sagittal").instances.all()[6]
    reads_before = Read.objects.count()
    # A task of the linked Label Studio project whose image is an upload, not a SpineRead case: confirmed by
    # Label Studio, and still nothing to store.
    payload = label_studio_annotation(fake_ls, instance=instance, result=[])
    fake_ls.json("/api/tasks/5/", {"id": 5, "project": 12, "data": {"picture": "/data/upload/1/scan.png"}})
    assert (post(client, "/ml/webhook", payload).status_code, post(client, "/ml/webhook", payload).json()) == (
        200, {"status": "ignored"})
    # A task of another Label Studio project; an action the backend doesn't handle.
    payload = label_studio_annotation(fake_ls, instance=instance, result=[], ls_project=13)
    assert post(client, "/ml/webhook", payload).json() == {"status": "ignored"}
    for action in ("TASKS_CREATED", "PROJECT_UPDATED", "ANNOTATIONS_DELETED"):
        response = post(client, "/ml/webhook", {"action": action, "project": {"id": 12}})
        assert (response.status_code, response.json()) == (200, {"status": "ignored", "action": action})
    assert Read.objects.count() == reads_before
