"""Reads for DICOMweb: every query starts from `access.instances_visible_to(user)`.

A study, series or instance exists for a caller only through the images they may see: a reader's assigned
cases (not an image held back for its burned-in review), a coordinator's projects. Counts in search results count
only those images, so nothing of another user's cases shows, not even how many there are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Min, QuerySet, Value
from django.db.models.functions import Concat, Left
from django.http import Http404

import access
from annotation.models import Case, Instance, Series

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Search:
    """A QIDO-RS query: match keys (keyword -> value), paging, includefield and fuzzy matching."""
    keys: dict[str, str]
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    fuzzy: bool = False


def _visible(user) -> QuerySet[Instance]:
    return access.instances_visible_to(user)


def _date(text: str) -> date:
    if not re.fullmatch(r"\d{8}", text):
        raise ValueError(f"not a DICOM date (YYYYMMDD): {text!r}")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise ValueError(f"not a DICOM date (YYYYMMDD): {text!r}") from None


def _date_filter(field: str, value: str) -> dict:
    """A date, or a range (A-B, A-, -B) as PS3.4 C.2.2.2.5 defines."""
    if "-" not in value:
        return {field: _date(value)}
    start, _, end = value.partition("-")
    if not start and not end:
        raise ValueError("a date range needs a start or an end")
    lookup = {}
    if start:
        lookup[f"{field}__gte"] = _date(start)
    if end:
        lookup[f"{field}__lte"] = _date(end)
    return lookup


def _text_filter(field: str, value: str, *, fuzzy: bool = False) -> dict:
    """Single value, a UID list (a\\b or a,b), or wildcards * and ? (PS3.4 C.2.2.2.4)."""
    if "*" in value or "?" in value or fuzzy:
        pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
        if fuzzy:  # PN fuzzy matching: case-insensitive, from the start of any name component
            return {f"{field}__iregex": rf"(^|\^){pattern}"}
        return {f"{field}__regex": f"^{pattern}$"}
    values = [v for v in re.split(r"[\\,]", value) if v]
    return {f"{field}__in": values} if len(values) > 1 else {field: value}


# Match keys per level: keyword -> (field on the level's query, how it matches).
_STUDY_KEYS = {"StudyInstanceUID": ("study_instance_uid", "text"), "PatientID": ("patient_id", "text"),
               "PatientName": ("patient_name", "name"), "StudyDate": ("study_date", "date"),
               "ModalitiesInStudy": ("modality", "text")}
_SERIES_KEYS = {"SeriesInstanceUID": ("series_instance_uid", "text"), "Modality": ("case__modality", "text"),
                "SeriesNumber": ("series_number", "int"), "SeriesDescription": ("description", "text")}
_INSTANCE_KEYS = {"SOPInstanceUID": ("sop_instance_uid", "text"), "InstanceNumber": ("instance_number", "int")}


_ALIASED = ("patient_id", "patient_name")  # computed per row (an alias), not a field through the relation


def _filters(keys: dict[str, str], table: dict, prefix: str, fuzzy: bool) -> dict:
    """The ORM lookups for the match keys of one level; ValueError (the caller answers 400) for a bad value."""
    lookup = {}
    for keyword, value in keys.items():
        if keyword not in table or value == "":
            continue
        field, kind = table[keyword]
        field = (prefix.replace("__", "_") if field in _ALIASED else prefix) + field
        if kind == "date":
            lookup.update(_date_filter(field, value))
        elif kind == "int":
            if not re.fullmatch(r"-?\d+", value):
                raise ValueError(f"{keyword} must be a number: {value!r}")
            lookup[field] = int(value)
        else:
            lookup.update(_text_filter(field, value, fuzzy=fuzzy and kind == "name"))
    return lookup


def _with_patient(queryset: QuerySet, prefix: str) -> QuerySet:
    """The PatientID and PatientName the stored files hold (annotation.deid derives both from the key)."""
    alias = prefix.replace("__", "_")  # an alias name may not contain "__"
    key = f"{prefix}patient_key"
    return queryset.alias(**{f"{alias}patient_id": Left(key, 16),
                             f"{alias}patient_name": Concat(Value("ANON^"), Left(key, 8))})


def _study_filters(search: Search, prefix: str) -> dict:
    return _filters(search.keys, _STUDY_KEYS, prefix, search.fuzzy)


def studies_search(user, search: Search) -> list[tuple[Case, int, int]]:
    """(case, visible series count, visible instance count) for each matching study, one query for the page
    and one for the counts."""
    visible = _visible(user)
    cases = _with_patient(Case.objects.filter(pk__in=visible.values("series__case_id")), "")
    cases = cases.filter(**_study_filters(search, "")).order_by("pk")
    page = list(cases[search.offset:search.offset + search.limit])
    counts = {row["series__case_id"]: row for row in visible.filter(series__case__in=page).values(
        "series__case_id").annotate(series_count=Count("series_id", distinct=True), instance_count=Count("pk"))}
    return [(case, counts[case.pk]["series_count"], counts[case.pk]["instance_count"]) for case in page]


def series_search(user, search: Search, *, study_uid: str | None = None) -> list[tuple[Series, int]]:
    visible = _visible(user)
    series = _with_patient(Series.objects.filter(pk__in=visible.values("series_id")), "case__")
    if study_uid is not None:
        series = series.filter(case__study_instance_uid=study_uid)
    series = series.filter(**_study_filters(search, "case__"), **_filters(search.keys, _SERIES_KEYS, "",
                                                                           search.fuzzy))
    page = list(series.select_related("case").order_by("case_id", "series_number", "pk")[
        search.offset:search.offset + search.limit])
    counts = dict(visible.filter(series__in=page).values("series_id").annotate(n=Count("pk")).values_list(
        "series_id", "n"))
    return [(one, counts[one.pk]) for one in page]


def instances_search(user, search: Search, *, study_uid: str | None = None,
                     series_uid: str | None = None) -> list[Instance]:
    instances = _with_patient(_visible(user), "series__case__")
    if study_uid is not None:
        instances = instances.filter(series__case__study_instance_uid=study_uid)
    if series_uid is not None:
        instances = instances.filter(series__series_instance_uid=series_uid)
    instances = instances.filter(**_study_filters(search, "series__case__"),
                                 **_filters(search.keys, _SERIES_KEYS, "series__", search.fuzzy),
                                 **_filters(search.keys, _INSTANCE_KEYS, "", search.fuzzy))
    return list(instances.select_related("series__case").order_by(
        "series__case_id", "series__series_number", "series_id", "instance_number", "pk")[
        search.offset:search.offset + search.limit])


def study_visible(user, study_uid: str) -> bool:
    return _visible(user).filter(series__case__study_instance_uid=study_uid).exists()


def series_visible(user, study_uid: str, series_uid: str) -> bool:
    return _visible(user).filter(series__case__study_instance_uid=study_uid,
                                 series__series_instance_uid=series_uid).exists()


def instances_for_retrieval(user, study_uid: str, series_uid: str | None = None,
                            sop_uid: str | None = None) -> list[Instance]:
    """The visible instances of a study, series or one instance, in reading order; 404 when there are none
    (the same answer whether the UID is unknown or not the caller's)."""
    lookup = {"series__case__study_instance_uid": study_uid}
    if series_uid is not None:
        lookup["series__series_instance_uid"] = series_uid
    if sop_uid is not None:
        lookup["sop_instance_uid"] = sop_uid
    instances = list(_visible(user).filter(**lookup).select_related("series__case").order_by(
        "series__series_number", "series_id", "instance_number", "pk"))
    if not instances:
        raise Http404("no such study, series or instance")
    return instances


def first_instances(instances_of: str, ids: list[int], user) -> dict[int, Instance]:
    """The first visible instance of each series or case (`instances_of` "series" or "case"): where
    `includefield` reads the attributes the database does not keep."""
    field = "series_id" if instances_of == "series" else "series__case_id"
    visible = _visible(user).filter(**{f"{field}__in": ids})
    firsts = dict(visible.values(field).annotate(first=Min("pk")).values_list(field, "first"))
    by_pk = Instance.objects.in_bulk(list(firsts.values()))
    return {owner: by_pk[pk] for owner, pk in firsts.items()}


def project_instance(project, sop_instance_uid: str) -> Instance | None:
    """A stored instance of the project by its (de-identified) SOP Instance UID: the STOW response's link."""
    return Instance.objects.filter(series__case__project=project, sop_instance_uid=sop_instance_uid).select_related(
        "series__case").first()
