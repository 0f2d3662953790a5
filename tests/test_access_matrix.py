"""The access matrix: every URL pattern x every role x every case state, from one expected-access table.

The routes come from the URL resolver, so a route added without an entry in ROUTES fails
``test_every_route_has_an_entry``. Each request runs in a savepoint that is rolled back, so a write that is
allowed does not change the world the next cell sees; a write that is refused must change nothing (checked
before the rollback). Where a cell allows the request, the body must hold nothing that the role must not see:
the sentinel coordinates of the other reader's boxes, of the ground truth and of the model's findings, readers'
names, case states.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from pydicom.data import get_testdata_file

import access
from annotation import services
from annotation.dicom import parse_and_deidentify
from annotation.models import (
    Adjudication, Assignment, AuditEvent, Case, Finding, GroundTruthItem, Instance, ProjectMembership, Read, Role,
    Series
)
from annotation.models import Upload
from mlbackend.models import ModelVersion, TrainingRun
from mlbackend.services.ml_client import ml_client_rotate
from studies.models import StudySession
from studies.services import study_create
from tests.conftest import make_user

# Sentinels: numbers and names that appear in a body only if what carries them leaked.
BOX_A = (11.25, 12.25, 21.25, 22.25)        # reader A's box on every case
BOX_B = (33.75, 34.75, 43.75, 44.75)        # reader B's box where the two disagree
BOX_STUDY = (47.5, 48.5, 57.5, 58.5)        # the study case's agreed box: its ground truth
BOX_MODEL = (5.125, 6.125, 15.125, 16.125)  # the pinned model's finding on the study case
READER_A, READER_B = "alice_reads", "bob_reads"
STATE_WORDS = ["Awaiting adjudication", "In reading", "Not read yet", '"in_reading"', '"adjudication"',
               '"unread"', '"ground_truth"']
PINNED = "v-pinned"

STATES = ["unread", "one_read", "agreeing", "adjudication", "final", "study"]
ROLES = ["anonymous", "reader_a", "reader_b", "unassigned_reader", "senior", "senior_elsewhere",
         "study_during", "study_after", "study_period2", "coordinator", "other_coordinator", "admin", "ml_client"]
# Every other role's cases belong to this project; "other" is a case of a project that only other_coordinator runs.
OTHER = "other"


def _numbers(box) -> list[str]:
    return [repr(v) for v in box]


@dataclass
class World:
    users: dict
    cases: dict
    reads: dict = field(default_factory=dict)       # name -> Read
    adjudications: dict = field(default_factory=dict)
    instances: dict = field(default_factory=dict)   # case name -> Instance
    sessions: dict = field(default_factory=dict)    # name -> StudySession
    study: object = None
    ml_password: str = ""


def _instance_for(case: Case, dicom: bytes, uid_suffix: str = "") -> Instance:
    series = Series.objects.create(case=case, series_instance_uid=f"2.25.9{case.pk}{uid_suffix}", plane="sagittal")
    instance = Instance(series=series, sop_instance_uid=f"2.25.8{case.pk}{uid_suffix}",
                        sha256=hashlib.sha256(dicom).hexdigest(),
                        size_bytes=len(dicom), transfer_syntax_uid="1.2.840.10008.1.2.1", rows=64, columns=64)
    instance.file.save(f"matrix/{case.pk}{uid_suffix}.dcm", ContentFile(dicom), save=False)
    instance.save()
    return instance


def _read(case, reader, instance, *, value: str, box) -> Read:
    read = services.read_open(case=case, reader=reader)
    findings = [services.FindingInput(disc_level="L4/L5", finding_type="pfirrmann", value=value,
                                      instance_id=instance.pk, box=box)]
    return services.read_submit(read=read, reader=reader, findings=findings)


def _users() -> dict:
    users = {
        "reader_a": make_user(READER_A, Role.READER), "reader_b": make_user(READER_B, Role.READER),
        "unassigned_reader": make_user("dave_unassigned", Role.READER),
        "senior": make_user("sam_senior", Role.SENIOR),
        "senior_elsewhere": make_user("carol_both", Role.READER),
        "study_during": make_user("stu_during", Role.READER), "study_after": make_user("stu_after", Role.READER),
        "study_period2": make_user("stu_period2", Role.READER),
        "coordinator": make_user("coord_here", Role.COORDINATOR),
        "other_coordinator": make_user("coord_there", Role.COORDINATOR),
    }
    services.user_set_role(user=users["senior_elsewhere"], role=Role.SENIOR)
    users["admin"] = get_user_model().objects.create_superuser("root_admin", password="pw-root_admin")
    return users


def _cases(users, project, elsewhere) -> tuple[dict, dict]:
    """A case in every state's starting point (and another project's), each with an image; one held back."""
    dicom = parse_and_deidentify(open(get_testdata_file("MR_small.dcm"), "rb").read(), name="MR_small.dcm",
                                 salt=settings.DEID_SALT).content
    cases, instances = {}, {}
    for number, name in enumerate(STATES + [OTHER, "carol_senior_case"]):
        cases[name] = Case.objects.create(project=elsewhere if name == OTHER else project,
                                          patient_key=f"{number:032x}", study_instance_uid=f"2.25.7{number}")
        instances[name] = _instance_for(cases[name], dicom)
    for name in STATES:
        services.case_assign(case=cases[name], user=users["reader_a"], role=Role.READER)
        services.case_assign(case=cases[name], user=users["reader_b"], role=Role.READER)
        services.case_assign(case=cases[name], user=users["senior"], role=Role.SENIOR)
    # An image of the unread case held back for its burned-in review: its project's coordinators only.
    held = _instance_for(cases["unread"], dicom, uid_suffix="9")
    Instance.objects.filter(pk=held.pk).update(burned_in=Instance.BurnedIn.PENDING)
    instances["burned_in"] = held
    # A reader who is senior of another case only: nothing of the six cases is theirs.
    services.case_assign(case=cases["carol_senior_case"], user=users["senior_elsewhere"], role=Role.SENIOR)
    services.case_assign(case=cases["carol_senior_case"], user=users["reader_a"], role=Role.READER)
    return cases, instances


def _double_reading(w: World) -> None:
    """Reads that bring each case to its state: one read, agreeing, awaiting adjudication, final, study."""
    cases, instances, users = w.cases, w.instances, w.users
    a, b = users["reader_a"], users["reader_b"]
    w.reads["one_read:a"] = _read(cases["one_read"], a, instances["one_read"], value="2", box=BOX_A)
    w.reads["agreeing:a"] = _read(cases["agreeing"], a, instances["agreeing"], value="2", box=BOX_A)
    w.reads["agreeing:b"] = _read(cases["agreeing"], b, instances["agreeing"], value="2", box=BOX_A)
    for name in ("adjudication", "final"):
        w.reads[f"{name}:a"] = _read(cases[name], a, instances[name], value="2", box=BOX_A)
        w.reads[f"{name}:b"] = _read(cases[name], b, instances[name], value="4", box=BOX_B)
        w.adjudications[name] = Adjudication.objects.get(case=cases[name])
    final = w.adjudications["final"]
    services.adjudication_resolve(adjudication=final, senior=users["senior"], decisions=[
        services.DecisionInput(item_id=item.pk, choice="reader_a") for item in final.items.all()])
    w.reads["study:a"] = _read(cases["study"], a, instances["study"], value="3", box=BOX_STUDY)
    w.reads["study:b"] = _read(cases["study"], b, instances["study"], value="3", box=BOX_STUDY)
    for name in STATES:
        cases[name].refresh_from_db()
    assert [cases[n].status for n in STATES] == [
        "unread", "in_reading", "ground_truth", "adjudication", "ground_truth", "ground_truth"]


def _reader_study(w: World, project) -> None:
    """A study of the study case with a pinned model; its readers during period 1, after it, and in period 2."""
    cases, instances, users = w.cases, w.instances, w.users
    services.model_findings_replace(case=cases["study"], model_version=PINNED, findings=[services.ModelFindingInput(
        disc_level="L4/L5", finding_type="pfirrmann", value="3", instance_id=instances["study"].pk, box=BOX_MODEL,
        score=0.9)])
    ModelVersion.objects.create(project=project, version=1, config_name="yolov8n", decision="registered",
                                file="models/none.pt", sha256="0" * 64)
    w.study = study_create(project=project, name="Matrix study", case_ids=[cases["study"].pk], design="both",
                           model_version=PINNED, washout_days=28, actor=users["coordinator"],
                           readers=[users["study_during"], users["study_after"], users["study_period2"]])
    for role in ("study_during", "study_after", "study_period2"):
        for session in StudySession.objects.filter(study=w.study, reader=users[role]):
            w.sessions[f"{role}:p{session.period}"] = session
    for role, submitted_at in (("study_after", timezone.now()),
                               ("study_period2", timezone.now() - timedelta(days=30))):
        session = w.sessions[f"{role}:p1"]
        read = services.read_open(case=session.case, reader=users[role], context=session.context)
        services.read_submit(read=read, reader=users[role], findings=[])
        Read.objects.filter(pk=read.pk).update(submitted_at=submitted_at)
        w.reads[f"study-session:{role}"] = read


@pytest.fixture
def world(db) -> World:
    users = _users()
    project = services.project_create(slug="trusted", name="Trusted", actor=users["coordinator"],
                                      labelling_mode="positive_only")
    elsewhere = services.project_create(slug="elsewhere", name="Elsewhere", actor=users["other_coordinator"])
    cases, instances = _cases(users, project, elsewhere)
    w = World(users=users, cases=cases, instances=instances)
    _double_reading(w)
    _reader_study(w, project)
    w.ml_password = ml_client_rotate(project=project).password
    users["ml_client"] = get_user_model().objects.get(username="ml-trusted")
    return w


# Who may do what: one rule per route and method, given the role and the object the URL names --------------

def _user(w, role):
    return w.users.get(role)


def case_visible(w, role, case):
    return access.cases_visible_to(_user(w, role)).filter(pk=case.pk).exists() if role != "anonymous" else False


def coordinates(w, role, project_id):
    return role in ("admin",) or (role in ("coordinator", "other_coordinator") and access.coordinates(
        _user(w, role), project_id))


def has_primary_read(w, role, case):
    return role != "anonymous" and Read.objects.filter(case=case, reader=_user(w, role), context="").exists()


def authenticated(w, role, obj):
    return role != "anonymous"


def anyone(w, role, obj):
    return True


def any_coordinator(w, role, obj):
    return role in ("coordinator", "other_coordinator", "admin")


def project_coordinator(w, role, project):
    return coordinates(w, role, project.pk)


def own_session(w, role, session):
    return role != "anonymous" and session.reader_id == _user(w, role).pk


def own_open_session(w, role, session):
    return own_session(w, role, session) and access.session_states(_user(w, role))[session.pk]["available"]


def ml_client(w, role, obj):
    return role == "ml_client"


def dicomweb_study_visible(w, role, instance):
    return role != "anonymous" and access.instances_visible_to(_user(w, role)).filter(
        series__case__study_instance_uid=instance.series.case.study_instance_uid).exists()


def dicomweb_series_visible(w, role, instance):
    return role != "anonymous" and access.instances_visible_to(_user(w, role)).filter(
        series__case__study_instance_uid=instance.series.case.study_instance_uid,
        series__series_instance_uid=instance.series.series_instance_uid).exists()


# route name -> (object kind, {method: rule(world, role, object) -> allowed}); kinds say what the URL names.
ROUTES = {
    # Public
    "login": (None, {"GET": anyone}),
    # An invitation link with a token that is not valid: the page says so, for anyone, and changes nothing.
    "invite": (None, {"GET": anyone, "POST": anyone}),
    "logout": (None, {"POST": anyone}),
    "health": (None, {"GET": anyone}),
    "ml-health": (None, {"GET": anyone}),
    # Label Studio calls the webhook without credentials; it is confirmed with Label Studio before anything is
    # stored (tests/mlbackend/test_ml_security.py), so every caller gets an answer that changes nothing.
    "ml-webhook": (None, {"POST": anyone}),
    "ml-setup": (None, {"POST": ml_client}),
    "ml-predict": (None, {"POST": ml_client}),
    # Any signed-in person, each seeing their own
    "schema": (None, {"GET": authenticated}),
    # Personal API tokens: made with a password or session; revoking one takes the token itself
    # (tests/test_api_tokens.py), so with a session or password it is refused for everyone.
    "api-token-create": (None, {"POST": authenticated}),
    "api-token-revoke": (None, {"POST": lambda w, r, o: False}),
    "api-token-revoke-all": (None, {"POST": authenticated}),
    "api-docs": (None, {"GET": authenticated}),
    "home": (None, {"GET": authenticated}),
    "worklist": (None, {"GET": authenticated}),
    "adjudications": (None, {"GET": authenticated}),
    "api-projects": (None, {"GET": authenticated}),
    "api-worklist": (None, {"GET": authenticated}),
    "api-adjudications": (None, {"GET": authenticated}),
    "study-list": (None, {"GET": authenticated}),
    "study-sessions": (None, {"GET": authenticated}),
    "api-study-sessions": (None, {"GET": authenticated}),
    "api-studies": (None, {"GET": authenticated, "POST": any_coordinator}),
    "ml-index": (None, {"GET": any_coordinator}),
    # A project
    "project-cases": ("project", {"GET": lambda w, r, p: r != "anonymous"
                                  and access.projects_visible_to(_user(w, r)).filter(pk=p.pk).exists()}),
    "api-project-cases": ("project", {"GET": lambda w, r, p: r != "anonymous"
                                      and access.projects_visible_to(_user(w, r)).filter(pk=p.pk).exists()}),
    "api-dicom-upload": ("project", {"POST": project_coordinator}),
    "api-project-progress": ("project", {"GET": project_coordinator}),
    "api-assign-balanced": ("project", {"POST": project_coordinator}),
    "api-reassign": ("project", {"POST": project_coordinator}),
    "project-assign": ("project", {"POST": project_coordinator}),
    "project-reassign": ("project", {"POST": project_coordinator}),
    "api-import-label-studio": ("project", {"POST": project_coordinator}),
    "api-ml-models": ("project", {"GET": project_coordinator}),
    "api-ml-trainings": ("project", {"GET": project_coordinator, "POST": project_coordinator}),
    "api-ml-settings": ("project", {"PUT": project_coordinator}),
    "ml-registry": ("project", {"GET": project_coordinator}),
    "ml-learning-curve": ("project", {"GET": project_coordinator}),
    "api-ml-model-serve": ("model_version", {"POST": lambda w, r, v: project_coordinator(w, r, v.project)}),
    # A case
    "api-case": ("case", {"GET": lambda w, r, c: case_visible(w, r, c)}),
    "api-case-reads": ("case", {"GET": lambda w, r, c: case_visible(w, r, c)}),
    "api-my-read": ("case", {"GET": has_primary_read,
                             "POST": lambda w, r, c: r != "anonymous" and access.is_case_reader(_user(w, r), c)}),
    "api-my-read-draft": ("case", {"PUT": has_primary_read}),
    "api-my-read-submit": ("case", {"POST": has_primary_read}),
    "api-ground-truth": ("case", {"GET": lambda w, r, c: r != "anonymous"
                                  and access.ground_truth_visible_to(_user(w, r), c)}),
    "api-model-findings": ("case", {"GET": lambda w, r, c: r != "anonymous"
                                    and access.model_findings_visible_to(_user(w, r), c)}),
    "case-read": ("case", {"GET": lambda w, r, c: r != "anonymous" and access.is_case_reader(_user(w, r), c)}),
    "api-instance-dicom": ("instance", {"GET": lambda w, r, i: case_visible(w, r, i.series.case) and (
        i.burned_in != Instance.BurnedIn.PENDING or coordinates(w, r, i.series.case.project_id))}),
    "api-burned-in": ("project", {"GET": project_coordinator}),
    # Calibration cases: the coordinator's (POST/PUT {}: 400, nothing named; the page's POST: back with words)
    "api-calibration": ("project", {"GET": project_coordinator}),
    "api-calibration-case": ("project", {"POST": project_coordinator}),
    "api-calibration-settings": ("project", {"PUT": project_coordinator}),
    "project-calibration": ("project", {"GET": project_coordinator, "POST": project_coordinator}),
    "api-burned-in-clear": ("instance", {"POST": lambda w, r, i: i.burned_in == Instance.BurnedIn.PENDING
                                         and coordinates(w, r, i.series.case.project_id)}),
    # A read (of the double reading; reader-study reads are in the list too and never show here)
    "api-read": ("read", {"GET": lambda w, r, read: r != "anonymous" and read.context == ""
                          and access.reads_visible_to(_user(w, r), read.case).filter(pk=read.pk).exists()}),
    "api-read-correct": ("read", {"POST": lambda w, r, read: r != "anonymous" and read.context == ""
                                  and read.reader_id == _user(w, r).pk}),
    # An adjudication
    "api-adjudication": ("adjudication", {"GET": lambda w, r, a: coordinates(w, r, a.case.project_id)
                                          or r == "senior"}),
    "adjudication": ("adjudication", {"GET": lambda w, r, a: coordinates(w, r, a.case.project_id)
                                      or r == "senior"}),
    "api-adjudication-resolve": ("adjudication", {"POST": lambda w, r, a: r == "senior"}),
    # A reader study and its sessions
    "study-dashboard": ("study", {"GET": lambda w, r, s: project_coordinator(w, r, s.project)}),
    "study-report": ("study", {"GET": lambda w, r, s: project_coordinator(w, r, s.project)}),
    "api-study": ("study", {"GET": lambda w, r, s: project_coordinator(w, r, s.project)}),
    "api-study-dashboard": ("study", {"GET": lambda w, r, s: project_coordinator(w, r, s.project)}),
    "api-study-report": ("study", {"GET": lambda w, r, s: project_coordinator(w, r, s.project)}),
    "study-session-read": ("session", {"GET": own_open_session}),
    "api-study-session-open": ("session", {"POST": own_session}),      # 409 while its period is closed
    "api-study-session-draft": ("session", {"PUT": own_session}),
    "api-study-session-submit": ("session", {"POST": own_session}),
    "api-study-session-model-findings": ("session", {"GET": own_session}),
    # Set-up pages and their API: projects, schema versions, users and roles
    "project-new": (None, {"GET": any_coordinator, "POST": any_coordinator}),
    "project-schema": ("project", {"GET": project_coordinator, "POST": project_coordinator}),
    "project-settings": ("project", {"GET": project_coordinator, "POST": project_coordinator}),
    "project-people": ("project", {"GET": project_coordinator, "POST": project_coordinator}),
    "project-people-remove": ("project", {"POST": project_coordinator}),
    "api-project-create": (None, {"POST": any_coordinator}),
    "api-project-schema": ("project", {"GET": project_coordinator, "POST": project_coordinator}),
    "api-project-settings": ("project", {"PUT": project_coordinator}),
    "api-project-members": ("project", {"GET": project_coordinator, "POST": project_coordinator}),
    "api-project-member-remove": ("project", {"POST": project_coordinator}),
    # (end of set-up routes)
    # Chunked DICOM upload
    "project-upload": ("project", {"GET": project_coordinator}),
    "api-uploads": ("project", {"POST": project_coordinator}),  # POST {}: 400, no file named
    # An upload only for the coordinator who started it (PUT {}: 400, no Content-Range)
    "api-upload": ("upload", {m: lambda w, r, u: r != "anonymous" and u.user_id == _user(w, r).pk
                              and coordinates(w, r, u.project_id) for m in ("GET", "PUT")}),
    # (end of upload routes)
    # Reading, adjudication queue, reader-study form and downloads
    "study-new": (None, {"GET": any_coordinator, "POST": any_coordinator}),  # POST {}: 400, the form's words
    "project-downloads": ("project", {"GET": project_coordinator}),
    "project-dataset-download": ("project", {"GET": project_coordinator}),  # no ?format=: 400 in words
    # (end of reading routes)
    "api-import-predictions": ("project", {"POST": project_coordinator}),  # POST {}: 400, fields missing
    # DICOMweb
    # QIDO-RS: any signed-in person, each finding only the images instances_visible_to gives them
    "dicomweb-studies": (None, {"GET": authenticated}),
    "dicomweb-series-search": (None, {"GET": authenticated}),
    "dicomweb-instances-search": (None, {"GET": authenticated}),
    # A study or series exists for a caller when one of its images is visible; an instance as its file does
    **{name: ("instance", {"GET": dicomweb_study_visible}) for name in (
        "dicomweb-study-series", "dicomweb-study-instances", "dicomweb-study", "dicomweb-study-metadata")},
    **{name: ("instance", {"GET": dicomweb_series_visible}) for name in (
        "dicomweb-series-instances", "dicomweb-series", "dicomweb-series-metadata")},
    **{name: ("instance", {"GET": lambda w, r, i: r != "anonymous" and access.instances_visible_to(
        _user(w, r)).filter(pk=i.pk).exists()}) for name in (
        "dicomweb-instance", "dicomweb-instance-metadata", "dicomweb-instance-frames", "dicomweb-instance-rendered")},
    "dicomweb-store": ("project", {"POST": project_coordinator}),  # POST {} as JSON: 415
    # (end of DICOMweb routes)
}
# The Django admin has its own gate (staff and model permissions; tests/annotation/test_integrity.py).
NOT_IN_MATRIX = ("admin/",)


def _routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if not pattern.startswith(NOT_IN_MATRIX):
                yield from _routes(entry, pattern)
        elif isinstance(entry, URLPattern):
            yield entry.name, pattern, entry.pattern.converters


def test_every_route_has_an_entry():
    named = {name for name, _, _ in _routes()}
    assert None not in named, "every route needs a name to have an entry in the access table"
    assert named == set(ROUTES), {"routes without an entry": sorted(named - set(ROUTES)),
                                  "entries without a route": sorted(set(ROUTES) - named)}


# The objects each kind of URL is tried with ------------------------------------------------------------------

def _objects(w: World, kind: str | None) -> list[tuple[str, object]]:
    """(label, object) pairs, fetched afresh: a case's state is read from the database, not from the fixture."""
    return [(label, type(obj).objects.get(pk=obj.pk) if obj is not None else None)
            for label, obj in _world_objects(w, kind)]


