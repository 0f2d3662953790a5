"""The coordinator's registry: API (list, serve/rollback, train, settings) and page with learning curve."""
from annotation.models import AuditEvent
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.selectors import served_version_for
from tests.mlbackend.conftest import register_served


def test_registry_api_lists_versions_rolls_back_and_queues_training(client, coordinator, reader, ml_project,
                                                                    tiny_weights):
    first = register_served(ml_project, tiny_weights)
    second = register_served(ml_project, tiny_weights)
    ModelVersion.objects.filter(pk=second.pk).update(metrics={"map50": 0.4, "map50_95": 0.2, "per_class": {}})

    client.force_login(reader)
    assert client.get("/api/ml/projects/ml/models/").status_code == 404
    assert client.get("/ml/projects/ml/").status_code == 404
    client.force_login(coordinator)
    body = client.get("/api/ml/projects/ml/models/").json()
    assert body["served_version"] == 2 and [v["version"] for v in body["versions"]] == [1, 2]
    assert set(body["versions"][1]) >= {"parent", "config", "metrics", "sha256", "device", "train_seconds",
                                        "training_case_ids", "heldout_case_ids"}

    assert client.post("/api/ml/projects/ml/models/1/serve/").status_code == 200
    assert served_version_for(ml_project) == first
    assert AuditEvent.objects.filter(action="model_version_serve", actor=coordinator).count() == 1
    assert client.post("/api/ml/projects/ml/models/9/serve/").status_code == 404

    response = client.post("/api/ml/projects/ml/trainings/", {"epochs": 2, "imgsz": 64},
                           content_type="application/json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert client.post("/api/ml/projects/ml/trainings/").status_code == 409
    assert client.post("/api/ml/projects/ml/trainings/", {"epochs": 0}, content_type="application/json").status_code == 400
    TrainingRun.objects.update(status="running", epoch=1, loss=2.5, eta_seconds=30)
    assert client.get("/api/ml/projects/ml/trainings/").json()[0]["epoch"] == 1

    page = client.get("/ml/projects/ml/").content.decode()
    assert "epoch 1/2" in page and "loss 2.5000" in page and "ml-v1 (served)" in page and "ml-v2" in page
    png = client.get("/ml/projects/ml/learning-curve.png")
    assert png["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert "Models" in client.get("/ml/").content.decode()

    response = client.put("/api/ml/projects/ml/settings/", {"config_name": "yolov5n-se", "retrain_after_cases": 3,
                                                           "retrain_crontab": "30 1 * * *"},
                          content_type="application/json")
    assert response.json() == {"config_name": "yolov5n-se", "retrain_after_cases": 3, "retrain_crontab": "30 1 * * *"}
    assert client.put("/api/ml/projects/ml/settings/", {"config_name": "resnet"},
                      content_type="application/json").status_code == 400


def test_every_config_builds_offline_including_the_custom_modified_yolov5():
    from mlbackend.adapter import YoloAdapter
    from mlbackend.configs import config_load, config_names
    from mlbackend.yolo_modules import SPPFResidual, SqueezeExcite

    assert config_names() == ["two-stage", "yolo11n", "yolo11s", "yolov5n-se", "yolov8n", "yolov8n-seg", "yolov8s"]
    model = YoloAdapter.build(config_load("yolov5n-se")).model.model
    kinds = [type(layer) for layer in model.model]
    assert kinds.count(SqueezeExcite) == 4 and kinds.count(SPPFResidual) == 1
    assert YoloAdapter.build(config_load("yolov8n-seg")).task == "segment"
    assert YoloAdapter.build(config_load("two-stage")).task == "detect"  # its first stage
