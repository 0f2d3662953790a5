"""Who may call the ML backend, and what it will fetch.

/ml/setup and /ml/predict need the project's ML client account (HTTP Basic, as a real Label Studio sends it, or
a Token header carrying its password), whatever the settings; webhook events are believed only once the
registered Label Studio (a fake one on 127.0.0.1 here) confirms them; image fetches stay on allowed hosts, send
Label Studio's token to Label Studio only, and are capped in bytes and pixels before decoding.
"""
import base64
import io
import re
import struct
import zlib

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.core.management import CommandError, call_command
from PIL import Image

from annotation import services as annotation_services
from annotation.models import AuditEvent, ProjectMembership, Read, Role
from mlbackend.models import LabelStudioLink, TrainingRun
from mlbackend.services import remote
from mlbackend.services.ml_client import ml_client_rotate
from tests.conftest import make_user
from tests.mlbackend.conftest import import_phantom
from tests.mlbackend.test_label_studio import (  # noqa: F401 (fake_ls, other_host, ml_client are fixtures)
    basic,
    data_uri,
    fake_ls,
    label_studio_annotation,
    ml_client,
    other_host,
    png,
    post,
    refusal,
    setup_body,
)

# /ml/predict runs the model in this process, as without a broker (with one, on a worker: test_routing.py).
pytestmark = pytest.mark.usefixtures("eager_tasks")

REALM = 'Basic realm="SpineRead ML"'


def stored_counts() -> dict:
    """What a request could have changed (failed log-ins are audited as such, and counted by the lockout)."""
    return {"reads": Read.objects.count(), "audit": AuditEvent.objects.exclude(action="login_failed").count(),
            "trainings": TrainingRun.objects.count(), "links": LabelStudioLink.objects.count()}


@pytest.fixture
def ml_case(ml_project, phantom_dir, reader):
    """A phantom case of the ml project with reader1 assigned, and one of its sagittal instances."""
    folder, truth = phantom_dir
    case = import_phantom(ml_project, folder, truth["cases"][0])
    annotation_services.case_assign(case=case, user=reader, role=Role.READER)
    return {"case": case, "instance": case.series.get(plane="sagittal").instances.all()[6], "reader": reader}


def injected_boxes(instance) -> list:
    return [{"from_name": "box", "to_name": "img", "type": "rectanglelabels",
             "value": {"x": 40, "y": 40 + 5 * i, "width": 10, "height": 3, "rotation": 0,
                       "rectanglelabels": ["disc_p5"]}} for i in range(5)]


# Authentication ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("credentials", ["none", "wrong password", "coordinator's own login", "old backend token",
                                         "bearer", "malformed basic"])
def test_without_the_ml_clients_credentials_nothing_is_stored(client, settings, ml_project, ml_client, ml_case,
                                                              coordinator, fake_ls, credentials):
    # The old set-up: no ML_BACKEND_TOKEN, a default project, a link left by an anonymous /setup.
    settings.ML_BACKEND_TOKEN = ""
    settings.ML_DEFAULT_PROJECT = "ml"
    LabelStudioLink.objects.create(ls_project="12", project=ml_project, hostname=fake_ls.url)
    headers = {"none": {},
               "wrong password": basic(ml_client["username"], "guess"),
               "coordinator's own login": basic(coordinator.username, "pw-coord"),
               "old backend token": {"HTTP_AUTHORIZATION": "Token backend-token"},
               "bearer": {"HTTP_AUTHORIZATION": f"Bearer {ml_client['password']}"},
               "malformed basic": {"HTTP_AUTHORIZATION": "Basic %%%"}}[credentials]
    if credentials == "old backend token":
        settings.ML_BACKEND_TOKEN = "backend-token"
    instance = ml_case["instance"]
    payload = label_studio_annotation(fake_ls, instance=instance, result=injected_boxes(instance),
                                      email="", annotation_id=9)
    payload["annotation"]["completed_by"] = {"username": "reader1"}
    before = stored_counts()

    answers = [post(client, "/ml/setup", {**setup_body("attacker.example"), "extra_params": {"project": "ml"}},
                    **headers),
               post(client, "/ml/predict", {"tasks": [{"id": 1, "data": {"image": data_uri(png(8, 8))}}],
                                            "project": "12"}, **headers)]
    webhooks = [post(client, "/ml/webhook", payload, **headers),
                post(client, "/ml/webhook", {"action": "START_TRAINING", "project": {"id": 12}}, **headers)]

    for answer in answers:
        assert answer.status_code == 401 and answer["WWW-Authenticate"] == REALM
    for answer in webhooks:
        assert (answer.status_code, answer.json()) == (200, {"status": "ignored"})
    assert stored_counts() == before
    assert LabelStudioLink.objects.get().hostname == fake_ls.url
    assert fake_ls.seen == []  # an untrusted link is not even asked


