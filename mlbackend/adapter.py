"""The one boundary around Ultralytics: build, train, evaluate, predict; results as small plain objects.

Nothing else in the platform imports ultralytics. Progress reaches callers through Ultralytics' own callback
(`on_fit_epoch_end`), never by patching its internals. Models are loaded lazily and kept per process (a worker
predicts many series with one loaded model); importing this module loads nothing.
"""
from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlbackend.configs import ModelConfig


@dataclass(frozen=True)
class Detection:
    class_name: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the input image


@dataclass(frozen=True)
class EpochProgress:
    epoch: int            # 1-based, epochs finished
    epochs: int
    loss: float | None
    epoch_seconds: float | None

    @property
    def eta_seconds(self) -> float | None:
        return None if self.epoch_seconds is None else self.epoch_seconds * (self.epochs - self.epoch)


@dataclass(frozen=True)
class TrainResult:
    weights: Path
    epochs: int
    seconds: float
    device: str


@dataclass
class EvalResult:
    map50: float
    map50_95: float
    per_class: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"map50": self.map50, "map50_95": self.map50_95, "per_class": self.per_class}


@functools.cache
def training_device() -> str:
    """'0' (the first GPU) when CUDA is present, else 'cpu'. Asked once per process: it sits on the predict path."""
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _yolo():
    from mlbackend.offline import ultralytics_offline

    ultralytics_offline()
    from ultralytics import YOLO

    return YOLO


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """Ultralytics takes HxWx3 BGR arrays; rendered DICOM is HxW greyscale."""
    if image.ndim == 2:
        import cv2

        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)  # a twentieth of np.repeat's time, on the predict path
    return image


class YoloAdapter:
    """One Ultralytics model. Build from a config (untrained) or load a trained file; train, evaluate, predict."""

    def __init__(self, model, *, task: str = "detect"):
        self.model = model
        self.task = task

    @classmethod
    def build(cls, config: ModelConfig) -> "YoloAdapter":
        return cls(_yolo()(config.architecture, task=config.detector_task), task=config.detector_task)

    @classmethod
    def load(cls, weights: Path | str) -> "YoloAdapter":
        model = _yolo()(str(weights))
        return cls(model, task=model.task)

    @property
    def class_names(self) -> list[str]:
        names = self.model.names
        return [names[i] for i in sorted(names)]

    def train(self, *, data_yaml: Path, out_dir: Path, epochs: int, imgsz: int, batch: int, device: str | None = None,
              on_epoch: Callable[[EpochProgress], None] | None = None, seed: int = 0, **extra) -> TrainResult:
        """Trains in this process; raises whatever training raises (including from `on_epoch`), leaving only
        files under out_dir behind."""
        device = device or training_device()
        started = time.monotonic()

        def epoch_end(trainer):
            # Ultralytics calls this once more after the final validation, with epoch past the last one.
            if on_epoch is None or trainer.epoch >= trainer.epochs:
                return
            loss = None
            if trainer.tloss is not None:
                values = trainer.tloss.values() if isinstance(trainer.tloss, dict) else [trainer.tloss]
                loss = float(sum(float(np.asarray(v.detach().cpu() if hasattr(v, "detach") else v).sum())
                                 for v in values))
            on_epoch(EpochProgress(epoch=trainer.epoch + 1, epochs=trainer.epochs, loss=loss,
                                   epoch_seconds=trainer.epoch_time))

        self.model.add_callback("on_fit_epoch_end", epoch_end)
        arguments = dict(
            data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, device=device, workers=0,
            project=str(out_dir), name="train", exist_ok=True, amp=False,  # amp=True downloads weights to check
            plots=False, verbose=False, seed=seed, deterministic=False,  # a loaded checkpoint is fine-tuned
            # MR images have a fixed orientation (sagittal: anterior on one side; axial: radiological
            # convention): a mirrored image is not one readers see, and a mirrored axial swaps the patient's sides.
            fliplr=0.0,
        )
        arguments.update(extra)
        self.model.train(**arguments)
        weights_dir = out_dir / "train" / "weights"
        weights = weights_dir / "best.pt" if (weights_dir / "best.pt").exists() else weights_dir / "last.pt"
        # The trained weights live in the trainer's best/last file; reload so this adapter predicts with them.
        self.model = _yolo()(str(weights))
        return TrainResult(weights=weights, epochs=epochs, seconds=time.monotonic() - started, device=device)

    def evaluate(self, *, data_yaml: Path, split: str, imgsz: int, out_dir: Path, device: str | None = None,
                 batch: int = 16) -> EvalResult:
        """mAP50, mAP50-95 and per-class precision/recall/F1/AP50 on one split of a YOLO dataset."""
        metrics = self.model.val(data=str(data_yaml), split=split, imgsz=imgsz, batch=batch,
                                 device=device or training_device(), workers=0, plots=False, verbose=False,
                                 project=str(out_dir), name=f"val-{split}", exist_ok=True)
        box = metrics.box if self.task == "detect" else metrics.box  # segment: box metrics compare with detect
        names = metrics.names
        per_class = {}
        for i, class_index in enumerate(box.ap_class_index):
            precision, recall = float(box.p[i]), float(box.r[i])
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            per_class[names[int(class_index)]] = {"precision": round(precision, 4), "recall": round(recall, 4),
                                                  "f1": round(f1, 4), "ap50": round(float(box.ap50[i]), 4)}
        return EvalResult(map50=round(float(box.map50), 5), map50_95=round(float(box.map), 5), per_class=per_class)

    def predict(self, images: list[np.ndarray], *, imgsz: int, conf: float = 0.05, batch: int = 32,
                device: str | None = None) -> list[list[Detection]]:
        """Detections per image, in input order; a whole series goes through in batches of `batch`."""
        if not images:
            return []
        names = self.model.names
        out: list[list[Detection]] = []
        for start in range(0, len(images), batch):
            chunk = [_as_bgr(image) for image in images[start:start + batch]]
            results = self.model.predict(chunk, imgsz=imgsz, conf=conf, verbose=False, batch=len(chunk),
                                         device=device or training_device())
            for result in results:
                boxes = result.boxes
                xyxy = boxes.xyxy.cpu().numpy() if len(boxes) else np.zeros((0, 4))
                scores = boxes.conf.cpu().numpy() if len(boxes) else []
                classes = boxes.cls.cpu().numpy().astype(int) if len(boxes) else []
                out.append([Detection(names[int(c)], float(s), tuple(float(v) for v in b))
                            for b, s, c in zip(xyxy, scores, classes)])
        return out


MAX_LOADED = 4
_loaded: dict[tuple[str, str], YoloAdapter] = {}
_loaded_lock = threading.Lock()


def adapter_for(weights: Path | str, sha256: str, *, load: Callable | None = None):
    """The loaded model for a file, kept for the life of the process (keyed by checksum, so a replaced file is
    reloaded); a worker loads each served version once. `load` reads the file (YoloAdapter.load, or another
    kind's, level_model.TwoStageAdapter.load)."""
    key = (str(weights), sha256)
    with _loaded_lock:
        adapter = _loaded.get(key)
        if adapter is None:
            adapter = (load or YoloAdapter.load)(weights)
            if len(_loaded) >= MAX_LOADED:  # a few projects' served models; retired versions drop out
                _loaded.pop(next(iter(_loaded)))
            _loaded[key] = adapter
        return adapter
