"""Reading, checking and de-identifying DICOM files before anything is stored.

Pure pydicom code with no database access, so that the ingest service can check a whole upload
first and store it only when every file passed (a rejected upload leaves nothing behind).
"""
from __future__ import annotations

import hashlib
import hmac
import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset, validate_file_meta
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, MediaStorageDirectoryStorage
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from annotation import deid

SEQUENCE_WORDS = re.compile(r"(?<![A-Z0-9])(STIR|FLAIR|T2|T1|PD)")
SCANNING_SEQUENCES = ("IR", "EP", "GR", "SE", "RM")  # ScanningSequence's defined terms, most telling first


class DicomRejected(ValueError):
    """A file that must not be stored; `reason` is shown to the uploader."""

    def __init__(self, name: str, reason: str, status_code: int = 400):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
        self.status_code = status_code


@dataclass
class ParsedInstance:
    """One checked and de-identified DICOM file, ready to store."""

    name: str
    content: bytes
    patient_key: str
    site_code: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    modality: str
    study_date: date | None
    series: dict = field(default_factory=dict)
    instance: dict = field(default_factory=dict)
    burned_in: bool = False  # pixels may show text (marked so, or a screenshot class): the ingest service decides


def keyed_hash(salt: str, value: str, length: int = 32) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:length]


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _first(value):
    """Window centre/width may be multi-valued; the first pair is the default display."""
    if isinstance(value, pydicom.multival.MultiValue):
        return value[0] if len(value) else None
    return value


def slice_geometry(ds: pydicom.Dataset) -> tuple[str, float | None]:
    """The plane (from the slice normal's dominant axis) and the position along that normal, in mm."""
    orientation = ds.get("ImageOrientationPatient")
    position = ds.get("ImagePositionPatient")
    if orientation is not None and len(orientation) == 6:
        row, column = np.array(orientation[:3], float), np.array(orientation[3:], float)
        normal = np.cross(row, column)
        plane = ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(normal)))]
        if position is not None and len(position) == 3:
            return plane, float(np.dot(np.array(position, float), normal))
        return plane, _float(ds.get("SliceLocation"))
    return "other", _float(ds.get("SliceLocation"))


def sequence_name(ds: pydicom.Dataset) -> str:
    """The weighting, from a closed vocabulary, so that it can be stored and shown after de-identification.

    Read from the original header: its descriptions first (they are removed later), then the timing.
    """
    text = " ".join(str(ds.get(k, "")) for k in ("SeriesDescription", "ProtocolName", "SequenceName")).upper()
    match = SEQUENCE_WORDS.search(text)
    if match:
        return match.group(1)
    scanning = ds.get("ScanningSequence") or []
    scanning = [str(v).strip().upper() for v in ([scanning] if isinstance(scanning, str) else scanning)]
    repetition, echo = _float(ds.get("RepetitionTime")), _float(ds.get("EchoTime"))
    inversion = _float(ds.get("InversionTime"))
    if "IR" in scanning and inversion:
        if inversion < 300:
            return "STIR"
        if inversion > 1500:
            return "FLAIR"
    if repetition and echo is not None:
        if repetition < 1000 and echo < 30:
            return "T1"
        if repetition >= 2000 and echo >= 60:
            return "T2"
        if repetition >= 1500 and echo < 40:
            return "PD"
    return next((term for term in SCANNING_SEQUENCES if term in scanning), "")


def _check_pixels(ds: pydicom.Dataset, name: str) -> None:
    if "PixelData" not in ds:
        raise DicomRejected(name, "no pixel data: not an image")
    rows, columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
    if not rows or not columns:
        raise DicomRejected(name, "image has no Rows/Columns")
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        # Compressed data can only be checked by decoding it; this also proves a decoder is installed.
        try:
            ds.pixel_array
        except Exception as error:  # pydicom raises many types for broken or undecodable fragments
            raise DicomRejected(name, f"pixel data cannot be decoded ({error.__class__.__name__}: {error})")
        return
    frames = _int(ds.get("NumberOfFrames")) or 1
    samples = _int(ds.get("SamplesPerPixel")) or 1
    bits = _int(ds.get("BitsAllocated")) or 16
    expected = rows * columns * frames * samples * bits // 8
    held = len(ds.get_item("PixelData").value or b"")  # the raw bytes' length: decoding them costs a copy
    if held < expected:
        raise DicomRejected(name, f"pixel data truncated ({held} of {expected} bytes)")


