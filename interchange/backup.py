"""Backup and restore of a whole project: `export_project` writes a folder, `project_import` reads it back.

The folder holds ``manifest.json`` (format version, row counts, the sha256 of every other file),
``data.json`` (every row of the project's graph, one list per model, primary keys as exported) and ``files/``
(the DICOM files and model weights under their storage names). Import gives every row a new primary key, so a
project imports into a database that already holds others, and keeps every stored value as exported, timestamps
(``auto_now``/``auto_now_add``) included: rows are inserted as Django's ``loaddata`` does (``save_base(raw=True)``).

Ids that live inside values rather than foreign keys are remapped too: a study read's context
("study:<id>:arm:rep"), a model version's training/validation/held-out case ids, an audit row's target id and
the ids its payload names (``AUDIT_PAYLOAD_IDS``). With a new slug, the model labels "<slug>-v<n>" that model
findings, reader studies and informativeness scores carry follow the new slug.

Left out on purpose: uploads (in-flight chunked transfers; their audit rows are kept), API tokens, passwords,
and users' platform-wide state beyond their names, roles and reader profile.
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
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, models, transaction
from django.utils import timezone

from annotation.models import (
    Adjudication, AdjudicationItem, Assignment, AuditEvent, Case, Finding, GroundTruthItem, Instance, Project,
    ProjectMembership, ProjectSchema, Read, ReaderProfile, Role, Series, Upload
)
from annotation.services import audit_log, roles_ensure
from interop.models import DicomNode
from mlbackend.models import CaseInformativeness, LabelStudioLink, ModelVersion, ProjectModelSettings, TrainingRun
from studies.models import ReaderStudy, StudyCase, StudyReader, StudySession, parse_session_context, session_context

FORMAT = "spineread-project"
FORMAT_VERSION = 1
CHUNK = 1024 * 1024

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
# Models that reach a project but are not backed up (the module docstring says why).
SKIPPED = (Upload,)
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
USER_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "date_joined")


class BackupError(ValueError):
    """An export or import that cannot be done; nothing was written (the message says why)."""


def label(model: type[models.Model]) -> str:
    return model._meta.label


@dataclass
class ImportResult:
    project: Project
    counts: dict[str, int]
    users_created: list[str] = field(default_factory=list)
    users_reused: list[str] = field(default_factory=list)


# Export --------------------------------------------------------------------------------------------------------

def _json_value(value):
    # Full precision: Django's JSON encoder would cut datetimes to milliseconds.
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return value


def _row(obj: models.Model) -> dict:
    return {f.attname: _json_value(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


def _audit_rows(exported: dict[type, set], project: Project) -> list[dict]:
    """Audit rows whose target is one of the exported objects (or one of the project's uploads)."""
    targets = {model._meta.model_name: {str(pk) for pk in pks} for model, pks in exported.items()}
    targets["upload"] = {str(pk) for pk in Upload.objects.filter(project=project).values_list("pk", flat=True)}
    keep = [pk for pk, object_type, object_id in AuditEvent.objects.filter(object_type__in=targets).order_by("pk")
            .values_list("pk", "object_type", "object_id").iterator() if object_id in targets[object_type]]
    return [_row(event) for event in AuditEvent.objects.filter(pk__in=keep).order_by("pk")] if keep else []


def _user_rows(user_ids: set[int]) -> list[dict]:
    role_names = {role.value for role in Role}
    rows = []
    for user in get_user_model().objects.filter(pk__in=user_ids).prefetch_related("groups").order_by("pk"):
        profile = ReaderProfile.objects.filter(user=user).first()
        rows.append({"pk": user.pk, **{name: _json_value(getattr(user, name)) for name in USER_FIELDS},
                     "roles": sorted(g.name for g in user.groups.all() if g.name in role_names),
                     "profile": None if profile is None else {"specialty": profile.specialty,
                                                              "years_experience": profile.years_experience}})
    return rows


def _file_copy(name: str, out_files: Path, expected_sha256: str) -> str:
    target = _safe_path(out_files, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as source, open(target, "wb") as sink:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            digest.update(chunk)
            sink.write(chunk)
    if digest.hexdigest() != expected_sha256:
        raise BackupError(f"stored file {name} does not match its recorded sha256: it is damaged in storage")
    return digest.hexdigest()


def _snapshot(project: Project, out_files: Path) -> tuple[dict, dict[str, str]]:
    data: dict[str, list] = {}
    exported: dict[type, set] = {}
    files: dict[str, str] = {}
    user_ids: set[int] = set()
    user_model = get_user_model()
    for model, path in SECTIONS:
        if model is AuditEvent:
            rows = _audit_rows(exported, project)
        else:
            rows = [_row(obj) for obj in model.objects.filter(**{path: project}).order_by("pk")]
        exported[model] = {row["id"] for row in rows}
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is user_model:
                user_ids |= {row[f.attname] for row in rows if row[f.attname] is not None}
        if model in FILE_FIELDS:
            for row in rows:
                name = row[FILE_FIELDS[model]]
                files[f"files/{name}"] = _file_copy(name, out_files, row["sha256"])
        data[label(model)] = rows
    _references_check(data, exported)
    data["auth.User"] = _user_rows(user_ids)
    return data, files


def _references_check(data: dict, exported: dict[type, set]) -> None:
    """Every foreign key (and case id list) of an exported row names an exported row: the archive is whole."""
    for model, _ in SECTIONS:
        for f in model._meta.concrete_fields:
            if not f.is_relation or f.related_model not in exported:
                continue
            missing = {row[f.attname] for row in data[label(model)]} - exported[f.related_model] - {None}
            if missing and model is not AuditEvent:
                raise BackupError(f"{label(model)}.{f.name} refers to rows outside the project: {sorted(missing)}")
    for row in data[label(ModelVersion)]:
        for name in CASE_ID_LISTS:
            if set(row[name]) - exported[Case]:
                raise BackupError(f"model version {row['version']} lists cases outside the project in {name}")


def project_export(*, project: Project, out_dir: Path | str, actor=None) -> dict:
    """Writes the project to `out_dir` (which must not exist or be empty) and returns the manifest.

    On PostgreSQL the rows are read in one REPEATABLE READ transaction, so the archive is one consistent
    snapshot while readers go on working. Raises BackupError (and leaves no folder content) when a stored file
    is missing or does not match its recorded sha256. The export is audited (after the snapshot, so the archive
    does not hold its own export's row)."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql" and connection.savepoint_ids == []:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            data, files = _snapshot(project, out / "files")
        (out / "data.json").write_text(json.dumps(data, ensure_ascii=False, sort_keys=True))
        files["data.json"] = _sha256(out / "data.json")
    except (BackupError, FileNotFoundError, OSError) as error:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        if isinstance(error, BackupError):
            raise
        raise BackupError(f"a stored file could not be read: {error}") from error
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "project": project.slug,
                "exported_at": timezone.now().isoformat(),
                "counts": {name: len(rows) for name, rows in data.items()}, "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
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
    if not parts or name.startswith("/") or any(part in ("..", "") for part in parts) or "\\" in name:
        raise BackupError(f"unsafe file name in the archive: {name!r}")
    return root.joinpath(*parts)


def _archive_read(folder: Path) -> tuple[dict, dict]:
    """The manifest and the data, once every file the manifest lists is there with its sha256."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"no readable manifest.json in {folder}: {error}") from error
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"not a {FORMAT} archive of format version {FORMAT_VERSION}")
    for name, expected in manifest["files"].items():
        path = _safe_path(folder, name)
        if not path.is_file():
            raise BackupError(f"the archive lacks {name}")
        if _sha256(path) != expected:
            raise BackupError(f"{name} does not match the manifest's sha256: the archive is damaged")
    if "data.json" not in manifest["files"]:
        raise BackupError("the manifest does not list data.json")
    data = json.loads((folder / "data.json").read_text())
    counts = {name: len(rows) for name, rows in data.items()}
    if counts != manifest["counts"]:
        raise BackupError("data.json's row counts differ from the manifest's")
    listed = {f"files/{row[FILE_FIELDS[model]]}" for model in FILE_FIELDS for row in data[label(model)]}
    if listed - set(manifest["files"]):
        raise BackupError(f"files named by rows but not in the archive: {sorted(listed - set(manifest['files']))[:5]}")
    return manifest, data


def _target_name(name: str, old_slug: str, new_slug: str) -> str:
    """The storage name on the target: the slug segment follows the new slug, and a name already taken gets a
    suffix (never overwritten: it belongs to another row, and S3 would overwrite it silently)."""
    parts = name.split("/")
    if len(parts) > 2 and old_slug in parts[:3]:
        parts[parts.index(old_slug)] = new_slug
    candidate = "/".join(parts)
    while default_storage.exists(candidate):
        path = PurePosixPath("/".join(parts))
        candidate = str(path.with_name(f"{path.stem}_{secrets.token_hex(4)}{path.suffix}"))
    return candidate


def _files_write(folder: Path, data: dict, old_slug: str, new_slug: str, written: list[str]) -> dict[str, str]:
    names = {}
    for model, attname in FILE_FIELDS.items():
        for row in data[label(model)]:
            name = row[attname]
            if name in names:
                continue
            with open(_safe_path(folder / "files", name), "rb") as handle:
                stored = default_storage.save(_target_name(name, old_slug, new_slug), File(handle))
            written.append(stored)
            names[name] = stored
    return names


def _users_import(rows: list[dict], result: ImportResult) -> dict[int, int]:
    """Users by old pk -> new pk: an existing username is reused as it is; a new one gets the exported names,
    roles and profile and an unusable password (the person sets one through a password reset)."""
    user_model = get_user_model()
    existing = {u.username: u for u in user_model.objects.filter(username__in=[row["username"] for row in rows])}
    ids = {}
    roles_ensure()
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


def _remap(value, ids: dict, what: str):
    if value is None:
        return None
    try:
        return ids[value]
    except KeyError:
        raise BackupError(f"{what} refers to {value}, which the archive does not hold") from None


def _payload_remap(action: str, payload, maps: dict) -> dict:
    if not isinstance(payload, dict):
        return payload
    keys = {**AUDIT_PAYLOAD_IDS, **AUDIT_PAYLOAD_IDS_BY_ACTION.get(action, {})}
    out = dict(payload)
    for key, model in keys.items():
        value, ids = payload.get(key), maps[model]
        if key == "decisions" and isinstance(value, dict):
            out[key] = {str(ids.get(int(k), k)) if str(k).isdigit() else k: v for k, v in value.items()}
        elif isinstance(value, list):
            out[key] = [ids.get(v, v) if isinstance(v, int) else v for v in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            out[key] = ids.get(value, value)
    return out


def _relabel(value: str, old_slug: str, new_slug: str) -> str:
    prefix = f"{old_slug}-v"
    return new_slug + value[len(old_slug):] if value.startswith(prefix) and value[len(prefix):].isdigit() else value


def _row_fix(model, row: dict, *, maps: dict, names: dict, old_slug: str, new_slug: str) -> None:
    """The row's embedded ids, file names and model labels, in the target's terms (in place)."""
    if model is Project:
        row["slug"] = new_slug
    if model in FILE_FIELDS:
        row[FILE_FIELDS[model]] = names[row[FILE_FIELDS[model]]]
    if model in MODEL_LABEL_FIELDS:
        row[MODEL_LABEL_FIELDS[model]] = _relabel(row[MODEL_LABEL_FIELDS[model]], old_slug, new_slug)
    if model is ModelVersion:
        for name in CASE_ID_LISTS:
            row[name] = [_remap(pk, maps[Case], f"model version {name}") for pk in row[name]]
    if model is Read and (parsed := parse_session_context(row["context"])) is not None:
        study_id, arm, repetition = parsed
        row["context"] = session_context(_remap(study_id, maps[ReaderStudy], "a study read's context"), arm,
                                         repetition)
    if model is AuditEvent:
        target = {m._meta.model_name: m for m in maps if m is not get_user_model()}.get(row["object_type"])
        if target is not None and row["object_id"].isdigit():
            row["object_id"] = str(_remap(int(row["object_id"]), maps[target], "an audit row's target"))
        row["payload"] = _payload_remap(row["action"], row["payload"], maps)


def _rows_insert(model, rows: list[dict], *, maps: dict, **fix) -> None:
    user_model = get_user_model()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    deferred = [f for f in fields if f.is_relation and f.related_model is model]
    ids = maps.setdefault(model, {})
    later = []
    for row in rows:
        row = dict(row)
        _row_fix(model, row, maps=maps, **fix)
        values = {}
        for f in fields:
            value = row[f.attname]
            if f.is_relation and f not in deferred:
                target = maps[user_model] if f.related_model is user_model else maps[f.related_model]
                value = _remap(value, target, f"{label(model)}.{f.name}")
            values[f.attname] = None if f in deferred else f.to_python(value)
        obj = model(**values)
        obj.save_base(raw=True, force_insert=True)  # raw: auto_now(_add) keep the exported timestamps
        ids[row["id"]] = obj.pk
        later += [(obj.pk, f, row[f.attname]) for f in deferred if row[f.attname] is not None]
    # Self-references (a correction's superseded read, a review's model finding, a model's parent) once every
    # row of the model has its new key; update() leaves auto_now fields alone.
    for pk, f, old in later:
        model.objects.filter(pk=pk).update(**{f.attname: _remap(old, ids, f"{label(model)}.{f.name}")})


def project_import(*, folder: Path | str, slug: str | None = None, actor=None) -> ImportResult:
    """Imports an archive written by project_export, all or nothing, under `slug` (default: the exported one).

    Every file is checked against the manifest's sha256 before anything is written; the files are then written
    through default_storage and the rows inserted in one transaction; should it fail, the files written are
    deleted again. Raises BackupError with the reason (a damaged or incomplete archive, a slug already taken)
    and then stores nothing."""
    folder = Path(folder)
    manifest, data = _archive_read(folder)
    old_slug = manifest["project"]
    new_slug = slug or old_slug
    if Project.objects.filter(slug=new_slug).exists():
        raise BackupError(f"a project with the slug {new_slug!r} already exists: import it under another with "
                          f"--slug NEW")
    written: list[str] = []
    try:
        names = _files_write(folder, data, old_slug, new_slug, written)
        with transaction.atomic():
            result = ImportResult(project=None, counts={})  # type: ignore[arg-type]
            maps: dict = {get_user_model(): _users_import(data["auth.User"], result)}
            fix = {"names": names, "old_slug": old_slug, "new_slug": new_slug}
            for model, _ in SECTIONS:
                _rows_insert(model, data[label(model)], maps=maps, **fix)
                result.counts[label(model)] = len(data[label(model)])
            result.project = Project.objects.get(pk=maps[Project][data[label(Project)][0]["id"]])
            audit_log(actor=actor, action="project_import", target=result.project, payload={
                "source_slug": old_slug, "exported_at": manifest["exported_at"],
                "users_created": result.users_created, "users_reused": result.users_reused})
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return result