def _world_objects(w: World, kind: str | None) -> list[tuple[str, object]]:
    if kind is None:
        return [("-", None)]
    if kind == "project":
        return [("trusted", w.cases["unread"].project), ("elsewhere", w.cases[OTHER].project)]
    if kind == "case":
        return [(name, w.cases[name]) for name in STATES + [OTHER]]
    if kind == "instance":
        return [(name, w.instances[name]) for name in STATES + [OTHER, "burned_in"]]
    if kind == "read":
        return sorted(w.reads.items())
    if kind == "adjudication":
        return sorted(w.adjudications.items())
    if kind == "session":
        return sorted(w.sessions.items())
    if kind == "study":
        return [("study", w.study)]
    if kind == "model_version":
        return [("v1", ModelVersion.objects.get(project__slug="trusted", version=1))]
    if kind == "upload":  # one half-sent upload per project, each by that project's coordinator
        return [(f"upload:{slug}", Upload.objects.get_or_create(
            project=w.cases[case].project, user=w.users[who], filename="matrix.zip", defaults={"size": 1000})[0])
            for slug, case, who in (("trusted", "unread", "coordinator"), ("elsewhere", OTHER, "other_coordinator"))]
    raise AssertionError(kind)


def _dicom_uids(obj) -> dict:
    """DICOMweb URLs name an instance by its study, series and SOP Instance UIDs."""
    if not isinstance(obj, Instance):
        return {}
    return {"study_uid": obj.series.case.study_instance_uid, "series_uid": obj.series.series_instance_uid,
            "sop_uid": obj.sop_instance_uid, "frames": "1"}


