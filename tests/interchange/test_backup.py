"""Backup and restore: `export_project` then `import_project` gives back every row and every byte.

The project is built through the services the platform uses (DICOM ingest, blind reads, a correction, agreement
and adjudication, model registry, training, model findings, a reader study), and compared in natural terms:
users by username, every other key by the row's place in its model's primary-key order (the import keeps that
order, which "first assigned reader" and every other order by id rely on), files by the sha256 of the bytes
stored.
"""
import hashlib
import io
import json
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from annotation import services
from annotation.dicom import path_sources
from annotation.models import (
    Adjudication, AdjudicationItem, AuditEvent, Case, Finding, GroundTruthItem, Instance, Project, Read, Role,
    Series, Upload
)
from annotation.schema import detector_classes
from interchange import backup
from interchange.backup import SECTIONS, SKIPPED
from mlbackend.models import CaseInformativeness, LabelStudioLink, ModelVersion, ProjectModelSettings, TrainingRun
from mlbackend.services.ml_client import ml_client_rotate
from mlbackend.services.model_settings import model_settings_update
from mlbackend.services.registry import model_version_register
from mlbackend.services.training import training_request, training_run_transition
from interop.models import DicomNode
from studies.models import ReaderStudy, StudySession, parse_session_context
from studies.services import study_create, study_session_open, study_session_submit
from tests.conftest import make_user

SLUG = "lumbar"
# Audit payload keys that hold primary keys, written out here rather than taken from interchange.backup so the
# comparison does not trust what it checks ("series" is an id only in dicom_access, a count elsewhere).
PAYLOAD_IDS = {"case": Case, "case_ids": Case, "reads": Read, "supersedes": Read, "instances": Instance,
               "previous": ModelVersion}


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    from fixtures.phantoms import generate_phantoms

    out = tmp_path_factory.mktemp("backup-phantoms")
    generate_phantoms(n_cases=3, out_dir=out, seed=3)
    return sorted(p for p in out.iterdir() if p.is_dir())


def finding(level, name, value, **extra):
    return services.FindingInput(disc_level=level, finding_type=name, value=value, **extra)


