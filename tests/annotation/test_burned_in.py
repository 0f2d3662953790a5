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
