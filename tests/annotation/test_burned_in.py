"""Images that may show the patient's name on the pixels: refused, or held back for a coordinator's review."""
import io

import pydicom
import pytest
from pydicom.data import get_testdata_file

from annotation import services
from annotation.models import AuditEvent, Case, Instance, Role
from tests.annotation.test_ingest import GOOD, upload
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def burned_in(**changes) -> bytes:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def secondary_capture() -> bytes:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("content", [burned_in(), secondary_capture()], ids=["BurnedInAnnotation", "screenshot"])
def test_a_burned_in_image_is_refused_naming_the_file_and_nothing_is_stored(client, coordinator, project,
                                                                            content):
    response = upload(client, coordinator, ("good.dcm", GOOD), ("scan-with-name.dcm", content))

    assert response.status_code == 400
    assert [e["file"] for e in response.json()["errors"]] == ["scan-with-name.dcm"]
    assert "burned-in" in response.json()["errors"][0]["reason"]
    assert (Case.objects.count(), Instance.objects.count()) == (0, 0)


def test_accepted_burned_in_images_are_held_back_from_readers_until_cleared(client, coordinator, project):
    project.accept_burned_in = True
    project.save()
    reader = make_user("reader9", Role.READER)
    assert upload(client, coordinator, ("scan-with-name.dcm", burned_in())).status_code == 201
    instance = Instance.objects.get()
    case = instance.series.case
    services.case_assign(case=case, user=reader, role=Role.READER)
    assert instance.burned_in == Instance.BurnedIn.PENDING

    client.force_login(reader)
    assert client.get(f"/api/instances/{instance.pk}/dicom").status_code == 404
    assert client.get(f"/api/cases/{case.pk}/").json()["series"][0]["instances"] == []
    assert f"/api/instances/{instance.pk}/dicom" not in client.get(f"/cases/{case.pk}/read/").content.decode()
    assert client.post(f"/api/instances/{instance.pk}/burned-in/clear/").status_code == 404

    client.force_login(coordinator)
    assert [row["id"] for row in client.get("/api/projects/lumbar/burned-in/").json()] == [instance.pk]
    assert client.get(f"/api/instances/{instance.pk}/dicom").status_code == 200  # to review it
    response = client.post(f"/api/instances/{instance.pk}/burned-in/clear/")
    assert response.status_code == 200 and response.json()["burned_in"] == "cleared"
    assert AuditEvent.objects.filter(action="burned_in_clear", actor=coordinator,
                                     object_id=str(instance.pk)).exists()
    assert client.post(f"/api/instances/{instance.pk}/burned-in/clear/").status_code == 404  # once only

    client.force_login(reader)
    assert client.get(f"/api/instances/{instance.pk}/dicom").status_code == 200


def test_a_projects_safe_private_tags_survive_de_identification_and_nothing_else_private(client, coordinator,
                                                                                         project):
    from django.core.exceptions import ValidationError

    from annotation.models import validate_private_tags

    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    block = ds.private_block(0x0019, "SPINEREAD TEST", create=True)
    block.add_new(0x0C, "DS", "1000")      # (0019,xx0C): kept
    block.add_new(0x0D, "LO", "PHI-PRIVATE-NAME")  # (0019,xx0D): removed
    creator_element = block.block_start >> 8 & 0xFF
    buffer = io.BytesIO()
    ds.save_as(buffer)
    project.safe_private_tags = ["0019,0010", f"0019,{creator_element:02x}0c"]
    project.full_clean()
    project.save()

    assert upload(client, coordinator, ("private.dcm", buffer.getvalue())).status_code == 201
    stored = Instance.objects.get().file.open("rb").read()
    kept = pydicom.dcmread(io.BytesIO(stored))
    assert kept[0x0019, creator_element << 8 | 0x0C].value == "1000"
    assert (0x0019, creator_element << 8 | 0x0D) not in kept and b"PHI-PRIVATE-NAME" not in stored
    with pytest.raises(ValidationError):
        validate_private_tags(["0008,0020"])  # a public attribute is not a private tag
