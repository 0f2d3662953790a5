"""The DICOM JSON model (PS3.18 F.2) of what DICOMweb answers: QIDO-RS results, WADO-RS metadata, STOW-RS responses.

Search results are built from the database rows (Case, Series, Instance: what ingest stored after
de-identification); attributes the database does not keep come from the stored file's header when the client
asks for them (`includefield`). Metadata is the stored file's header through pydicom's `Dataset.to_json_dict`,
with bulk data (pixel data, large binary values) as a BulkDataURI to the instance, never inline.
"""
from __future__ import annotations

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from annotation.models import Case, Instance, Series

# Binary values over this many bytes are not inlined in metadata: the client retrieves them from the instance.
BULK_DATA_THRESHOLD = 1024
PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
RETRIEVE_URL = "00081190"


def _tag(tag: int) -> str:
    return f"{tag:08X}"


def element(vr: str, *values) -> dict:
    """One attribute of the JSON model; PN values are objects with an Alphabetic component (F.2.2)."""
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return {"vr": vr}
    if vr == "PN":
        present = [{"Alphabetic": str(v)} for v in present]
    return {"vr": vr, "Value": present}


def patient_id(case: Case) -> str:
    """The PatientID the stored files hold (annotation.deid writes the first 16 characters of the key)."""
    return case.patient_key[:16]


def patient_name(case: Case) -> str:
    return f"ANON^{case.patient_key[:8]}"


def study_attributes(case: Case, *, series_count: int, instance_count: int, url: str) -> dict:
    """A study's QIDO-RS attributes, counting only the series and instances the caller may see."""
    return {
        "00080020": element("DA", case.study_date.strftime("%Y%m%d") if case.study_date else None),
        "00080061": element("CS", case.modality or None),
        "00100010": element("PN", patient_name(case)),
        "00100020": element("LO", patient_id(case)),
        "0020000D": element("UI", case.study_instance_uid),
        "00201206": element("IS", series_count),
        "00201208": element("IS", instance_count),
        RETRIEVE_URL: element("UR", url),
    }


def series_attributes(series: Series, *, instance_count: int, url: str) -> dict:
    case = series.case
    return {
        "00080060": element("CS", case.modality or None),
        "0008103E": element("LO", series.description or None),
        "0020000D": element("UI", case.study_instance_uid),
        "0020000E": element("UI", series.series_instance_uid),
        "00200011": element("IS", series.series_number),
        "00201209": element("IS", instance_count),
        RETRIEVE_URL: element("UR", url),
    }


def instance_attributes(instance: Instance, *, url: str) -> dict:
    series = instance.series
    return {
        "00080018": element("UI", instance.sop_instance_uid),
        "0020000D": element("UI", series.case.study_instance_uid),
        "0020000E": element("UI", series.series_instance_uid),
        "00200013": element("IS", instance.instance_number),
        "00280010": element("US", instance.rows),
        "00280011": element("US", instance.columns),
        RETRIEVE_URL: element("UR", url),
    }


def includefield_tags(values: list[str]) -> set[str] | str | None:
    """The `includefield` values as 8-digit hex tags, "all", or None when none were asked for.

    Raises ValueError naming a value that is neither a keyword nor a tag (the caller answers 400).
    """
    tags: set[str] = set()
    for value in (v.strip() for raw in values for v in raw.split(",")):
        if not value:
            continue
        if value.lower() == "all":
            return "all"
        tags.add(tag_hex(value))
    return tags or None


def tag_hex(value: str) -> str:
    """A keyword (PatientID) or a tag (00100020) as the JSON model's 8-digit upper-case hex key."""
    tag = tag_for_keyword(value)
    if tag is None:
        if len(value) != 8:
            raise ValueError(f"not a DICOM attribute keyword or tag: {value!r}")
        try:
            tag = int(value, 16)
        except ValueError:
            raise ValueError(f"not a DICOM attribute keyword or tag: {value!r}") from None
    return _tag(tag)


def header(instance: Instance) -> Dataset:
    """The stored (de-identified) file's header, without the pixel data."""
    with instance.file.open("rb") as handle:
        return pydicom.dcmread(handle, stop_before_pixels=True)


def dataset_json(ds: Dataset, *, bulk_url: str) -> dict:
    """The dataset in the JSON model; pixel data and large binary values as a BulkDataURI to `bulk_url`."""
    for tag in PIXEL_TAGS:
        if tag in ds:
            del ds[tag]
    ds.file_meta = None  # the file meta group (0002) is the file's wrapper, not part of the dataset

    def bulk(_element) -> str:
        return bulk_url

    return ds.to_json_dict(bulk_data_threshold=BULK_DATA_THRESHOLD, bulk_data_element_handler=bulk)


def metadata_json(instance: Instance, *, url: str) -> dict:
    """WADO-RS metadata of one instance; its pixel data is a BulkDataURI to the instance's frames."""
    ds = header(instance)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    data = dataset_json(ds, bulk_url=url)
    data["7FE00010"] = {"vr": "OW", "BulkDataURI": f"{url}/frames/{','.join(str(n) for n in range(1, frames + 1))}"}
    return data


def merge_included(attributes: dict, included: set[str] | str | None, instance: Instance | None, *,
                   bulk_url: str) -> dict:
    """Adds the asked-for attributes the database does not keep, from a stored file's header.

    `instance` is the instance itself, or the first of the series or study the result describes.
    """
    if included is None or instance is None:
        return attributes
    from_file = dataset_json(header(instance), bulk_url=bulk_url)
    for tag, value in from_file.items():
        if tag not in attributes and (included == "all" or tag in included):
            attributes[tag] = value
    return attributes


def with_sop_class(attributes: dict, instance: Instance) -> dict:
    """Instance results carry their SOP Class UID (viewers choose how to show an image by it)."""
    sop_class = header(instance).get("SOPClassUID")
    attributes["00080016"] = element("UI", str(sop_class) if sop_class else None)
    return attributes


def store_response(*, referenced: list[dict], failed: list[dict], study_url: str | None) -> dict:
    """The STOW-RS response (PS3.18 10.5.3): what was stored and what failed, with a reason code each."""
    body: dict = {}
    if study_url:
        body[RETRIEVE_URL] = element("UR", study_url)
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [{
            "00081150": element("UI", item.get("sop_class_uid")),
            "00081155": element("UI", item.get("sop_instance_uid")),
            "00081197": element("US", item["reason_code"]),
        } for item in failed]}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": [{
            "00081150": element("UI", item.get("sop_class_uid")),
            "00081155": element("UI", item.get("sop_instance_uid")),
            **({RETRIEVE_URL: element("UR", item["url"])} if item.get("url") else {}),
        } for item in referenced]}
    return body
