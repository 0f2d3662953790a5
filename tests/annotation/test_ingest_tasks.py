"""Ingest at scale: a backlog cut into Celery tasks, idempotent batches, concurrent same-study ingest, and the
faster writer of de-identified files (annotation.dicom.encoded)."""
import io
import shutil
import threading
import time
from pathlib import Path

import pydicom
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from annotation import deid, services
from annotation.dicom import encoded, path_sources, sequence_name, slice_geometry
from annotation.models import AuditEvent, Case, Instance, Series, TaskOutbox
from annotation.services.backlog import backlog_batch_ingest, backlog_batches, backlog_enqueue
from fixtures.phantoms import generate_phantoms
from tests.conftest import celery_worker_started


@pytest.fixture(scope="module")
def backlog_folder(tmp_path_factory) -> Path:
    """Two phantom studies, a folder each (17 and 20 images), and the generator's truth.json (not DICOM)."""
    folder = tmp_path_factory.mktemp("backlog")
    generate_phantoms(n_cases=2, out_dir=folder, seed=3)
    return folder


@pytest.fixture(autouse=True)
def no_after_import(settings):
    settings.SPINEREAD_AFTER_IMPORT = ""  # pre-annotation is not what is tested here


@pytest.fixture
def eager_tasks():
    """Tasks run in process even where CI configures a broker: these tests check what the tasks store; the
    `worker` test below runs real workers."""
    import annotation.tasks  # noqa: F401  (registers annotation.ingest_batch)
    from spineplatform.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def dicom_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.dcm"))


def stored_rows(project) -> dict:
    """What an import leaves, keyed by the de-identified UIDs (the same in every project: same salt)."""
    cases = {c.study_instance_uid: (c.patient_key, c.site_code, c.study_date, c.modality)
             for c in Case.objects.filter(project=project)}
    series = {(s.case.study_instance_uid, s.series_instance_uid): (s.plane, s.sequence, s.description)
              for s in Series.objects.filter(case__project=project).select_related("case")}
    instances = {(i.series.series_instance_uid, i.sop_instance_uid): (i.sha256, i.size_bytes, i.slice_position)
                 for i in Instance.objects.filter(series__case__project=project).select_related("series")}
    return {"cases": cases, "series": series, "instances": instances}


def stored_file_count() -> int:
    root = Path(default_storage.location) / "dicom"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def test_batches_keep_a_study_together_and_cut_one_too_big(tmp_path):
    for study, count in (("A", 3), ("B", 2), ("C", 5)):
        (tmp_path / study / "series1").mkdir(parents=True)
        for index in range(count):
            (tmp_path / study / "series1" / f"{index}.dcm").write_bytes(b"x")
    (tmp_path / "loose.dcm").write_bytes(b"x")

    assert backlog_batches(tmp_path, batch_files=4) == [
        ["A/series1/0.dcm", "A/series1/1.dcm", "A/series1/2.dcm"],
        ["B/series1/0.dcm", "B/series1/1.dcm"],
        ["C/series1/0.dcm", "C/series1/1.dcm", "C/series1/2.dcm", "C/series1/3.dcm"],
        ["C/series1/4.dcm", "loose.dcm"],
    ]
    assert backlog_batches(tmp_path, batch_files=6) == [
        ["A/series1/0.dcm", "A/series1/1.dcm", "A/series1/2.dcm", "B/series1/0.dcm", "B/series1/1.dcm"],
        ["C/series1/0.dcm", "C/series1/1.dcm", "C/series1/2.dcm", "C/series1/3.dcm", "C/series1/4.dcm",
         "loose.dcm"],
    ]
    with pytest.raises(ValueError, match="at least 1"):
        backlog_batches(tmp_path, batch_files=0)


