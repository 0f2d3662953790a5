"""The DICOM receiver, started in-process on a free port, with pynetdicom and DCMTK as the senders.

The SCP handles each association in its own thread with its own database connection, hence transactional
tests: the rows a test creates must be committed for the receiver to see them, and vice versa.
"""
import shutil
import subprocess
import time

import pydicom
import pytest
from django.core.management import CommandError, call_command
from pydicom.data import get_testdata_file
from pydicom.uid import (
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, MRImageStorage, RLELossless, SecondaryCaptureImageStorage
)
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from annotation.models import AuditEvent, Case, Instance
from interop.dimse import CANNOT_UNDERSTAND, listener_start
from interop.models import DicomNode

pytestmark = pytest.mark.django_db(transaction=True)

AFTER_IMPORT_CALLS: list[list[int]] = []


def record_after_import(*, case_ids):
    """Stands in for settings.SPINEREAD_AFTER_IMPORT (the ML backend's pre-annotation)."""
    AFTER_IMPORT_CALLS.append(list(case_ids))


@pytest.fixture(scope="module")
def phantom_paths(tmp_path_factory):
    from fixtures.phantoms import generate_phantoms

    out = tmp_path_factory.mktemp("phantoms")
    meta = generate_phantoms(n_cases=1, out_dir=out, seed=3)
    return sorted(out.rglob("*.dcm")), meta["cases"][0]


@pytest.fixture
def spy(settings):
    AFTER_IMPORT_CALLS.clear()
    settings.SPINEREAD_AFTER_IMPORT = "tests.interop.test_dimse.record_after_import"
    return AFTER_IMPORT_CALLS


@pytest.fixture
def listener(project, spy):
    running = listener_start(project=project, port=0, quiet_seconds=3600)
    yield running
    running.stop()


def associate(listener, *, calling="MODALITY", called="SPINEREAD", contexts=(MRImageStorage,)):
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(Verification)
    for sop_class in contexts:
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    return ae.associate("127.0.0.1", listener.port, ae_title=called)


def store_all(assoc, datasets) -> list[int]:
    try:
        return [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()


def test_c_echo_answers_success(listener):
    assoc = associate(listener)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_a_study_sent_by_c_store_is_stored_in_one_case_de_identified_and_a_resend_stores_nothing_twice(
        listener, phantom_paths, spy):
    paths, truth = phantom_paths
    datasets = [pydicom.dcmread(p) for p in paths]

    assert store_all(associate(listener), datasets) == [0x0000] * len(paths)

    case = Case.objects.get()
    assert Instance.objects.filter(series__case=case).count() == len(paths)
    stored = pydicom.dcmread(Instance.objects.first().file.open("rb"))
    assert str(stored.PatientName) != truth["patient_name"] and stored.get("PatientID") != truth["patient_id"]
    assert case.study_instance_uid != truth["study_instance_uid"]
    assert set(AuditEvent.objects.filter(action="case_import").values_list("actor", flat=True)) == {None}

    assert store_all(associate(listener), datasets[:3]) == [0x0000] * 3  # already held: success, not stored again
    assert Instance.objects.count() == len(paths)
    assert spy == []  # per-instance imports never pre-annotate; the quiet period does


def test_a_compressed_image_keeps_its_transfer_syntax(listener, phantom_paths):
    ds = pydicom.dcmread(phantom_paths[0][0])
    ds.compress(RLELossless)
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(MRImageStorage, RLELossless)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title="SPINEREAD")

    assert store_all(assoc, [ds]) == [0x0000]
    instance = Instance.objects.get()
    assert instance.transfer_syntax_uid == RLELossless
    assert pydicom.dcmread(instance.file.open("rb")).file_meta.TransferSyntaxUID == RLELossless


def test_a_secondary_capture_cannot_be_sent_at_all(listener):
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.BurnedInAnnotation = "YES"
    assoc = associate(listener, contexts=(SecondaryCaptureImageStorage,))
    assert assoc.is_established  # Verification is accepted; the screenshot class is not
    assert [c.abstract_syntax for c in assoc.accepted_contexts] == [Verification]
    with pytest.raises(ValueError, match="presentation context"):
        assoc.send_c_store(ds)
    assoc.release()
    assert (Case.objects.count(), Instance.objects.count()) == (0, 0)


def test_a_refused_mr_image_gets_cannot_understand_with_the_reason_and_nothing_is_stored(listener, media_root):
    burned = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    burned.BurnedInAnnotation = "YES"
    no_pixels = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    del no_pixels.PixelData
    assoc = associate(listener)
    statuses = [assoc.send_c_store(burned), assoc.send_c_store(no_pixels)]
    assoc.release()

    assert [s.Status for s in statuses] == [CANNOT_UNDERSTAND, CANNOT_UNDERSTAND] == [0xC000, 0xC000]
    assert "burned-in" in statuses[0].ErrorComment
    assert "no pixel data" in statuses[1].ErrorComment
    assert (Case.objects.count(), Instance.objects.count()) == (0, 0)
    assert not list(media_root.rglob("*.dcm"))  # no file written either