def _url(pattern: str, obj) -> str:
    values = {"slug": getattr(obj, "slug", None) or getattr(getattr(obj, "project", None), "slug", None),
              "case_id": getattr(obj, "pk", None), "read_id": getattr(obj, "pk", None),
              "adjudication_id": getattr(obj, "pk", None), "instance_id": getattr(obj, "pk", None),
              "session_id": getattr(obj, "pk", None), "study_id": getattr(obj, "pk", None),
              "version": getattr(obj, "version", None), "upload_id": getattr(obj, "pk", None),
              "uidb64": "MQ", "token": "not-a-token", **_dicom_uids(obj)}
    url = pattern
    for name, value in values.items():
        for converter in ("int", "slug", "str", "uuid"):
            url = url.replace(f"<{converter}:{name}>", str(value))
        url = url.replace(f"<{name}>", str(value))
    assert "<" not in url, url
    return "/" + url.lstrip("^").rstrip("$")


def _state_of(w: World, obj) -> str:
    case = getattr(obj, "case", None) or getattr(getattr(obj, "series", None), "case", None) or (
        obj if isinstance(obj, Case) else None)
    for name, candidate in w.cases.items():
        if case is not None and candidate.pk == case.pk:
            return name
    return "-"


# What no role may see -----------------------------------------------------------------------------------------

