"""The Label Studio ML-backend protocol's work: which project a request is for, fetching its images safely,
predictions as rectanglelabels, and annotations from the webhook stored as reads."""
from __future__ import annotations

import base64
import binascii
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from annotation import services as annotation_services
from annotation.models import Instance, Project
from annotation.rendering import instance_to_uint8
from annotation.schema import class_to_finding
from mlbackend.adapter import Detection, adapter_for
from mlbackend.interpret import ImageDetections, place_findings, task_score
from mlbackend.models import LabelStudioLink, ModelVersion, ProjectModelSettings
from mlbackend.selectors import served_version_for
from mlbackend.services.registry import model_file

INSTANCE_URL = re.compile(r"^(?:https?://[^/]+)?/api/instances/(\d+)/dicom/?$")


class ProtocolError(Exception):
    """A request the backend cannot honour; nothing was changed. `status_code` is the HTTP answer."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class LabelConfig:
    from_name: str = "label"
    to_name: str = "image"
    data_key: str = "image"


def label_config_parse(xml: str | None) -> LabelConfig:
    """The RectangleLabels control and its Image (names and the task data key); defaults when absent."""
    if not xml:
        return LabelConfig()
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise ProtocolError(f"label_config is not valid XML: {error}")
    control = next((el for el in root.iter() if el.tag in ("RectangleLabels", "PolygonLabels")), None)
    if control is None:
        return LabelConfig()
    to_name = control.get("toName", "image")
    image = next((el for el in root.iter() if el.tag == "Image" and el.get("name") == to_name), None)
    data_key = (image.get("value", "$image") if image is not None else "$image").lstrip("$")
    return LabelConfig(control.get("name", "label"), to_name, data_key)


def link_for(ls_project: str | None) -> LabelStudioLink | None:
    if not ls_project:
        return None
    # The project's served version comes in the same query, without its case-id lists and metrics (thousands of
    # ids once a project has trained a while): /ml/predict's hot path, under Label Studio's timeout.
    served = "project__model_settings__served_version__"
    return (LabelStudioLink.objects.select_related(served + "project")
            .defer(*(served + name for name in ("training_case_ids", "validation_case_ids", "heldout_case_ids",
                                                "metrics", "gate", "class_names")))
            .filter(ls_project=str(ls_project).split(".")[0]).first())


def _served_version(project: Project, link: LabelStudioLink | None) -> ModelVersion | None:
    if link is None:
        return served_version_for(project)
    try:
        return project.model_settings.served_version
    except ProjectModelSettings.DoesNotExist:
        return None


def project_for(ls_project: str | None, *, extra_params: dict | None = None) -> Project:
    """The SpineRead project behind a Label Studio project: /ml/setup's mapping, `extra_params.project`, or
    ML_DEFAULT_PROJECT; 400 when none names one."""
    link = link_for(ls_project)
    if link is not None:
        return link.project
    slug = (extra_params or {}).get("project") or settings.ML_DEFAULT_PROJECT
    project = Project.objects.filter(slug=slug).first() if slug else None
    if project is None:
        raise ProtocolError("no SpineRead project for this Label Studio project: pass extra_params "
                            "{\"project\": \"<slug>\"} in setup or set ML_DEFAULT_PROJECT")
    return project


@transaction.atomic
def setup(*, ls_project: str, label_config: str, hostname: str = "", access_token: str = "",
          extra_params: dict | None = None) -> str:
    """Records where the Label Studio project's media lives; returns the served model version."""
    label_config_parse(label_config)
    project = project_for(ls_project, extra_params=extra_params)
    if ls_project:
        LabelStudioLink.objects.update_or_create(
            ls_project=str(ls_project).split(".")[0],
            defaults={"project": project, "hostname": hostname or "", "access_token": access_token or "",
                      "label_config": label_config or ""})
    version = served_version_for(project)
    return version.label if version else "untrained"


def _allowed_hosts(link: LabelStudioLink | None) -> set[str]:
    hosts = {h.lower() for h in settings.ML_ALLOWED_IMAGE_HOSTS}
    for url in (settings.LABEL_STUDIO_URL, link.hostname if link else ""):
        if url:
            parsed = urllib.parse.urlsplit(url)
            hosts.add((parsed.netloc or parsed.path).lower())
    return hosts


