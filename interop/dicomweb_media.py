"""The media DICOMweb sends and receives: multipart/related bodies (RFC 2387), frames and rendered images."""
from __future__ import annotations

import io
import re
import secrets
from collections.abc import Iterable, Iterator

import numpy as np
import pydicom
from PIL import Image

from annotation.models import Instance
from annotation.rendering import instance_to_uint8

CRLF = b"\r\n"


class MultipartError(ValueError):
    """The body is not a multipart/related message this server can read (the caller answers 400 or 415)."""


def boundary_new() -> str:
    # Short: a part's DICOM preamble then starts within the first 200 bytes, as tools that sniff bodies expect.
    return secrets.token_hex(8)


def multipart_content_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'


def multipart_stream(parts: Iterable[bytes], *, part_type: str, boundary: str) -> Iterator[bytes]:
    """Yields the message part by part, so a whole study is never held in memory at once."""
    for content in parts:
        yield b"--" + boundary.encode() + CRLF + f"Content-Type: {part_type}".encode() + CRLF + CRLF
        yield content
        yield CRLF
    yield b"--" + boundary.encode() + b"--" + CRLF


def content_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    """'multipart/related; type="application/dicom"; boundary=x' -> ('multipart/related', {type, boundary})."""
    media_type, *rest = [piece.strip() for piece in content_type.split(";")]
    params = {}
    for piece in rest:
        name, _, value = piece.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return media_type.lower(), params


def multipart_parts(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart body as (headers with lower-case names, content).

    The delimiter is CRLF "--" boundary (RFC 2046 5.1.1): the CRLF before it belongs to the delimiter, not to
    the part, so a part's bytes come back exactly as sent.
    """
    if not boundary:
        raise MultipartError("the Content-Type names no boundary")
    delimiter = CRLF + b"--" + boundary.encode()
    pieces = (CRLF + body).split(delimiter)
    if len(pieces) < 2:
        raise MultipartError("the body holds no part with the boundary the Content-Type names")
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # the close delimiter; what follows is the epilogue
        head, separator, content = piece.partition(CRLF + CRLF)
        if not separator:
            raise MultipartError("a part has no blank line after its headers")
        headers = {}
        for line in head.split(CRLF)[1:]:  # [0] is the rest of the delimiter line (transport padding)
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, content))
    return parts


def frame_numbers(text: str) -> list[int]:
    """'1,3' -> [1, 3]; ValueError for anything else (frame numbers start at 1)."""
    if not re.fullmatch(r"\d+(,\d+)*", text):
        raise ValueError("frames must be a comma-separated list of frame numbers")
    numbers = [int(n) for n in text.split(",")]
    if 0 in numbers:
        raise ValueError("frame numbers start at 1")
    return numbers


def frames_of(instance: Instance, numbers: list[int]) -> list[bytes] | None:
    """The uncompressed pixel data of each frame (little endian, as stored for native transfer syntaxes);
    None when a frame number is beyond the instance's frames."""
    with instance.file.open("rb") as handle:
        ds = pydicom.dcmread(handle)
    count = int(ds.get("NumberOfFrames", 1) or 1)
    if any(n > count for n in numbers):
        return None
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        frame_size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8
        data = ds.PixelData
        return [bytes(data[(n - 1) * frame_size:n * frame_size]) for n in numbers]
    pixels = ds.pixel_array
    if count == 1:
        pixels = pixels[np.newaxis]
    return [np.ascontiguousarray(pixels[n - 1]).astype(pixels.dtype.newbyteorder("<")).tobytes() for n in numbers]


def rendered(instance: Instance, accept: str) -> tuple[bytes, str]:
    """The first frame as the viewer shows it (annotation.rendering's window): PNG when asked for, else JPEG
    (the default of PS3.18 8.3.5.1)."""
    image = Image.fromarray(instance_to_uint8(instance))
    buffer = io.BytesIO()
    if "image/png" in accept.lower():
        image.save(buffer, format="PNG")
        return buffer.getvalue(), "image/png"
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), "image/jpeg"