def test_health_stays_public(client):
    assert client.get("/ml/health").json() == {"status": "UP", "model_class": "SpineReadYOLO"}


def test_basic_auth_as_label_studio_sends_it_and_the_password_as_a_token_both_work(client, ml_client, fake_ls):
    response = post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    assert (response.status_code, response.json()) == (200, {"model_version": "untrained"})

    token = {"HTTP_AUTHORIZATION": f"Token {ml_client['password']}"}
    body = {"tasks": [{"id": 1, "data": {"picture": data_uri(png(8, 8))}}], "project": "12.1"}
    response = post(client, "/ml/predict", body, **token)
    assert response.status_code == 200
    assert response.json() == {"results": [{"model_version": "untrained", "score": 0.0, "result": []}]}
    row = AuditEvent.objects.filter(action="ml_predict").latest("id")  # the ML client's reads are audited
    assert (row.actor.username, row.payload["tasks"]) == (ml_client["username"], 1)
    assert post(client, "/ml/predict", body, HTTP_AUTHORIZATION=f"Token {ml_client['password']}x").status_code == 401
    assert client.get("/ml/setup", **ml_client["auth"]).status_code == 405


def test_a_verified_login_is_remembered_until_the_password_changes(client, ml_project, ml_client, monkeypatch):
    from mlbackend.services import ml_client as ml_client_service

    calls = []
    real = ml_client_service.authenticate
    monkeypatch.setattr(ml_client_service, "authenticate", lambda **kw: calls.append(kw["username"]) or real(**kw))
    body = {"tasks": [{"id": 1, "data": {"image": data_uri(png(8, 8))}}]}
    for _ in range(3):
        assert post(client, "/ml/predict", body, **ml_client["auth"]).status_code == 200
    assert calls == ["ml-ml"]  # one password hash, not one per call

    ml_client_rotate(project=ml_project)
    assert post(client, "/ml/predict", body, **ml_client["auth"]).status_code == 401
    assert calls == ["ml-ml", "ml-ml"]


def test_failed_ml_logins_reach_the_login_lockout(client, ml_client):
    failures = []

    def failed(sender, credentials, request=None, **kwargs):
        failures.append((credentials.get("username"), request is not None))

    user_login_failed.connect(failed)
    try:
        assert post(client, "/ml/predict", {}, **basic(ml_client["username"], "guess")).status_code == 401
        assert post(client, "/ml/predict", {}, HTTP_AUTHORIZATION="Token ml-ml.guess").status_code == 401
    finally:
        user_login_failed.disconnect(failed)
    assert failures == [("ml-ml", True), ("ml-ml", True)]