def forbidden_in_body(w: World, role: str, state: str, route: str, obj) -> list[str]:
    """The sentinels a body for this role must not hold, given the case state the URL points at (or "-")."""
    if role in ("coordinator", "admin"):
        return []
    if role == "other_coordinator" and state == OTHER or getattr(obj, "slug", None) == "elsewhere":
        return ["Trusted", *_numbers(BOX_A), *_numbers(BOX_B), *_numbers(BOX_STUDY), *_numbers(BOX_MODEL)]
    banned = []
    revealed = state in ("agreeing", "final", "study")  # ground truth final: its readers see both reads
    if role in ("reader_a", "reader_b"):
        if not revealed:
            banned += _numbers(BOX_B) if role == "reader_a" else _numbers(BOX_A)
            banned.append(READER_B if role == "reader_a" else READER_A)
        if state == "-" or not revealed:
            banned += [READER_B if role == "reader_a" else READER_A]
        banned += STATE_WORDS
    elif role == "senior":
        banned += [READER_A, READER_B]
        if state in ("unread", "one_read"):
            banned += _numbers(BOX_A)
    else:
        banned += _numbers(BOX_A) + _numbers(BOX_B) + _numbers(BOX_STUDY) + [READER_A, READER_B] + STATE_WORDS
    if role.startswith("study_"):
        session = obj if isinstance(obj, StudySession) else None
        shows_model = (route == "api-study-session-model-findings" and session is not None
                       and session.arm == "aided" and own_open_session(w, role, session))
        if not shows_model:
            banned += _numbers(BOX_MODEL)
    elif role not in ("reader_a", "reader_b", "senior"):
        banned += _numbers(BOX_MODEL)
    if role in ("other_coordinator", "unassigned_reader", "ml_client", "anonymous"):
        banned += ["Trusted"]  # the project's name
    return sorted(set(banned))


