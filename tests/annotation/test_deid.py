"""De-identification (annotation.deid) through parse_and_deidentify: PHI at the top level and sequences deep."""
import io
from datetime import date

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from annotation import deid
from annotation.dicom import keyed_hash, parse_and_deidentify

SALT = "test-salt"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
PHI = {
    "StudyDescription": "PHI-STUDYDESC",
    "SeriesDescription": "t2_tse_sag PHI-SERIESDESC",
    "ProtocolName": "PHI-PROTOCOL",
    "PerformedProcedureStepDescription": "PHI-PPSDESC",
    "AdmittingDiagnosesDescription": "PHI-ADMITDIAG",
    "RequestedProcedureDescription": "PHI-REQPROCDESC",
    "DeviceSerialNumber": "PHI-SERIAL",
    "ImageComments": "PHI-IMGCOMMENTS",
    "InstitutionName": "PHI-INSTITUTION",
    "AccessionNumber": "PHI-ACCESSION",
}
NESTED_PHI = ("PHI-NESTEDID", "PHI-NESTEDMEANING", "PHI-DEEPCOMMENTS", "PHI-DEEPIMGCOMMENTS", "PHI-REFSTUDYDESC",
              "PHI-OTHERID", "PHI-PRIVATE", "PHI-NESTEDPRIVATE")
BIRTH_DATE, NESTED_BIRTH_DATE, STUDY_DATE = "19300102", "19310203", "20190317"


def _code(value: str, meaning: str, scheme: str = "99LOCAL") -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def phi_dataset(*, sop_uid: str | None = None, patient_id: str = "PHI-PATIENTID") -> pydicom.Dataset:
    """MR_small with PHI at the top level and up to three sequences deep, sagittal, PatientAge 95Y."""
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    if sop_uid:
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    ds.PatientID, ds.PatientName = patient_id, "PHI-NAME^JANE"
    ds.PatientBirthDate, ds.PatientAge, ds.StudyDate = BIRTH_DATE, "095Y", STUDY_DATE
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.ImagePositionPatient = [10.0, -100.0, 50.0]

    request = Dataset()
    request.RequestedProcedureID = "PHI-NESTEDID"
    request.RequestedProcedureCodeSequence = Sequence([_code("PHI1", "PHI-NESTEDMEANING")])
    context = Dataset()
    context.PatientComments = "PHI-DEEPCOMMENTS"
    context.ImageComments = "PHI-DEEPIMGCOMMENTS"
    context.PatientBirthDate = NESTED_BIRTH_DATE
    protocol = _code("PHI2", "PHI-NESTEDMEANING")
    protocol.ProtocolContextSequence = Sequence([context])
    request.ScheduledProtocolCodeSequence = Sequence([protocol])
    ds.RequestAttributesSequence = Sequence([request])

    referenced_study = Dataset()
    referenced_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    referenced_study.ReferencedSOPInstanceUID = "1.2.3.4.5.6"
    referenced_study.StudyDescription = "PHI-REFSTUDYDESC"
    ds.ReferencedStudySequence = Sequence([referenced_study])

    # A sequence the profile keeps: its nested descriptors, comments and IDs still go.
    region = _code("T-D0146", "Lumbar spine", "SRT")
    region.ImageComments = "PHI-DEEPIMGCOMMENTS"
    region.AnatomicRegionModifierSequence = Sequence([_code("PHI3", "PHI-NESTEDMEANING")])
    other = Dataset()
    other.PatientID = "PHI-OTHERID"
    other.PatientBirthDate = NESTED_BIRTH_DATE
    region.OtherPatientIDsSequence = Sequence([other])
    region.PatientBirthDate = NESTED_BIRTH_DATE
    ds.AnatomicRegionSequence = Sequence([region])

    ds.private_block(0x0009, "PHI CREATOR", create=True).add_new(0x10, "LO", "PHI-PRIVATE")
    ds.private_block(0x0019, "SAFE CREATOR", create=True).add_new(0x10, "DS", "1.5")
    region.private_block(0x0009, "PHI CREATOR", create=True).add_new(0x10, "LO", "PHI-NESTEDPRIVATE")
    return ds