def _read_image(content: bytes, name: str) -> tuple[pydicom.Dataset | None, dict]:
    """The file as a dataset with its UIDs and pixels checked, and its elements as read (see `_undecode`);
    (None, {}) for a DICOMDIR. Raises DicomRejected."""
    try:
        ds = pydicom.dcmread(io.BytesIO(content))
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as error:
        raise DicomRejected(name, f"not a readable DICOM file ({error.__class__.__name__}: {error})".strip())
    as_read = dict(ds._dict)
    if ds.file_meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
        return None, {}
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not ds.get(keyword):
            raise DicomRejected(name, f"missing {keyword}")
    _check_pixels(ds, name)
    return ds, as_read


def _undecode(ds: pydicom.Dataset, as_read: dict) -> None:
    """Puts back the raw form of elements that were only read, not changed.

    pydicom decodes an element in place the first time it is read; `encoded` copies raw elements as they are
    but must re-encode decoded ones, at ten times the cost. Decoding is a cache of the same value, so an element
    nobody has changed yet may go back to its raw form.
    """
    ds._dict.update(as_read)


def parse_and_deidentify(content: bytes, *, name: str, salt: str, site_code: str = "",
                         safe_private_tags: frozenset[tuple[int, int]] = frozenset()) -> ParsedInstance | None:
    """Checks one file and returns it de-identified (annotation.deid); None for a DICOMDIR (an index).

    Everything stored from the header is read after de-identification, except what is derived from the
    original first: the plane, the weighting and from them the new SeriesDescription, the burned-in flag,
    the patient key and the site. Raises DicomRejected for anything that is not a readable DICOM image.
    """
    ds, as_read = _read_image(content, name)
    if ds is None:
        return None
    original_patient = str(ds.get("PatientID") or ds.get("PatientName") or ds.StudyInstanceUID)
    patient_key = keyed_hash(salt, original_patient)
    institution = str(ds.get("InstitutionName", "")).strip()
    site = site_code or (f"site-{keyed_hash(salt, institution, 6)}" if institution else "")

    plane, position = slice_geometry(ds)
    sequence = sequence_name(ds)
    burned_in = deid.burned_in(ds)
    description = deid.derived_series_description(sequence, plane, str(ds.get("Modality", "")))
    _undecode(ds, as_read)  # all of the above only read the dataset
    deid.deidentify(ds, salt=salt, patient_key=patient_key, series_description=description,
                    safe_private_tags=safe_private_tags)
    content = encoded(ds)  # before the header is read for the rows below, which decodes what it reads
    spacing = ds.get("PixelSpacing") or [None, None]
    study_date = ds.get("StudyDate")
    return ParsedInstance(
        name=name,
        content=content,
        patient_key=patient_key,
        site_code=site,
        study_instance_uid=str(ds.StudyInstanceUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        modality=str(ds.get("Modality", "")),
        study_date=date(int(study_date[:4]), int(study_date[4:6]), int(study_date[6:8])) if study_date else None,
        series={
            "series_number": _int(ds.get("SeriesNumber")),
            "description": description,
            "plane": plane,
            "sequence": sequence,
            "slice_thickness": _float(ds.get("SliceThickness")),
            "manufacturer": str(ds.get("Manufacturer", ""))[:64],
            "manufacturer_model": str(ds.get("ManufacturerModelName", ""))[:64],
            "field_strength": _float(ds.get("MagneticFieldStrength")),
            "repetition_time": _float(ds.get("RepetitionTime")),
            "echo_time": _float(ds.get("EchoTime")),
        },
        instance={
            "transfer_syntax_uid": str(ds.file_meta.TransferSyntaxUID),
            "instance_number": _int(ds.get("InstanceNumber")),
            "slice_position": position,
            "rows": int(ds.Rows),
            "columns": int(ds.Columns),
            "pixel_spacing_row": _float(spacing[0]),
            "pixel_spacing_column": _float(spacing[1]),
            "window_center": _float(_first(ds.get("WindowCenter"))),
            "window_width": _float(_first(ds.get("WindowWidth"))),
        },
        burned_in=burned_in,
    )


_UNDEFINED_LENGTH = 0xFFFFFFFF
_LENGTH_32 = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_FAST_SYNTAXES = {ExplicitVRLittleEndian: False, ImplicitVRLittleEndian: True}  # the syntax's implicit VR


def encoded(ds: pydicom.Dataset) -> bytes:
    """The file's bytes, exactly as `ds.save_as(buffer, enforce_file_format=True)` writes them, faster.

    pydicom's writer spends some 40 us of Python bookkeeping on every element, most of an import's time. The
    elements de-identification left alone are still the raw bytes read from the file (pixel data among them),
    and pydicom writes those as they are, after their tag, VR and length: that is done here directly. So are
    the ASCII strings and the sequences de-identification set (`_string_value`, `_sequence_value`) and the
    file meta group; any other element still goes through pydicom's own `write_data_element`. Only the common
    uncompressed little-endian syntaxes, read in the syntax they are written in, take this path; anything else
    (compressed pixel data, big endian, deflate, a changed character set) is left to `save_as`. The tests
    compare the bytes with save_as's for the phantoms and pydicom's own test files.
    """
    meta = ds.file_meta
    implicit = _FAST_SYNTAXES.get(meta.get("TransferSyntaxUID"))
    if implicit is None or ds.original_encoding != (implicit, True) or (
            ds.original_character_set != ds._character_set):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()
    # What dcmwrite(enforce_file_format=True) does to the file meta before writing it (on its own copy; this
    # dataset is not used again).
    if "SOPClassUID" in ds and meta.get("MediaStorageSOPClassUID") != ds.SOPClassUID:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds and meta.get("MediaStorageSOPInstanceUID") != ds.SOPInstanceUID:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = False, True
    fp.write(ds.preamble if ds.preamble and len(ds.preamble) == 128 else b"\0" * 128)
    fp.write(b"DICM")
    _write_file_meta(fp, meta)
    fp.is_implicit_VR = implicit
    _write_elements(fp, ds, implicit, ds.get("SpecificCharacterSet", "iso8859"))
    return fp.getvalue()


def _write_file_meta(fp: DicomBytesIO, meta: FileMetaDataset) -> None:
    """The file meta group as write_file_meta_info(enforce_standard=True) writes it: the missing defaults added,
    the required elements checked, the group length first."""
    if meta.original_encoding not in ((False, True), (None, None)):
        write_file_meta_info(fp, meta, enforce_standard=True)
        return
    validate_file_meta(meta, enforce_standard=True)
    body = DicomBytesIO()
    body.is_implicit_VR, body.is_little_endian = False, True
    _write_elements(body, meta, False, "iso8859", skip=frozenset({0x00020000}))
    fp.write(struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, body.tell()))
    fp.write(body.getvalue())


