"""De-identification to the Basic Application Level Confidentiality Profile of DICOM PS3.15 Annex E.

The table is not retyped here: the per-action tag lists of Table E.1-1 come from dicom-anonymizer 2.1.0
(KitwareMedical, `dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py`, transcribed from
DICOM PS3.15 2026c). That library applies its rules to the top level only, so the actions are applied here,
in one walk over the dataset, its file meta and every sequence item at any depth:

- X: removed. Z: emptied (a Z sequence loses its items). D: dummy value for the VR (a D sequence loses its
  items: our images never need them). U: UID replaced by "2.25." + a keyed hash of the original, so the same
  source UID maps to the same new UID in every import (re-imports stay idempotent, references inside a study
  such as ReferencedSOPInstanceUID or FrameOfReferenceUID stay valid). K: kept; sequences are walked.
- Combined actions take the choice that is conformant for any attribute type we ingest: X/Z and X/Z/D and
  Z/D -> Z, X/D -> D, X/Z/U* -> keep the sequence and walk it (its instance UIDs are U).
- C, Retain Longitudinal Temporal Information with Modified Dates (113107): dates and date-times the table
  names are shifted back by a per-patient keyed number of days; times of day are kept (the shift is whole
  days). The birth date and time are removed outright.
- Clean Descriptors (113105), applied by removal rather than cleaning since free text can't be reviewed:
  every *Description, *Comments, *Notes, *Narrative, ProtocolName, and CodeMeaning inside request,
  procedure, protocol or reason sequences or of a non-standard coding scheme, at any depth. The caller puts
  back a SeriesDescription derived from the image ("T2 sagittal").
- Retain Patient Characteristics (113108), partly: PatientAge (capped at 090Y) and PatientSex are kept for
  grading degeneration; size, weight, ethnic group and the rest stay removed.
- Private attributes are removed at every depth unless their (group, element) is on a safe list.
- Public attributes unknown to pydicom's dictionary are removed: we can't tell what they hold.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
from datetime import date, timedelta

from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table_e1_1
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

TABLE_SOURCE = "dicom-anonymizer 2.1.0 dicomfields_2026c: DICOM PS3.15 2026c Table E.1-1"
DEIDENTIFIED_MARK = "YES"  # PatientIdentityRemoved
METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113105", "Clean Descriptors Option"),
    ("113108", "Retain Patient Characteristics Option"),
)
METHOD_TEXT = (
    "PS3.15 E.1 basic profile, table of PS3.15 2026c",
    "dates shifted per patient; descriptors removed",
    "age (capped at 090Y) and sex kept",
)
MAX_AGE = "090Y"
DATE_SHIFT_MAX_DAYS = 3650
SECONDARY_CAPTURE_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
})
STANDARD_CODING_SCHEMES = frozenset({"DCM", "SCT", "SRT", "LN", "UCUM", "FMA", "RADLEX", "NCIt", "UMLS"})
DERIVED_DESCRIPTION = re.compile(
    r"((STIR|FLAIR|T2|T1|PD|SE|IR|GR|EP|RM|[A-Z]{2,4}) )?(sagittal|coronal|axial|other)")
PSEUDONYM_ID = re.compile(r"[0-9a-f]{16}")
PSEUDONYM_NAME = re.compile(r"ANON\^[0-9a-f]{8}")

_CODE_MEANING = 0x00080104
_SERIES_DESCRIPTION = 0x0008103E
_PATIENT_ID, _PATIENT_NAME = 0x00100020, 0x00100010
_REQUEST_CONTEXT = re.compile(r"Request|Procedure|Protocol|Reason|Admitting|Diagnos|Visit|Order|Indication|History")
_DESCRIPTOR = re.compile(r"(Description|Comments?|Notes|Narrative)$")
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_DUMMY = {**{vr: "ANONYMIZED" for vr in _TEXT_VRS}, "AS": "000Y", "DS": "0", "IS": "0",
          "UR": "http://anonymized.invalid", **{vr: b"\0" * 8 for vr in _BINARY_VRS},
          **{vr: 0 for vr in ("FD", "FL", "SL", "SS", "SV", "UL", "US", "UV")}}


def _table_actions() -> tuple[dict[int, str], list[tuple[int, int, int, int, str]]]:
    """Tag -> action from the library's lists, combined actions resolved; repeating groups kept as masks."""
    resolved = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z", "X_Z_TAGS": "Z",
                "X_D_TAGS": "D", "X_Z_D_TAGS": "Z", "X_Z_U_STAR_TAGS": "K"}
    actions, masks = {}, []
    for list_name, action in resolved.items():
        for entry in getattr(table_e1_1, list_name):
            if len(entry) == 4:
                masks.append((*entry, action))
            else:
                actions[(entry[0] << 16) | entry[1]] = action
    for tag, action in list(actions.items()):
        if _DESCRIPTOR.search(keyword_for_tag(tag)):
            actions[tag] = "X"
        elif action == "K" and dictionary_VR(tag) == "SQ":
            actions[tag] = "S"  # kept, and walked
    actions.update({
        0x00100030: "X", 0x00100032: "X",  # birth date and time: removed, not shifted
        0x00101010: "AGE", 0x00100040: "K",  # Retain Patient Characteristics, in part
        0x00181030: "X",  # ProtocolName: free text, although the table allows a dummy
        0x00020000: "K",  # file meta group length: written by pydicom itself
        0x00020016: "X", 0x00020017: "X", 0x00020018: "X",  # file meta AE titles name the sending site
        0x00020100: "X", 0x00020102: "X",  # file meta private information
    })
    return actions, masks