def test_ml_client_is_locked_out_after_too_many_failures(client, settings, ml_client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post(client, "/ml/predict", {}, **basic(ml_client["username"], "guess"))
    response = post(client, "/ml/predict", {"tasks": [{"id": 1, "data": {"image": data_uri(png(8, 8))}}]},
                    **ml_client["auth"])
    assert response.status_code in (401, 429)  # 429: the lockout's own answer


def test_ml_client_command_prints_two_lines_and_rotating_changes_the_password(ml_project, capsys):
    call_command("ml_client", "--project", "ml")
    first = re.fullmatch(r"username: (ml-ml)\npassword: (\S+)\n", capsys.readouterr().out)
    assert first, "exactly two lines"
    call_command("ml_client", "--project", "ml")
    second = re.fullmatch(r"username: (ml-ml)\npassword: (\S+)\n", capsys.readouterr().out)

    assert second and second.group(2) != first.group(2)
    user = get_user_model().objects.get(username="ml-ml")
    assert not user.check_password(first.group(2)) and user.check_password(second.group(2))
    assert user.is_active and not user.groups.exists()
    assert list(ProjectMembership.objects.filter(user=user).values_list("project__slug", "role")) == [
        ("ml", "ml_client")]
    assert AuditEvent.objects.filter(action="ml_client_rotate").count() == 2


def test_ml_client_command_refuses_a_taken_name_and_an_unknown_project(project):
    make_user("ml-lumbar", Role.READER)
    with pytest.raises(CommandError, match="is not the ML client"):
        call_command("ml_client", "--project", "lumbar")
    with pytest.raises(CommandError, match="no project"):
        call_command("ml_client", "--project", "nowhere")
    assert not ProjectMembership.objects.filter(role="ml_client").exists()


def test_setup_maps_to_the_accounts_project_and_nobody_elses(client, ml_project, ml_client, project, fake_ls):
    other = ml_client_rotate(project=project)  # the lumbar project's ML client
    assert post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"]).status_code == 200

    response = post(client, "/ml/setup", {**setup_body("attacker.example"), "extra_params": {"project": "ml"}},
                    **basic(other.username, other.password))
    assert response.status_code == 403 and response.json() == {"error": "this ML client serves project lumbar only"}
    response = post(client, "/ml/setup", setup_body("attacker.example"), **basic(other.username, other.password))
    assert response.status_code == 200
    links = {link.project.slug: (link.ls_project, link.hostname, link.ml_client.username)
             for link in LabelStudioLink.objects.select_related("project", "ml_client")}
    assert links == {"ml": ("12", fake_ls.url, "ml-ml"), "lumbar": ("12", "http://attacker.example", "ml-lumbar")}

    for hostname in ("ftp://ls.example", "http://user:pw@ls.example", "ls.example", "javascript:alert(1)"):
        response = post(client, "/ml/setup", {**setup_body("x"), "hostname": hostname}, **ml_client["auth"])
        assert response.status_code == 400 and "hostname must be" in response.json()["error"]
    assert LabelStudioLink.objects.get(project=ml_project).hostname == fake_ls.url


def test_setup_is_audited_when_the_registration_changes(client, ml_client, fake_ls):
    for _ in range(3):
        post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    event = AuditEvent.objects.get(action="label_studio_link")
    assert (event.actor.username, event.payload) == ("ml-ml", {"ls_project": "12", "hostname": fake_ls.url})


# Webhooks ---------------------------------------------------------------------------------------------------------

def test_a_confirmed_annotation_is_stored_from_label_studios_copy_on_behalf_of_the_reader(client, ml_client,
                                                                                        ml_case, fake_ls):
    post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    reader, instance = ml_case["reader"], ml_case["instance"]
    reader.email = "reader1@hospital.example"
    reader.save()
    w, h = instance.columns / 100, instance.rows / 100
    discs = [{"from_name": "box", "to_name": "img", "type": "rectanglelabels",
              "value": {"x": 100 / w, "y": (60 + 40 * i) / h, "width": 40 / w, "height": 12 / h, "rotation": 0,
                        "rectanglelabels": ["disc_p3"]}} for i in range(5)]
    payload = label_studio_annotation(fake_ls, instance=instance, result=discs, email="reader1@hospital.example")
    payload["annotation"]["result"] = injected_boxes(instance)  # what was posted is not what is stored
    before = AuditEvent.objects.count()

    response = post(client, "/ml/webhook", payload)

    assert response.status_code == 201
    read = Read.objects.get()
    assert (read.reader, read.origin, read.status) == (reader, Read.Origin.LABEL_STUDIO, Read.Status.DRAFT)
    assert sorted(read.findings.values_list("value", flat=True)) == ["3"] * 5  # Label Studio's copy: grade 3
    events = AuditEvent.objects.order_by("id")[before:]
    assert [(e.action, e.actor.username, e.on_behalf_of.username) for e in events] == [
        ("read_open", "ml-ml", "reader1"), ("read_save_draft", "ml-ml", "reader1")]
    assert fake_ls.authorizations("/api/annotations/9/") == ["Token ls-secret"]
    assert fake_ls.authorizations("/api/tasks/5/") == ["Token ls-secret"]


def _unconfirmable(case, fake_ls, instance):
    """Each way an event fails to be confirmed: (webhook body, what the fake Label Studio answers)."""
    def annotation(**changes):
        payload = label_studio_annotation(fake_ls, instance=instance, result=injected_boxes(instance),
                                          email="reader1@hospital.example")
        answer = {"id": 9, "task": 5, "project": 12, "result": [], "completed_by": {"email": "reader1@hospital.example"}}
        answer.update(changes)
        fake_ls.json("/api/annotations/9/", answer)
        return payload

    if case == "unknown Label Studio project":
        payload = annotation()
        payload["project"] = {"id": 99}
        return payload
    if case == "annotation not in Label Studio":
        payload = annotation()
        fake_ls.routes.pop("/api/annotations/9/")
        return payload
    if case == "another task":
        return annotation(task=6)
    if case == "another project":
        return annotation(project=13)
    if case == "task of another project":
        payload = annotation()
        fake_ls.json("/api/tasks/5/", {"id": 5, "project": 13, "data": {"picture": "x"}})
        return payload
    if case == "not JSON":
        payload = annotation()
        fake_ls.bytes("/api/annotations/9/", b"<html>login</html>", "text/html")
        return payload
    if case == "no annotation id":
        return {"action": "ANNOTATION_CREATED", "project": {"id": 12}, "annotation": {"result": []}}
    if case == "training of an unknown project":
        return {"action": "START_TRAINING", "project": {"id": 99}}
    if case == "training, project not in Label Studio":
        return {"action": "START_TRAINING", "project": {"id": 12}}
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["unknown Label Studio project", "annotation not in Label Studio", "another task",
                                  "another project", "task of another project", "not JSON", "no annotation id",
                                  "training of an unknown project", "training, project not in Label Studio"])