def weights_file(tmp_path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def build_project(tmp_path, phantoms) -> dict:
    """A project with every kind of row the backup covers."""
    coordinator = make_user("coord", Role.COORDINATOR)
    project = services.project_create(slug=SLUG, name="Lumbar MRI", actor=coordinator,
                                      labelling_mode="positive_only")
    reader_a = make_user("reader1", Role.READER, project=project, specialty="radiology", years_experience=8)
    reader_b = make_user("reader2", Role.READER, project=project, specialty="spine surgery", years_experience=12)
    senior = make_user("senior1", Role.SENIOR, project=project, specialty="radiology", years_experience=20)
    cases = []
    for folder in phantoms:
        result = services.case_import(project=project, sources=path_sources(folder, max_file_bytes=10**8),
                                      actor=coordinator)
        cases.append(Case.objects.get(pk=result.case_ids[0]))
    agreed, disputed, unread = cases
    box_instance = Instance.objects.filter(series__case=agreed, series__plane="sagittal").first()
    services.instance_access_log(instance=box_instance, user=reader_a)

    # Two blind reads that agree (ground truth by agreement), then a correction: v2 supersedes v1.
    agreed_findings = [finding("L4/L5", "pfirrmann", "4"), finding("L5/S1", "herniation", "protrusion"),
                       finding("L4/L5", "hiz", "present", instance_id=box_instance.pk, box=(10.5, 12.25, 40.0, 30.0))]
    for reader in (reader_a, reader_b):
        services.case_assign(case=agreed, user=reader, role=Role.READER, actor=coordinator)
        read = services.read_open(case=agreed, reader=reader)
        services.read_submit(read=read, reader=reader, findings=agreed_findings, active_seconds=3.5)
    first = Read.objects.get(case=agreed, reader=reader_a)
    correction = services.read_correct(read=first, reader=reader_a)
    services.read_submit(read=correction, reader=reader_a, findings=agreed_findings[:2], active_seconds=1.0)

    # Two reads that disagree, resolved by a senior (provenance and reason per item).
    services.case_assign(case=disputed, user=senior, role=Role.SENIOR, actor=coordinator)
    for reader, grade in ((reader_a, "3"), (reader_b, "4")):
        services.case_assign(case=disputed, user=reader, role=Role.READER, actor=coordinator)
        read = services.read_open(case=disputed, reader=reader)
        services.read_submit(read=read, reader=reader, findings=[finding("L3/L4", "pfirrmann", grade),
                                                                 finding("L5/S1", "schmorl", "present")])
    adjudication = Adjudication.objects.get(case=disputed)
    services.adjudication_resolve(adjudication=adjudication, senior=senior, decisions=[
        services.DecisionInput(item_id=item.pk, choice="reader_b", reason="endplate signal")
        for item in adjudication.items.all()])

    # Two model versions (the second trained from the first), served, with a training run and model settings.
    classes = detector_classes(project.label_schema)
    v1 = model_version_register(project=project, weights=weights_file(tmp_path, "v1.pt", b"weights one"),
                                config_name="yolov8n", class_names=classes, metrics={"map50_95": 0.25},
                                gate={"reason": "first"}, promote=True, decision="registered", imgsz=64,
                                actor=coordinator)
    run = training_request(project=project, actor=coordinator, epochs=2, imgsz=64)
    training_run_transition(run, TrainingRun.Status.RUNNING, worker_pid=4242, device="cpu",
                            started_at=timezone.now())
    v2 = model_version_register(project=project, weights=weights_file(tmp_path, "v2.pt", bytes(range(256)) * 40),
                                config_name="yolov8n", class_names=classes,
                                metrics={"map50_95": 0.5, "per_class": {"hiz": 0.125}},
                                gate={"promoted": True, "served_version": 1}, promote=True, parent=v1,
                                training_case_ids=[agreed.pk, disputed.pk], heldout_case_ids=[unread.pk],
                                device="cpu", train_seconds=12.5, epochs=2, imgsz=64)
    training_run_transition(run, TrainingRun.Status.SUCCEEDED, model_version=v2, epoch=2, loss=0.75)
    model_settings_update(project=project, actor=coordinator, retrain_after_cases=5, retrain_crontab="0 3 * * 1")

    # Model findings on the unread case, and a reader's draft that accepts one of them.
    unread_instance = Instance.objects.filter(series__case=unread, series__plane="sagittal").first()
    model_findings = services.model_findings_replace(case=unread, model_version=v2.label, findings=[
        services.ModelFindingInput(disc_level="L4/L5", finding_type="pfirrmann", value="3", score=0.875,
                                   instance_id=unread_instance.pk, box=(20.0, 20.0, 60.0, 32.0)),
        services.ModelFindingInput(disc_level="L5/S1", finding_type="hiz", value="present", score=0.375)])
    CaseInformativeness.objects.create(case=unread, model_version=v2.label, score=0.625, uncertainty=0.5,
                                       rare_bonus=0.125)
    services.case_assign(case=unread, user=reader_a, role=Role.READER, actor=coordinator)
    draft = services.read_open(case=unread, reader=reader_a)
    services.read_save_draft(read=draft, reader=reader_a, active_seconds=2.0, findings=[
        finding("L4/L5", "pfirrmann", "3", instance_id=unread_instance.pk, box=(20.0, 20.0, 60.0, 32.0),
                model_finding_id=model_findings[0].pk)])

    # A reader study of the agreed case, both arms and a repeat, with one session read.
    study_reader = make_user("studyreader", Role.READER, specialty="orthopaedics", years_experience=3)
    study = study_create(project=project, name="Aided vs unaided", case_ids=[agreed.pk], readers=[study_reader],
                         design="both", model_version=v2.label, washout_days=0, repeat_fraction=1.0, seed=7,
                         positive_from={"herniation": "protrusion"}, actor=coordinator)
    session = StudySession.objects.filter(study=study, reader=study_reader).order_by("period", "position").first()
    study_session_open(session=session, reader=study_reader)
    study_session_submit(session=session, reader=study_reader, findings=[finding("L4/L5", "pfirrmann", "5")])

    # The Label Studio connection (its ML client account), a DICOM node, an upload's audit row.
    ml_client = ml_client_rotate(project=project, actor=coordinator)
    LabelStudioLink.objects.create(project=project, ls_project="17", hostname="https://ls.example",
                                   access_token="ls-token", label_config="<View/>",
                                   ml_client=get_user_model().objects.get(username=ml_client.username))
    DicomNode.objects.create(project=project, calling_ae_title="PACS01", description="main PACS")
    upload = Upload.objects.create(project=project, user=coordinator, filename="study.zip", size=10, received=10,
                                   status=Upload.Status.DONE)
    services.audit_log(actor=coordinator, action="upload_finish", target=upload, payload={"project": SLUG})
    project.refresh_from_db()
    return {"project": project, "upload_ids": [str(upload.pk)], "study_reader": study_reader}


# Natural terms --------------------------------------------------------------------------------------------------

def project_rows(project: Project, upload_ids: list[str], skip=frozenset()) -> dict:
    """{model: [rows]} of the project's graph, chosen by the test (not by interchange.backup's queries). An
    upload's audit rows are found by the upload's id, which a copy's rows share with the original's (uploads
    are not backed up): `skip` leaves out the original's."""
    rows = {}
    for model, path in SECTIONS:
        if model is not AuditEvent:
            rows[model] = list(model.objects.filter(**{path: project.pk}).order_by("pk"))
    targets = {model._meta.model_name: {str(obj.pk) for obj in objs} for model, objs in rows.items()}
    targets["upload"] = set(upload_ids)
    rows[AuditEvent] = [event for event in AuditEvent.objects.order_by("pk")
                        if event.object_id in targets.get(event.object_type, ()) and event.pk not in skip]
    return rows


def natural(project: Project, upload_ids: list[str], *, before=None, skip=frozenset()) -> dict:
    """The project's rows with keys as places (model, index in pk order), users as usernames, the slug as SLUG,
    stored files with the sha256 of their bytes; audit rows written at or after `before` are left out."""
    rows = project_rows(project, upload_ids, skip)
    place = {model: {obj.pk: index for index, obj in enumerate(objs)} for model, objs in rows.items()}
    by_type = {model._meta.model_name: model for model in place}
    user_model = get_user_model()
    slug = project.slug

    def key(model, pk):
        return None if pk is None else (model._meta.label, place[model].get(pk, f"outside:{pk}"))

    def text(value):
        return value.replace(f"{slug}-v", "SLUG-v").replace(f"/{slug}/", "/SLUG/") if isinstance(value, str) \
            else value

    def context(value):
        parsed = parse_session_context(value)
        return value if parsed is None else (key(ReaderStudy, parsed[0]), parsed[1], parsed[2])

    def payload(action, value):
        value = dict(value)
        for name, model in {**PAYLOAD_IDS, **({"series": Series} if action == "dicom_access" else {})}.items():
            if isinstance(value.get(name), list):
                value[name] = [key(model, pk) for pk in value[name]]
            elif isinstance(value.get(name), int):
                value[name] = key(model, value[name])
        if "decisions" in value:
            value["decisions"] = {str(key(AdjudicationItem, int(k))): v for k, v in value["decisions"].items()}
        if "context" in value:
            value["context"] = context(value["context"])
        if "model_version" in value:
            value["model_version"] = text(value["model_version"])
        return value

    out = {}
    for model, objs in rows.items():
        if model is AuditEvent and before is not None:
            objs = [event for event in objs if event.at < before]
        table = []
        for obj in objs:
            row = {}
            for f in model._meta.concrete_fields:
                value = getattr(obj, f.attname)
                if f.primary_key:
                    value = key(model, value)
                elif f.is_relation and f.related_model is user_model:
                    value = None if value is None else user_model.objects.get(pk=value).username.replace(
                        f"ml-{slug}", "ml-SLUG")
                elif f.is_relation:
                    value = key(f.related_model, value)
                elif isinstance(value, FieldFile):
                    value = text(value.name)
                row[f.name] = text(value)
            if model is Project:
                row["slug"] = "SLUG"
            if model is Read:
                row["context"] = context(obj.context)
            if model is ModelVersion:
                for name in ("training_case_ids", "validation_case_ids", "heldout_case_ids"):
                    row[name] = [key(Case, pk) for pk in getattr(obj, name)]
            if model in (Instance, ModelVersion):
                name = obj.file.name if model is Instance else obj.file
                with default_storage.open(name, "rb") as handle:
                    row["stored_sha256"] = hashlib.sha256(handle.read()).hexdigest()
                assert row["stored_sha256"] == obj.sha256
            if model is AuditEvent:
                row["object_id"] = (key(by_type[obj.object_type], int(obj.object_id))
                                    if obj.object_type in by_type else obj.object_id)
                row["payload"] = payload(obj.action, obj.payload)
            table.append(row)
        out[model._meta.label] = table
    return out


def users_natural(usernames) -> dict:
    users = get_user_model().objects.filter(username__in=usernames).prefetch_related("groups")
    return {u.username: {"names": (u.first_name, u.last_name, u.email), "is_active": u.is_active,
                         "date_joined": u.date_joined, "roles": sorted(g.name for g in u.groups.all()),
                         "profile": (u.reader_profile.specialty, u.reader_profile.years_experience)
                         if hasattr(u, "reader_profile") else None} for u in users}


def assert_same(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:  # one model at a time, so that a failure names it
        assert len(actual[name]) == len(expected[name]), name
        for got, want in zip(actual[name], expected[name]):
            assert got == want, name


def database_state() -> tuple[dict, dict]:
    """Row counts of every model, and every stored file with the sha256 of its bytes."""
    counts = {model._meta.label: model.objects.count() for model in apps.get_models()}
    root = Path(default_storage.location)
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in root.rglob("*") if p.is_file()} if root.exists() else {}
    return counts, files


def export(slug: str, out: Path) -> str:
    stdout = io.StringIO()
    call_command("export_project", slug, out=str(out), stdout=stdout)
    return stdout.getvalue()


def import_(folder: Path, *args) -> str:
    stdout = io.StringIO()
    call_command("import_project", str(folder), *args, stdout=stdout)
    return stdout.getvalue()


# Round trips ----------------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_project_imported_under_a_new_slug_is_the_exported_one_row_for_row_and_byte_for_byte(tmp_path, phantoms):
    built = build_project(tmp_path, phantoms)
    project, upload_ids = built["project"], built["upload_ids"]
    started = timezone.now()
    before = natural(project, upload_ids)
    assert [name for name, rows in before.items() if not rows] == []  # every kind of row is there to compare
    archive = tmp_path / "archive"

    output = export(SLUG, archive)

    manifest = json.loads((archive / "manifest.json").read_text())
    assert manifest["counts"]["annotation.Instance"] == Instance.objects.count() > 0
    assert f"annotation.Read: {Read.objects.count()}" in output
    assert len(manifest["files"]) == Instance.objects.count() + ModelVersion.objects.count() + 1  # + data.json
    assert "annotation.Upload" not in manifest["counts"] and "annotation.TaskOutbox" not in manifest["counts"]
    uploads_before = Upload.objects.count()
    original_audit = {event.pk for event in AuditEvent.objects.all()}

    output = import_(archive, "--slug", "lumbar-copy")

    copy = Project.objects.get(slug="lumbar-copy")
    assert "imported project lumbar-copy" in output and "users created: ml-lumbar-copy;" in output
    assert_same(natural(copy, upload_ids, before=started, skip=original_audit), before)
    copy_audit = set(AuditEvent.objects.exclude(pk__in=original_audit).values_list("pk", flat=True))
    assert_same(natural(project, upload_ids, before=started, skip=copy_audit), before)  # the original is untouched
    assert Upload.objects.count() == uploads_before
    # Spot checks of what the comparison covers, in the new project's own ids.
    correction = Read.objects.get(case__project=copy, reader__username="reader1", version=2, context="")
    assert correction.supersedes.case_id == correction.case_id and correction.supersedes.version == 1
    assert set(GroundTruthItem.objects.filter(case__project=copy).values_list("provenance", flat=True)) == {
        "agreement", "reader_b"}
    review = Finding.objects.get(case__project=copy, model_finding__isnull=False)
    assert review.model_finding.case_id == review.case_id and review.model_finding.model_version == "lumbar-copy-v2"
    settings_row = ProjectModelSettings.objects.get(project=copy)
    assert settings_row.served_version.version == 2 and settings_row.served_version.parent.version == 1
    assert settings_row.served_version.file == "ml/models/lumbar-copy/v2.pt"
    study = ReaderStudy.objects.get(project=copy)
    assert study.model_version == "lumbar-copy-v2"
    assert Read.objects.filter(case__project=copy, context__startswith=f"study:{study.pk}:").count() == 1
    assert Instance.objects.filter(series__case__project=copy, file__startswith="dicom/lumbar-copy/").count() == \
        Instance.objects.filter(series__case__project=copy).count()
    # The copy has its own ML client account, and its own training schedule.
    link = LabelStudioLink.objects.get(project=copy)
    assert link.ml_client.username == "ml-lumbar-copy" and not link.ml_client.has_usable_password()
    assert LabelStudioLink.objects.get(project=project).ml_client.username == "ml-lumbar"
    assert ml_client_rotate(project=copy).username == "ml-lumbar-copy"  # how it gets a password for Label Studio
    schedule = PeriodicTask.objects.get(name__endswith="scheduled training of lumbar-copy")
    assert json.loads(schedule.args) == [copy.pk] and schedule.crontab.hour == "3"
    import_row = AuditEvent.objects.get(action="project_import", object_id=str(copy.pk))
    assert import_row.payload["source_slug"] == SLUG and import_row.payload["users_reused"]


@pytest.mark.django_db
def test_a_lost_project_restored_under_its_own_slug_is_the_exported_one(tmp_path, phantoms):
    built = build_project(tmp_path, phantoms)
    project, upload_ids = built["project"], built["upload_ids"]
    usernames = ["coord", "reader1", "reader2", "senior1", "studyreader", "ml-lumbar"]
    users_before = users_natural(usernames)
    started = timezone.now()
    before = natural(project, upload_ids)
    export(SLUG, tmp_path / "archive")
    project_lose(project)
    # A user this database does not know (audit rows protect the old account from deletion: renamed instead).
    get_user_model().objects.filter(pk=built["study_reader"].pk).update(username="studyreader-gone")
    assert not Project.objects.filter(slug=SLUG).exists() and not Instance.objects.exists()
    left_over_audit = set(AuditEvent.objects.values_list("pk", flat=True))  # the audit log is append-only

    output = import_(tmp_path / "archive")

    restored = Project.objects.get(slug=SLUG)
    assert "users created: studyreader" in output
    assert_same(natural(restored, upload_ids, before=started, skip=left_over_audit), before)  # names equal too
    assert users_natural(usernames) == users_before
    assert not get_user_model().objects.get(username="studyreader").has_usable_password()
    assert PeriodicTask.objects.filter(name__endswith=f"of {SLUG}", args=json.dumps([restored.pk])).exists()


def project_lose(project: Project) -> None:
    """What losing a project means: its rows, its files and its schedule gone (the platform has no such service;
    the order follows the protecting foreign keys)."""
    names = [i.file.name for i in Instance.objects.filter(series__case__project=project)] + list(
        ModelVersion.objects.filter(project=project).values_list("file", flat=True))
    ReaderStudy.objects.filter(project=project).delete()
    ProjectModelSettings.objects.filter(project=project).delete()
    ModelVersion.objects.filter(project=project).update(parent=None)
    Adjudication.objects.filter(case__project=project).delete()
    Read.objects.filter(case__project=project).update(supersedes=None)
    Finding.objects.filter(case__project=project).delete()
    project.delete()
    PeriodicTask.objects.filter(name__endswith=f"of {project.slug}").delete()
    for name in names:
        default_storage.delete(name)


# Refusals -------------------------------------------------------------------------------------------------------

def small_project(tmp_path, phantoms) -> Project:
    coordinator = make_user("coord", Role.COORDINATOR)
    project = services.project_create(slug=SLUG, name="Lumbar MRI", actor=coordinator)
    services.case_import(project=project, sources=path_sources(phantoms[0], max_file_bytes=10**8))
    model_version_register(project=project, weights=weights_file(tmp_path, "v1.pt", b"weights"),
                           config_name="yolov8n", class_names=detector_classes(project.label_schema), metrics={},
                           gate={}, promote=True)
    return project


def flip_a_dicom_byte(archive: Path) -> None:
    path = sorted((archive / "files" / "dicom").rglob("*.dcm"))[0]
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))