_ACTIONS, _MASKS = _table_actions()


def _action(tag: int) -> str:
    """The action for any tag, memoised: one dict lookup per element after the first sight of a tag."""
    action = _ACTIONS.get(tag)
    if action is not None:
        return action
    group, element = tag >> 16, tag & 0xFFFF
    if group & 1:
        action = "P"
    elif tag == _CODE_MEANING:
        action = "CM"
    else:
        keyword = keyword_for_tag(tag)
        action = "X" if not keyword or element == 0 or _DESCRIPTOR.search(keyword) else "K"
        for mask_group, mask_element, group_mask, element_mask, masked_action in _MASKS:
            if group & group_mask == mask_group & group_mask and element & element_mask == mask_element & element_mask:
                action = masked_action
                break
    if action == "K" and dictionary_VR(tag) == "SQ":
        action = "S"  # kept, and walked
    _ACTIONS[tag] = action
    return action


def _safe_creators(safe_private_tags: frozenset[tuple[int, int]]) -> frozenset[int]:
    return frozenset((g << 16) | (e >> 8) for g, e in safe_private_tags)


def _keyed(salt: str, value: str) -> bytes:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).digest()


@functools.lru_cache(maxsize=1 << 16)
def mapped_uid(salt: str, uid: str) -> str:
    """'2.25.' + 128 bits of HMAC-SHA256(salt, uid) as a decimal: at most 44 characters, fits a UI (64)."""
    return "2.25." + str(int.from_bytes(_keyed(salt, uid.strip())[:16], "big"))


def date_shift_days(salt: str, patient_key: str) -> int:
    return 1 + int.from_bytes(_keyed(salt, f"date-shift:{patient_key}")[:4], "big") % DATE_SHIFT_MAX_DAYS


def _shift(value: str, days: int, vr: str) -> str:
    value = value.strip()
    if len(value) < 8 or not value[:8].isdigit():
        return ""
    try:
        shifted = date(int(value[:4]), int(value[4:6]), int(value[6:8])) - timedelta(days=days)
    except ValueError:
        return ""
    return shifted.strftime("%Y%m%d") + (value[8:] if vr == "DT" else "")