def _text_to_check(route: str, body: bytes) -> str:
    """The body as text, less a new token's own random key and clock time ("...:57.512Z" once read as a box)."""
    if route == "api-token-create" and body.startswith(b"{"):
        issued = json.loads(body)
        return json.dumps({k: v for k, v in issued.items() if k not in ("expiry", "token")})
    return body.decode(errors="replace")


def _holds(text: str, banned: str) -> bool:
    """A number counts whole (48.5 or 48.50): a clock time's "...:48.512345" does not hold the box value 48.5."""
    if banned not in text:  # the plain search first: the pattern is 60x slower on a page
        return False
    return not banned[:1].isdigit() or re.search(rf"(?<![\d.]){re.escape(banned)}(?!0*[1-9])", text) is not None


def _snapshot() -> tuple:
    return (Read.objects.count(), Finding.objects.count(), GroundTruthItem.objects.count(),
            Assignment.objects.count(), ProjectMembership.objects.count(), TrainingRun.objects.count(),
            Case.objects.count(), StudySession.objects.count(),
            tuple(Adjudication.objects.order_by("pk").values_list("status", flat=True)),
            AuditEvent.objects.exclude(action__in=["dicom_access", "login", "login_failed", "logout"]).count())


ALLOWED = {200, 201, 202, 204, 400, 409, 415}  # 400/409/415: let in, then the body or the state said no


