"""DICOMweb (PS3.18) views: QIDO-RS search, WADO-RS retrieval, STOW-RS store.

Authentication is HTTP Basic (what 3D Slicer and dicomweb-client send), a personal API token as "Bearer" (what
OHIF sends; spineplatform.tokens) or the browser's session; a caller
without credentials gets 401 with a Basic challenge. What anyone sees is filtered by `access` through
`interop.dicomweb_selectors`; what is stored goes through annotation's per-file ingest. Unknown or not-visible
UIDs answer 404 alike, so a UID's existence is not revealed.
"""
from __future__ import annotations

import json

import pydicom
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

import access
from annotation import services
from annotation.deid import mapped_uid
from interop import dicomweb_json as dj
from interop import dicomweb_media as media
from interop import dicomweb_selectors as selectors
from spineplatform.lockout import LockoutAwareBasicAuthentication

DICOM_JSON = "application/dicom+json"
FAILED_CANNOT_UNDERSTAND = 0xC000  # PS3.4 Annex GG: "Error: Cannot understand"
ZIP_MAGIC = b"PK\x03\x04"


class _AnyAccept(BaseContentNegotiation):
    """DICOMweb answers its own media types (multipart/related, dicom+json, images), not DRF's renderers."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _error(status: int, detail: str) -> HttpResponse:
    return HttpResponse(json.dumps({"detail": detail}), status=status, content_type="application/json")


def _json(body, status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)


@extend_schema(exclude=True)  # PS3.18 is the contract; the OpenAPI document covers SpineRead's own API
class DicomWebView(APIView):
    # Basic first: its challenge makes DRF answer 401 (not 403) to a caller without credentials.
    authentication_classes = [LockoutAwareBasicAuthentication, SessionAuthentication, TokenAuthentication]
    permission_classes = [IsAuthenticated]
    content_negotiation_class = _AnyAccept

    def url(self, name: str, **kwargs) -> str:
        return self.request.build_absolute_uri(reverse(name, kwargs=kwargs))

    def study_url(self, case) -> str:
        return self.url("dicomweb-study", study_uid=case.study_instance_uid)

    def series_url(self, series) -> str:
        return self.url("dicomweb-series", study_uid=series.case.study_instance_uid,
                        series_uid=series.series_instance_uid)

    def instance_url(self, instance) -> str:
        return self.url("dicomweb-instance", study_uid=instance.series.case.study_instance_uid,
                        series_uid=instance.series.series_instance_uid, sop_uid=instance.sop_instance_uid)


# QIDO-RS ----------------------------------------------------------------------------------------------------

_PAGING = {"limit", "offset", "includefield", "fuzzymatching"}


def _search_from(params) -> tuple[selectors.Search, set[str] | str | None]:
    """The query string as a Search and the includefield tags; ValueError in words for bad input."""
    keys = {}
    for name in params:
        if name in _PAGING:
            continue
        keyword = name
        if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
            keyword = pydicom.datadict.keyword_for_tag(int(name, 16)) or name
        keys[keyword] = params.get(name)
    try:
        limit = int(params.get("limit", selectors.DEFAULT_LIMIT))
        offset = int(params.get("offset", 0))
    except ValueError:
        raise ValueError("limit and offset must be whole numbers") from None
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    fuzzy = params.get("fuzzymatching", "false").lower()
    if fuzzy not in ("true", "false"):
        raise ValueError("fuzzymatching must be true or false")
    search = selectors.Search(keys=keys, limit=min(limit or selectors.MAX_LIMIT, selectors.MAX_LIMIT),
                              offset=offset, fuzzy=fuzzy == "true")
    return search, dj.includefield_tags(params.getlist("includefield"))


def _search_answer(results: list[dict]) -> HttpResponse:
    # PS3.18 8.3.4.4 (2019+): a search that matched nothing is 204 No Content.
    return _json(results) if results else HttpResponse(status=204)


class StudiesSearch(DicomWebView):
    def get(self, request):
        try:
            search, included = _search_from(request.query_params)
            found = selectors.studies_search(request.user, search)
        except ValueError as problem:
            return _error(400, str(problem))
        firsts = selectors.first_instances("case", [case.pk for case, _, _ in found], request.user) \
            if included else {}
        return _search_answer([dj.merge_included(
            dj.study_attributes(case, series_count=series, instance_count=count, url=self.study_url(case)),
            included, firsts.get(case.pk), bulk_url=self.study_url(case)) for case, series, count in found])


class SeriesSearch(DicomWebView):
    def get(self, request, study_uid: str | None = None):
        if study_uid is not None and not selectors.study_visible(request.user, study_uid):
            return _error(404, "no such study")
        try:
            search, included = _search_from(request.query_params)
            found = selectors.series_search(request.user, search, study_uid=study_uid)
        except ValueError as problem:
            return _error(400, str(problem))
        firsts = selectors.first_instances("series", [one.pk for one, _ in found], request.user) \
            if included else {}
        return _search_answer([dj.merge_included(
            dj.series_attributes(one, instance_count=count, url=self.series_url(one)),
            included, firsts.get(one.pk), bulk_url=self.series_url(one)) for one, count in found])


class InstancesSearch(DicomWebView):
    def get(self, request, study_uid: str | None = None, series_uid: str | None = None):
        if series_uid is not None and not selectors.series_visible(request.user, study_uid, series_uid):
            return _error(404, "no such series")
        if study_uid is not None and not selectors.study_visible(request.user, study_uid):
            return _error(404, "no such study")
        try:
            search, included = _search_from(request.query_params)
            found = selectors.instances_search(request.user, search, study_uid=study_uid, series_uid=series_uid)
        except ValueError as problem:
            return _error(400, str(problem))
        return _search_answer([dj.merge_included(
            dj.with_sop_class(dj.instance_attributes(one, url=self.instance_url(one)), one),
            included, one, bulk_url=self.instance_url(one)) for one in found])


# WADO-RS ----------------------------------------------------------------------------------------------------

class Retrieve(DicomWebView):
    """A study, a series or an instance: the stored, de-identified files as multipart/related."""

    def get(self, request, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None):
        instances = selectors.instances_for_retrieval(request.user, study_uid, series_uid, sop_uid)
        user = request.user

        def files():
            for instance in instances:
                services.instance_access_log(instance=instance, user=user)
                with instance.file.open("rb") as handle:
                    yield handle.read()

        boundary = media.boundary_new()
        return StreamingHttpResponse(
            media.multipart_stream(files(), part_type="application/dicom", boundary=boundary),
            content_type=media.multipart_content_type("application/dicom", boundary))


class Metadata(DicomWebView):
    """The headers of a study's, series' or instance's files as a DICOM JSON array (pixel data by reference)."""

    def get(self, request, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None):
        instances = selectors.instances_for_retrieval(request.user, study_uid, series_uid, sop_uid)
        return _json([dj.metadata_json(one, url=self.instance_url(one)) for one in instances])


