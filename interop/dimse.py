"""The DICOM receiver: a pynetdicom Storage SCP through which a PACS or a modality sends studies to a project.

Every received instance goes through annotation's per-file ingest (de-identification, grouping into cases,
idempotency, the burned-in refusal), so what a PACS sends is stored exactly as an upload would be. A study is
pre-annotated once, when it has stopped arriving (`quiet_seconds` without a new instance), not per instance.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections
from django.utils.module_loading import import_string
from pydicom import Dataset
from pydicom.uid import (
    CTImageStorage, EnhancedMRImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000,
    JPEG2000Lossless, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEGLossless, JPEGLSLossless,
    JPEGLSNearLossless, MRImageStorage, RLELossless
)
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from annotation import services
from annotation.models import Project
from interop.models import DicomNode

logger = logging.getLogger(__name__)

# The storage SOP classes a lumbar MRI project takes; anything else (a Secondary Capture, an SR, a PDF) has no
# presentation context and so cannot be sent at all.
ACCEPTED_SOP_CLASSES = (MRImageStorage, EnhancedMRImageStorage, CTImageStorage)
# pynetdicom accepts the first of ours the sender offers in a context: uncompressed first, so a sender offering
# both sends what needs no decoding. The compressed ones are those pydicom decodes with the pylibjpeg plugins
# in requirements.txt (ingest decodes each to check it).
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless,
    JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000, RLELossless,
]
SUCCESS = 0x0000
# PS3.4 Annex B.2.3 (Storage SCP statuses): "Error: Cannot understand" (C000-CFFF), "the SCP could not process
# the Data Set". A refusal by ingest is a verdict on the data set itself (unreadable, no pixels, burned-in
# text), not a lack of resources (A7xx, which invites a retry) nor a SOP class mismatch (A900), so it is C000;
# the reason goes in ErrorComment so the sender's log says why.
CANNOT_UNDERSTAND = 0xC000


@dataclass
class StudyReceiver:
    """The SCP's state: which project it stores into and which cases are still arriving.

    `after_study(case_ids=[...])` runs once per case after `quiet_seconds` with no new instance for it;
    by default it is the project's after-import step (settings.SPINEREAD_AFTER_IMPORT: pre-annotation).
    """

    project_id: int
    quiet_seconds: float = 30.0
    after_study: object = None
    _arrivals: dict[int, float] = field(default_factory=dict)  # case id -> monotonic time of its last instance
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # One import at a time: concurrent associations of one study would otherwise race to create its case.
    _ingest_lock: threading.Lock = field(default_factory=threading.Lock)

    def on_connection_open(self, event) -> None:
        # The allowed calling AEs are read for every connection, so a node added in the admin counts without a
        # restart; pynetdicom checks the AE's list during the negotiation that follows this event.
        titles = list(DicomNode.objects.filter(project_id=self.project_id).values_list("calling_ae_title", flat=True))
        event.assoc.ae.require_calling_aet = titles
        connections.close_all()

    def on_echo(self, event) -> int:
        return SUCCESS

    def on_store(self, event) -> int | Dataset:
        """Ingests one instance: 0x0000 when stored or already held, CANNOT_UNDERSTAND (nothing stored) else."""
        calling = event.assoc.requestor.ae_title
        # The name appears in refusals and logs: never the sender's UIDs, which identify the patient's study.
        name = f"{calling} message {event.request.MessageID}"
        with self._ingest_lock:
            project = Project.objects.get(pk=self.project_id)  # re-read: its burned-in policy may have changed
            entry = services.case_import_each(project=project, sources=[(name, event.encoded_dataset(), False)],
                                              actor=None, after_import=False)[0]
        if entry["result"] == "refused":
            logger.warning("refused C-STORE from %s: %s", name, entry["reason"])
            status = Dataset()
            status.Status = CANNOT_UNDERSTAND
            status.ErrorComment = entry["reason"][:64]  # LO: at most 64 characters
            return status
        if entry["result"] == "stored":  # a resent duplicate does not hold the study's pre-annotation back
            with self._lock:
                self._arrivals[entry["case_id"]] = time.monotonic()
        return SUCCESS

    def on_association_end(self, event) -> None:
        connections.close_all()  # the association's thread ends; its database connection would linger

    def studies_complete(self, *, now: float | None = None) -> list[int]:
        """Takes out and returns the cases that had no new instance for `quiet_seconds`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = sorted(c for c, last in self._arrivals.items() if now - last >= self.quiet_seconds)
            for case_id in due:
                del self._arrivals[case_id]
        return due

    def studies_finish(self, case_ids: list[int]) -> None:
        """Runs the after-study step for complete cases; a failure is logged, not fatal to the receiver."""
        if not case_ids:
            return
        step = self.after_study
        if step is None and settings.SPINEREAD_AFTER_IMPORT:
            step = import_string(settings.SPINEREAD_AFTER_IMPORT)
        try:
            if step is not None:
                logger.info("studies complete, pre-annotating cases %s", case_ids)
                step(case_ids=list(case_ids))
        except Exception:
            logger.exception("after-study step failed for cases %s", case_ids)
        finally:
            connections.close_all()

    def pending(self) -> list[int]:
        with self._lock:
            return sorted(self._arrivals)

    def handlers(self) -> list:
        return [
            (evt.EVT_CONN_OPEN, self.on_connection_open),
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_RELEASED, self.on_association_end),
            (evt.EVT_ABORTED, self.on_association_end),
        ]


class DicomListener:
    """A running receiver: the association server and the thread that closes studies after their quiet period.

    `stop()` shuts the server down and finishes the studies still pending, so none is left un-pre-annotated.
    """

    def __init__(self, server: ThreadedAssociationServer, receiver: StudyReceiver):
        self.server = server
        self.receiver = receiver
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="dicom-quiet-period", daemon=True)
        self._watcher.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def _watch(self) -> None:
        interval = min(1.0, max(self.receiver.quiet_seconds / 4, 0.05))
        while not self._stopping.wait(interval):
            self.receiver.studies_finish(self.receiver.studies_complete())

    def stop(self) -> None:
        self._stopping.set()
        self._watcher.join()
        self.server.shutdown()
        self.receiver.studies_finish(self.receiver.studies_complete(now=float("inf")))


def application_entity(ae_title: str) -> AE:
    """The AE: verification and the accepted storage classes only, and the called AE title must be ours."""
    ae = AE(ae_title=ae_title)
    ae.require_called_aet = True
    ae.add_supported_context(Verification)
    for sop_class in ACCEPTED_SOP_CLASSES:
        ae.add_supported_context(sop_class, TRANSFER_SYNTAXES)
    return ae


def listener_start(*, project: Project, port: int, ae_title: str = "SPINEREAD", bind: str = "127.0.0.1",
                   quiet_seconds: float = 30.0, after_study=None) -> DicomListener:
    """Starts the receiver in background threads (port 0: a free one, see `.port`); call `.stop()` to end it."""
    receiver = StudyReceiver(project_id=project.pk, quiet_seconds=quiet_seconds, after_study=after_study)
    server = application_entity(ae_title).start_server((bind, port), block=False, evt_handlers=receiver.handlers())
    logger.info("DICOM receiver %s on %s:%s for project %s", ae_title, bind, server.server_address[1], project.slug)
    return DicomListener(server, receiver)
