"""Chunked, resumable uploads: a file arrives in pieces, each at the offset the server holds, and when the last
piece is in it goes through the per-file ingest (`case_import_each`).

Each chunk is kept as its own object in storage, ``uploads-partial/<upload pk>/<offset>``, and the file is put
together from them when the last one is in: web processes on several hosts can each take chunks of one upload
when the storage is shared (object storage). The functions at the top are the only ones that touch them.
"""
from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from annotation.models import Project, Upload
from annotation.services.audit import audit_log
from annotation.services.ingest import case_import_each


# A chunk is read into memory whole; the page sends smaller ones (settings.DICOM_UPLOAD_CHUNK_BYTES).
CHUNK_MAX_BYTES = 8 * 1024 * 1024


class UploadConflict(Exception):
    """The chunk does not fit where the upload stands; `received` is the offset to resume from."""

    def __init__(self, message: str, received: int):
        super().__init__(message)
        self.received = received


# The stored chunks -----------------------------------------------------------------------------------------------

def _partial_folder(upload: Upload) -> str:
    return f"uploads-partial/{upload.pk}"


def partial_chunks(upload: Upload) -> list[tuple[int, str]]:
    """(offset, storage name) of every chunk stored for the upload, by offset."""
    try:
        _, names = default_storage.listdir(_partial_folder(upload))
    except FileNotFoundError:  # a filesystem storage before the first chunk
        return []
    return sorted((int(name), f"{_partial_folder(upload)}/{name}") for name in names if name.isdigit())


def _partial_write_at(upload: Upload, offset: int, chunk: bytes) -> None:
    """Stores the chunk at `offset` and drops any at or after it (chunks of an earlier try that never counted)."""
    for start, name in partial_chunks(upload):
        if start >= offset:
            default_storage.delete(name)
    default_storage.save(f"{_partial_folder(upload)}/{offset}", ContentFile(chunk))


def _partial_read(upload: Upload) -> bytearray:
    """The whole file from its chunks; raises ValueError when they do not join into `upload.size` bytes.

    Filled in place, so that a file of up to DICOM_MAX_UPLOAD_BYTES is held once, not twice as a join would."""
    content, end = bytearray(upload.size), 0
    for start, name in partial_chunks(upload):
        if start != end:
            raise ValueError(f"upload {upload.pk}: the stored chunks have a gap or overlap at byte {end}")
        with default_storage.open(name, "rb") as handle:
            piece = handle.read()
        if end + len(piece) > upload.size:
            break
        content[end:end + len(piece)] = piece
        end += len(piece)
    if end != upload.size:
        raise ValueError(f"upload {upload.pk}: the stored chunks do not make its {upload.size} bytes")
    return content


def _partial_delete(upload: Upload) -> None:
    for _, name in partial_chunks(upload):
        default_storage.delete(name)
    default_storage.delete(_partial_folder(upload))  # the emptied folder on a filesystem; nothing on S3


# The service -----------------------------------------------------------------------------------------------------

def upload_start(*, project: Project, user, filename: str, size: int) -> Upload:
    """A new upload of `size` bytes; raises ValueError for a size that is not positive or over the limit."""
    if size <= 0:
        raise ValueError("the file is empty")
    if size > settings.DICOM_MAX_UPLOAD_BYTES:
        raise ValueError(f"the file is over the upload size limit of {settings.DICOM_MAX_UPLOAD_BYTES} bytes")
    return Upload.objects.create(project=project, user=user, filename=filename[-255:], size=size)


def upload_receive(*, upload: Upload, start: int, total: int, chunk: bytes, actor) -> Upload:
    """Appends one chunk that starts at `start`; when it completes the file, ingests it.

    Raises UploadConflict when `start` is not where the upload stands (the client asks for the offset and goes
    on from there) or the upload is finished, and ValueError for a chunk that runs past the declared size.
    """
    with transaction.atomic():
        upload = Upload.objects.select_for_update().get(pk=upload.pk)
        if upload.status != Upload.Status.RECEIVING:
            raise UploadConflict("this upload is already finished", upload.received)
        if total != upload.size or start + len(chunk) > upload.size:
            raise ValueError(f"the chunk runs past the file's declared size of {upload.size} bytes")
        if start != upload.received:
            raise UploadConflict(f"the upload stands at byte {upload.received}, not {start}", upload.received)
        _partial_write_at(upload, start, chunk)
        upload.received = start + len(chunk)
        upload.save(update_fields=["received", "updated_at"])
    if upload.received == upload.size:
        upload = upload_finish(upload=upload, actor=actor)
    return upload


def upload_finish(*, upload: Upload, actor) -> Upload:
    """Ingests the complete file file by file, keeps the per-file results and deletes the stored chunks.

    Until it commits, the upload reads as receiving with every byte in (what a client that lost the last
    answer sees, and waits on); the row lock keeps a second request from ingesting the same file twice.
    """
    try:
        with transaction.atomic():
            upload = Upload.objects.select_for_update().select_related("project").get(pk=upload.pk)
            if upload.status != Upload.Status.RECEIVING or upload.received != upload.size:
                return upload  # another request finished it first
            results = case_import_each(project=upload.project, sources=[
                (upload.filename, _partial_read(upload), False)], actor=actor)
            # Every file refused: nothing of it was stored.
            stored = any(entry["result"] != "refused" for entry in results)
            upload.status = Upload.Status.DONE if stored else Upload.Status.FAILED
            upload.results = results
            upload.save(update_fields=["status", "results", "updated_at"])
            audit_log(actor=actor, action="upload_finish", target=upload,
                      payload={"project": upload.project.slug, "filename": upload.filename,
                               "counts": {kind: sum(e["result"] == kind for e in results)
                                          for kind in ("stored", "duplicate", "refused")}})
    except Exception:
        Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.FAILED, results=[{
            "file": upload.filename, "result": "refused", "reason": "the server failed to ingest this file",
            "case_id": None}])
        _partial_delete(upload)
        raise
    _partial_delete(upload)
    return upload


def uploads_abandoned_sweep(*, older_than) -> int:
    """Gives up uploads still receiving that no chunk has reached since `older_than` (a datetime): marks them
    failed and deletes their stored chunks, so a client that never came back leaves no bytes behind. Returns
    how many."""
    abandoned = list(Upload.objects.filter(status=Upload.Status.RECEIVING, updated_at__lt=older_than))
    for upload in abandoned:
        _partial_delete(upload)
        upload.status = Upload.Status.FAILED
        upload.results = [{"file": upload.filename, "result": "refused", "case_id": None,
                           "reason": "abandoned: no chunk arrived for too long; upload it again"}]
        upload.save(update_fields=["status", "results", "updated_at"])
    return len(abandoned)
