"""DICOM ingest: one service behind the REST upload, the import_dicom command and the demo loader."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.module_loading import import_string

from annotation.dicom import (
    ZIP_MAGIC, DicomRejected, ParsedInstance, looks_like_dicom, parse_and_deidentify, zip_members
)
from annotation.models import Case, Instance, Project, Series
from annotation.services.audit import audit_log

logger = logging.getLogger(__name__)


class ImportRejected(Exception):
    """The whole upload was refused; nothing was stored. `errors` lists (file name, reason)."""

    def __init__(self, errors: list[tuple[str, str]], status_code: int = 400):
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors))
        self.errors = errors
        self.status_code = status_code


@dataclass
class ImportResult:
    case_ids: list[int] = field(default_factory=list)
    series_count: int = 0
    instances_created: int = 0
    instances_existing: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # SOP Instance UIDs another worker stored while this import ran (counted in instances_existing)
    stored_elsewhere: set[str] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {
            "case_ids": self.case_ids,
            "series": self.series_count,
            "instances_created": self.instances_created,
            "instances_existing": self.instances_existing,
            "skipped": [{"file": name, "reason": reason} for name, reason in self.skipped],
        }


def _expand(sources: Iterable[tuple[str, bytes, bool]]) -> Iterable[tuple[str, bytes, bool]]:
    """Files and the members of zips, with DICOM_MAX_UPLOAD_BYTES over the whole upload, not per archive."""
    limit = settings.DICOM_MAX_UPLOAD_BYTES
    total = 0
    for name, content, from_container in sources:
        if content[:4] == ZIP_MAGIC:
            for member_name, member in zip_members(
                content,
                name=name,
                max_file_bytes=settings.DICOM_MAX_FILE_BYTES,
                max_total_bytes=limit - total,
                max_members=settings.DICOM_MAX_ZIP_MEMBERS,
                max_ratio=settings.DICOM_MAX_ZIP_RATIO,
                ratio_floor_bytes=settings.DICOM_ZIP_RATIO_FLOOR_BYTES,
            ):
                total += len(member)
                yield member_name, member, True
        else:
            total += len(content)
            if total > limit:
                raise DicomRejected(name, f"upload over the total size limit of {limit} bytes", 413)
            yield name, content, from_container


BURNED_IN_REFUSED = ("burned-in annotation (BurnedInAnnotation YES or a secondary-capture/screenshot image) may carry "
                     "the patient's name on the pixels; this project does not accept such images")


def dicom_check_all(sources: Iterable[tuple[str, bytes, bool]], *, site_code: str = "",
                    accept_burned_in: bool = False,
                    safe_private_tags: frozenset[tuple[int, int]] = frozenset()) -> tuple[list, list]:
    """Parses and de-identifies every file; raises ImportRejected listing every bad file, else returns
    (parsed instances, skipped (name, reason)). Nothing is written. A burned-in image is a bad file unless the
    project accepts them (they are then stored held back for review)."""
    parsed: list[ParsedInstance] = []
    skipped: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    status = 400
    try:
        for name, content, from_container in _expand(sources):
            if len(content) > settings.DICOM_MAX_FILE_BYTES:
                errors.append((name, f"file over the size limit of {settings.DICOM_MAX_FILE_BYTES} bytes"))
                status = 413
                continue
            if from_container and not looks_like_dicom(content):
                skipped.append((name, "not a DICOM file"))
                continue
            try:
                instance = parse_and_deidentify(content, name=name, salt=settings.DEID_SALT, site_code=site_code,
                                                safe_private_tags=safe_private_tags)
            except DicomRejected as rejection:
                errors.append((rejection.name, rejection.reason))
                continue
            if instance is None:
                skipped.append((name, "DICOMDIR index"))
            elif getattr(instance, "burned_in", False) and not accept_burned_in:
                errors.append((name, BURNED_IN_REFUSED))
            else:
                parsed.append(instance)
    except DicomRejected as rejection:  # the container itself (zip-slip, over-size archive, corrupt zip)
        raise ImportRejected([(rejection.name, rejection.reason)], rejection.status_code)
    if errors:
        raise ImportRejected(errors, status)
    if not parsed:
        raise ImportRejected([("upload", "no DICOM images found")])
    return parsed, skipped


def case_import(
    *, project: Project, sources: Iterable[tuple[str, bytes, bool]], actor=None, site_code: str = ""
) -> ImportResult:
    """Stores a batch of DICOM files as cases, series and instances of `project`.

    `sources` yields (name, bytes, from_container): from_container marks files found in a folder or zip, where
    non-DICOM files are skipped; any other bad file rejects the whole batch. All files are checked before any is
    stored; an instance whose (de-identified) SOP Instance UID the project already holds is counted as
    existing, not stored twice. Raises ImportRejected, with nothing stored, on bad input.
    """
    parsed, skipped = dicom_check_all(sources, site_code=site_code, accept_burned_in=project.accept_burned_in,
                                      safe_private_tags=project.safe_private_tag_set)
    result = ImportResult(skipped=skipped)
    _store_and_audit(project=project, parsed=parsed, result=result, actor=actor)
    return result


def _store_and_audit(*, project: Project, parsed: list[ParsedInstance], result: ImportResult, actor,
                     after_import: bool = True) -> None:
    """Stores the checked instances in one transaction with an audit row per case, and runs the project's
    after-import step (pre-annotation) once committed unless `after_import` is off; a rollback deletes the
    files written so far."""
    saved_files: list[str] = []
    try:
        with transaction.atomic():
            for case in _store(project=project, parsed=parsed, result=result, saved_files=saved_files):
                audit_log(actor=actor, action="case_import", target=case, payload=result.as_dict())
            if after_import and result.instances_created and settings.SPINEREAD_AFTER_IMPORT:
                # annotation imports no upper layer; the project names what runs after an import (the ML
                # backend's pre-annotation), and it runs only once the rows are committed.
                step = import_string(settings.SPINEREAD_AFTER_IMPORT)
                case_ids = list(result.case_ids)
                transaction.on_commit(lambda: step(case_ids=case_ids))
    except BaseException:
        # The database rolled back; the files written so far would be orphans.
        for name in saved_files:
            default_storage.delete(name)
        raise


def _file_check(name: str, content: bytes, from_container: bool, *, project: Project, site_code: str):
    """One file's verdict for the per-file import: (ParsedInstance, None) to store, or (None, reason)."""
    if len(content) > settings.DICOM_MAX_FILE_BYTES:
        return None, f"file over the size limit of {settings.DICOM_MAX_FILE_BYTES} bytes"
    if from_container and not looks_like_dicom(content):
        return None, "not a DICOM file"
    try:
        instance = parse_and_deidentify(content, name=name, salt=settings.DEID_SALT, site_code=site_code,
                                        safe_private_tags=project.safe_private_tag_set)
    except DicomRejected as rejection:
        return None, rejection.reason
    if instance is None:
        return None, "DICOMDIR index, not an image"
    if getattr(instance, "burned_in", False) and not project.accept_burned_in:
        return None, BURNED_IN_REFUSED
    return instance, None


