"""DICOM instance -> 8-bit greyscale array, windowed as the viewer shows it by default.

Shared by everything that needs a picture of a stored image (training datasets, exports, thumbnails), so that a
model sees what readers see.
"""
from __future__ import annotations

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from annotation.models import Instance


def pixels_to_uint8(pixels: np.ndarray, *, window_center: float | None, window_width: float | None) -> np.ndarray:
    """Applies a linear window (DICOM PS3.3 C.11.2.1.2); without one, stretches the 1st-99th percentile."""
    pixels = pixels.astype(np.float32)
    if window_center is None or not window_width or window_width <= 1:
        low, high = np.percentile(pixels, [1, 99]) if pixels.size else (0.0, 1.0)
    else:
        low, high = window_center - window_width / 2, window_center + window_width / 2
    if high <= low:
        high = low + 1
    return (np.clip((pixels - low) / (high - low), 0, 1) * 255).round().astype(np.uint8)


def instance_to_uint8(instance: Instance) -> np.ndarray:
    """The instance's first frame as a rows x columns uint8 array."""
    with instance.file.open("rb") as handle:
        ds = pydicom.dcmread(handle)
    pixels = apply_modality_lut(ds.pixel_array, ds)
    if pixels.ndim == 3 and pixels.shape[0] == int(ds.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[0]
    if pixels.ndim == 3:  # colour: luminance
        pixels = pixels[..., :3].mean(axis=-1)
    image = pixels_to_uint8(pixels, window_center=instance.window_center, window_width=instance.window_width)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        image = 255 - image
    return image
