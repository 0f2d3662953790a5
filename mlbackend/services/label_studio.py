"""The Label Studio ML-backend protocol's work: which project and link a request is for, fetching its images
safely, predictions as rectanglelabels, and confirmed annotations from the webhook stored as reads.

Trust: /ml/setup and /ml/predict come from an authenticated ML client account (``api.py``), so the project is
always the account's. The webhook carries no credentials: an event is believed only once the annotation (or the
project) has been fetched back from the Label Studio host that the ML client registered at /ml/setup, with that
link's token; what is fetched, never the posted body, is what gets stored.
"""
from __future__ import annotations

import base64
import binascii
import logging
import re
import urllib.parse
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

import access
from annotation import services as annotation_services
from annotation.models import Assignment, Instance, Project, Read, Role
from annotation.schema import class_to_finding
from annotation.rendering import instance_to_uint8
from interchange.formats import label_studio as ls_format
from mlbackend.active_learning import task_score
from mlbackend.adapter import Detection
from mlbackend.interpret import ImageDetections, place_findings
from mlbackend.models import LabelStudioLink, ModelVersion, ProjectModelSettings
from mlbackend.selectors import served_model, served_version_for
from mlbackend.services import media, remote
from mlbackend.services.two_stage import task_levels
from spineplatform.parsers import json_loads_limited

logger = logging.getLogger(__name__)

INSTANCE_URL = re.compile(r"^(?:https?://[^/]+)?/api/instances/(\d+)/dicom/?$")
LS_JSON_MAX_BYTES = 4 * 1024 * 1024  # one annotation or task as Label Studio's API returns it