def to_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def parsed(ds: pydicom.Dataset, salt: str = SALT, **kwargs):
    return parse_and_deidentify(to_bytes(ds), name="phi.dcm", salt=salt, **kwargs)


def stored(instance) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(instance.content))


def test_no_phi_string_survives_in_the_saved_bytes_or_the_parsed_instance():
    original = phi_dataset()
    instance = parsed(original)

    tokens = [*PHI.values(), *NESTED_PHI, "PHI-PATIENTID", "PHI-NAME", BIRTH_DATE, NESTED_BIRTH_DATE, STUDY_DATE,
              str(original.SOPInstanceUID), str(original.StudyInstanceUID), str(original.SeriesInstanceUID)]
    text = repr(instance.__dict__ | {"content": None})
    for token in tokens:
        assert token.encode() not in instance.content, token
        assert token not in text, token
    ds = stored(instance)
    assert not [e for e in ds.iterall() if e.keyword == "PatientBirthDate"]
    assert not [e for e in ds.iterall() if e.keyword.endswith(("Description", "Comments"))
                and e.keyword != "SeriesDescription"]
    assert "RequestAttributesSequence" not in ds and len(ds.ReferencedStudySequence) == 0
    assert [c.CodeMeaning for c in ds.AnatomicRegionSequence] == ["Lumbar spine"]  # standard scheme: kept
    assert "CodeMeaning" not in ds.AnatomicRegionSequence[0].AnatomicRegionModifierSequence[0]  # local code


def test_series_description_is_derived_from_the_image_and_is_what_the_database_gets():
    instance = parsed(phi_dataset())

    assert stored(instance).SeriesDescription == instance.series["description"] == "T2 sagittal"
    assert (instance.series["sequence"], instance.series["plane"]) == ("T2", "sagittal")


def test_sequence_comes_from_timing_when_no_description_names_it():
    ds = phi_dataset()
    for keyword in ("SeriesDescription", "ProtocolName", "SequenceName"):
        ds.pop(keyword, None)
    ds.RepetitionTime, ds.EchoTime, ds.ScanningSequence = 500, 12, "SE"

    assert parsed(ds).series["description"] == "T1 sagittal"


@pytest.mark.parametrize("age, expected", [("095Y", "090Y"), ("090Y", "090Y"), ("045Y", "045Y"), ("006M", "006M")])
def test_patient_age_over_89_becomes_090Y(age, expected):
    ds = phi_dataset()
    ds.PatientAge = age

    assert stored(parsed(ds)).PatientAge == expected


def test_uids_map_the_same_with_one_salt_and_differently_with_another():
    first, again, other = parsed(phi_dataset()), parsed(phi_dataset()), parsed(phi_dataset(), salt="other-salt")

    uids = lambda i: (i.study_instance_uid, i.series_instance_uid, i.sop_instance_uid)  # noqa: E731
    assert uids(first) == uids(again)
    assert all(a != b for a, b in zip(uids(first), uids(other)))
    assert all(u.startswith("2.25.") and len(u) <= 64 for u in uids(first) + uids(other))
    ds = stored(first)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == first.sop_instance_uid
    assert ds.FrameOfReferenceUID == deid.mapped_uid(SALT, str(phi_dataset().FrameOfReferenceUID))


def test_a_reference_inside_a_sequence_points_at_the_mapped_referenced_file():
    localizer = phi_dataset(sop_uid="1.2.826.0.1.3680043.8.498.111")
    image = phi_dataset(sop_uid="1.2.826.0.1.3680043.8.498.222")
    reference = Dataset()
    reference.ReferencedSOPClassUID = localizer.SOPClassUID
    reference.ReferencedSOPInstanceUID = localizer.SOPInstanceUID
    image.ReferencedImageSequence = Sequence([reference])

    localizer_parsed, image_parsed = parsed(localizer), parsed(image)

    referenced = stored(image_parsed).ReferencedImageSequence[0]
    assert referenced.ReferencedSOPInstanceUID == localizer_parsed.sop_instance_uid
    assert referenced.ReferencedSOPClassUID == localizer.SOPClassUID  # class UIDs are kept


