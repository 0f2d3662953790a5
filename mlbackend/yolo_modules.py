"""Custom layers of the seed study's modified YOLOv5, registered so that a model yaml can name them.

The study added squeeze-and-excitation (SE) channel attention to the CSP (C3) blocks of the backbone and a
residual connection around SPPF. Ultralytics' parse_model resolves layer names in `ultralytics.nn.tasks`'
namespace, so registering is making them attributes there; checkpoints pickle them by this module's path.
Both layers keep their input's channel count, which is what parse_model assumes for layers it does not know;
the yaml passes that count as `c2` (parse_model substitutes its local variable, the previous layer's output
channels, the same mechanism its own yamls use for `nc`).
"""
from __future__ import annotations

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018, doi:10.1109/CVPR.2018.00745): channel weights from global
    context, applied to the CSP block's output."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.pool(x))


class SPPFResidual(nn.Module):
    """SPPF with a residual: y = x + SPPF(x), so the pooled context adds to, rather than replaces, the deepest
    backbone features."""

    def __init__(self, channels: int, k: int = 5):
        super().__init__()
        from ultralytics.nn.modules import SPPF

        self.sppf = SPPF(channels, channels, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sppf(x)


CUSTOM_LAYERS = {"SqueezeExcite": SqueezeExcite, "SPPFResidual": SPPFResidual}


def register_modules() -> None:
    from ultralytics.nn import tasks

    for name, layer in CUSTOM_LAYERS.items():
        setattr(tasks, name, layer)