def _write_elements(fp: DicomBytesIO, dataset: pydicom.Dataset, implicit: bool, character_set,
                    skip: frozenset = frozenset()) -> None:
    """`dataset`'s elements in tag order as write_dataset writes them: raw ones as they were read, the strings
    and sequences de-identification set encoded here, anything else by pydicom's `write_data_element`."""
    write = fp.write
    plain = _plain_character_set(character_set)
    for tag in sorted(dataset._dict):
        if tag & 0xFFFF == 0 and tag >> 16 > 6 or tag in skip:
            continue  # retired group lengths, as write_dataset skips them
        element = dataset._dict[tag]
        vr = element.VR
        if type(element) is RawDataElement:
            value = element.value if element.length != _UNDEFINED_LENGTH else None
        elif vr == "SQ":
            value = _sequence_value(element, implicit, character_set)
        else:
            value = _string_value(element.value, vr) if plain else None
        if value is not None:
            if implicit:
                write(struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(value)))
                write(value)
                continue
            if vr in _LENGTH_32:
                write(struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(value)))
                write(value)
                continue
            if vr and len(vr) == 2 and len(value) <= 0xFFFF:
                write(struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)))
                write(value)
                continue
        write_data_element(fp, dataset.get_item(tag), character_set)


# The string VRs pydicom writes as text (padded with a space) or as UIDs (padded with NUL).
_STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "SH", "LO", "ST", "LT", "UT", "UC", "UR", "PN", "UI"})


def _plain_character_set(character_set) -> bool:
    """True where ASCII text is written as ASCII bytes: one single-byte or UTF-8 character set, no ISO 2022
    code extensions (their escape sequences are pydicom's to write)."""
    return isinstance(character_set, str) and "2022" not in character_set


def _string_value(value, vr: str) -> bytes | None:
    """The value bytes of an ASCII string element (one value or several) as pydicom's writers produce them;
    None for anything else, which pydicom then writes."""
    if vr not in _STRING_VRS:
        return None
    if value is None or value == "":
        return b""
    values = value if isinstance(value, (MultiValue, list, tuple)) else [value]
    try:
        text = "\\".join(str(item) if vr == "PN" else item for item in values)
    except TypeError:
        return None  # a date or time object, bytes: pydicom formats those
    if not isinstance(text, str) or not text.isascii():
        return None
    if len(text) % 2:
        text += "\0" if vr == "UI" else " "
    return text.encode()