def _age(value) -> str:
    """Ages over 89 years become 090Y (they identify); anything that is not an age string is dropped."""
    match = re.fullmatch(r"(\d{1,3})([DWMY])", str(value).strip().upper())
    if not match:
        return ""
    if match.group(2) == "Y" and int(match.group(1)) > 89:
        return MAX_AGE
    return f"{int(match.group(1)):03d}{match.group(2)}"


def burned_in(ds: Dataset) -> bool:
    """Pixels that may show text: marked so, a Secondary Capture (screenshots), or a screen save."""
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        return True
    if str(ds.get("SOPClassUID", "")) in SECONDARY_CAPTURE_CLASSES:
        return True
    image_type = ds.get("ImageType") or []
    values = [image_type] if isinstance(image_type, str) else list(image_type)
    return "SCREEN SAVE" in {str(v).strip().upper() for v in values}


def _code_meaning_removed(item: Dataset, in_request: bool) -> bool:
    return in_request or str(item.get("CodingSchemeDesignator", "")).strip() not in STANDARD_CODING_SCHEMES


def _walk(ds: Dataset, *, salt: str, days: int, safe: frozenset, creators: frozenset) -> None:
    stack = [(ds, False)]
    while stack:
        item, in_request = stack.pop()
        for tag in list(item.keys()):
            action = _action(tag)
            if action == "K":
                continue
            if action == "S":
                _push(stack, item, tag, in_request)
                continue
            if action == "X":
                del item[tag]
                continue
            if action == "P":
                if tag not in creators and (tag >> 16, tag & 0xFFFF) not in safe:
                    del item[tag]
                continue
            if action == "CM":
                if _code_meaning_removed(item, in_request):
                    del item[tag]
                continue
            element = item[tag]
            vr = element.VR
            if action == "AGE":
                element.value = _age(element.value) if element.value else element.value
            elif vr == "SQ":
                element.value = Sequence()
            elif vr in ("DA", "DT"):
                values = element.value if element.VM > 1 else [element.value or ""]
                shifted = [_shift(str(v), days, vr) for v in values]
                element.value = shifted if element.VM > 1 else shifted[0]
            elif vr == "TM":
                pass
            elif vr == "UI" and action in ("U", "D"):
                if element.VM > 1:
                    element.value = [mapped_uid(salt, str(v)) for v in element.value]
                elif element.value:
                    element.value = mapped_uid(salt, str(element.value))
            elif action == "D":
                element.value = _DUMMY.get(vr, None)
            else:  # Z, or a U on a non-UID VR
                element.value = None


def _push(stack: list, item: Dataset, tag: int, in_request: bool) -> None:
    in_request = in_request or bool(_REQUEST_CONTEXT.search(keyword_for_tag(tag)))
    for child in item[tag].value or ():
        stack.append((child, in_request))


def deidentify(ds: Dataset, *, salt: str, patient_key: str, series_description: str = "",
               safe_private_tags: frozenset[tuple[int, int]] = frozenset()) -> None:
    """De-identifies `ds` in place, file meta included; see the module docstring for what is done.

    `patient_key` (a keyed hash of the original patient) names the patient and sets the date shift, so that
    every file of one patient shifts by the same number of days. `series_description` replaces the original.
    """
    days = date_shift_days(salt, patient_key)
    options = dict(salt=salt, days=days, safe=safe_private_tags, creators=_safe_creators(safe_private_tags))
    _walk(ds, **options)
    if getattr(ds, "file_meta", None) is not None:
        _walk(ds.file_meta, **options)
        if "SOPInstanceUID" in ds:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = patient_key[:16]
    ds.PatientName = f"ANON^{patient_key[:8]}"
    if series_description:
        ds.SeriesDescription = series_description[:64]
    ds.PatientIdentityRemoved = DEIDENTIFIED_MARK
    ds.DeidentificationMethod = list(METHOD_TEXT)
    ds.DeidentificationMethodCodeSequence = Sequence(
        [_code(value, meaning) for value, meaning in METHOD_CODES])
    ds.LongitudinalTemporalInformationModified = "MODIFIED"


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def derived_series_description(sequence: str, plane: str, modality: str = "") -> str:
    """A SeriesDescription built from the image only, from a closed vocabulary ("T2 sagittal")."""
    label = sequence if sequence else (modality if re.fullmatch(r"[A-Z]{2,4}", modality or "") else "")
    return f"{label} {plane}".strip()