def test_unconfirmable_webhooks_are_ignored_and_store_nothing(client, ml_client, ml_case, fake_ls, case):
    post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    ml_case["reader"].email = "reader1@hospital.example"
    ml_case["reader"].save()
    payload = _unconfirmable(case, fake_ls, ml_case["instance"])
    before = stored_counts()

    response = post(client, "/ml/webhook", payload)

    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    assert stored_counts() == before


def test_webhooks_are_ignored_once_the_link_is_no_longer_its_ml_clients(client, ml_client, ml_case, fake_ls):
    post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    payload = label_studio_annotation(fake_ls, instance=ml_case["instance"], result=[], email="")
    ProjectMembership.objects.filter(role="ml_client").delete()
    before = stored_counts()
    assert post(client, "/ml/webhook", payload).json() == {"status": "ignored"}
    assert stored_counts() == before and fake_ls.seen == []


def test_an_unreachable_label_studio_confirms_nothing(client, ml_client, ml_case):
    post(client, "/ml/setup", setup_body("127.0.0.1:9"), **ml_client["auth"])
    before = stored_counts()
    payload = {"action": "ANNOTATION_CREATED", "project": {"id": 12}, "task": {"id": 5},
               "annotation": {"id": 9, "completed_by": {"username": "reader1"}, "result": []}}
    assert post(client, "/ml/webhook", payload).json() == {"status": "ignored"}
    assert stored_counts() == before