def _decode_image(content: bytes, where: str) -> np.ndarray:
    # OpenCV rather than PIL: Ultralytics wraps PIL.Image.open to install a HEIF plugin on unknown formats.
    import cv2

    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_GRAYSCALE) if content else None
    if image is None:
        raise ProtocolError(f"{where} is not an image")
    return image


def image_load(url: str, *, project: Project, link: LabelStudioLink | None) -> tuple[np.ndarray, Instance | None]:
    """The task's image as greyscale pixels, and the platform instance when the URL is one of ours.

    Accepts the platform's own instance URL (rendered from DICOM with its stored window, no HTTP), a data: URI,
    or an http(s) URL on an allowed host (relative URLs are joined with Label Studio's hostname and fetched
    with its token). Raises ProtocolError (400) for anything else or an image that cannot be fetched/read.
    """
    if not isinstance(url, str) or not url:
        raise ProtocolError("task has no image URL")
    own = INSTANCE_URL.match(url)
    if own:
        instance = (Instance.objects.only("file", "window_center", "window_width")
                    .filter(pk=int(own.group(1)), series__case__project_id=project.pk).first())
        if instance is None:
            raise ProtocolError(f"no instance {own.group(1)} in project {project.slug}")
        return instance_to_uint8(instance), instance
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if ";base64" not in header:
            raise ProtocolError("data: URI must be base64-encoded")
        try:
            content = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("data: URI is not valid base64")
        return _decode_image(content, "data: URI"), None
    headers = {}
    if url.startswith("/"):
        base = (link.hostname if link and link.hostname else settings.LABEL_STUDIO_URL)
        if not base:
            raise ProtocolError(f"relative image URL {url!r} but no Label Studio hostname is known (run /setup)")
        url = base.rstrip("/") + url
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        raise ProtocolError(f"image URL scheme {parsed.scheme!r} not allowed")
    if parsed.netloc.lower() not in _allowed_hosts(link):
        raise ProtocolError(f"image host {parsed.netloc!r} is not allowed (LABEL_STUDIO_URL, /setup hostname or "
                            "ML_ALLOWED_IMAGE_HOSTS)")
    token = (link.access_token if link and link.access_token else settings.LABEL_STUDIO_API_KEY)
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (scheme and host checked)
            content = response.read(settings.ML_IMAGE_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ProtocolError(f"could not fetch image {url}: {getattr(error, 'reason', error)}")
    if len(content) > settings.ML_IMAGE_MAX_BYTES:
        raise ProtocolError(f"image {url} is over {settings.ML_IMAGE_MAX_BYTES} bytes", 413)
    return _decode_image(content, f"image {url}"), None


def predict(*, tasks: list, ls_project: str | None, label_config: str | None) -> list[dict]:
    """One result per task, in task order: rectanglelabels in percent of the original size, x/y the top-left
    corner. All images are fetched and checked before the model runs; the batch goes through in one call."""
    if not isinstance(tasks, list) or not tasks:
        raise ProtocolError("tasks must be a non-empty list")
    link = link_for(ls_project)
    project = link.project if link else project_for(ls_project)
    config = label_config_parse(label_config or (link.label_config if link else ""))
    images = []
    for index, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            raise ProtocolError(f"task {index} has no data object")
        url = data.get(config.data_key) or next((v for v in data.values() if isinstance(v, str)), None)
        images.append(image_load(url, project=project, link=link))
    version = _served_version(project, link)
    if version is None:
        return [{"model_version": "untrained", "score": 0.0, "result": []} for _ in tasks]
    adapter = adapter_for(model_file(version), version.sha256)
    detections = adapter.predict([pixels for pixels, _ in images], imgsz=version.imgsz or 512,
                                 conf=version.findings_conf)
    results = []
    for (pixels, _), found in zip(images, detections):
        height, width = pixels.shape[:2]
        results.append({"model_version": version.label, "score": task_score(found),
                         "result": [_rectangle(d, width, height, config) for d in found]})
    return results


def _rectangle(detection: Detection, width: int, height: int, config: LabelConfig) -> dict:
    x0, y0, x1, y1 = detection.box
    x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)
    return {"from_name": config.from_name, "to_name": config.to_name, "type": "rectanglelabels",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"x": round(100 * x0 / width, 4), "y": round(100 * y0 / height, 4),
                      "width": round(100 * (x1 - x0) / width, 4), "height": round(100 * (y1 - y0) / height, 4),
                      "rotation": 0, "rectanglelabels": [detection.class_name]},
            "score": round(detection.score, 4)}