def test_a_wrong_called_ae_title_is_rejected_at_association(listener):
    assoc = associate(listener, called="ORTHANC")
    assert assoc.is_rejected
    assert (assoc.acceptor.ae_title, listener.server.ae_title) == ("ORTHANC", "SPINEREAD")


def test_only_the_projects_calling_ae_titles_may_send_once_it_lists_some(listener, project):
    open_door = associate(listener, calling="ANYONE")
    assert open_door.is_established  # no node listed: any calling AE
    open_door.release()

    DicomNode.objects.create(project=project, calling_ae_title="PACS1")  # counts without a restart

    assert associate(listener, calling="INTRUDER").is_rejected
    allowed = associate(listener, calling="PACS1")
    assert allowed.is_established
    allowed.release()


@pytest.mark.slow  # waits out a one-second quiet period and a little more
def test_a_study_is_pre_annotated_once_after_its_quiet_period(project, phantom_paths, spy):
    paths, _ = phantom_paths
    running = listener_start(project=project, port=0, quiet_seconds=1)
    try:
        assoc = associate(running)
        half = len(paths) // 2
        assert store_all(assoc, [pydicom.dcmread(p) for p in paths[:half]]) == [0] * half
        time.sleep(0.3)  # a pause shorter than the quiet period: the study is still arriving
        assert spy == []
        assert store_all(associate(running), [pydicom.dcmread(p) for p in paths[half:]]) == [0] * (len(paths) - half)
        deadline = time.monotonic() + 10
        while not spy and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.2)  # and not again
        assert spy == [[Case.objects.get().pk]]
        assert running.receiver.pending() == []
    finally:
        running.stop()
    assert len(spy) == 1  # stopping finishes only studies still pending


def test_stopping_finishes_the_studies_still_arriving(project, phantom_paths, spy):
    paths, _ = phantom_paths
    running = listener_start(project=project, port=0, quiet_seconds=3600)
    assert store_all(associate(running), [pydicom.dcmread(paths[0])]) == [0]
    assert spy == []
    running.stop()
    assert spy == [[Case.objects.get().pk]]


def test_the_command_refuses_an_unknown_project_and_a_bad_ae_title(project):
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("dicom_listen", "--port", "0", "--project", "nope")
    with pytest.raises(CommandError, match="1 to 16 characters"):
        call_command("dicom_listen", "--port", "0", "--project", project.slug, "--ae-title", "X" * 17)


needs_dcmtk = pytest.mark.skipif(shutil.which("storescu") is None or shutil.which("echoscu") is None,
                                 reason="DCMTK's storescu/echoscu missing (apt-get install dcmtk; CI installs it)")


@needs_dcmtk
def test_dcmtk_echoscu_and_storescu_reach_the_receiver(listener, phantom_paths):
    paths, _ = phantom_paths
    echo = subprocess.run(["echoscu", "-aec", "SPINEREAD", "127.0.0.1", str(listener.port)],
                          capture_output=True, text=True, timeout=30)
    assert echo.returncode == 0, echo.stderr

    store = subprocess.run(["storescu", "-aet", "PACS1", "-aec", "SPINEREAD", "127.0.0.1", str(listener.port),
                            *map(str, paths)], capture_output=True, text=True, timeout=60)
    assert store.returncode == 0, store.stderr
    assert (Case.objects.count(), Instance.objects.count()) == (1, len(paths))

    wrong = subprocess.run(["echoscu", "-aec", "ORTHANC", "127.0.0.1", str(listener.port)],
                           capture_output=True, text=True, timeout=30)
    assert wrong.returncode != 0


def test_staff_add_and_remove_an_allowed_calling_ae_in_the_admin_and_each_change_is_audited(admin_client, project):
    refused = admin_client.post("/admin/interop/dicomnode/add/", {"project": project.pk, "calling_ae_title": "A\\B"})
    assert refused.status_code == 200 and b"no backslash" in refused.content
    assert not DicomNode.objects.exists()

    response = admin_client.post("/admin/interop/dicomnode/add/", {
        "project": project.pk, "calling_ae_title": "PACS1", "description": "radiology PACS"})
    assert response.status_code == 302
    node = DicomNode.objects.get(project=project)
    assert node.calling_ae_title == "PACS1"
    assert AuditEvent.objects.filter(action="admin_add", object_type="dicomnode", object_id=str(node.pk)).exists()

    assert admin_client.post(f"/admin/interop/dicomnode/{node.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not DicomNode.objects.exists()
    assert AuditEvent.objects.get(action="admin_delete", object_id=str(node.pk)).payload == {
        "calling_ae_title": "PACS1", "project": project.slug}
