"""Task images as greyscale pixels, refused before decoding when they are not an image or too large.

A small PNG can declare 10,000 x 10,000 pixels (100 MB once decoded), so the header's size is read first and
checked against ``ML_IMAGE_MAX_PIXELS``. The header is read with the format's PIL plugin class directly, not
``PIL.Image.open``: Ultralytics replaces that function with one that, on an unidentified file, installs a HEIF
plugin from the network. Decoding is OpenCV's, as the model's training images were decoded.
"""
from __future__ import annotations

import io

import numpy as np
from django.conf import settings
from PIL import BmpImagePlugin, Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

DEFAULT_MAX_PIXELS = 50_000_000

# (signature test, PIL plugin class that reads the header)
_FORMATS = (
    (lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"), PngImagePlugin.PngImageFile),
    (lambda head: head.startswith(b"\xff\xd8\xff"), JpegImagePlugin.JpegImageFile),
    (lambda head: head[:4] in (b"II*\x00", b"MM\x00*"), TiffImagePlugin.TiffImageFile),
    (lambda head: head.startswith(b"BM"), BmpImagePlugin.BmpImageFile),
)


class ImageRefused(Exception):
    """``reason`` completes "image ...", fit to show the caller (no decoder internals)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def max_pixels() -> int:
    return int(getattr(settings, "ML_IMAGE_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def image_size(content: bytes) -> tuple[int, int]:
    """(width, height) from the header of a PNG, JPEG, TIFF or BMP; ImageRefused for anything else."""
    plugin = next((cls for matches, cls in _FORMATS if matches(content[:8])), None)
    if plugin is None:
        raise ImageRefused("is not an image (PNG, JPEG, TIFF or BMP)")
    try:
        with plugin(io.BytesIO(content)) as header:
            return header.size
    except Image.DecompressionBombError:
        raise ImageRefused(f"is over {max_pixels()} pixels")
    except Exception:  # PIL raises SyntaxError, OSError, ValueError... for a damaged header; all mean the same
        raise ImageRefused("is not an image (unreadable header)")


def image_decode(content: bytes) -> np.ndarray:
    """Greyscale uint8 pixels, after the header's size passed the pixel cap."""
    import cv2

    width, height = image_size(content)
    if width * height > max_pixels():
        raise ImageRefused(f"is {width} x {height} pixels, over the limit of {max_pixels()}")
    pixels = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_GRAYSCALE)
    if pixels is None:
        raise ImageRefused("is not an image (could not be decoded)")
    return pixels