def annotation_store(*, payload: dict) -> dict:
    """ANNOTATION_CREATED/UPDATED: the annotation becomes the annotator's read of the case the image belongs
    to (which must be one of the platform's instance URLs, and the annotator a reader assigned to it, matched
    by email or username). Boxes get levels from their position along the spine, as model boxes do. The read
    stays a draft (Label Studio sends one image at a time; the reader submits the case in SpineRead, where
    the exhaustive/positive-only rules and the blind agreement check apply). Raises ProtocolError."""
    annotation, task = payload.get("annotation"), payload.get("task")
    if not isinstance(annotation, dict) or not isinstance(task, dict):
        raise ProtocolError("annotation and task objects are required")
    link = link_for((payload.get("project") or {}).get("id") if isinstance(payload.get("project"), dict)
                    else payload.get("project"))
    project = link.project if link else project_for(None)
    config = label_config_parse(link.label_config if link else "")
    data = task.get("data") or {}
    url = data.get(config.data_key) or next((v for v in data.values() if isinstance(v, str)), "")
    own = INSTANCE_URL.match(url or "")
    instance = Instance.objects.select_related("series__case__project").filter(
        pk=int(own.group(1)), series__case__project=project).first() if own else None
    if instance is None:
        raise ProtocolError("the task's image is not an instance of this SpineRead project")
    case = instance.series.case
    reader = _annotator(annotation.get("completed_by"))
    schema = project.label_schema
    detections = []
    for item in annotation.get("result") or []:
        if not isinstance(item, dict) or item.get("type") != "rectanglelabels":
            continue
        value = item.get("value") or {}
        try:
            label = value["rectanglelabels"][0]
            class_to_finding(schema, label)
            x0 = float(value["x"]) * instance.columns / 100
            y0 = float(value["y"]) * instance.rows / 100
            box = (x0, y0, x0 + float(value["width"]) * instance.columns / 100,
                   y0 + float(value["height"]) * instance.rows / 100)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ProtocolError(f"bad rectangle in the annotation: {error}")
        detections.append(Detection(label, 1.0, box))
    series_instances = list(instance.series.instances.values_list("pk", flat=True))
    image = ImageDetections(instance_id=instance.pk, plane=instance.series.plane,
                            rank=series_instances.index(instance.pk), series_length=len(series_instances),
                            detections=tuple(detections), image_height=instance.rows)
    findings = [annotation_services.FindingInput(disc_level=p.disc_level, finding_type=p.finding_type,
                                                 value=p.value, instance_id=p.instance_id,
                                                 box=tuple(round(v, 2) for v in p.box))
                for p in place_findings(schema, image)]
    try:
        with transaction.atomic():
            read = annotation_services.read_open(case=case, reader=reader)
            if read.status == read.Status.SUBMITTED:
                raise ProtocolError("this reader's read of the case is submitted; it changes only in SpineRead", 409)
            # Label Studio sends one image per task: this image's boxes replace this image's findings only.
            kept = [annotation_services.FindingInput(
                disc_level=f.disc_level, finding_type=f.finding_type, value=f.value, instance_id=f.instance_id,
                box=f.box, review_action=f.review_action, model_finding_id=f.model_finding_id)
                for f in read.findings.exclude(instance_id=instance.pk).order_by("id")]
            read = annotation_services.read_save_draft(read=read, reader=reader, findings=kept + findings)
    except annotation_services.ReadingError as error:
        raise ProtocolError(str(error), 400 if error.status_code == 400 else 409)
    return {"read": read.pk, "case": case.pk, "findings": len(findings), "read_status": read.status}


def _annotator(completed_by):
    User = get_user_model()
    keys = completed_by if isinstance(completed_by, dict) else {"id": completed_by}
    for field, value in (("email", keys.get("email")), ("username", keys.get("username") or keys.get("email"))):
        if value:
            user = User.objects.filter(**{field: value}).first()
            if user is not None:
                return user
    raise ProtocolError("the annotator is not a SpineRead user (matched by email or username)")
