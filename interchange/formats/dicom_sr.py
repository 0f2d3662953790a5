"""DICOM SR: one Comprehensive 3D SR per case, a TID 1500 measurement report whose planar ROI groups are the
ground-truth boxes (closed polylines in pixel coordinates) on the source images they were drawn on (highdicom).
"""
from __future__ import annotations

import io
from pathlib import Path

from interchange.formats.dataset import ExportBox, ExportImage, ExportSet, write_file

SCHEME = "99SPINEREAD"  # private coding scheme of the detector classes and findings
# De-identification removed some type 2 patient/study attributes that the SR copies from its evidence; type 2
# means present, possibly empty.
TYPE_2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "AccessionNumber", "StudyID")


def _evidence(image: ExportImage):
    source = image.dicom_header()
    for keyword in TYPE_2_COPIED:
        if keyword not in source:
            setattr(source, keyword, "")
    return source


def _code(value: str, meaning: str):
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)


def _roi_group(image: ExportImage, source, n: int, b: ExportBox):
    import highdicom as hd
    import numpy as np

    x0, y0, x1, y1 = b.box
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float),
        source_image=hd.sr.SourceImageForRegion.from_source_image(source))
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=hd.UID(), identifier=f"{b.disc_level} {b.finding}={b.value} ({image.instance_id}.{n})"),
        referenced_region=region,
        finding_type=_code(b.class_name, b.class_name),
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(
            name=_code(b.finding, b.finding),
            value=_code(f"{b.finding}:{b.value}", f"{b.finding} {b.value} at {b.disc_level}"))],
    )


def case_sr(images: list[ExportImage]) -> bytes:
    """The SR of one case's images, as a DICOM file."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources, groups = [], []
    for image in images:
        source = _evidence(image)
        sources.append(source)
        groups += [_roi_group(image, source, n, b) for n, b in enumerate(image.boxes)]
    observation_context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="SpineRead^GroundTruth")))
    report = hd.sr.MeasurementReport(observation_context=observation_context,
                                     procedure_reported=_code("MRLSPINE", "MR lumbar spine"),
                                     imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=sources, content=report[0], series_number=900, series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="SpineRead",
        series_description=f"Ground truth boxes (split {images[0].split})", is_complete=True, is_final=True)
    buffer = io.BytesIO()
    sr.save_as(buffer)
    return buffer.getvalue()


def write(data: ExportSet, out: Path) -> list[str]:
    """sr/case<id>.dcm for every case with boxes."""
    by_case: dict[int, list[ExportImage]] = {}
    for image in data.images:
        by_case.setdefault(image.case_id, []).append(image)
    return [write_file(out, f"sr/case{case_id}.dcm", case_sr(images)) for case_id, images in by_case.items()]
