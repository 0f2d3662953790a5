"""The two-stage model's second stage: a level classifier over the crops the detector localised.

The seed study's design (3D ResNet18 and a small transformer over paired sagittal and axial T2): a 3D ResNet18
encodes one disc level's sagittal crop stack (the disc's box on the slices around the one it was found on)
and, with the same weights, the axial crop of that level; a two-layer transformer fuses their tokens, and one
head per finding of the schema gives the probabilities of its values. A level without an axial slice gets a
learnt stand-in token (training drops the axial crop now and then so that the model copes).

Torch and OpenCV only: no Django, no Ultralytics (the detector stays behind adapter.YoloAdapter, which
TwoStageAdapter pairs with the classifier). Importing this module loads nothing heavy.
"""
from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mlbackend.adapter import Detection, EpochProgress, YoloAdapter, training_device

FORMAT = "spineread-two-stage-1"


@dataclass(frozen=True)
class CropSpec:
    size: int = 48        # pixels a side of every crop
    depth: int = 5        # sagittal slices a stack holds, centred on the slice the disc was found on
    context: float = 1.8  # a sagittal crop's side, in units of the disc box's longer side
    axial_share: float = 0.5  # the axial crop: the central square of this share of the image side


@dataclass(frozen=True)
class LevelInput:
    """One disc level to classify: its sagittal slices (the whole series, uint8), which one the disc box is on,
    the box, and the level's axial slice (None without one)."""

    sagittal: tuple
    centre_index: int
    box: tuple[float, float, float, float]
    axial: np.ndarray | None = None


@dataclass(frozen=True)
class LevelSample:
    level: LevelInput
    labels: dict = field(default_factory=dict)  # {finding: index of its value}; a finding left out is unknown


