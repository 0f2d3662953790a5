"""The Label Studio ML-backend protocol: /ml/health, /ml/setup, /ml/predict, /ml/webhook, as Label Studio calls
them (no CSRF token, no trailing slash), with images by instance URL, data: URI and http URL (a local server)."""
import base64
import http.server
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

from annotation.models import Read, Role
from annotation import services as annotation_services
from mlbackend.adapter import Detection
from mlbackend.models import LabelStudioLink, TrainingRun
from tests.conftest import make_user
from tests.mlbackend.conftest import import_phantom, register_served

LABEL_CONFIG = ('<View><Image name="img" value="$picture"/><RectangleLabels name="box" toName="img">'
                '<Label value="hiz"/></RectangleLabels></View>')


def png(width, height) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((np.arange(width * height) % 251).astype(np.uint8).reshape(height, width)).save(buffer, "PNG")
    return buffer.getvalue()


def data_uri(content: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(content).decode()


@pytest.fixture
def image_server():
    """A tiny HTTP server on 127.0.0.1 that serves one PNG and records the Authorization header."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            body = png(120, 90) if self.path == "/data/upload/1/scan.png" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


@pytest.fixture
def served(ml_project, tiny_weights, phantom_dir):
    folder, truth = phantom_dir
    version = register_served(ml_project, tiny_weights, conf=0.0001)
    case = import_phantom(ml_project, folder, truth["cases"][0])
    return {"version": version, "case": case}


def post(client, path, body, **headers):
    return client.post(path, json.dumps(body) if not isinstance(body, bytes) else body,
                       content_type="application/json", **headers)


def setup_body(host, project="12.1718000000"):
    return {"project": project, "schema": LABEL_CONFIG, "hostname": f"http://{host}", "access_token": "ls-secret",
            "extra_params": {"project": "ml"}}


def test_health_and_setup_need_no_model_and_honour_the_token(client, served, settings, image_server):
    host, _ = image_server
    assert client.get("/ml/health").json() == {"status": "UP", "model_class": "SpineReadYOLO"}
    response = post(client, "/ml/setup", setup_body(host))
    assert response.status_code == 200 and response.json() == {"model_version": "ml-v1"}
    link = LabelStudioLink.objects.get()
    assert (link.ls_project, link.project.slug, link.access_token) == ("12", "ml", "ls-secret")

    settings.ML_BACKEND_TOKEN = "backend-token"
    assert client.get("/ml/health").status_code == 401
    assert client.get("/ml/health", HTTP_AUTHORIZATION="Token backend-token").status_code == 200
    assert post(client, "/ml/predict", {"tasks": []}, HTTP_AUTHORIZATION="Token wrong").status_code == 401


@pytest.mark.slow
def test_predict_answers_one_result_per_task_in_order_with_valid_rectangles(client, served, image_server):
    host, seen = image_server
    post(client, "/ml/setup", setup_body(host))
    instance = served["case"].series.get(plane="sagittal").instances.all()[6]
    tasks = [{"id": 101, "data": {"picture": data_uri(png(80, 64))}},
             {"id": 102, "data": {"picture": f"/api/instances/{instance.pk}/dicom"}},
             {"id": 103, "data": {"picture": "/data/upload/1/scan.png"}},
             {"id": 104, "data": {"picture": data_uri(png(50, 100))}}]

    response = post(client, "/ml/predict", {"tasks": tasks, "project": "12.1718000000", "label_config": LABEL_CONFIG,
                                            "params": {"context": None}})

    assert response.status_code == 200
    results = response.json()["results"]
    sizes = [(r["result"][0]["original_width"], r["result"][0]["original_height"]) if r["result"] else None
             for r in results]
    assert len(results) == 4 and all(r["model_version"] == "ml-v1" for r in results)
    assert sizes[0] in (None, (80, 64)) and sizes[1] in (None, (instance.columns, instance.rows))
    assert sizes[2] in (None, (120, 90)) and sizes[3] in (None, (50, 100))
    assert seen == ["Token ls-secret"]  # Label Studio's media fetched with its token
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


def test_predict_converts_boxes_to_percent_of_the_original_size(client, served, monkeypatch):
    monkeypatch.setattr("mlbackend.adapter.YoloAdapter.predict",
                        lambda self, images, **kw: [[Detection("hiz", 0.91, (20.0, 16.0, 40.0, 32.0))] for _ in images])
    response = post(client, "/ml/predict", {"tasks": [{"id": 1, "data": {"image": data_uri(png(80, 64))}}],
                                            "project": "", "label_config": ""}, )
    assert response.status_code == 400  # no Label Studio project mapping and no ML_DEFAULT_PROJECT
    LabelStudioLink.objects.create(ls_project="7", project=served["case"].project)
    response = post(client, "/ml/predict", {"tasks": [{"id": 1, "data": {"image": data_uri(png(80, 64))}}],
                                            "project": "7.1"})
    assert response.json()["results"] == [{"model_version": "ml-v1", "score": 0.91, "result": [{
        "from_name": "label", "to_name": "image", "type": "rectanglelabels", "original_width": 80,
        "original_height": 64, "image_rotation": 0, "score": 0.91,
        "value": {"x": 25.0, "y": 25.0, "width": 25.0, "height": 25.0, "rotation": 0, "rectanglelabels": ["hiz"]}}]}]


@pytest.mark.parametrize("body, message", [
    (b"{not json", "not JSON"),
    ({"tasks": "x", "project": "7"}, "non-empty list"),
    ({"tasks": [{"id": 1}], "project": "7"}, "no data"),
    ({"tasks": [{"id": 1, "data": {"image": "http://example.org/a.png"}}], "project": "7"}, "not allowed"),
    ({"tasks": [{"id": 1, "data": {"image": "ftp://127.0.0.1/a.png"}}], "project": "7"}, "scheme"),
    ({"tasks": [{"id": 1, "data": {"image": "data:image/png;base64,bm90IGFuIGltYWdl"}}], "project": "7"},
     "not an image"),
    ({"tasks": [{"id": 1, "data": {"image": "data:image/png;base64,***"}}], "project": "7"}, "base64"),
    ({"tasks": [{"id": 1, "data": {"image": "/api/instances/999999/dicom"}}], "project": "7"}, "no instance"),
])
def test_bad_predict_requests_get_a_clear_400(client, served, body, message):
    LabelStudioLink.objects.create(ls_project="7", project=served["case"].project)
    response = post(client, "/ml/predict", body)
    assert response.status_code == 400 and message in response.json()["error"]


def test_unreachable_image_is_a_400_and_changes_nothing(client, served, settings):
    settings.ML_ALLOWED_IMAGE_HOSTS = ["127.0.0.1:9"]
    LabelStudioLink.objects.create(ls_project="7", project=served["case"].project)
    response = post(client, "/ml/predict", {"tasks": [{"id": 1, "data": {"image": "http://127.0.0.1:9/x.png"}}],
                                            "project": "7"})
    assert response.status_code == 400 and "could not fetch image" in response.json()["error"]
    assert LabelStudioLink.objects.count() == 1


def test_webhook_annotation_becomes_the_readers_read_and_start_training_queues_one(client, served, image_server):
    host, _ = image_server
    post(client, "/ml/setup", setup_body(host))
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
    payload = {"action": "ANNOTATION_CREATED", "project": {"id": 12},
               "task": {"id": 5, "data": {"picture": f"/api/instances/{instance.pk}/dicom"}},
               "annotation": {"id": 9, "completed_by": {"email": "reader@hospital.example"},
                              "result": discs + [rect("hiz", 130, 222, 138, 228)]}}

    response = post(client, "/ml/webhook", payload)

    assert response.status_code == 201 and response.json()["status"] == "ok"
    read = Read.objects.get(reader=reader, case=case)
    assert read.status == Read.Status.DRAFT
    stored = sorted(read.findings.values_list("disc_level", "finding_type", "value", "instance_id"))
    assert stored == sorted([(level, "pfirrmann", "3", instance.pk) for level in
                             ("L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")] + [("L5/S1", "hiz", "present", instance.pk)])
    box = read.findings.get(finding_type="hiz")
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((130, 222, 138, 228), abs=0.01)

    # an update replaces this image's boxes only; a stranger's annotation changes nothing
    payload["action"] = "ANNOTATION_UPDATED"
    payload["annotation"]["result"] = discs
    assert post(client, "/ml/webhook", payload).status_code == 201
    assert read.findings.count() == 5
    payload["annotation"]["completed_by"] = {"email": "nobody@elsewhere.example"}
    assert post(client, "/ml/webhook", payload).status_code == 400
    assert Read.objects.count() == 1 and read.findings.count() == 5

    assert post(client, "/ml/webhook", {"action": "PROJECT_UPDATED"}).json() == {"status": "ignored",
                                                                                 "action": "PROJECT_UPDATED"}
    assert post(client, "/ml/webhook", {"no": "action"}).status_code == 400
    response = post(client, "/ml/webhook", {"action": "START_TRAINING", "project": {"id": 12}})
    assert response.status_code == 201
    assert TrainingRun.objects.get().trigger == "label_studio"
    assert post(client, "/ml/webhook", {"action": "START_TRAINING", "project": {"id": 12}}).status_code == 409