# Image fetching ---------------------------------------------------------------------------------------------------

def predict_one(client, ml_client, image, task_id=101):
    return post(client, "/ml/predict", {"tasks": [{"id": task_id, "data": {"picture": image}}], "project": "12"},
                **ml_client["auth"])


@pytest.fixture
def linked(client, ml_client, fake_ls):
    post(client, "/ml/setup", setup_body(fake_ls.host), **ml_client["auth"])
    return fake_ls


# Refused images used to fail the request (400/413); each is now that task's empty result, its reason logged
# (``refusal``), as Label Studio's batches need.

def test_redirect_to_another_host_is_refused_before_contacting_it(client, ml_client, linked, other_host, settings,
                                                                  caplog):
    other_host.bytes("/scan.png", png(16, 16))
    settings.ML_ALLOWED_IMAGE_HOSTS = [other_host.host]  # even an allowed one: a redirect never changes host
    linked.redirect("/data/upload/1/moved.png", f"{other_host.url}/scan.png")

    response = predict_one(client, ml_client, "/data/upload/1/moved.png")

    assert refusal(response, caplog) == "task 101: image was redirected to another host (not allowed)"
    assert other_host.seen == []


def test_redirect_to_ftp_is_refused_without_naming_it(client, ml_client, linked, caplog):
    linked.redirect("/data/upload/1/moved.png", "ftp://127.0.0.1/scan.png")
    response = predict_one(client, ml_client, "/data/upload/1/moved.png")
    assert refusal(response, caplog) == (
        "task 101: image was redirected to a URL scheme that is not allowed (http or https only)")


def test_redirects_on_the_same_host_are_followed_three_times_at_most(client, ml_client, linked, caplog):
    for hop in range(4):
        linked.redirect(f"/hop{hop}", f"/hop{hop + 1}")
    linked.bytes("/hop4", png(16, 16))
    linked.redirect("/short0", "/short1")
    linked.redirect("/short1", "/data/upload/1/scan.png", 307)

    assert predict_one(client, ml_client, "/short0").status_code == 200
    assert linked.authorizations("/data/upload/1/scan.png") == ["Token ls-secret"]
    response = predict_one(client, ml_client, "/hop0")
    assert refusal(response, caplog) == "task 101: image could not be fetched (too many redirects)"


def test_label_studios_token_goes_to_label_studio_only(client, ml_client, linked, other_host, settings):
    settings.ML_ALLOWED_IMAGE_HOSTS = [other_host.host]
    other_host.bytes("/scan.png", png(16, 16))
    assert predict_one(client, ml_client, f"{other_host.url}/scan.png").status_code == 200
    assert other_host.authorizations() == [None]

    # The platform's own API key is for LABEL_STUDIO_URL's host, never for a host registered at /setup.
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY = "http://labelstudio.invalid", "platform-key"
    post(client, "/ml/setup", {**setup_body(linked.host), "access_token": ""}, **ml_client["auth"])
    assert predict_one(client, ml_client, "/data/upload/1/scan.png").status_code == 200
    assert linked.authorizations("/data/upload/1/scan.png") == [None]


