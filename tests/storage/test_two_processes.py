"""Files written by one process are read by another, as web and workers on different hosts do: a separate
`manage.py` process, sharing only the database and the bucket, imports a phantom study and registers a model;
this process reads the DICOM bytes and fetches the weights (sha256-checked, a damaged local copy replaced)."""
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from django.conf import settings as django_settings
from django.db import connection

from annotation.models import Instance
from mlbackend.models import ModelVersion
from tests.storage.conftest import files_under, s3_objects

ROOT = Path(__file__).resolve().parents[2]

# What the other process runs: the import command a coordinator uses, then the starter model's registration.
WRITER = """
from django.core.management import call_command
from annotation.models import Project
from mlbackend.services.registry import starter_register
call_command("import_dicom", {folder!r}, project={slug!r})
print("registered", starter_register(project=Project.objects.get(slug={slug!r})).pk)
"""


def other_process(code: str, *, s3: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    env = dict(os.environ, **s3,
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
               SECRET_KEY=django_settings.SECRET_KEY, DEID_SALT=django_settings.DEID_SALT,
               # A host of its own: its own var/ and MEDIA_ROOT, which must stay empty.
               SPINEREAD_VAR_DIR=str(tmp_path / "other-var"), MEDIA_ROOT=str(tmp_path / "other-media"),
               ML_MODEL_CACHE_DIR=str(tmp_path / "other-cache"), SPINEREAD_AFTER_IMPORT="")
    env.pop("CELERY_BROKER_URL", None)  # nothing is sent to a worker from there
    return subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # committed rows: the other process sees them
def test_what_another_process_stored_is_read_here_from_the_bucket(project, s3, media_root, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("two processes share a database server only (PostgreSQL); the test database here is SQLite's")
    from fixtures.phantoms import generate_phantoms
    from mlbackend.selectors import model_file
    from mlbackend.services.registry import STARTER_WEIGHTS

    generate_phantoms(n_cases=1, out_dir=tmp_path / "phantoms", seed=9)
    sent = {p.name: pydicom.dcmread(p) for p in (tmp_path / "phantoms").rglob("*.dcm")}

    written = other_process(WRITER.format(folder=str(tmp_path / "phantoms"), slug=project.slug), s3=s3,
                            tmp_path=tmp_path)

    assert written.returncode == 0, written.stderr[-3000:]
    assert f"imported {len(sent)} new instances" in written.stdout
    assert files_under(tmp_path / "other-media") == [] and files_under(media_root) == []
    objects = s3_objects(s3)
    instances = list(Instance.objects.all())
    assert len(instances) == len(sent)
    assert sorted(objects) == sorted([i.file.name for i in instances] + [f"ml/models/{project.slug}/v1.pt"])
    for instance in instances:
        with instance.file.open("rb") as handle:
            stored = handle.read()
        assert stored == objects[instance.file.name]
        assert pydicom.dcmread(instance.file.open("rb")).SOPInstanceUID == instance.sop_instance_uid

    version = ModelVersion.objects.get(project=project)
    settings.ML_MODEL_CACHE_DIR = tmp_path / "cache"
    local = model_file(version)
    assert local.is_relative_to(tmp_path / "cache") and local.read_bytes() == STARTER_WEIGHTS.read_bytes()

    local.write_bytes(b"half a download" + local.read_bytes()[:1000])  # a damaged copy on this host
    again = model_file(version)

    assert again == local and again.read_bytes() == STARTER_WEIGHTS.read_bytes()
    assert [p.name for p in local.parent.iterdir()] == [local.name]  # no partial download left behind