# Audit -------------------------------------------------------------------------------------------------------

def _where(path: str) -> str:
    return f"in {path}" if path else "at top level"


def _name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {keyword_for_tag(tag) or 'private or unknown attribute'}"


def audit(ds: Dataset, *, safe_private_tags: frozenset[tuple[int, int]] = frozenset()) -> list[str]:
    """Human-readable violations of the profile as applied by `deidentify`, at any depth; [] when clean.

    Dates can't be told from shifted ones and new UIDs from original ones, so dates aren't checked and UIDs
    are only checked to be under "2.25.".
    """
    creators = _safe_creators(safe_private_tags)
    problems = []
    if str(ds.get("PatientIdentityRemoved", "")).strip().upper() != DEIDENTIFIED_MARK:
        problems.append(f"(0012,0062) PatientIdentityRemoved is not {DEIDENTIFIED_MARK}")
    roots = [(ds, "", False)]
    if getattr(ds, "file_meta", None) is not None:
        roots.append((ds.file_meta, "file meta", False))
    while roots:
        item, path, in_request = roots.pop()
        for tag in list(item.keys()):
            problem = _audit_element(item, tag, path, in_request, safe_private_tags, creators)
            if problem:
                problems.append(problem)
            if _action(tag) not in ("X", "P", "K", "CM") and item[tag].VR == "SQ":
                keyword = keyword_for_tag(tag)
                child_request = in_request or bool(_REQUEST_CONTEXT.search(keyword))
                for index, child in enumerate(item[tag].value or ()):
                    child_path = f"{path} > {keyword}[{index}]" if path else f"{keyword}[{index}]"
                    roots.append((child, child_path, child_request))
    return problems


def _audit_element(item: Dataset, tag: int, path: str, in_request: bool, safe: frozenset,
                   creators: frozenset) -> str | None:
    action = _action(tag)
    top = not path
    if action in ("K", "S"):
        return None
    if action == "P":
        if tag in creators or (tag >> 16, tag & 0xFFFF) in safe:
            return None
        return f"{_name(tag)} present {_where(path)}"
    if action == "CM":
        return f"{_name(tag)} present {_where(path)}" if _code_meaning_removed(item, in_request) else None
    if action == "X":
        if top and tag == _SERIES_DESCRIPTION and DERIVED_DESCRIPTION.fullmatch(str(item[tag].value or "")):
            return None
        return f"{_name(tag)} present {_where(path)}"
    element = item[tag]
    vr, value = element.VR, element.value
    if action == "AGE":
        if value and _age(value) == MAX_AGE and str(value).strip().upper() != MAX_AGE:
            return f"{_name(tag)} {value} over {MAX_AGE} {_where(path)}"
        return f"{_name(tag)} {value!r} is not an age {_where(path)}" if value and not _age(value) else None
    if vr == "SQ":
        return f"{_name(tag)} holds {len(value)} item(s) {_where(path)}" if value else None
    if vr in ("DA", "DT", "TM"):
        return None
    if vr == "UI" and action in ("U", "D"):
        values = value if element.VM > 1 else [value] if value else []
        bad = [v for v in values if not str(v).startswith("2.25.")]
        return f"{_name(tag)} not a mapped UID {_where(path)}" if bad else None
    if top and (tag == _PATIENT_ID and PSEUDONYM_ID.fullmatch(str(value))
                or tag == _PATIENT_NAME and PSEUDONYM_NAME.fullmatch(str(value))):
        return None
    if element.is_empty or (action == "D" and value == _DUMMY.get(vr)):
        return None
    return f"{_name(tag)} has an original value {_where(path)}"
