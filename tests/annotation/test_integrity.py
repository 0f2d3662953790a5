"""The record cannot be rewritten around the services: the admin is view-only for reads, findings, ground truth
and the audit log, and on PostgreSQL the database itself refuses to update or delete an audit row."""
import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse
from pydicom.data import get_testdata_file

from annotation import services
from annotation.dicom import path_sources
from annotation.models import (
    Adjudication, AdjudicationItem, Assignment, AuditEvent, Case, Finding, GroundTruthItem, Instance, Project,
    ProjectMembership, Read, ReaderProfile, Role, Series
)
from annotation.schema import LUMBAR_LEVELS
from studies.models import ReaderStudy, StudyCase, StudyReader, StudySession
from studies.services import study_create
from tests.conftest import make_user

NEGATIVE = {"herniation": "none", "hiz": "absent", "schmorl": "absent", "listhesis": "0"}

READ_ONLY = [Series, Instance, Case, Assignment, Read, Finding, GroundTruthItem, Adjudication, AdjudicationItem,
             ProjectMembership, AuditEvent, StudyCase, StudyReader, StudySession]

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql",
                                   reason="the append-only trigger exists on PostgreSQL only (see migration 0005)")


def findings(l4l5_grade: int) -> list[services.FindingInput]:
    rows = []
    for level in LUMBAR_LEVELS:
        grade = l4l5_grade if level == "L4/L5" else 3
        rows.append(services.FindingInput(disc_level=level, finding_type="pfirrmann", value=str(grade)))
        rows += [services.FindingInput(disc_level=level, finding_type=name, value=value)
                 for name, value in NEGATIVE.items()]
    return rows


@pytest.fixture
def world(db, project, coordinator, reader, other_reader):
    """One row of every model the admin shows: a double-read case whose disagreement a senior resolved, in a
    reader study."""
    senior = make_user("senior", Role.SENIOR)
    study_reader = make_user("studyreader", Role.READER)
    services.project_member_add(project=project, user=make_user("lsclient", None),
                                role=ProjectMembership.Role.ML_CLIENT, actor=coordinator)
    imported = services.case_import(project=project, sources=path_sources(get_testdata_file("MR_small.dcm"),
                                                                          max_file_bytes=10**7))
    case = Case.objects.get(pk=imported.case_ids[0])
    for user in (reader, other_reader):
        services.case_assign(case=case, user=user, role=Role.READER)
    services.case_assign(case=case, user=senior, role=Role.SENIOR)
    for user, grade in ((reader, 3), (other_reader, 4)):
        services.read_submit(read=services.read_open(case=case, reader=user), reader=user, findings=findings(grade))
    adjudication = Adjudication.objects.get(case=case)
    services.adjudication_resolve(adjudication=adjudication, senior=senior, decisions=[
        services.DecisionInput(item_id=item.pk, choice="reader_b") for item in adjudication.items.all()])
    study = study_create(project=project, name="Unaided", case_ids=[case.pk], readers=[study_reader],
                         actor=coordinator)
    return {"case": case, "study": study}


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="pw-root")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda m: m._meta.label)
def test_superuser_may_view_but_not_add_change_or_delete(admin_client, superuser, world, model):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = superuser
    row = model.objects.order_by("pk").first()
    before = model_to_dict(row)
    count = model.objects.count()

    assert (model_admin.has_add_permission(request), model_admin.has_change_permission(request, row),
            model_admin.has_delete_permission(request, row), model_admin.has_view_permission(request, row)) == (
        False, False, False, True)
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    change_page = admin_client.get(admin_url(model, "change", row.pk))
    assert change_page.status_code == 200 and b'name="_save"' not in change_page.content
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.get(admin_url(model, "delete", row.pk)).status_code == 403
    assert admin_client.post(admin_url(model, "add"), {"_save": "Save"}).status_code == 403
    assert admin_client.post(admin_url(model, "change", row.pk), {"_save": "Save"}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    admin_client.post(admin_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [row.pk],
                                                      "post": "yes"})

    assert model.objects.count() == count
    row.refresh_from_db()
    assert model_to_dict(row) == before


def test_a_forged_audit_row_is_refused(admin_client, world):
    count = AuditEvent.objects.count()

    response = admin_client.post(admin_url(AuditEvent, "add"), {
        "action": "read_submit", "object_type": "read", "object_id": "1", "payload": "{}", "_save": "Save"})

    assert response.status_code == 403
    assert AuditEvent.objects.count() == count


def test_a_submitted_read_cannot_be_edited_in_the_admin(admin_client, world, reader):
    read = Read.objects.get(case=world["case"], reader=reader)
    before = model_to_dict(read)

    response = admin_client.post(admin_url(Read, "change", read.pk), {
        "case": read.case_id, "reader": reader.pk, "version": 1, "context": "", "status": Read.Status.DRAFT,
        "origin": Read.Origin.PLATFORM, "opened_at_0": "2026-01-01", "opened_at_1": "10:00:00",
        "submitted_at_0": "", "submitted_at_1": "", "active_seconds": 999, "_save": "Save"})

    assert response.status_code == 403
    read.refresh_from_db()
    assert model_to_dict(read) == before