def case_import_each(
    *, project: Project, sources: Iterable[tuple[str, bytes, bool]], actor=None, site_code: str = "",
    after_import: bool = True
) -> list[dict]:
    """Like `case_import`, but file by file: the good files are stored even when others are bad.

    Returns one entry per file, in upload order: {"file", "result": "stored" | "duplicate" | "refused",
    "reason", "case_id"}. A file the project already holds (same de-identified SOP Instance UID), or one that
    appears twice in the upload, is a "duplicate". When the container itself is refused (a corrupt zip, a
    zip-slip name, over the total size limit) the one entry names it and nothing is stored. `after_import` off:
    the caller runs the after-import step itself (the DICOM receiver, once a study has stopped arriving).
    """
    verdicts: list[tuple[str, ParsedInstance | None, str | None]] = []
    try:
        for name, content, from_container in _expand(sources):
            instance, reason = _file_check(name, content, from_container, project=project, site_code=site_code)
            verdicts.append((name, instance, reason))
    except DicomRejected as rejection:
        return [{"file": rejection.name, "result": "refused", "reason": rejection.reason, "case_id": None}]
    parsed = [instance for _, instance, _ in verdicts if instance is not None]
    held = set(Instance.objects.filter(series__case__project=project,
                                       sop_instance_uid__in=[p.sop_instance_uid for p in parsed])
               .values_list("sop_instance_uid", flat=True))
    result = ImportResult()
    if parsed:
        _store_and_audit(project=project, parsed=parsed, result=result, actor=actor, after_import=after_import)
        held |= result.stored_elsewhere
    case_by_study = dict(Case.objects.filter(project=project, study_instance_uid__in={
        p.study_instance_uid for p in parsed}).values_list("study_instance_uid", "pk"))
    entries = []
    for name, instance, reason in verdicts:
        if instance is None:
            entries.append({"file": name, "result": "refused", "reason": reason, "case_id": None})
            continue
        outcome = "duplicate" if instance.sop_instance_uid in held else "stored"
        held.add(instance.sop_instance_uid)  # the same image twice in one upload: the second is a duplicate
        entries.append({"file": name, "result": outcome, "reason": "", "case_id": case_by_study[
            instance.study_instance_uid]})
    return entries


