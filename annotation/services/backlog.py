"""A backlog import: a folder of many studies ingested by Celery workers in parallel, a batch of files a task.

`backlog_enqueue` lists the folder, cuts it into batches and sends one `annotation.ingest_batch` task per batch
through the outbox; each worker runs `backlog_batch_ingest` on its batch, which is the per-file ingest
(`case_import_each`) on those files: good files are stored even when others in the batch are refused. A study's
files are kept in one batch where they fit, so that its pre-annotation is sent once; batches that share a study
(a study bigger than a batch, or two copies of one) still group correctly when two workers store them at once
(see `ingest._store`), and a batch run twice (a redelivered task) stores nothing twice.

Workers read the files from the path given here: the folder must be reachable at the same path from every
worker (one host, or a shared mount).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from annotation.models import Project
from annotation.outbox import task_send
from annotation.services.audit import audit_log
from annotation.services.ingest import case_import_each

logger = logging.getLogger(__name__)

INGEST_TASK = "annotation.ingest_batch"
BATCH_FILES = 100  # a lumbar MR study (3-5 series of 15-20 slices), ~30 MB: about a second of work


@dataclass(frozen=True)
class BacklogPlan:
    files: int
    batches: int


def backlog_batches(root: Path, *, batch_files: int = BATCH_FILES) -> list[list[str]]:
    """The files below `root` (relative POSIX paths, sorted) cut into batches of at most `batch_files`.

    Each entry directly below `root` is taken as one study (a folder per study, as a PACS export or a CD
    holds them): its files go into one batch where they fit, several small studies share one, and a study
    bigger than a batch is cut into several.
    """
    if batch_files < 1:
        raise ValueError("batch_files must be at least 1")
    batches: list[list[str]] = [[]]
    for study in _study_groups(root):
        if len(batches[-1]) + len(study) > batch_files and batches[-1]:
            batches.append([])
        for name in study:
            if len(batches[-1]) >= batch_files:
                batches.append([])
            batches[-1].append(name)
    return [batch for batch in batches if batch]


def _study_groups(root: Path) -> Iterator[list[str]]:
    loose = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            names = []
            for folder, dirs, files in os.walk(entry.path):
                dirs.sort()
                names += [Path(folder, name).relative_to(root).as_posix() for name in sorted(files)]
            if names:
                yield names
        elif entry.is_file(follow_symlinks=False):
            loose.append(entry.name)
    if loose:
        yield loose


def backlog_enqueue(*, project: Project, root: Path | str, actor=None, site_code: str = "",
                    batch_files: int = BATCH_FILES, queue: str | None = None) -> BacklogPlan:
    """Sends one ingest task per batch of the files below `root`, all in one transaction (none is sent unless
    all are recorded), with an audit row. Raises ValueError for a path that is not a folder or holds no files.
    Without a broker (CELERY_TASK_ALWAYS_EAGER) the tasks run here, one after the other, once committed."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    batches = backlog_batches(root, batch_files=batch_files)
    if not batches:
        raise ValueError(f"{root}: no files below it")
    plan = BacklogPlan(files=sum(len(batch) for batch in batches), batches=len(batches))
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        audit_log(actor=actor, action="backlog_enqueue", target=project,
                  payload={"root": str(root), "files": plan.files, "batches": plan.batches})
        for batch in batches:
            task_send(INGEST_TASK, kwargs={"project_id": project.pk, "root": str(root), "paths": batch,
                                           "actor_id": actor_id, "site_code": site_code}, queue=queue)
    return plan


def backlog_batch_ingest(*, project: Project, root: Path | str, paths: list[str], actor=None,
                         site_code: str = "") -> dict:
    """Ingests one batch: the files `paths` below `root`, each stored, found a duplicate or refused on its own.

    Returns {"stored", "duplicate", "refused": counts, "case_ids"}; refused files are logged with their reason.
    Idempotent: a file already held (same de-identified SOP Instance UID) is a duplicate, not stored again.
    A path that leaves `root` or is missing is refused, not followed.
    """
    root = Path(root).resolve()
    summary = {"stored": 0, "duplicate": 0, "refused": 0, "case_ids": []}
    sources = []
    for name in paths:
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            reason = "not a file below the backlog folder"  # nothing outside the folder is read
        elif path.stat().st_size > settings.DICOM_MAX_FILE_BYTES:
            reason = f"file over the size limit of {settings.DICOM_MAX_FILE_BYTES} bytes"
        else:
            # from_container: a file of a folder that is not DICOM is refused, not a reason to stop
            sources.append((name, path.read_bytes(), True))
            continue
        summary["refused"] += 1
        logger.warning("backlog %s: %s refused: %s", root, name, reason)
    entries = case_import_each(project=project, sources=sources, actor=actor, site_code=site_code) if sources else []
    for entry in entries:
        summary[entry["result"]] += 1
        if entry["result"] == "refused":
            logger.warning("backlog %s: %s refused: %s", root, entry["file"], entry["reason"])
        elif entry["case_id"] not in summary["case_ids"]:
            summary["case_ids"].append(entry["case_id"])
    return summary
