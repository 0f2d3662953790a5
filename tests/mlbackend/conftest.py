"""Phantom cases with ground truth built the way the platform builds it: two agreeing blind reads."""
import pytest

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Case, Instance, Role
from fixtures.phantoms import generate_phantoms
from fixtures.phantoms.truth import truth_instance, truth_value
from mlbackend.adapter import Detection
from mlbackend.interpret import ImageDetections
from tests.conftest import make_user

N_PHANTOMS = 6


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantoms")
    truth = generate_phantoms(n_cases=N_PHANTOMS, out_dir=out, seed=11)
    return out, truth


def import_phantom(project, phantom_dir, case_truth) -> Case:
    result = services.case_import(project=project, sources=path_sources(phantom_dir / case_truth["case_key"],
                                                                         max_file_bytes=10**8))
    return Case.objects.get(pk=result.case_ids[0])


def phantom_instance(case: Case, file_name: str) -> Instance:
    """The imported instance of a phantom file (sag_03.dcm -> sagittal, instance number 3)."""
    return Instance.objects.get(series__case=case, **truth_instance(file_name))


def truth_findings(case: Case, case_truth: dict) -> list:
    return [services.FindingInput(
        disc_level=box["level"], finding_type=box["finding"],
        value=truth_value(box["value"]),
        instance_id=phantom_instance(case, box["file"]).pk, box=tuple(box["box"]))
        for box in case_truth["boxes"]]


def make_ground_truth(case: Case, case_truth: dict, readers) -> None:
    findings = truth_findings(case, case_truth)
    for reader in readers:
        services.case_assign(case=case, user=reader, role=Role.READER)
        read = services.read_open(case=case, reader=reader)
        services.read_submit(read=read, reader=reader, findings=findings)
    case.refresh_from_db()
    assert case.status == Case.Status.GROUND_TRUTH


@pytest.fixture
def ml_project(db, coordinator):
    return services.project_create(slug="ml", name="ML phantoms", actor=coordinator,
                                   labelling_mode="positive_only")


@pytest.fixture
def readers(db):
    return [make_user("ml-reader-a", Role.READER), make_user("ml-reader-b", Role.READER)]


@pytest.fixture
def gt_cases(ml_project, phantom_dir, readers):
    """Five phantom cases with final ground truth (the last one held out), one left unread."""
    folder, truth = phantom_dir
    cases = []
    for case_truth in truth["cases"][:5]:
        case = import_phantom(ml_project, folder, case_truth)
        make_ground_truth(case, case_truth, readers)
        cases.append(case)
    Case.objects.filter(pk=cases[-1].pk).update(split=Case.Split.TEST)
    unread = import_phantom(ml_project, folder, truth["cases"][5])
    return {"cases": cases, "unread": unread, "truth": truth}


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, phantom_dir):
    """A real Ultralytics checkpoint with the schema's classes: one epoch at 64 px on two phantom cases'
    boxed slices (rendered with their stored window), trained once per session without the database."""
    import cv2
    import pydicom
    import yaml

    from annotation.rendering import pixels_to_uint8
    from annotation.schema import DEFAULT_SCHEMA, detector_classes
    from mlbackend.adapter import YoloAdapter
    from mlbackend.configs import config_load

    folder, truth = phantom_dir
    root = tmp_path_factory.mktemp("tiny-dataset")
    names = detector_classes(DEFAULT_SCHEMA)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for case_truth in truth["cases"][:2]:
        by_file = {}
        for box in case_truth["boxes"]:
            by_file.setdefault(box["file"], []).append(box)
        for file_name, boxes in by_file.items():
            ds = pydicom.dcmread(folder / file_name)
            image = pixels_to_uint8(ds.pixel_array, window_center=float(ds.WindowCenter),
                                    window_width=float(ds.WindowWidth))
            h, w = image.shape
            stem = file_name.replace("/", "_").removesuffix(".dcm")
            for split in ("train", "val"):
                cv2.imwrite(str(root / "images" / split / f"{stem}.png"), image)
                (root / "labels" / split / f"{stem}.txt").write_text("".join(
                    f"{names.index(b['class_name'])} {(b['box'][0] + b['box'][2]) / 2 / w} "
                    f"{(b['box'][1] + b['box'][3]) / 2 / h} {(b['box'][2] - b['box'][0]) / w} "
                    f"{(b['box'][3] - b['box'][1]) / h}\n" for b in boxes))
    (root / "data.yaml").write_text(yaml.safe_dump({"path": str(root), "train": "images/train",
                                                    "val": "images/val", "names": dict(enumerate(names))}))
    adapter = YoloAdapter.build(config_load("yolov8n"))
    result = adapter.train(data_yaml=root / "data.yaml", out_dir=root / "out", epochs=1, imgsz=64, batch=8)
    return result.weights


def disc(y, grade=3, score=0.9):
    """A disc box (a Pfirrmann class) 12 px tall at height `y` on a sagittal image."""
    return Detection(f"disc_p{grade}", score, (100.0, y, 140.0, y + 12))


def sagittal(*detections, instance_id=1):
    """The middle slice of a 13-slice sagittal series with these detections."""
    return ImageDetections(instance_id=instance_id, plane="sagittal", rank=6, series_length=13,
                           detections=tuple(detections), image_height=384)


def axial(*detections, rank=0, instance_id=9):
    """A slice of a 5-slice axial series (rank 0 is the most caudal, L5/S1) with these detections."""
    return ImageDetections(instance_id=instance_id, plane="axial", rank=rank, series_length=5,
                           detections=tuple(detections))


def register_served(project, weights, conf: float = 0.05):
    """Registers `weights` as the project's served model (what the starter model and the demo do)."""
    from annotation.schema import detector_classes
    from mlbackend import services

    version = services.model_version_register(
        project=project, weights=weights, config_name="yolov8n", class_names=detector_classes(project.label_schema),
        metrics={}, gate={"reason": "test"}, promote=True, imgsz=64, decision="registered")
    version.config.update(conf=conf, findings_conf=conf)
    version.save(update_fields=["config"])
    return version


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in process even where CI configures a broker (these tests check what the task does,
    not the transport; test_worker.py covers a real worker)."""
    from spineplatform.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def sent_tasks(monkeypatch):
    """What the entry points send to Celery, recorded instead of sent: [(task, args, queue)]. Sends wait for the
    commit, so a test sees them inside django_capture_on_commit_callbacks(execute=True)."""
    sent = []
    # Every send goes through the outbox (annotation.outbox); its publishing step is what is replaced here.
    short = {"mlbackend.training_run": "training_run_task",
             "mlbackend.project_model_changed": "project_model_changed_task",
             "mlbackend.preannotate_cases": "preannotate_cases_task"}
    monkeypatch.setattr("annotation.outbox._publish", lambda row: sent.append(
        (short.get(row.name, row.name), list(row.args), row.queue or None)))
    return sent
