"""Model configurations a project chooses from: one yaml per file here (architecture, task, training defaults)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = "yolov8n"


@dataclass(frozen=True)
class ModelConfig:
    name: str
    model: str          # an Ultralytics architecture yaml (yolov8n.yaml) or one under arch/ here
    task: str = "detect"
    imgsz: int = 512
    epochs: int = 60
    batch: int = 16
    conf: float = 0.05
    level: dict = field(default_factory=dict)  # two_stage: the level classifier's settings (services.two_stage)

    @property
    def detector_task(self) -> str:
        """What the YOLO stage is built as: a two-stage model's detector is a plain detector."""
        return "detect" if self.task == "two_stage" else self.task

    @property
    def architecture(self) -> str:
        """What YOLO() is built from: a bundled Ultralytics yaml name, or the absolute path of ours."""
        local = CONFIG_DIR / self.model
        if self.model.startswith("arch/"):
            return str(local)
        return self.model

    def as_dict(self) -> dict:
        return asdict(self)


def config_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def config_load(name: str) -> ModelConfig:
    """The named configuration; raises ValueError for an unknown name or a malformed file."""
    if name not in config_names():
        raise ValueError(f"unknown model config {name!r}; expected one of {config_names()}")
    raw = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text()) or {}
    if raw.get("task", "detect") not in {"detect", "segment", "two_stage"}:
        raise ValueError(f"config {name!r}: task must be detect, segment or two_stage")
    return ModelConfig(name=name, **raw)
