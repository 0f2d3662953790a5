"""Backup and restore of a whole project: `project_export` writes a folder, `project_import` reads it back.

The folder holds ``manifest.json`` (format version, row counts, the sha256 of every other file),
``data.json`` (every row of the project's graph, one list per model, primary keys as exported) and ``files/``
(the DICOM files and model weights under their storage names). Import gives every row a new primary key, in
the exported order (so "first assigned reader" and every other order by id still holds), which lets a project
import into a database that holds others. Every stored value is kept as exported, timestamps (``auto_now`` /
``auto_now_add``) included: rows are inserted as Django's ``loaddata`` does (``save_base(raw=True)``).

Ids that live inside values rather than foreign keys are remapped too: a study read's context
("study:<id>:arm:rep"), a model version's training/validation/held-out case ids, an audit row's target id and
the ids its payload names (``AUDIT_PAYLOAD_IDS``). With a new slug, the model labels "<slug>-v<n>" that model
findings, reader studies, informativeness scores and audit payloads carry follow the new slug (they are how
rows find their model), and so does the project's ML client account ("ml-<slug>"); slugs and user names written
into audit payloads stay as written (what they were called then).

Left out on purpose: uploads (in-flight chunked transfers; their audit rows are kept), the task outbox (a queue,
not data), API tokens, passwords, and users' platform-wide state beyond their names, roles and reader profile.
The archive does hold patient keys (keyed hashes) and Label Studio access tokens: keep it as safe as the
database.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, models, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from annotation.models import (
    Adjudication, AdjudicationItem, Assignment, AuditEvent, Case, Finding, GroundTruthItem, Instance, Project,
    ProjectMembership, ProjectSchema, Read, ReaderProfile, Role, Series, TaskOutbox, Upload
)
from annotation.services import audit_log, roles_ensure
from interop.models import DicomNode
from mlbackend.models import CaseInformativeness, LabelStudioLink, ModelVersion, ProjectModelSettings, TrainingRun
from mlbackend.services.ml_client import ml_client_username
from mlbackend.services.model_settings import retrain_schedule_set
from studies.models import ReaderStudy, StudyCase, StudyReader, StudySession, parse_session_context, session_context

FORMAT = "spineread-project"
FORMAT_VERSION = 1
CHUNK = 1024 * 1024
USERS = "users"  # data.json's list of the users the rows name

# Every model of a project's graph, parents before children, with the lookup from it to its project.
SECTIONS: list[tuple[type[models.Model], str]] = [
    (Project, "pk"),
    (ProjectSchema, "project"),
    (ProjectMembership, "project"),
    (DicomNode, "project"),
    (Case, "project"),
    (Series, "case__project"),
    (Instance, "series__case__project"),
    (Assignment, "case__project"),
    (ReaderStudy, "project"),  # before reads: a study read's context names its study
    (StudyCase, "study__project"),
    (StudyReader, "study__project"),
    (StudySession, "study__project"),
    (Read, "case__project"),
    (Finding, "case__project"),
    (GroundTruthItem, "case__project"),
    (Adjudication, "case__project"),
    (AdjudicationItem, "adjudication__case__project"),
    (ModelVersion, "project"),
    (ProjectModelSettings, "project"),
    (TrainingRun, "project"),
    (CaseInformativeness, "case__project"),
    (LabelStudioLink, "project"),
    (AuditEvent, ""),  # chosen by target, see _audit_rows
]
# Models that reach a project, or would seem to belong in a backup, and are left out (the docstring says why).
SKIPPED = (Upload, TaskOutbox)
# Payload keys of audit rows that hold primary keys (a list or a single id; "decisions": dict keys), and keys
# that hold one only under one action (elsewhere "series" is a count). Other values are kept as written.
AUDIT_PAYLOAD_IDS: dict[str, type[models.Model]] = {
    "case": Case, "case_ids": Case, "reads": Read, "supersedes": Read, "instances": Instance,
    "decisions": AdjudicationItem, "previous": ModelVersion,
}
AUDIT_PAYLOAD_IDS_BY_ACTION: dict[str, dict[str, type[models.Model]]] = {"dicom_access": {"series": Series}}
CASE_ID_LISTS = ("training_case_ids", "validation_case_ids", "heldout_case_ids")
MODEL_LABEL_FIELDS = {Finding: "model_version", ReaderStudy: "model_version", CaseInformativeness: "model_version"}
FILE_FIELDS = {Instance: "file", ModelVersion: "file"}
# Where a storage name carries the project's slug (annotation.services.ingest, mlbackend.selectors).
SLUG_FOLDERS = ("dicom/", "ml/models/")
USER_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "date_joined")


class BackupError(ValueError):
    """An export or import that cannot be done; nothing was written (the message says why)."""


def label(model: type[models.Model]) -> str:
    return model._meta.label


@dataclass
class ImportResult:
    project: Project
    counts: dict[str, int] = field(default_factory=dict)
    files: int = 0
    users_created: list[str] = field(default_factory=list)
    users_reused: list[str] = field(default_factory=list)


# Export --------------------------------------------------------------------------------------------------------

def _json_value(value):
    if isinstance(value, FieldFile):
        return value.name
    # Full precision: Django's JSON encoder would cut datetimes to milliseconds.
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def _row(obj: models.Model) -> dict:
    return {f.attname: _json_value(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


def _audit_rows(exported: dict[type, set], project: Project) -> list[dict]:
    """Audit rows whose target is one of the exported rows (or one of the project's uploads)."""
    targets = {model._meta.model_name: {str(pk) for pk in pks} for model, pks in exported.items()}
    targets["upload"] = {str(pk) for pk in Upload.objects.filter(project=project).values_list("pk", flat=True)}
    keep = [pk for pk, object_type, object_id in AuditEvent.objects.filter(object_type__in=targets)
            .values_list("pk", "object_type", "object_id").iterator() if object_id in targets[object_type]]
    return [_row(event) for event in AuditEvent.objects.filter(pk__in=keep).order_by("pk")]


def _user_rows(user_ids: set[int]) -> list[dict]:
    role_names = {role.value for role in Role}
    profiles = {p.user_id: p for p in ReaderProfile.objects.filter(user_id__in=user_ids)}
    rows = []
    for user in get_user_model().objects.filter(pk__in=user_ids).prefetch_related("groups").order_by("pk"):
        profile = profiles.get(user.pk)
        rows.append({"pk": user.pk, **{name: _json_value(getattr(user, name)) for name in USER_FIELDS},
                     "roles": sorted(g.name for g in user.groups.all() if g.name in role_names),
                     "profile": None if profile is None else {"specialty": profile.specialty,
                                                              "years_experience": profile.years_experience}})
    return rows


def _file_copy(name: str, out: Path, expected_sha256: str) -> str:
    target = _safe_path(out / "files", name)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as source, open(target, "wb") as sink:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            digest.update(chunk)
            sink.write(chunk)
    if digest.hexdigest() != expected_sha256:
        raise BackupError(f"stored file {name} does not match its recorded sha256: it is damaged in storage")
    return expected_sha256


def _snapshot(project: Project, out: Path) -> tuple[dict, dict[str, str]]:
    """Every row of the project's graph (copying its files into `out`), and the sha256 of each file."""
    data: dict[str, list] = {}
    exported: dict[type, set] = {}
    files: dict[str, str] = {}
    user_ids: set[int] = set()
    user_model = get_user_model()
    for model, path in SECTIONS:
        if model is AuditEvent:
            rows = _audit_rows(exported, project)
        else:
            rows = [_row(obj) for obj in model.objects.filter(**{path: project.pk}).order_by("pk")]
        exported[model] = {row["id"] for row in rows}
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is user_model:
                user_ids |= {row[f.attname] for row in rows if row[f.attname] is not None}
        for row in rows if model in FILE_FIELDS else ():
            name = row[FILE_FIELDS[model]]
            files[f"files/{name}"] = _file_copy(name, out, row["sha256"])
        data[label(model)] = rows
    _references_check(data, exported)
    data[USERS] = _user_rows(user_ids)
    return data, files


def _references_check(data: dict, exported: dict[type, set]) -> None:
    """Every foreign key (and case id list) of an exported row names an exported row: the archive is whole."""
    for model, _ in SECTIONS:
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model in exported:
                missing = {row[f.attname] for row in data[label(model)]} - exported[f.related_model] - {None}
                if missing:
                    raise BackupError(f"{label(model)}.{f.name} refers to rows outside the project: "
                                      f"{sorted(missing)[:10]}")
    for row in data[label(ModelVersion)]:
        for name in CASE_ID_LISTS:
            if set(row[name]) - exported[Case]:
                raise BackupError(f"model version {row['version']} lists cases outside the project in {name}")


def project_export(*, project: Project, out_dir: Path | str, actor=None) -> dict:
    """Writes the project to `out_dir` (which must not exist or be empty) and returns the manifest.

    On PostgreSQL the rows are read in one REPEATABLE READ transaction, so the archive is one consistent
    snapshot while readers go on working. Raises BackupError, leaving `out_dir` empty, when a stored file is
    missing or does not match its recorded sha256. The export is audited after the snapshot (the archive does
    not hold its own export's row)."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql" and not connection.savepoint_ids:  # the outermost transaction
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            data, files = _snapshot(project, out)
        (out / "data.json").write_text(json.dumps(data, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        files["data.json"] = _sha256(out / "data.json")
    except (BackupError, OSError) as error:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        if isinstance(error, BackupError):
            raise
        raise BackupError(f"a stored file could not be read: {error}") from error
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "project": project.slug,
                "exported_at": timezone.now().isoformat(),
                "counts": {name: len(rows) for name, rows in data.items()}, "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    audit_log(actor=actor, action="project_export", target=project,
              payload={"files": len(files) - 1, "counts": manifest["counts"]})
    return manifest


# Import --------------------------------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_path(root: Path, name: str) -> Path:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(part in ("..", ".", "") for part in parts) or "\\" in name:
        raise BackupError(f"unsafe file name in the archive: {name!r}")
    return root.joinpath(*parts)


def _archive_read(folder: Path) -> tuple[dict, dict]:
    """The manifest and the data, once every file the manifest lists is there with its sha256."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackupError(f"no readable manifest.json in {folder}: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not all(
            isinstance(manifest.get(key), str) for key in ("project", "exported_at")):
        raise BackupError(f"{folder}/manifest.json is not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"archive format version {manifest.get('format_version')!r}; this SpineRead reads "
                          f"version {FORMAT_VERSION}")
    files = manifest.get("files")
    if not isinstance(files, dict) or "data.json" not in files:
        raise BackupError("the manifest does not list data.json")
    for name, expected in files.items():
        path = _safe_path(folder, name)
        if not path.is_file():
            raise BackupError(f"the archive lacks {name}")
        if _sha256(path) != expected:
            raise BackupError(f"{name} does not match the manifest's sha256: the archive is damaged")
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    expected_sections = {label(model) for model, _ in SECTIONS} | {USERS}
    if not isinstance(data, dict) or set(data) != expected_sections:
        raise BackupError("data.json does not hold this format's sections")
    if {name: len(rows) for name, rows in data.items()} != manifest.get("counts"):
        raise BackupError("data.json's row counts differ from the manifest's")
    unlisted = {f"files/{row[FILE_FIELDS[model]]}" for model in FILE_FIELDS for row in data[label(model)]} - set(files)
    if unlisted:
        raise BackupError(f"files named by rows but not in the archive: {sorted(unlisted)[:5]}")
    return manifest, data


@dataclass
class _Target:
    """How exported values become the target's: new primary keys per model, new storage names, the new slug."""

    old_slug: str
    new_slug: str
    ids: dict = field(default_factory=dict)  # model -> {old pk: new pk}
    names: dict[str, str] = field(default_factory=dict)  # exported storage name -> stored name

    def pk(self, model, value, what: str):
        if value is None:
            return None
        try:
            return self.ids[model][value]
        except KeyError:
            raise BackupError(f"{what} refers to {value}, which the archive does not hold") from None

    def label(self, value: str) -> str:
        prefix = f"{self.old_slug}-v"
        if value.startswith(prefix) and value[len(prefix):].isdigit():
            return self.new_slug + value[len(self.old_slug):]
        return value

    def context(self, value: str) -> str:
        parsed = parse_session_context(value)
        if parsed is None:
            return value
        study_id, arm, repetition = parsed
        return session_context(self.pk(ReaderStudy, study_id, "a study read's context"), arm, repetition)

    def storage_name(self, name: str) -> str:
        """The slug segment follows the new slug, and a name already taken gets a suffix (never overwritten:
        it belongs to another row, and an S3 storage would overwrite it silently)."""
        for folder in SLUG_FOLDERS:
            if name.startswith(f"{folder}{self.old_slug}/"):
                name = f"{folder}{self.new_slug}/{name[len(folder) + len(self.old_slug) + 1:]}"
        candidate = name
        while default_storage.exists(candidate):
            path = PurePosixPath(name)
            candidate = str(path.with_name(f"{path.stem}_{secrets.token_hex(4)}{path.suffix}"))
        return candidate


def _files_write(folder: Path, data: dict, target: _Target, written: list[str]) -> None:
    for model, attname in FILE_FIELDS.items():
        for row in data[label(model)]:
            name = row[attname]
            if name not in target.names:
                with open(_safe_path(folder / "files", name), "rb") as handle:
                    stored = default_storage.save(target.storage_name(name), File(handle))
                written.append(stored)
                target.names[name] = stored


def _users_import(rows: list[dict], ml_clients: set[int], target: _Target, result: ImportResult) -> dict[int, int]:
    """Users by exported pk -> pk here: an existing username is reused as it is; a new one gets the exported
    names, roles and profile and an unusable password (an invitation link or, for the ML client, a rotation sets
    one). Under a new slug the project's ML client is the new slug's account: an ML client account serves one
    project (access.ml_client_project), so the copy never shares the original's."""
    user_model = get_user_model()
    old_ml, new_ml = (ml_client_username(Project(slug=slug)) for slug in (target.old_slug, target.new_slug))
    for row in rows:
        if row["pk"] in ml_clients and row["username"] == old_ml:
            row.update(username=new_ml,
                       last_name=target.new_slug if row["last_name"] == target.old_slug else row["last_name"])
    existing = {u.username: u for u in user_model.objects.filter(username__in=[row["username"] for row in rows])}
    roles_ensure()
    ids = {}
    for row in rows:
        user = existing.get(row["username"])
        if user is not None:
            result.users_reused.append(user.username)
        else:
            user = user_model(**{name: user_model._meta.get_field(name).to_python(row[name]) for name in USER_FIELDS})
            user.set_unusable_password()
            user.save()
            user.groups.add(*Group.objects.filter(name__in=row["roles"]))
            if row["profile"] is not None:
                ReaderProfile.objects.create(user=user, **row["profile"])
            result.users_created.append(user.username)
        ids[row["pk"]] = user.pk
    return ids


def _payload_fix(action: str, payload, target: _Target):
    """An audit payload in the target's terms. Ids the archive does not hold are kept as written: a payload is a
    record of what happened, not a reference the import must honour."""
    if not isinstance(payload, dict):
        return payload
    out = dict(payload)
    for key, model in {**AUDIT_PAYLOAD_IDS, **AUDIT_PAYLOAD_IDS_BY_ACTION.get(action, {})}.items():
        value, ids = payload.get(key), target.ids[model]
        if key == "decisions" and isinstance(value, dict):
            out[key] = {str(ids.get(int(k), k)) if str(k).isdigit() else k: v for k, v in value.items()}
        elif isinstance(value, list):
            out[key] = [ids.get(v, v) if isinstance(v, int) else v for v in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            out[key] = ids.get(value, value)
    if isinstance(payload.get("context"), str):
        out["context"] = target.context(payload["context"])
    if isinstance(payload.get("model_version"), str):
        out["model_version"] = target.label(payload["model_version"])
    return out


def _row_fix(model, row: dict, target: _Target, by_type: dict[str, type]) -> None:
    """The row's embedded ids, file names and model labels in the target's terms (in place)."""
    if model is Project:
        row["slug"] = target.new_slug
    if model in FILE_FIELDS:
        row[FILE_FIELDS[model]] = target.names[row[FILE_FIELDS[model]]]
    if model in MODEL_LABEL_FIELDS:
        row[MODEL_LABEL_FIELDS[model]] = target.label(row[MODEL_LABEL_FIELDS[model]])
    if model is ModelVersion:
        for name in CASE_ID_LISTS:
            row[name] = [target.pk(Case, pk, f"model version {name}") for pk in row[name]]
    if model is Read:
        row["context"] = target.context(row["context"])
    if model is AuditEvent:
        if row["object_type"] in by_type:
            row["object_id"] = str(target.pk(by_type[row["object_type"]], int(row["object_id"]),
                                             "an audit row's target"))
        row["payload"] = _payload_fix(row["action"], row["payload"], target)


def _rows_insert(model, rows: list[dict], target: _Target) -> None:
    user_model = get_user_model()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    deferred = [f for f in fields if f.is_relation and f.related_model is model]
    by_type = {m._meta.model_name: m for m, _ in SECTIONS if m is not AuditEvent}
    ids = target.ids.setdefault(model, {})
    later = []
    # One INSERT per row, as loaddata does: bulk_create would stamp auto_now(_add) fields with the time now.
    for row in rows:
        row = dict(row)
        _row_fix(model, row, target, by_type)
        values = {}
        for f in fields:
            value = row[f.attname]
            if f in deferred:
                value = None
            elif f.is_relation:
                value = target.pk(user_model if f.related_model is user_model else f.related_model, value,
                                  f"{label(model)}.{f.name}")
            values[f.attname] = f.to_python(value)
        obj = model(**values)
        obj.save_base(raw=True, force_insert=True)  # raw: auto_now(_add) keep the exported timestamps
        ids[row["id"]] = obj.pk
        later += [(obj.pk, f, row[f.attname]) for f in deferred if row[f.attname] is not None]
    # Self-references (a correction's superseded read, a review's model finding, a model's parent) once every
    # row of the model has its new key; update() leaves auto_now fields alone.
    for pk, f, old in later:
        model.objects.filter(pk=pk).update(**{f.attname: target.pk(model, old, f"{label(model)}.{f.name}")})


def project_import(*, folder: Path | str, slug: str | None = None, actor=None) -> ImportResult:
    """Imports an archive written by project_export, all or nothing, under `slug` (default: the exported one).

    Every file is checked against the manifest's sha256 before anything is written; the files are then written
    through default_storage and the rows inserted in one transaction; should that fail, the files written are
    deleted again. A project that retrains on a schedule gets its schedule back. Raises BackupError with the
    reason (a damaged or incomplete archive, a slug taken or malformed) and then stores nothing."""
    folder = Path(folder)
    manifest, data = _archive_read(folder)
    new_slug = slug or manifest["project"]
    try:
        Project._meta.get_field("slug").clean(new_slug, None)
    except ValidationError as error:
        raise BackupError(f"{new_slug!r} is not a project slug: {' '.join(error.messages)}") from None
    if Project.objects.filter(slug=new_slug).exists():
        raise BackupError(f"a project with the slug {new_slug!r} already exists: import under another with --slug")
    target = _Target(old_slug=manifest["project"], new_slug=new_slug)
    written: list[str] = []
    try:
        _files_write(folder, data, target, written)
        with transaction.atomic():
            result = ImportResult(project=None, files=len(written))  # type: ignore[arg-type]
            ml_clients = {row["user_id"] for row in data[label(ProjectMembership)]
                          if row["role"] == ProjectMembership.Role.ML_CLIENT}
            target.ids[get_user_model()] = _users_import(data[USERS], ml_clients, target, result)
            for model, _ in SECTIONS:
                _rows_insert(model, data[label(model)], target)
                result.counts[label(model)] = len(data[label(model)])
            result.project = Project.objects.get(pk=target.ids[Project][data[label(Project)][0]["id"]])
            model_settings = ProjectModelSettings.objects.filter(project=result.project).first()
            if model_settings is not None and model_settings.retrain_crontab:
                # The schedule itself is a django-celery-beat row named by the slug, not part of the archive.
                retrain_schedule_set(project=result.project, crontab=model_settings.retrain_crontab, actor=actor)
            audit_log(actor=actor, action="project_import", target=result.project, payload={
                "source_slug": target.old_slug, "exported_at": manifest["exported_at"],
                "users_created": result.users_created, "users_reused": result.users_reused})
    except BaseException as error:
        for name in written:
            default_storage.delete(name)
        stored_badly = isinstance(error, (DatabaseError, ValidationError, KeyError, TypeError, ValueError))
        if stored_badly and not isinstance(error, BackupError):  # rows the database or a field refused
            raise BackupError(f"the archive's rows could not be stored: {error!r}") from error
        raise
    return result