def remove_the_weights(archive: Path) -> None:
    next((archive / "files" / "ml").rglob("*.pt")).unlink()


def edit_data(archive: Path) -> None:
    data = json.loads((archive / "data.json").read_text())
    data["annotation.Case"][0]["site_code"] = "EDITED"
    (archive / "data.json").write_text(json.dumps(data))


def edit_data_and_manifest(archive: Path) -> None:
    """A consistent archive whose rows do not hold together: it fails inside the import's transaction, after the
    files were written."""
    data = json.loads((archive / "data.json").read_text())
    data["annotation.Series"][0]["case_id"] = 999999
    (archive / "data.json").write_text(json.dumps(data))
    manifest = json.loads((archive / "manifest.json").read_text())
    manifest["files"]["data.json"] = hashlib.sha256((archive / "data.json").read_bytes()).hexdigest()
    (archive / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.django_db
@pytest.mark.parametrize("damage, message", [
    (flip_a_dicom_byte, r"files/dicom/lumbar/.*\.dcm does not match the manifest's sha256: the archive is damaged"),
    (remove_the_weights, r"the archive lacks files/ml/models/lumbar/v1\.pt"),
    (edit_data, r"data\.json does not match the manifest's sha256: the archive is damaged"),
    (edit_data_and_manifest, r"annotation\.Series\.case refers to 999999, which the archive does not hold"),
    (lambda archive: (archive / "manifest.json").unlink(), r"no readable manifest\.json"),
])
def test_a_damaged_archive_is_refused_and_stores_nothing(tmp_path, phantoms, damage, message):
    small_project(tmp_path, phantoms)
    archive = tmp_path / "archive"
    export(SLUG, archive)
    damage(archive)
    state = database_state()

    with pytest.raises(CommandError, match=message):
        import_(archive, "--slug", "restored")

    assert database_state() == state


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    ((), r"a project with the slug 'lumbar' already exists: import under another with --slug"),
    (("--slug", "Not a slug!"), r"'Not a slug!' is not a project slug"),
])
def test_a_taken_or_malformed_slug_is_refused_and_nothing_changes(tmp_path, phantoms, args, message):
    small_project(tmp_path, phantoms)
    export(SLUG, tmp_path / "archive")
    state = database_state()

    with pytest.raises(CommandError, match=message):
        import_(tmp_path / "archive", *args)

    assert database_state() == state


