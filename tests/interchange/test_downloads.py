"""The project's download page and its dataset zips: one per export format, for its coordinators only."""
import io
import zipfile

import pytest

from annotation.models import AuditEvent
from interchange.exports import FORMATS, dataset_export
from tests.conftest import make_user
from tests.interchange.conftest import phantom_project_with_truth

pytestmark = pytest.mark.django_db


@pytest.fixture
def downloadable(tmp_path, project):
    phantom_project_with_truth(tmp_path, project, n_cases=1, splits=("train",))
    return project


def _zip_names(response) -> list[str]:
    body = b"".join(response.streaming_content)
    return sorted(zipfile.ZipFile(io.BytesIO(body)).namelist())


def test_page_links_every_format_and_the_studies_reports(client, coordinator, project):
    client.force_login(coordinator)
    response = client.get(f"/projects/{project.slug}/downloads/")
    assert response.status_code == 200
    for fmt in FORMATS:
        assert f'href="/projects/{project.slug}/downloads/dataset.zip?format={fmt}"'.encode() in response.content
    assert b"No reader study in this project yet." in response.content
    assert b'id="downloads-link"' in client.get(f"/projects/{project.slug}/").content


@pytest.mark.parametrize("fmt", FORMATS)
def test_coordinator_gets_a_zip_of_the_export(client, coordinator, downloadable, tmp_path, fmt):
    client.force_login(coordinator)
    response = client.get(f"/projects/{downloadable.slug}/downloads/dataset.zip", {"format": fmt})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="{downloadable.slug}-{fmt}.zip"' in response["Content-Disposition"]
    expected = dataset_export(downloadable, fmt=fmt, out_dir=tmp_path / "expected")
    assert expected and _zip_names(response) == sorted(f"{downloadable.slug}-{fmt}/{name}" for name in expected)
    event = AuditEvent.objects.get(action="dataset_export")
    assert event.payload == {"format": fmt, "files": len(expected)}


def test_yolo_zip_holds_its_dataset_file_labels_and_images(client, coordinator, downloadable):
    client.force_login(coordinator)
    names = _zip_names(client.get(f"/projects/{downloadable.slug}/downloads/dataset.zip?format=yolo"))
    assert f"{downloadable.slug}-yolo/data.yaml" in names
    assert any(n.endswith(".png") for n in names) and any(n.endswith(".txt") for n in names)


def test_unknown_format_is_refused_in_words(client, coordinator, downloadable):
    client.force_login(coordinator)
    response = client.get(f"/projects/{downloadable.slug}/downloads/dataset.zip?format=nifti")
    assert response.status_code == 400
    assert b"format must be one of yolo" in response.content
    assert not AuditEvent.objects.filter(action="dataset_export").exists()


@pytest.mark.parametrize("path", ["downloads/", "downloads/dataset.zip?format=coco"])
def test_reader_and_other_coordinator_get_404(client, downloadable, path):
    for user in (make_user("reader9", "reader"), make_user("coord9", "coordinator")):
        client.force_login(user)
        assert client.get(f"/projects/{downloadable.slug}/{path}").status_code == 404
    assert not AuditEvent.objects.filter(action="dataset_export").exists()