class ProtocolError(Exception):
    """A request the backend cannot honour; nothing was changed. `status_code` is the HTTP answer, `retry_after`
    (seconds) when asking again later may succeed (no ML worker answered)."""

    def __init__(self, message: str, status_code: int = 400, *, retry_after: int | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


def _label_config(xml: str | None) -> ls_format.LabelConfig:
    """The RectangleLabels control and its Image (names and the task data key); defaults when absent."""
    try:
        return ls_format.label_config_parse(xml)
    except ls_format.LabelStudioFormatError as error:
        raise ProtocolError(str(error))


def _ls_project_id(value) -> str:
    """Label Studio's project id as stored on a link: "12.1718000000" (setup/predict) and 12 (webhooks) -> "12"."""
    if isinstance(value, dict):
        value = value.get("id")
    text = str(value if value is not None else "").split(".")[0].strip()
    return text if text.isdigit() else ""


def link_for(project: Project, ls_project) -> LabelStudioLink | None:
    """The project's link to this Label Studio project, as registered by an ML client at /ml/setup."""
    ls_id = _ls_project_id(ls_project)
    if not ls_id:
        return None
    # The project's served version comes in the same query, without its case-id lists and metrics (thousands of
    # ids once a project has trained a while): /ml/predict's hot path, under Label Studio's timeout.
    served = "project__model_settings__served_version__"
    return (LabelStudioLink.objects.select_related(served + "project")
            .defer(*(served + name for name in ("training_case_ids", "validation_case_ids", "heldout_case_ids",
                                                "metrics", "gate", "class_names")))
            .filter(project=project, ls_project=ls_id, ml_client__isnull=False).first())


def _served_version(project: Project, link: LabelStudioLink | None) -> ModelVersion | None:
    if link is None:
        return served_version_for(project)
    try:
        return link.project.model_settings.served_version
    except ProjectModelSettings.DoesNotExist:
        return None


def _hostname_clean(hostname: str) -> str:
    hostname = (hostname or "").strip().rstrip("/")
    if not hostname:
        return ""
    parts = urllib.parse.urlsplit(hostname)
    if remote.host_key(hostname) is None or "@" in parts.netloc or parts.query or parts.fragment:
        raise ProtocolError("hostname must be Label Studio's http(s) address, e.g. https://labelstudio.example")
    return hostname


@transaction.atomic
def setup(*, client, project: Project, ls_project: str, label_config: str, hostname: str = "",
          access_token: str = "", extra_params: dict | None = None) -> str:
    """Links the Label Studio project to the ML client's SpineRead project and records where its media lives
    (hostname, token); returns the served model version. Label Studio calls this often: unchanged
    registrations write nothing."""
    _label_config(label_config)
    named = (extra_params or {}).get("project")
    if named not in (None, "", project.slug):
        raise ProtocolError(f"this ML client serves project {project.slug} only", 403)
    hostname = _hostname_clean(hostname)
    ls_id = _ls_project_id(ls_project)
    if ls_id:
        wanted = {"hostname": hostname, "access_token": access_token or "", "label_config": label_config or "",
                  "ml_client": client}
        link, created = LabelStudioLink.objects.select_for_update().get_or_create(
            project=project, ls_project=ls_id, defaults=wanted)
        changed = created
        if not created:
            changed = (link.hostname, link.access_token, link.ml_client_id) != (hostname, wanted["access_token"],
                                                                               client.pk)
            for field, value in wanted.items():
                setattr(link, field, value)
            link.save()
        if changed:
            annotation_services.audit_log(actor=client, action="label_studio_link", target=link,
                                          payload={"ls_project": ls_id, "hostname": hostname})
    version = served_version_for(project)
    return version.label if version else "untrained"


# Images -------------------------------------------------------------------------------------------------------

def _task_label(task, index: int) -> str:
    task_id = task.get("id") if isinstance(task, dict) else None
    if isinstance(task_id, int) or (isinstance(task_id, str) and task_id.isdigit() and len(task_id) < 20):
        return f"task {task_id}"
    return f"task #{index + 1}"


def _fetch_rules(link: LabelStudioLink | None) -> tuple[set, dict]:
    """Hosts images may come from, and which Label Studio token goes to which host (a token only to its own)."""
    allowed = remote.allowed_host_keys(settings.ML_ALLOWED_IMAGE_HOSTS)
    tokens = {}
    platform_ls = remote.host_key(settings.LABEL_STUDIO_URL or "")
    if platform_ls:
        allowed.add(platform_ls)
        if settings.LABEL_STUDIO_API_KEY:
            tokens[platform_ls] = settings.LABEL_STUDIO_API_KEY
    linked = remote.host_key(link.hostname) if link and link.hostname else None
    if linked:
        allowed.add(linked)
        if link.access_token:
            tokens[linked] = link.access_token
    return allowed, tokens


def image_load(url, *, project: Project, link: LabelStudioLink | None,
               where: str = "task") -> tuple[np.ndarray, Instance | None]:
    """The task's image as greyscale pixels, and the platform instance when the URL is one of ours.

    Accepts the platform's own instance URL of the project (rendered from DICOM with its stored window, no
    HTTP), a base64 data: URI, or an http(s) URL on Label Studio's host (relative URLs are joined with the
    /setup hostname, else LABEL_STUDIO_URL) or on ML_ALLOWED_IMAGE_HOSTS, fetched by ``remote.fetch``. Every
    image is size-checked before decoding (``media``). Raises ProtocolError naming ``where`` and the reason,
    never the URL's internals or an exception's text."""
    if not isinstance(url, str) or not url:
        raise ProtocolError(f"{where}: no image URL")
    own = INSTANCE_URL.match(url)
    if own:
        instance = (Instance.objects.only("file", "window_center", "window_width")
                    .filter(pk=int(own.group(1)), series__case__project_id=project.pk).first())
        if instance is None:
            raise ProtocolError(f"{where}: no instance {own.group(1)} in this project")
        return instance_to_uint8(instance), instance
    max_bytes = settings.ML_IMAGE_MAX_BYTES
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if ";base64" not in header:
            raise ProtocolError(f"{where}: data: URI must be base64-encoded")
        if len(payload) > (max_bytes // 3 + 1) * 4:
            raise ProtocolError(f"{where}: image is over {max_bytes} bytes", 413)
        try:
            content = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(f"{where}: data: URI is not valid base64")
    else:
        if url.startswith("/"):
            base = (link.hostname if link and link.hostname else settings.LABEL_STUDIO_URL)
            if not base:
                raise ProtocolError(f"{where}: relative image URL but no Label Studio hostname is known "
                                    "(set it in Label Studio, or LABEL_STUDIO_URL)")
            url = base.rstrip("/") + url
        allowed, tokens = _fetch_rules(link)
        try:
            # Label Studio's /data/upload view is a DRF view: "image/*" alone gets 406 Not Acceptable there.
            content = remote.fetch(url, allowed=allowed, tokens=tokens, max_bytes=max_bytes,
                                   accept="image/*, */*;q=0.8")
        except remote.FetchError as error:
            raise ProtocolError(f"{where}: image {error.reason}", error.status_code)
    try:
        return media.image_decode(content), None
    except media.ImageRefused as error:
        raise ProtocolError(f"{where}: image {error.reason}")


def _task_image(task, index: int, *, project: Project, link: LabelStudioLink | None,
                config: ls_format.LabelConfig) -> tuple[np.ndarray, Instance | None] | None:
    """The task's image, or None (the reason logged) when it can't be had: one task's bad host, 404, oversize
    or non-image must not cost the other tasks of Label Studio's batch their predictions."""
    where = _task_label(task, index)
    data = task.get("data") if isinstance(task, dict) else None
    try:
        if not isinstance(data, dict):
            raise ProtocolError(f"{where}: no data object")
        url = data.get(config.data_key) or next((v for v in data.values() if isinstance(v, str)), None)
        return image_load(url, project=project, link=link, where=where)
    except ProtocolError as error:
        logger.warning("ml_predict project=%s: %s; empty result", project.slug, error)
        return None


def predict(*, project: Project, tasks: list, ls_project: str | None, label_config: str | None,
            actor=None) -> list[dict]:
    """One result per task, in task order: rectanglelabels in percent of the original size, x/y the top-left
    corner. A task whose image can't be had gets an empty result (score 0). All images are fetched and checked
    before the model runs; the batch goes through in one call. The platform images it read are audited like
    any other image access (actor: the ML client)."""
    if not isinstance(tasks, list) or not tasks:
        raise ProtocolError("tasks must be a non-empty list")
    link = link_for(project, ls_project)
    config = _label_config(label_config or (link.label_config if link else ""))
    images = [_task_image(task, index, project=project, link=link, config=config) for index, task in enumerate(tasks)]
    annotation_services.audit_log(actor=actor, action="ml_predict", target=project, payload={
        "tasks": len(tasks), "instances": [image[1].pk for image in images if image and image[1] is not None],
        "empty": [_task_label(task, i) for i, (task, image) in enumerate(zip(tasks, images)) if image is None]})
    version = _served_version(project, link)
    label = version.label if version else "untrained"
    loaded = [image for image in images if image is not None]
    found_by_image = iter([])
    if version is not None and loaded:
        adapter = served_model(version)
        extra = {}
        if version.is_two_stage:  # a platform slice is graded from its series, as pre-annotation grades it
            extra["levels"] = [task_levels(project.label_schema, instance, pixels, adapter.classifier.spec.depth)
                               for pixels, instance in loaded]
        found_by_image = iter(adapter.predict([pixels for pixels, _ in loaded], imgsz=version.imgsz or 512,
                                              conf=version.findings_conf, **extra))
    results = []
    for image in images:
        found = next(found_by_image) if image is not None and version is not None else []
        height, width = image[0].shape[:2] if image is not None else (0, 0)
        results.append({"model_version": label, "score": task_score(found),
                        "result": [_rectangle(d, width, height, config) for d in found]})
    return results


def _rectangle(detection: Detection, width: int, height: int, config: ls_format.LabelConfig) -> dict:
    return {**ls_format.rectangle(detection.box, width, height, label=detection.class_name,
                                  from_name=config.from_name, to_name=config.to_name, digits=4),
            "score": round(detection.score, 4)}


# Webhooks: confirmed by fetching back from the registered Label Studio ----------------------------------------

@dataclass(frozen=True)
class ConfirmedAnnotation:
    link: LabelStudioLink
    annotation: dict
    task: dict


def _trusted_links(ls_project) -> list[LabelStudioLink]:
    """Links to this Label Studio project id whose ML client still is its project's ML client, with a host to
    ask. (Two SpineRead projects may use the same id on different Label Studio servers: each is asked.)"""
    ls_id = _ls_project_id(ls_project)
    if not ls_id:
        return []
    links = (LabelStudioLink.objects.select_related("project", "ml_client")
             .filter(ls_project=ls_id, ml_client__isnull=False).exclude(hostname="").order_by("pk"))
    return [link for link in links if access.ml_client_project(link.ml_client) == link.project]


def _ls_get_json(link: LabelStudioLink, path: str) -> dict:
    """GET {hostname}{path} from the link's Label Studio with its token; FetchError or ValueError when that
    fails or is not a JSON object."""
    key = remote.host_key(link.hostname)
    body = remote.fetch(link.hostname.rstrip("/") + path, allowed={key} if key else set(),
                        tokens={key: link.access_token} if key and link.access_token else {},
                        max_bytes=LS_JSON_MAX_BYTES, accept="application/json")
    answer = json_loads_limited(body, getattr(settings, "JSON_MAX_DEPTH", 64))
    if not isinstance(answer, dict):
        raise ValueError("not a JSON object")
    return answer


def _int_id(value) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        return int(value)
    return None


def annotation_confirm(payload: dict) -> ConfirmedAnnotation | None:
    """The annotation an ANNOTATION_CREATED/UPDATED event names, as Label Studio itself returns it (and its
    task), when a registered link's host confirms that annotation, task and project belong together; None
    when nothing can confirm it."""
    annotation, task = payload.get("annotation"), payload.get("task")
    annotation_id = _int_id(annotation)
    if annotation_id is None:
        return None
    posted_task = _int_id(task) if task is not None else (
        _int_id(annotation.get("task")) if isinstance(annotation, dict) else None)
    ls_project = payload.get("project")
    if ls_project is None:
        ls_project = (task or {}).get("project") if isinstance(task, dict) else None
    if ls_project is None and isinstance(annotation, dict):
        ls_project = annotation.get("project")
    for link in _trusted_links(ls_project):
        ls_id = int(link.ls_project)
        try:
            fetched = _ls_get_json(link, f"/api/annotations/{annotation_id}/?expand=completed_by")
            task_id = _int_id(fetched.get("task"))
            if (_int_id(fetched.get("id")) != annotation_id or task_id is None
                    or (posted_task is not None and task_id != posted_task)
                    or (fetched.get("project") is not None and _int_id(fetched.get("project")) != ls_id)):
                continue
            fetched_task = _ls_get_json(link, f"/api/tasks/{task_id}/")
            if _int_id(fetched_task.get("id")) != task_id or _int_id(fetched_task.get("project")) != ls_id:
                continue
        except (remote.FetchError, ValueError):
            continue
        return ConfirmedAnnotation(link=link, annotation=fetched, task=fetched_task)
    return None


def training_link_confirm(payload: dict) -> LabelStudioLink | None:
    """START_TRAINING: the registered link whose Label Studio confirms that the named project exists there."""
    ls_project = payload.get("project")
    for link in _trusted_links(ls_project):
        try:
            fetched = _ls_get_json(link, f"/api/projects/{int(link.ls_project)}/")
        except (remote.FetchError, ValueError):
            continue
        if _int_id(fetched.get("id")) == int(link.ls_project):
            return link
    return None


def annotation_store(*, confirmed: ConfirmedAnnotation) -> dict | None:
    """A confirmed annotation becomes the annotator's read of the case the image belongs to. The image must be
    one of the platform's instance URLs in the link's project, the annotator (matched by email or username) a
    reader assigned to that case. Boxes get levels from their position along the spine, as model boxes do. The
    read stays a draft (Label Studio sends one image at a time; the reader submits the case in SpineRead, where
    the exhaustive/positive-only rules and the blind agreement check apply). Its audit rows name the ML client
    as actor, on behalf of the reader. None when the task's image is no instance of the project (not SpineRead's
    task: ignored). Raises ProtocolError."""
    link, annotation, task = confirmed.link, confirmed.annotation, confirmed.task
    project = link.project
    config = _label_config(link.label_config)
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    url = data.get(config.data_key) or next((v for v in data.values() if isinstance(v, str)), "")
    own = INSTANCE_URL.match(url if isinstance(url, str) else "")
    instance = Instance.objects.select_related("series__case__project").filter(
        pk=int(own.group(1)), series__case__project=project).first() if own else None
    if instance is None:  # an uploaded image or another project's: not a SpineRead case, nothing to store
        return None
    case = instance.series.case
    reader = _annotator(annotation, case)
    schema = project.label_schema
    try:
        rectangles = ls_format.result_parse(annotation.get("result") or [], rectangles_only=True).rectangles
        for rectangle in rectangles:
            class_to_finding(schema, rectangle.label)
    except ValueError as error:  # LabelStudioFormatError, SchemaError
        raise ProtocolError(f"bad rectangle in the annotation: {error}")
    detections = [Detection(r.label, 1.0, r.box(instance.columns, instance.rows)) for r in rectangles]
    series_instances = list(instance.series.instances.values_list("pk", flat=True))
    image = ImageDetections(instance_id=instance.pk, plane=instance.series.plane,
                            rank=series_instances.index(instance.pk), series_length=len(series_instances),
                            detections=tuple(detections), image_height=instance.rows)
    findings = [annotation_services.FindingInput(disc_level=p.disc_level, finding_type=p.finding_type,
                                                 value=p.value, instance_id=p.instance_id,
                                                 box=tuple(round(v, 2) for v in p.box))
                for p in place_findings(schema, image)]
    client = link.ml_client
    try:
        with transaction.atomic():
            read = annotation_services.read_open(case=case, reader=reader, actor=client,
                                                 origin=Read.Origin.LABEL_STUDIO)
            if read.status == read.Status.SUBMITTED:
                raise ProtocolError("this reader's read of the case is submitted; it changes only in SpineRead", 409)
            # Label Studio sends one image per task: this image's boxes replace this image's findings only.
            kept = [annotation_services.FindingInput(
                disc_level=f.disc_level, finding_type=f.finding_type, value=f.value, instance_id=f.instance_id,
                box=f.box, review_action=f.review_action, model_finding_id=f.model_finding_id)
                for f in read.findings.exclude(instance_id=instance.pk).order_by("id")]
            read = annotation_services.read_save_draft(read=read, reader=reader, findings=kept + findings,
                                                       actor=client)
    except annotation_services.ReadingError as error:
        raise ProtocolError(str(error), 400 if error.status_code == 400 else 409)
    return {"read": read.pk, "case": case.pk, "findings": len(findings), "read_status": read.status}


CREATED_USERNAME_EMAIL = re.compile(r"(\S+@\S+), \d+$")


def _annotator(annotation: dict, case):
    """The case's reader behind Label Studio's ``completed_by`` (expanded: a dict with the email; else the email
    in ``created_username``, "First Last email, id"), matched by email, then username."""
    readers = get_user_model().objects.filter(
        pk__in=Assignment.objects.filter(case=case, role=Role.READER).values("user_id"))
    completed_by = annotation.get("completed_by")
    keys = dict(completed_by) if isinstance(completed_by, dict) else {}
    if not keys.get("email"):
        match = CREATED_USERNAME_EMAIL.search(str(annotation.get("created_username") or ""))
        if match:
            keys["email"] = match.group(1)
    for field, value in (("email__iexact", keys.get("email")),
                         ("username", keys.get("username") or keys.get("email"))):
        if isinstance(value, str) and value:
            user = readers.filter(**{field: value}).order_by("pk").first()
            if user is not None:
                return user
    raise ProtocolError("the annotator is not a reader of this case (matched by email or username)")