def test_backlog_as_tasks_stores_what_the_serial_import_stores(db, backlog_folder, coordinator,
                                                               django_capture_on_commit_callbacks, eager_tasks):
    serial = services.project_create(slug="serial", name="Serial")
    tasks = services.project_create(slug="tasks", name="Tasks")
    services.case_import(project=serial, sources=path_sources(backlog_folder, max_file_bytes=1 << 26))
    outbox_before = TaskOutbox.objects.count()

    # 7 files a task: both studies are cut across batches, the second study's first batch shares the first's.
    with django_capture_on_commit_callbacks(execute=True):
        plan = backlog_enqueue(project=tasks, root=backlog_folder, actor=coordinator, batch_files=7)

    n_files = len(dicom_files(backlog_folder)) + 1  # truth.json is listed too, and refused as not DICOM
    assert (plan.files, plan.batches) == (n_files, -(-n_files // 7))
    sent = TaskOutbox.objects.order_by("id")[outbox_before:]
    assert [row.name for row in sent] == ["annotation.ingest_batch"] * plan.batches
    assert all(row.sent_at is not None for row in sent)  # eager here: run in process once committed
    expected = stored_rows(serial)
    assert (len(expected["cases"]), len(expected["instances"])) == (2, n_files - 1)
    assert stored_rows(tasks) == expected
    assert AuditEvent.objects.filter(action="backlog_enqueue", object_id=str(tasks.pk),
                                     actor=coordinator).count() == 1


def test_a_batch_run_twice_stores_nothing_twice(db, project, backlog_folder):
    paths = dicom_files(backlog_folder)[:10] + ["truth.json", "../outside.dcm", "missing.dcm"]

    first = backlog_batch_ingest(project=project, root=backlog_folder, paths=paths)
    rows, files = stored_rows(project), stored_file_count()
    second = backlog_batch_ingest(project=project, root=backlog_folder, paths=paths)

    assert (first["stored"], first["duplicate"], first["refused"]) == (10, 0, 3)
    assert (second["stored"], second["duplicate"], second["refused"]) == (0, 10, 3)
    assert first["case_ids"] == second["case_ids"] == list(Case.objects.filter(project=project)
                                                          .values_list("pk", flat=True))
    assert stored_rows(project) == rows
    assert len(rows["instances"]) == 10 == Instance.objects.count() == files == stored_file_count()


def test_enqueue_refuses_a_path_that_is_not_a_folder_and_sends_nothing(db, project, tmp_path):
    before = (TaskOutbox.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValueError, match="not a folder"):
        backlog_enqueue(project=project, root=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="no files below it"):
        call_command("import_backlog", str(tmp_path / "empty"), "--project", project.slug)
    assert (TaskOutbox.objects.count(), AuditEvent.objects.count()) == before


def test_import_backlog_command_reports_the_plan(db, project, backlog_folder, django_capture_on_commit_callbacks,
                                                 eager_tasks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_backlog", str(backlog_folder), "--project", project.slug, "--batch-files", "20",
                     stdout=out)
    n_files = len(dicom_files(backlog_folder))
    assert out.getvalue().strip() == f"enqueued {n_files + 1} files in 2 task(s) for project {project.slug}"
    assert Instance.objects.filter(series__case__project=project).count() == n_files


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_study_at_once_group_it_correctly(project, backlog_folder):
    """Two threads (two database connections) ingest overlapping halves of one study at the same moment:
    one case, each series once, each image once, and no orphaned file from the image both stored."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them)")
    study = [p for p in dicom_files(backlog_folder) if p.startswith("PH0000/")]
    halves = [study[: len(study) // 2 + 2], study[len(study) // 2 - 2:]]  # four images in both
    start, results, errors = threading.Barrier(2), [None, None], []

    def worker(index):
        try:
            start.wait()
            results[index] = backlog_batch_ingest(project=project, root=backlog_folder, paths=halves[index])
        except Exception as error:  # reported below; a thread's exception would otherwise be lost
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(r["stored"] for r in results) == len(study)
    assert sum(r["duplicate"] for r in results) == 4
    assert Case.objects.filter(project=project).count() == 1
    assert Series.objects.filter(case__project=project).count() == 2  # sagittal and axial
    assert Instance.objects.filter(series__case__project=project).count() == len(study) == stored_file_count()
    assert results[0]["case_ids"] == results[1]["case_ids"]


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_real_workers_work_off_a_backlog(settings, tmp_path, project, backlog_folder):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    workers = [celery_worker_started(settings, tmp_path / f"w{i}", name=f"ingest{i}") for i in range(2)]
    try:
        copy = tmp_path / "backlog"
        shutil.copytree(backlog_folder, copy)
        plan = backlog_enqueue(project=project, root=copy, batch_files=5)
        expected = len(dicom_files(copy))
        deadline = time.monotonic() + 90
        while Instance.objects.filter(series__case__project=project).count() < expected:
            assert time.monotonic() < deadline, "the workers did not finish the backlog in 90 s"
            assert all(worker.poll() is None for worker in workers), "a worker died"
            time.sleep(0.5)
        assert plan.batches == 8
        assert Case.objects.filter(project=project).count() == 2
        assert Series.objects.filter(case__project=project).count() == 4
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)


# The writer -------------------------------------------------------------------------------------------------

def _saved_as(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("syntax", ["explicit", "implicit"])
@pytest.mark.parametrize("deidentified", [False, True])
def test_encoded_writes_exactly_what_save_as_writes(backlog_folder, tmp_path, syntax, deidentified):
    for index, path in enumerate(sorted(backlog_folder.rglob("*.dcm"))[::6]):
        if syntax == "implicit":
            ds = pydicom.dcmread(path)
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
            path = tmp_path / f"{index}.dcm"
            ds.save_as(path, implicit_vr=True, little_endian=True)
        fast, reference = pydicom.dcmread(path), pydicom.dcmread(path)
        if deidentified:
            for ds in (fast, reference):
                slice_geometry(ds), sequence_name(ds)
                deid.deidentify(ds, salt="s", patient_key="0" * 32, series_description="T2 sagittal")
        assert encoded(fast) == _saved_as(reference), path


def _pydicom_test_files() -> list:
    """pydicom's own bundled test files in the syntaxes `encoded` writes itself: many with nested sequences,
    character sets and odd lengths the phantoms lack."""
    import pydicom.data

    folder = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent
    return sorted(p for p in folder.glob("*.dcm") if p.stat().st_size < 4_000_000)


@pytest.mark.parametrize("deidentified", [False, True])
def test_encoded_writes_what_save_as_writes_for_pydicoms_own_test_files(deidentified):
    compared = 0
    for path in _pydicom_test_files():
        try:
            fast, reference = pydicom.dcmread(path), pydicom.dcmread(path)
            if str(fast.file_meta.get("TransferSyntaxUID")) not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
                continue
            if deidentified:
                for ds in (fast, reference):
                    deid.deidentify(ds, salt="s", patient_key="0" * 32, series_description="T2 sagittal")
            expected = _saved_as(reference)
        except Exception:  # a file pydicom itself cannot round-trip is no test of this writer
            continue
        assert encoded(fast) == expected, path.name
        compared += 1
    assert compared >= 20
