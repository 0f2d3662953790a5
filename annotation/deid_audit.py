"""The de-identification audit of what is already stored: every file in storage and the header fields the
database copied from them.

Why a separate check: de-identification runs once, at import, and its rules change; files stored by an
older rule, written by hand or restored from a backup never pass through it again. This module reads
everything back and judges it with the same profile check (`annotation.deid.audit`) that ingest uses, so
"clean" means what the current rules say. Reads only: it writes nothing, not even an audit row, so a
command, a test or ingest itself may call it at any time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pydicom
from pydicom.errors import InvalidDicomError

from annotation import deid
from annotation.models import Case, Instance, Project, Series

# De-identified UIDs are "2.25." + a keyed hash of the original (PS3.5 B.2: a UUID-derived UID), so anything
# else is an original UID that survived.
DEID_UID_PREFIX = "2.25."
# Clean Descriptors replaces SeriesDescription by one derived from the acquisition ("T2 sagittal"); any other
# text is a description the scanner's operator typed, which the profile removes.
DERIVED_DESCRIPTION = re.compile(r"^(T1|T2|PD|STIR|FLAIR|[A-Z0-9]+)? ?(sagittal|axial|coronal|other)?$", re.I)
# Series.sequence comes from a fixed list of words or the Scanning Sequence (CS: upper case, digits, '_', ' ',
# and '\' between values); free text there would be copied header text.
SEQUENCE_CODE = re.compile(r"^[A-Z0-9_ \\]*$", re.I)
# File meta elements that name the sending or receiving station (and so the institution) or carry private
# data; they travel with the file but are no part of the data set that annotation.deid.audit judges.
FILE_META_IDENTIFYING = {
    0x00020016: "SourceApplicationEntityTitle",
    0x00020017: "SendingApplicationEntityTitle",
    0x00020018: "ReceivingApplicationEntityTitle",
    0x00020100: "PrivateInformationCreatorUID",
    0x00020102: "PrivateInformation",
}


@dataclass(frozen=True)
class Violation:
    """One finding; `where` names the row ("instance 12 (case 3)", "series 5 (case 3)", "case 3")."""

    where: str
    message: str
    case_id: int | None = None
    instance_id: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class AuditReport:
    """`files`: how many stored files were read (or tried); `violations`: empty when everything is clean."""

    files: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        return f"deid_audit: {self.files} files, {len(self.violations)} violations"


def safe_private_tags_for(project: Project | None) -> frozenset:
    """The private tags a project keeps (``Project.safe_private_tags``); without a project, none."""
    return project.safe_private_tag_set if project is not None else frozenset()


def audit_storage(*, project: Project | None = None) -> AuditReport:
    """Audits every stored file and copied header field, of one project or of all.

    Each file is read through the storage API (so it works on any storage backend), whole, pixel data
    included, because elements after the pixel data can carry PHI too.
    """
    report = AuditReport()
    cases = Case.objects.order_by("pk")
    series = Series.objects.select_related("case").order_by("pk")
    instances = Instance.objects.select_related("series__case__project").order_by("pk")
    if project is not None:
        cases = cases.filter(project=project)
        series = series.filter(case__project=project)
        instances = instances.filter(series__case__project=project)

    for case in cases:
        where = f"case {case.pk}"
        _check_uid(report, where, "study_instance_uid", case.study_instance_uid, case_id=case.pk)
    for row in series:
        where = f"series {row.pk} (case {row.case_id})"
        _check_uid(report, where, "series_instance_uid", row.series_instance_uid, case_id=row.case_id)
        if row.description and not DERIVED_DESCRIPTION.match(row.description):
            report.violations.append(Violation(
                where, f"description {row.description!r} is not a derived one (e.g. 'T2 sagittal')",
                case_id=row.case_id))
        if row.sequence and not SEQUENCE_CODE.match(row.sequence):
            report.violations.append(Violation(
                where, f"sequence {row.sequence!r} is free text, not a sequence code", case_id=row.case_id))

    safe_tags: dict[int, frozenset] = {}
    for instance in instances:
        case_id = instance.series.case_id
        where = f"instance {instance.pk} (case {case_id})"
        _check_uid(report, where, "sop_instance_uid", instance.sop_instance_uid, case_id=case_id,
                   instance_id=instance.pk)
        owner = instance.series.case.project
        if owner.pk not in safe_tags:
            safe_tags[owner.pk] = safe_private_tags_for(owner)
        report.files += 1
        report.violations.extend(
            Violation(where, message, case_id=case_id, instance_id=instance.pk)
            for message in _stored_file_findings(instance, safe_private_tags=safe_tags[owner.pk]))
    return report


def _stored_file_findings(instance: Instance, *, safe_private_tags: frozenset) -> list[str]:
    if not instance.file:
        return ["no stored file"]
    try:
        with instance.file.open("rb") as handle:
            ds = pydicom.dcmread(handle)
    except FileNotFoundError:
        return [f"stored file {instance.file.name} is missing"]
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as error:
        return [f"stored file {instance.file.name} is not readable DICOM ({error.__class__.__name__}: {error})"]
    findings = list(deid.audit(ds, safe_private_tags=safe_private_tags))
    # The file meta travels with the file; whatever deid.audit already named there is not repeated.
    reported = {line.split(" ", 1)[0] for line in findings}
    for tag, keyword in FILE_META_IDENTIFYING.items():
        if tag in ds.file_meta and _tag_text(tag) not in reported:
            findings.append(f"{_tag_text(tag)} {keyword} present in file meta")
    media_uid = str(ds.file_meta.get("MediaStorageSOPInstanceUID", ""))
    if media_uid and not media_uid.startswith(DEID_UID_PREFIX) and "(0002,0003)" not in reported:
        findings.append(f"(0002,0003) MediaStorageSOPInstanceUID {media_uid!r} is not a de-identified UID")
    return findings


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _check_uid(report: AuditReport, where: str, name: str, value: str, *, case_id: int | None,
               instance_id: int | None = None) -> None:
    if not value.startswith(DEID_UID_PREFIX):
        report.violations.append(Violation(
            where, f"{name} {value!r} is not a de-identified UID ({DEID_UID_PREFIX}...)",
            case_id=case_id, instance_id=instance_id))