def big_png(width: int, height: int) -> bytes:
    """A valid greyscale PNG of width x height black pixels (compressed: about 100 kB for 10000 x 10000)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row, parts = zlib.compressobj(9), b"\x00" * (width + 1), []
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def test_an_image_over_the_pixel_cap_is_refused_before_decoding(client, ml_client, linked, monkeypatch, caplog):
    import cv2

    decoded = []
    monkeypatch.setattr(cv2, "imdecode", lambda *args: decoded.append(args) or None)
    huge = big_png(10000, 10000)
    expected = "task 101: image is 10000 x 10000 pixels, over the limit of 50000000"

    response = predict_one(client, ml_client, data_uri(huge))
    assert refusal(response, caplog) == expected
    linked.bytes("/data/upload/1/huge.png", huge)
    response = predict_one(client, ml_client, "/data/upload/1/huge.png")
    assert refusal(response, caplog) == expected
    assert decoded == []


def test_an_image_over_the_byte_cap_stops_the_download(client, ml_client, linked, settings, caplog):
    settings.ML_IMAGE_MAX_BYTES = 2000
    noise = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 100), dtype=np.uint8)).save(noise, "PNG")
    assert len(noise.getvalue()) > 5000
    linked.bytes("/data/upload/1/big.png", noise.getvalue())  # no Content-Length: read until the cap
    response = predict_one(client, ml_client, "/data/upload/1/big.png")
    assert refusal(response, caplog) == "task 101: image is over 2000 bytes"
    response = predict_one(client, ml_client, data_uri(noise.getvalue()))
    assert refusal(response, caplog) == "task 101: image is over 2000 bytes"


def test_fetch_failures_name_the_task_and_no_internals(client, ml_client, linked, settings, monkeypatch, caplog):
    settings.ML_ALLOWED_IMAGE_HOSTS = ["127.0.0.1:9"]
    linked.bytes("/page.html", b"<html>sign in</html>", "text/html")
    linked.routes["/broken"] = (500, {}, b"Traceback (most recent call last): secret")
    linked.slow("/slow.png", 2)
    monkeypatch.setattr(remote, "READ_TIMEOUT", 0.3)
    cases = {"http://127.0.0.1:9/x.png": "task 7: image could not be fetched",
             "/page.html": "task 7: image is not an image (PNG, JPEG, TIFF or BMP)",
             "/broken": "task 7: image could not be fetched (HTTP 500)",
             "/slow.png": "task 7: image could not be fetched",
             "http://10.0.0.1/x.png": "task 7: image host is not an allowed host",
             "gopher://127.0.0.1:9/x": "task 7: image URL scheme is not allowed (http or https only)",
             "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40).decode():
                 "task 7: image is not an image (unreadable header)"}
    for image, message in cases.items():
        response = predict_one(client, ml_client, image, task_id=7)
        assert refusal(response, caplog) == message, image


def test_platform_instances_are_the_ml_clients_projects_only(client, ml_case, project, caplog):
    other = ml_client_rotate(project=project)
    response = post(client, "/ml/predict", {"tasks": [{"id": 3, "data": {
        "image": f"/api/instances/{ml_case['instance'].pk}/dicom"}}]}, **basic(other.username, other.password))
    assert refusal(response, caplog) == f"task 3: no instance {ml_case['instance'].pk} in this project"


# The coordinators' registry --------------------------------------------------------------------------------------

def test_a_coordinator_of_another_project_gets_404(client, ml_project):
    other = make_user("coord-other", Role.COORDINATOR)
    annotation_services.project_create(slug="other", name="Other", actor=other)
    client.force_login(other)
    for path in ("/api/ml/projects/ml/models/", "/api/ml/projects/ml/trainings/", "/ml/projects/ml/",
                 "/ml/projects/ml/learning-curve.png"):
        assert client.get(path).status_code == 404, path
    assert client.post("/api/ml/projects/ml/trainings/").status_code == 404
    assert client.get("/api/ml/projects/other/models/").status_code == 200
    index = client.get("/ml/").content.decode()
    assert "/ml/projects/other/" in index and "/ml/projects/ml/" not in index


def test_deeply_nested_json_is_a_400_not_a_crash(client, ml_client):
    deep = b'{"action": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    for path, headers in (("/ml/webhook", {}), ("/ml/predict", ml_client["auth"])):
        response = post(client, path, deep, **headers)
        assert response.status_code == 400 and "nested deeper" in response.json()["error"], path
