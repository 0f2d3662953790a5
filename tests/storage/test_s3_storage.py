"""With S3 settings every stored file is an object in the bucket (a real S3-protocol server on loopback) and
nothing lands under MEDIA_ROOT: DICOM uploaded through the API, the chunks of a resumable upload, model weights.
What is stored is read back through the same API the viewer and DICOMweb clients use."""
import io

import pydicom
import pytest
from PIL import Image

from annotation.models import Case, Instance, Upload
from tests.annotation.test_upload_api import CHUNK, put_chunk, start, zip_of
from tests.storage.conftest import files_under, s3_objects

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory) -> dict[str, bytes]:
    from fixtures.phantoms import generate_phantoms

    out = tmp_path_factory.mktemp("phantoms")
    generate_phantoms(n_cases=1, out_dir=out, seed=5)
    return {p.name: p.read_bytes() for p in sorted(out.rglob("*.dcm"))}


def test_a_study_uploaded_through_the_api_is_objects_in_the_bucket_and_renders_from_there(
        client, coordinator, project, phantom_files, s3, media_root):
    client.force_login(coordinator)
    files = [io.BytesIO(content) for content in phantom_files.values()]
    for handle, name in zip(files, phantom_files):
        handle.name = name

    response = client.post(f"/api/projects/{project.slug}/dicom/", {"files": files})

    assert response.status_code == 201, response.content
    instances = list(Instance.objects.select_related("series__case"))
    assert len(instances) == len(phantom_files) == response.json()["instances_created"]
    objects = s3_objects(s3)
    assert sorted(objects) == sorted(i.file.name for i in instances)
    assert all(name.startswith(f"dicom/{project.slug}/") for name in objects)
    assert files_under(media_root) == []
    instance = instances[0]
    assert pydicom.dcmread(io.BytesIO(objects[instance.file.name])).SOPInstanceUID == instance.sop_instance_uid

    raw = client.get(f"/api/instances/{instance.pk}/dicom")
    assert raw.status_code == 200 and b"".join(raw.streaming_content) == objects[instance.file.name]
    rendered = client.get(f"/dicomweb/studies/{instance.series.case.study_instance_uid}/series/"
                          f"{instance.series.series_instance_uid}/instances/{instance.sop_instance_uid}/rendered",
                          HTTP_ACCEPT="image/png")
    assert rendered.status_code == 200 and rendered["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(rendered.content)).size == (instance.columns, instance.rows)
    assert files_under(media_root) == []


def test_a_chunked_upload_keeps_its_chunks_in_the_bucket_and_deletes_them_once_ingested(
        client, coordinator, project, phantom_files, s3, media_root):
    content = zip_of(phantom_files)
    client.force_login(coordinator)
    url = start(client, project.slug, "study.zip", len(content)).json()["url"]
    assert put_chunk(client, url, content, 0).status_code == 200
    upload = Upload.objects.get()

    assert s3_objects(s3, "uploads-partial/") == {f"uploads-partial/{upload.pk}/0": content[:CHUNK]}
    assert put_chunk(client, url, content, 0).status_code == 409  # a repeated chunk changes nothing
    assert s3_objects(s3, "uploads-partial/") == {f"uploads-partial/{upload.pk}/0": content[:CHUNK]}
    for offset in range(CHUNK, len(content), CHUNK):
        last = put_chunk(client, url, content, offset)
        assert last.status_code == 200, last.content

    assert last.json()["status"] == "done"
    assert {entry["result"] for entry in last.json()["results"]} == {"stored"}
    assert s3_objects(s3, "uploads-partial/") == {}
    assert sorted(s3_objects(s3)) == sorted(Instance.objects.values_list("file", flat=True))
    assert Case.objects.count() == 1 and Instance.objects.count() == len(phantom_files)
    assert files_under(media_root) == []


def test_model_weights_are_registered_into_the_bucket_and_fetched_to_the_cache_once(
        project, s3, media_root, settings, tmp_path):
    from mlbackend.adapter import file_sha256
    from mlbackend.selectors import model_file
    from mlbackend.services.registry import STARTER_WEIGHTS, starter_register

    settings.ML_MODEL_CACHE_DIR = tmp_path / "model-cache"
    version = starter_register(project=project)

    assert s3_objects(s3) == {f"ml/models/{project.slug}/v1.pt": STARTER_WEIGHTS.read_bytes()}
    assert version.file == f"ml/models/{project.slug}/v1.pt" and version.sha256 == file_sha256(STARTER_WEIGHTS)
    local = model_file(version)
    assert local.parent == settings.ML_MODEL_CACHE_DIR / "ml" / "models" / project.slug and local.suffix == ".pt"
    assert local.read_bytes() == STARTER_WEIGHTS.read_bytes()
    first = local.stat()
    assert model_file(version) == local
    assert (local.stat().st_ino, local.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # not fetched again
    assert files_under(media_root) == []


def test_weights_changed_in_the_bucket_are_refused_and_no_local_copy_is_kept(project, s3, settings, tmp_path):
    from mlbackend.selectors import ModelFileCorrupt, model_file
    from mlbackend.services.registry import starter_register
    from tests.storage.conftest import s3_client

    settings.ML_MODEL_CACHE_DIR = tmp_path / "model-cache"
    version = starter_register(project=project)
    s3_client(s3).put_object(Bucket=s3["S3_BUCKET"], Key=version.file, Body=b"not the registered weights")

    with pytest.raises(ModelFileCorrupt, match="sha256 is not the registered"):
        model_file(version)
    assert files_under(settings.ML_MODEL_CACHE_DIR) == []