def test_method_is_declared_and_identity_marked_removed():
    ds = stored(parsed(phi_dataset()))

    codes = {(c.CodeValue, c.CodingSchemeDesignator) for c in ds.DeidentificationMethodCodeSequence}
    assert {("113100", "DCM"), ("113107", "DCM"), ("113105", "DCM")} <= codes
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.DeidentificationMethod


def test_dates_shift_by_the_same_days_for_one_patient_and_the_birth_date_goes():
    first = parsed(phi_dataset())
    later = phi_dataset()
    later.StudyDate = "20190417"
    second = parsed(later)

    assert first.patient_key == second.patient_key == keyed_hash(SALT, "PHI-PATIENTID")
    assert first.study_date != date(2019, 3, 17)
    assert (second.study_date - first.study_date).days == 31
    assert "PatientBirthDate" not in stored(first)


def test_private_tags_go_at_every_depth_except_a_safe_one():
    safe = frozenset({(0x0019, 0x1010)})
    ds = stored(parsed(phi_dataset(), safe_private_tags=safe))

    private = sorted((e.tag.group, e.tag.element) for e in ds.iterall() if e.tag.is_private)
    assert private == [(0x0019, 0x0010), (0x0019, 0x1010)]  # the safe tag and its creator
    assert ds[0x0019, 0x1010].value == 1.5
    assert not [e for e in stored(parsed(phi_dataset())).iterall() if e.tag.is_private]


@pytest.mark.parametrize("change, expected", [
    ({}, False),
    ({"BurnedInAnnotation": "YES"}, True),
    ({"BurnedInAnnotation": "NO"}, False),
    ({"SOPClassUID": SECONDARY_CAPTURE}, True),
    ({"SOPClassUID": SECONDARY_CAPTURE + ".4"}, True),
])
def test_burned_in_flag(change, expected):
    ds = phi_dataset()
    for keyword, value in change.items():
        setattr(ds, keyword, value)
    if "SOPClassUID" in change:
        ds.file_meta.MediaStorageSOPClassUID = change["SOPClassUID"]

    assert parsed(ds).burned_in is expected


def test_audit_is_clean_on_the_output_and_names_violations_on_the_original():
    safe = frozenset({(0x0019, 0x1010)})
    original = phi_dataset()

    assert deid.audit(stored(parsed(phi_dataset(), safe_private_tags=safe)), safe_private_tags=safe) == []
    problems = deid.audit(original, safe_private_tags=safe)
    assert "(0008,1030) StudyDescription present in ReferencedStudySequence[0]" in problems
    assert "(0008,1030) StudyDescription present at top level" in problems
    assert "(0010,0030) PatientBirthDate present in AnatomicRegionSequence[0]" in problems
    assert "(0010,1002) OtherPatientIDsSequence present in AnatomicRegionSequence[0]" in problems
    assert "(0012,0062) PatientIdentityRemoved is not YES" in problems
    assert "(0010,1010) PatientAge 095Y over 090Y at top level" in problems
    assert "(0020,000D) StudyInstanceUID not a mapped UID at top level" in problems
    assert "(0008,0050) AccessionNumber has an original value at top level" in problems
    assert any(p.startswith("(0009,1010)") and "AnatomicRegionSequence[0]" in p for p in problems)
    assert not any(p.startswith("(0019,1010)") for p in problems)


@pytest.mark.parametrize("file_name", ["MR_small.dcm", "CT_small.dcm", "MR_small_jp2klossless.dcm",
                                       "MR_small_RLE.dcm"])
def test_real_files_keep_their_pixels_and_pass_the_audit(file_name):
    path = get_testdata_file(file_name)
    with open(path, "rb") as handle:
        instance = parse_and_deidentify(handle.read(), name=file_name, salt=SALT)

    ds = stored(instance)
    assert np.array_equal(ds.pixel_array, pydicom.dcmread(path).pixel_array)
    assert deid.audit(ds) == []