class Frames(DicomWebView):
    def get(self, request, study_uid: str, series_uid: str, sop_uid: str, frames: str):
        instance = selectors.instances_for_retrieval(request.user, study_uid, series_uid, sop_uid)[0]
        try:
            numbers = media.frame_numbers(frames)
        except ValueError as problem:
            return _error(400, str(problem))
        data = media.frames_of(instance, numbers)
        if data is None:
            return _error(404, "no such frame")
        services.instance_access_log(instance=instance, user=request.user)
        boundary = media.boundary_new()
        return HttpResponse(b"".join(media.multipart_stream(data, part_type="application/octet-stream",
                                                            boundary=boundary)),
                            content_type=media.multipart_content_type("application/octet-stream", boundary))


class Rendered(DicomWebView):
    def get(self, request, study_uid: str, series_uid: str, sop_uid: str):
        instance = selectors.instances_for_retrieval(request.user, study_uid, series_uid, sop_uid)[0]
        services.instance_access_log(instance=instance, user=request.user)
        content, content_type = media.rendered(instance, request.headers.get("Accept", ""))
        return HttpResponse(content, content_type=content_type)


# STOW-RS ----------------------------------------------------------------------------------------------------

def _sent_uids(content: bytes) -> tuple[str | None, str | None]:
    """The SOP Class and Instance UIDs as sent (the sender matches the response's items by them)."""
    try:
        ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(content), stop_before_pixels=True)
    except Exception:  # anything unreadable is reported as failed, with the UIDs it lacks
        return None, None
    sop_class, sop_instance = ds.get("SOPClassUID"), ds.get("SOPInstanceUID")
    return (str(sop_class) if sop_class else None), (str(sop_instance) if sop_instance else None)


class Store(DicomWebView):
    """STOW-RS into one project, named in the path (/dicomweb/projects/<slug>/studies): its coordinators only.

    Each part goes through annotation's per-file ingest (de-identification, grouping, idempotency, burned-in
    refusal, pre-annotation once committed). 200 all stored, 202 some failed, 409 none stored (PS3.18 10.5.3).
    """

    def post(self, request, slug: str):
        project = access.project_coordinated_get_for(request.user, slug)
        media_type, params = media.content_type_params(request.content_type or "")
        if media_type != "multipart/related" or params.get("type", "application/dicom") != "application/dicom":
            return _error(415, 'STOW-RS takes multipart/related; type="application/dicom"')
        if int(request.META.get("CONTENT_LENGTH") or 0) > settings.DICOM_MAX_UPLOAD_BYTES:
            return _error(413, f"over the upload limit of {settings.DICOM_MAX_UPLOAD_BYTES} bytes")
        try:
            parts = media.multipart_parts(request._request.read(settings.DICOM_MAX_UPLOAD_BYTES + 1),
                                          params.get("boundary", ""))
        except media.MultipartError as problem:
            return _error(400, str(problem))
        referenced, failed, to_import = [], [], []
        for number, (headers, content) in enumerate(parts, start=1):
            sop_class, sop_instance = _sent_uids(content)
            item = {"sop_class_uid": sop_class, "sop_instance_uid": sop_instance}
            part_type = headers.get("content-type", "application/dicom").split(";")[0].strip().lower()
            if part_type != "application/dicom" or content[:4] == ZIP_MAGIC:  # one part, one instance
                failed.append({**item, "reason_code": FAILED_CANNOT_UNDERSTAND})
            else:
                to_import.append((item, (f"part-{number}.dcm", content, False)))
        entries = services.case_import_each(project=project, sources=[source for _, source in to_import],
                                            actor=request.user) if to_import else []
        if len(entries) != len(to_import):  # the batch itself was refused (over the size limit): nothing stored
            entries = [{"result": "refused"}] * len(to_import)
        study_url = None
        for (item, _), entry in zip(to_import, entries):
            if entry["result"] == "refused":
                failed.append({**item, "reason_code": FAILED_CANNOT_UNDERSTAND})
                continue
            stored = selectors.project_instance(project, mapped_uid(settings.DEID_SALT, item["sop_instance_uid"])) \
                if item["sop_instance_uid"] else None
            referenced.append({**item, "url": self.instance_url(stored) if stored else None})
            study_url = study_url or (self.study_url(stored.series.case) if stored else None)
        status = 409 if not referenced else 202 if failed else 200
        return _json(dj.store_response(referenced=referenced, failed=failed, study_url=study_url), status)