def _sequence_value(element, implicit: bool, character_set) -> bytes | None:
    """A sequence's value bytes (its items, each with its length), as write_sequence writes them; None for an
    undefined length or an item with its own character set or encoding, left to pydicom."""
    if element.is_undefined_length:
        return None
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, True
    for item in element.value:
        if (getattr(item, "is_undefined_length_sequence_item", False) or "SpecificCharacterSet" in item
                or item.original_encoding not in ((implicit, True), (None, None))):
            return None
        body = DicomBytesIO()
        body.is_implicit_VR, body.is_little_endian = implicit, True
        _write_elements(body, item, implicit, character_set)
        fp.write(struct.pack("<HHL", 0xFFFE, 0xE000, body.tell()))
        fp.write(body.getvalue())
    return fp.getvalue()


# Where uploads come from --------------------------------------------------------------------------------------

ZIP_MAGIC = b"PK\x03\x04"


def safe_member_name(name: str) -> str:
    """Rejects zip entries that would escape the archive (zip-slip): absolute paths, drive letters, '..'."""
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DicomRejected(name or "<empty>", "absolute path in archive")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        raise DicomRejected(name, "'..' in archive path")
    return "/".join(parts)


def zip_members(
    data: bytes,
    *,
    name: str,
    max_file_bytes: int,
    max_total_bytes: int,
    max_members: int = 20000,
    max_ratio: float | None = None,
    ratio_floor_bytes: int = 0,
) -> Iterator[tuple[str, bytes]]:
    """Yields (name, bytes) of the zip's files; refuses a zip bomb before inflating anything.

    Checked first, from the central directory alone: every entry's name (zip-slip), the number of files, each
    declared size, their sum, and, once the sum passes `ratio_floor_bytes`, how many times the archive would
    grow (`max_ratio`). Declared sizes can lie, so each member is then read with a bounded read and the bytes
    actually inflated are counted against the same limits. Over-size answers carry status 413.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise DicomRejected(name, f"corrupt zip archive ({error})")
    if len(infos) > max_members:
        raise DicomRejected(name, f"archive holds {len(infos)} files, more than the limit of {max_members}", 413)
    total = 0
    for info in infos:
        safe_member_name(info.filename)
        if info.file_size > max_file_bytes:
            raise DicomRejected(info.filename, f"file over the size limit of {max_file_bytes} bytes", 413)
        total += info.file_size
    if total > max_total_bytes:
        raise DicomRejected(name, f"archive unpacks to more than {max_total_bytes} bytes", 413)
    if max_ratio and total > ratio_floor_bytes and total > max_ratio * max(len(data), 1):
        raise DicomRejected(name, f"archive would unpack to {total} bytes, {total // max(len(data), 1)} times its "
                                  f"size (the limit is {max_ratio:g} times): refused as a zip bomb", 413)
    inflated = 0
    for info in infos:
        try:
            with archive.open(info) as member:
                content = member.read(max_file_bytes + 1)
        except (zipfile.BadZipFile, zlib.error, ValueError, NotImplementedError, OSError, EOFError) as error:
            raise DicomRejected(info.filename, f"corrupt zip entry ({error})")
        if len(content) > max_file_bytes:
            raise DicomRejected(info.filename, f"file over the size limit of {max_file_bytes} bytes", 413)
        inflated += len(content)
        if inflated > max_total_bytes:
            raise DicomRejected(name, f"archive unpacks to more than {max_total_bytes} bytes", 413)
        yield f"{name}/{safe_member_name(info.filename)}", content


def looks_like_dicom(content: bytes) -> bool:
    return len(content) >= 132 and content[128:132] == b"DICM"


def path_sources(path: Path | str, *, max_file_bytes: int) -> Iterator[tuple[str, bytes, bool]]:
    """Yields (name, bytes, from_container) for a file, a zip or every file below a folder.

    Files found inside a folder or archive may be something other than DICOM (README, viewer software on a
    CD): those are skipped by the caller, whereas a file named explicitly must be DICOM.
    """
    path = Path(path)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for file_name in sorted(files):
                file_path = Path(root) / file_name
                if file_path.stat().st_size > max_file_bytes:
                    raise DicomRejected(str(file_path), f"file over the size limit of {max_file_bytes} bytes", 413)
                yield str(file_path.relative_to(path)), file_path.read_bytes(), True
    elif path.is_file():
        if path.stat().st_size > max_file_bytes:
            raise DicomRejected(str(path), f"file over the size limit of {max_file_bytes} bytes", 413)
        yield path.name, path.read_bytes(), False
    else:
        raise DicomRejected(str(path), "no such file or folder")