@pytest.mark.django_db
def test_export_refuses_an_unknown_project_a_used_folder_and_a_file_damaged_in_storage(tmp_path, phantoms):
    project = small_project(tmp_path, phantoms)
    with pytest.raises(CommandError, match=r"no project with the slug 'nope'"):
        export("nope", tmp_path / "a")
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match=r"exists and is not an empty folder"):
        export(SLUG, used)
    assert [p.name for p in used.iterdir()] == ["keep.txt"]

    instance = Instance.objects.filter(series__case__project=project).order_by("pk").last()
    path = Path(default_storage.path(instance.file.name))
    stored = path.read_bytes()
    path.write_bytes(stored[:-1] + bytes([stored[-1] ^ 0xFF]))
    exports_before = AuditEvent.objects.filter(action="project_export").count()
    with pytest.raises(CommandError, match=rf"stored file {instance.file.name} does not match its recorded sha256"):
        export(SLUG, tmp_path / "b")
    assert list((tmp_path / "b").iterdir()) == []
    assert AuditEvent.objects.filter(action="project_export").count() == exports_before
    path.write_bytes(stored)  # for the end-of-test de-identification audit


@pytest.mark.django_db(transaction=True)
def test_export_outside_a_transaction_reads_one_snapshot(tmp_path, phantoms, monkeypatch):
    """What the command does in production (no test transaction around it): on PostgreSQL the rows are read in
    one REPEATABLE READ transaction."""
    small_project(tmp_path, phantoms)
    seen = []
    snapshot = backup._snapshot

    def snapshot_watched(project, out):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW transaction_isolation")
                seen.append(cursor.fetchone()[0])
        return snapshot(project, out)

    monkeypatch.setattr(backup, "_snapshot", snapshot_watched)
    export(SLUG, tmp_path / "archive")

    assert seen == (["repeatable read"] if connection.vendor == "postgresql" else [])
    manifest = json.loads((tmp_path / "archive" / "manifest.json").read_text())
    assert manifest["counts"]["annotation.Instance"] == Instance.objects.count() > 0


def test_every_model_that_belongs_to_a_project_is_backed_up_or_left_out_on_purpose():
    backed_up = {model for model, _ in SECTIONS}
    of_project = {Project}
    grew = True
    while grew:
        found = {model for model in apps.get_models() for f in model._meta.concrete_fields
                 if f.is_relation and f.related_model in of_project and f.related_model is not model}
        grew = bool(found - of_project)
        of_project |= found
    assert of_project - backed_up - set(SKIPPED) == set()
    assert backup.FORMAT_VERSION == 1