def test_project_admin_edits_only_harmless_fields_and_audits_them(admin_client, superuser, world, project):
    schema = project.label_schema

    response = admin_client.post(admin_url(Project, "change", project.pk), {
        "name": "Lumbar MRI (site B)", "description": "", "case_order": Project.CaseOrder.RANDOM,
        "slug": "renamed", "label_schema": '{"levels": []}', "schema_version": 9,
        "labelling_mode": Project.LabellingMode.POSITIVE_ONLY, "box_iou_threshold": 0.01, "_save": "Save"})

    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.case_order) == ("Lumbar MRI (site B)", Project.CaseOrder.RANDOM)
    assert (project.slug, project.label_schema, project.schema_version, project.labelling_mode,
            project.box_iou_threshold) == ("lumbar", schema, 1, Project.LabellingMode.EXHAUSTIVE, 0.5)
    event = AuditEvent.objects.get(action="admin_change", object_type="project")
    assert (event.actor, event.object_id) == (superuser, str(project.pk))
    assert event.payload == {"fields": {"name": {"from": "Lumbar MRI", "to": "Lumbar MRI (site B)"},
                                        "case_order": {"from": "priority", "to": "random"}}}
    assert admin_client.get(admin_url(Project, "add")).status_code == 403
    assert admin_client.post(admin_url(Project, "delete", project.pk), {"post": "yes"}).status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()


def test_reader_study_admin_keeps_the_design_and_audits_a_rename(admin_client, superuser, world):
    study = world["study"]
    before = model_to_dict(study, exclude=["name"])

    response = admin_client.post(admin_url(ReaderStudy, "change", study.pk), {
        "name": "Unaided, site A", "description": "", "design": ReaderStudy.Design.AIDED, "model_version": "v9",
        "seed": 42, "washout_days": 0, "repeat_fraction": 1.0, "positive_from": "{}", "_save": "Save"})

    assert response.status_code == 302
    study.refresh_from_db()
    assert study.name == "Unaided, site A"
    assert model_to_dict(study, exclude=["name"]) == before
    event = AuditEvent.objects.get(action="admin_change", object_type="readerstudy")
    assert event.actor == superuser
    assert event.payload == {"fields": {"name": {"from": "Unaided", "to": "Unaided, site A"}}}
    assert admin_client.get(admin_url(ReaderStudy, "add")).status_code == 403
    assert admin_client.get(admin_url(ReaderStudy, "delete", study.pk)).status_code == 403


def test_reader_profile_edits_are_audited(admin_client, superuser, reader):
    profile = ReaderProfile.objects.get(user=reader)

    response = admin_client.post(admin_url(ReaderProfile, "change", profile.pk), {
        "user": reader.pk, "specialty": "neuroradiology", "years_experience": 9, "_save": "Save"})

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin_change", object_type="readerprofile")
    assert (event.actor, event.object_id) == (superuser, str(profile.pk))
    assert event.payload == {"fields": {"specialty": {"from": "radiology", "to": "neuroradiology"},
                                        "years_experience": {"from": 8, "to": 9}}}


def test_no_ml_registry_row_is_editable_in_the_admin(superuser):
    """The served model pointer and training runs change only through mlbackend's services."""
    request = RequestFactory().get("/admin/")
    request.user = superuser
    for model in apps.get_app_config("mlbackend").get_models():
        model_admin = admin.site._registry.get(model)
        if model_admin is not None:
            assert not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
                        or model_admin.has_delete_permission(request)), model._meta.label


@on_postgresql
def test_the_database_refuses_to_update_or_delete_an_audit_row(project, coordinator):
    event = AuditEvent.objects.get(action="project_create", object_id=str(project.pk))
    before = model_to_dict(event)
    attempts = [
        lambda: AuditEvent.objects.filter(pk=event.pk).update(action="forged"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
        lambda: AuditEvent(**{**model_to_dict(event, exclude=["actor", "on_behalf_of"]), "action": "x"}).save(),
        lambda: event.delete(),
    ]

    for attempt in attempts:
        with pytest.raises(DatabaseError, match="the audit log is append-only"):
            with transaction.atomic():
                attempt()

    event.refresh_from_db()
    assert model_to_dict(event) == before
    services.audit_log(actor=coordinator, action="still_appends", target=project)
    assert AuditEvent.objects.filter(action="still_appends").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_flush_still_empties_the_audit_table(project):
    """Django's flush (between transactional and live-server tests) truncates on PostgreSQL: the trigger lets
    it through."""
    assert AuditEvent.objects.exists()

    call_command("flush", interactive=False, verbosity=0)

    assert not AuditEvent.objects.exists()