def _store(
    *, project: Project, parsed: list[ParsedInstance], result: ImportResult, saved_files: list[str]
) -> list[Case]:
    """Writes the files and rows of one batch, inside the caller's transaction; safe to run in several workers
    at once on files of the same study.

    Cases and series are get_or_create'd on their unique constraints (a worker that loses the race to insert
    one waits for the winner's commit and then reads its row), in upload order, so that case ids follow it.
    Two batches holding several of the same studies in opposite orders could deadlock there; PostgreSQL then
    aborts one, which the backlog task retries. Instances go in with one bulk insert, sorted, that skips
    conflicts on (series, SOP Instance UID): a file another worker stored meanwhile counts as existing, and the
    copy written here is deleted.
    """
    existing = set(
        Instance.objects.filter(
            series__case__project=project, sop_instance_uid__in=[p.sop_instance_uid for p in parsed]
        ).values_list("sop_instance_uid", flat=True)
    )
    cases: dict[str, Case] = {}
    series_by_uid: dict[tuple[str, str], Series] = {}
    for item in parsed:
        case = cases.get(item.study_instance_uid)
        if case is None:
            case, _ = Case.objects.get_or_create(
                project=project,
                study_instance_uid=item.study_instance_uid,
                defaults={
                    "patient_key": item.patient_key,
                    "site_code": item.site_code,
                    "study_date": item.study_date,
                    "modality": item.modality,
                },
            )
            cases[item.study_instance_uid] = case
        key = (item.study_instance_uid, item.series_instance_uid)
        if key not in series_by_uid:
            series_by_uid[key], _ = Series.objects.get_or_create(
                case=case, series_instance_uid=item.series_instance_uid, defaults=item.series
            )
    new_instances: list[Instance] = []
    for item in parsed:
        case = cases[item.study_instance_uid]
        if case.pk not in result.case_ids:
            result.case_ids.append(case.pk)  # in upload order
        if item.sop_instance_uid in existing:
            result.instances_existing += 1
            continue
        existing.add(item.sop_instance_uid)  # the same file twice in one upload is stored once
        path = f"dicom/{project.slug}/{item.study_instance_uid}/{item.series_instance_uid}/{item.sop_instance_uid}.dcm"
        stored_name = default_storage.save(path, ContentFile(item.content))
        saved_files.append(stored_name)
        new_instances.append(
            Instance(
                series=series_by_uid[(item.study_instance_uid, item.series_instance_uid)],
                sop_instance_uid=item.sop_instance_uid,
                file=stored_name,
                sha256=hashlib.sha256(item.content).hexdigest(),
                size_bytes=len(item.content),
                burned_in=Instance.BurnedIn.PENDING if getattr(item, "burned_in", False) else Instance.BurnedIn.NONE,
                **item.instance,
            )
        )
    new_instances.sort(key=lambda i: (i.series.pk, i.sop_instance_uid))  # one lock order for every worker
    Instance.objects.bulk_create(new_instances, ignore_conflicts=True)
    raced = _stored_elsewhere(new_instances)
    for instance in raced:
        default_storage.delete(instance.file.name)
        saved_files.remove(instance.file.name)
        result.stored_elsewhere.add(instance.sop_instance_uid)
    result.instances_created = len(new_instances) - len(raced)
    result.instances_existing += len(raced)
    result.series_count = len(series_by_uid)
    by_pk = {case.pk: case for case in cases.values()}
    return [by_pk[pk] for pk in result.case_ids]


def _stored_elsewhere(instances: list[Instance]) -> list[Instance]:
    """Those of `instances` whose row another worker inserted first (the bulk insert skipped ours)."""
    if not instances:
        return []
    held = {(series, sop): name for series, sop, name in Instance.objects.filter(
        series__in={i.series_id for i in instances}, sop_instance_uid__in=[i.sop_instance_uid for i in instances]
    ).values_list("series_id", "sop_instance_uid", "file")}
    return [i for i in instances if held.get((i.series_id, i.sop_instance_uid)) != i.file.name]


@transaction.atomic
def instance_burned_in_clear(*, instance: Instance, actor) -> Instance:
    """A coordinator has looked at a held-back burned-in image and found nothing identifying on it: readers
    see it from now on."""
    updated = Instance.objects.filter(pk=instance.pk, burned_in=Instance.BurnedIn.PENDING).update(
        burned_in=Instance.BurnedIn.CLEARED)
    if not updated:
        raise ValueError(f"instance {instance.pk} is not awaiting a burned-in review")
    audit_log(actor=actor, action="burned_in_clear", target=instance, payload={"case": instance.series.case_id})
    instance.refresh_from_db()
    return instance