def _request(client, method: str, url: str, auth: dict):
    body = {"content_type": "application/json", "data": "{}"} if method in ("POST", "PUT") else {}
    return getattr(client, method.lower())(url, **body, **auth)


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(client, world, role):
    user, auth = world.users.get(role), {}
    if role == "ml_client":  # Label Studio's way: HTTP Basic on every request, no session
        token = base64.b64encode(f"{user.username}:{world.ml_password}".encode()).decode()
        auth = {"HTTP_AUTHORIZATION": f"Basic {token}"}
    elif role != "anonymous":
        client.force_login(user)
    failures = []
    cells = 0
    for name, pattern, _converters in _routes():
        kind, methods = ROUTES[name]
        for label, obj in _objects(world, kind):
            url = _url(pattern, obj)
            state = _state_of(world, obj)
            for method, rule in methods.items():
                expected = rule(world, role, obj)
                with transaction.atomic():
                    before = _snapshot()
                    response = _request(client, method, url, auth)
                    after = _snapshot()
                    transaction.set_rollback(True)
                if role not in ("anonymous", "ml_client"):
                    client.force_login(user)  # a view may have logged the session out
                cells += 1
                where = f"{method} {url} [{name}, {label}]"
                status = response.status_code
                login_redirect = status == 302 and "/login/" in response.get("Location", "")
                if role == "ml_client" and login_redirect:
                    continue  # it has no session (Label Studio sends Basic to /ml/ only): pages ask it to log in
                if expected:
                    if status not in ALLOWED and not (status == 302 and (not login_redirect or name == "logout")):
                        failures.append(f"{where}: expected access, got {status}")
                        continue
                    body = b"".join(response.streaming_content) if response.streaming else response.content
                    if body[:4] != b"\x00\x00\x00\x00" and b"DICM" not in body[:200]:
                        text = _text_to_check(name, body)
                        leaked = [s for s in forbidden_in_body(world, role, state, name, obj) if _holds(text, s)]
                        if leaked:
                            failures.append(f"{where}: body holds {leaked}")
                else:
                    if role == "anonymous":
                        denied = status in (401, 403) or login_redirect
                    elif name == "api-token-revoke":  # asks for the token itself, whoever is signed in
                        denied = status == 401
                    elif role == "ml_client":  # no session: pages send it to the login, the API answers 404
                        denied = login_redirect or status == 404
                    elif name in ("ml-setup", "ml-predict"):  # the ML protocol asks for the ML client's login
                        denied = status == 401
                    else:
                        denied = status == 404
                    if not denied:
                        failures.append(f"{where}: expected refusal (404, or 401/403/login for the signed-out), "
                                        f"got {status}")
                    if before != after:
                        failures.append(f"{where}: a refused request changed {before} -> {after}")
    assert cells > 100
    assert not failures, f"{role}: {len(failures)} of {cells} cells wrong:\n" + "\n".join(failures)