def _crop(image: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    import cv2

    scale = size / max(side, 1.0)
    matrix = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]], dtype=np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def level_crops(level: LevelInput, spec: CropSpec, rng: np.random.Generator | None = None
                ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(sagittal stack (depth, size, size), axial crop (size, size), has axial) as float32 in [0, 1]. With
    `rng`, the crop is shifted and scaled a little (training: the detector's boxes are never exact)."""
    x0, y0, x1, y1 = level.box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, spec.context * max(x1 - x0, y1 - y0)
    if rng is not None:
        cx += rng.uniform(-0.1, 0.1) * side
        cy += rng.uniform(-0.1, 0.1) * side
        side *= rng.uniform(0.9, 1.1)
    count = len(level.sagittal)
    offsets = np.arange(spec.depth) - spec.depth // 2
    indices = np.clip(level.centre_index + offsets, 0, count - 1)
    stack = np.stack([_crop(level.sagittal[i], cx, cy, side, spec.size) for i in indices]).astype(np.float32)
    if level.axial is None:
        return stack / 255.0, np.zeros((spec.size, spec.size), np.float32), False
    height, width = level.axial.shape[:2]
    axial = _crop(level.axial, width / 2, height / 2, spec.axial_share * min(height, width), spec.size)
    return stack / 255.0, axial.astype(np.float32) / 255.0, True


def _network(heads: dict[str, int], *, width: int, depth: int, layers: int):
    """The classifier module (torch imported here: the web process never builds one)."""
    import torch
    from torch import nn

    def _norm(channels: int):
        # Group norm, not batch norm: a batch holds few levels, and no running statistics can differ between
        # training and use (or between the sagittal stacks and the single axial slices the encoder reads).
        return nn.GroupNorm(max(1, channels // 8), channels)

    class BasicBlock3d(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            # Strided in-plane only: the few slices of a stack stay one token each.
            self.conv1 = nn.Conv3d(cin, cout, 3, stride=(1, stride, stride), padding=1, bias=False)
            self.bn1 = _norm(cout)
            self.conv2 = nn.Conv3d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = _norm(cout)
            self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv3d(cin, cout, 1, stride=(1, stride, stride), bias=False), _norm(cout))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    class ResNet3d18(nn.Module):
        """ResNet18's layout (four stages of two basic blocks) in 3D; (B, 1, D, H, W) -> (B, D, C) tokens."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv3d(1, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                                      _norm(width), nn.ReLU(inplace=True))
            channels, blocks, cin = [width, 2 * width, 4 * width, 8 * width], [], width
            for stage, cout in enumerate(channels):
                blocks += [BasicBlock3d(cin, cout, 1 if stage == 0 else 2), BasicBlock3d(cout, cout, 1)]
                cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.out_channels = cin

        def forward(self, x):
            return self.blocks(self.stem(x)).mean(dim=(3, 4)).transpose(1, 2)

    class LevelClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = ResNet3d18()
            d = self.encoder.out_channels
            self.cls = nn.Parameter(torch.zeros(1, 1, d))
            self.missing_axial = nn.Parameter(torch.zeros(1, 1, d))
            self.position = nn.Parameter(torch.randn(1, depth + 2, d) * 0.02)  # class token, slices, axial
            layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=2 * d, dropout=0.1, batch_first=True,
                                               norm_first=True)  # pre-norm: trains on few samples, no warm-up
            self.fusion = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
            self.heads = nn.ModuleDict({name: nn.Linear(d, n) for name, n in heads.items()})

        def forward(self, sagittal, axial, has_axial):
            b = sagittal.shape[0]
            sagittal_tokens = self.encoder(sagittal[:, None])
            axial_tokens = self.missing_axial.expand(b, 1, -1).clone()
            if has_axial.any():  # only the levels that have an axial slice are encoded
                axial_tokens[has_axial] = self.encoder(axial[has_axial][:, None, None]).to(axial_tokens.dtype)
            tokens = torch.cat([self.cls.expand(b, 1, -1), sagittal_tokens, axial_tokens], 1) + self.position
            # The heads also see the encoder's mean token: a direct path while the transformer is still learning.
            fused = self.fusion(tokens)[:, 0] + tokens[:, 1:].mean(1)
            return {name: head(fused) for name, head in self.heads.items()}

    return LevelClassifier()


def _torch_device(device: str | None) -> str:
    device = device or training_device()
    return "cpu" if device == "cpu" else f"cuda:{device}" if device.isdigit() else device


@dataclass
class LevelClassifierModel:
    """The classifier with what it needs to be used: its findings' values (heads), crop spec and layout."""

    heads: dict[str, list[str]]
    spec: CropSpec = field(default_factory=CropSpec)
    width: int = 16
    layers: int = 2
    network: object = None

    def __post_init__(self):
        if self.network is None:
            self.network = _network({name: len(values) for name, values in self.heads.items()},
                                    width=self.width, depth=self.spec.depth, layers=self.layers)

    def _tensors(self, levels: list[LevelInput], device: str, rng=None):
        import torch

        crops = [level_crops(level, self.spec, rng) for level in levels]
        sagittal = torch.from_numpy(np.stack([c[0] for c in crops])).to(device)
        axial = torch.from_numpy(np.stack([c[1] for c in crops])).to(device)
        has_axial = torch.tensor([c[2] for c in crops], device=device)
        if rng is not None:  # now and then no axial slice, as at levels or in tasks without one
            has_axial &= torch.from_numpy(rng.random(len(levels)) > 0.2).to(device)
        return sagittal, axial, has_axial

    def train(self, samples: list[LevelSample], *, epochs: int, batch: int = 32, lr: float = 1e-3,
              device: str | None = None, seed: int = 0,
              on_epoch: Callable[[EpochProgress], None] | None = None) -> float:
        """Trains in this process on `samples` (crops jittered each epoch); returns the seconds it took."""
        import torch

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        device = _torch_device(device)
        network = self.network.to(device).train()
        optimiser = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=1e-4)
        names = list(self.heads)
        targets = torch.tensor([[s.labels.get(name, -1) for name in names] for s in samples], dtype=torch.long)
        loss_of = torch.nn.CrossEntropyLoss(ignore_index=-1, reduction="sum")
        started = time.monotonic()
        for epoch in range(epochs):
            epoch_started, total = time.monotonic(), 0.0
            order = rng.permutation(len(samples))
            for start in range(0, len(samples), batch):
                index = order[start:start + batch]
                outputs = network(*self._tensors([samples[i].level for i in index], device, rng))
                target = targets[index].to(device)
                known = (target >= 0).sum().clamp(min=1)
                loss = sum(loss_of(outputs[name], target[:, j]) for j, name in enumerate(names)) / known
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(index)
            if on_epoch is not None:
                on_epoch(EpochProgress(epoch=epoch + 1, epochs=epochs, loss=total / max(len(samples), 1),
                                       epoch_seconds=time.monotonic() - epoch_started))
        network.eval()
        return time.monotonic() - started

    def probabilities(self, levels: list[LevelInput], *, device: str | None = None, batch: int = 64
                      ) -> list[dict[str, np.ndarray]]:
        """Per level, {finding: probabilities of its values in the schema's order}."""
        import torch

        if not levels:
            return []
        device = _torch_device(device)
        network = self.network.to(device).eval()
        out: list[dict[str, np.ndarray]] = []
        with torch.inference_mode():
            for start in range(0, len(levels), batch):
                logits = network(*self._tensors(levels[start:start + batch], device))
                probabilities = {name: torch.softmax(value, 1).cpu().numpy() for name, value in logits.items()}
                count = len(levels[start:start + batch])
                out += [{name: p[i] for name, p in probabilities.items()} for i in range(count)]
        return out

    def state(self) -> dict:
        return {"heads": self.heads, "spec": asdict(self.spec), "width": self.width, "layers": self.layers,
                "weights": {k: v.detach().cpu() for k, v in self.network.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict) -> "LevelClassifierModel":
        model = cls(heads=state["heads"], spec=CropSpec(**state["spec"]), width=state["width"], layers=state["layers"])
        model.network.load_state_dict(state["weights"])
        model.network.eval()
        return model


def two_stage_save(path: Path, *, detector_weights: Path, classifier: LevelClassifierModel, classes: dict,
                   anchor: str) -> Path:
    """One file the registry stores like any model: the detector's own checkpoint (bytes), the classifier and
    the schema's class names per finding value it was trained with (`classes`: {finding: {value: class}})."""
    import torch

    detector = torch.frombuffer(bytearray(Path(detector_weights).read_bytes()), dtype=torch.uint8)
    torch.save({"format": FORMAT, "detector": detector, "classifier": classifier.state(), "classes": classes,
                "anchor": anchor}, path)
    return Path(path)


class TwoStageAdapter:
    """The detector and the level classifier of one two-stage file."""

    def __init__(self, detector: YoloAdapter, classifier: LevelClassifierModel, classes: dict, anchor: str,
                 detector_file: Path | None = None):
        self.detector = detector
        self.detector_file = detector_file  # the detector's own checkpoint: what a new training continues from
        self.classifier = classifier
        self.classes = classes
        self.anchor = anchor
        self.task = "two_stage"

    @classmethod
    def load(cls, weights: Path | str) -> "TwoStageAdapter":
        import torch

        saved = torch.load(str(weights), map_location="cpu", weights_only=True)
        if saved.get("format") != FORMAT:
            raise ValueError(f"{weights}: not a {FORMAT} file")
        content = saved["detector"].numpy().tobytes()
        # Ultralytics loads from a path: the detector's checkpoint, once per host, named by its checksum.
        digest = hashlib.sha256(content).hexdigest()
        detector_file = Path(tempfile.gettempdir()) / "spineread-detectors" / f"{digest}.pt"
        if not detector_file.exists():  # written under a name of its own, then renamed: workers load at once
            detector_file.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=detector_file.parent, suffix=".partial")
            with open(handle, "wb") as out:
                out.write(content)
            Path(partial).replace(detector_file)
        return cls(YoloAdapter.load(detector_file), LevelClassifierModel.from_state(saved["classifier"]),
                   saved["classes"], saved["anchor"], detector_file=detector_file)

    @property
    def class_names(self) -> list[str]:
        return self.detector.class_names

    def evaluate(self, **arguments):
        """The detector's mAP on a YOLO split (the classifier's own metrics are per level: services.two_stage)."""
        return self.detector.evaluate(**arguments)

    def detections_from_levels(self, discs: list[Detection], probabilities: list[dict], others: list[Detection],
                               conf: float) -> list[Detection]:
        """Per disc, each finding's most likely value as a box with its probability (values without a class,
        the negative ones, give none): on the detector's nearest box of that class within a disc's reach,
        else on the disc's box."""
        out = []
        for disc, found in zip(discs, probabilities):
            reach = max(disc.box[2] - disc.box[0], disc.box[3] - disc.box[1])
            centre = (disc.box[1] + disc.box[3]) / 2
            for name, p in found.items():
                value = self.classifier.heads[name][int(np.argmax(p))]
                class_name = self.classes.get(name, {}).get(value)
                if class_name is None or float(np.max(p)) < conf:
                    continue
                near = [d for d in others if d.class_name == class_name
                        and abs((d.box[1] + d.box[3]) / 2 - centre) <= reach]
                box = min(near, key=lambda d: abs((d.box[1] + d.box[3]) / 2 - centre)).box if near else disc.box
                out.append(Detection(class_name, float(np.max(p)), box))
        return out

    def disc_boxes(self, detections: list[Detection]) -> list[Detection]:
        """The detector's disc boxes, one per disc (the best of overlapping ones), top to bottom."""
        from mlbackend.interpret import structure_groups

        anchor_classes = set(self.classes.get(self.anchor, {}).values())
        groups = structure_groups([d for d in detections if d.class_name in anchor_classes])
        return sorted((group[0] for group in groups), key=lambda d: d.box[1] + d.box[3])

    def predict(self, images: list[np.ndarray], *, imgsz: int, conf: float = 0.05, batch: int = 32,
                device: str | None = None, levels: list | None = None) -> list[list[Detection]]:
        """Label Studio's way, one image a task: the detector's discs, each graded by the classifier. By
        default from that slice alone (repeated as the stack) and no axial crop; `levels`, one per image, may
        give a function detections -> (discs, their LevelInputs) that reads the series around it instead (or
        None for an image without one)."""
        found = self.detector.predict(images, imgsz=imgsz, conf=min(conf, 0.05), batch=batch, device=device)
        out = []
        for index, (image, detections) in enumerate(zip(images, found)):
            read = levels[index] if levels else None
            if read is None:
                discs = self.disc_boxes(detections)
                inputs = [LevelInput(sagittal=(image,), centre_index=0, box=d.box) for d in discs]
            else:
                discs, inputs = read(detections)
            probabilities = self.classifier.probabilities(inputs, device=device)
            out.append(self.detections_from_levels(discs, probabilities, detections, conf))
        return out
