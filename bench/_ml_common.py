"""Shared set-up of the ML benchmarks: Django, a temporary media folder, phantom ground truth in a project."""
import contextlib
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")

import django  # noqa: E402

django.setup()


@contextlib.contextmanager
def bench_folder():
    """A migrated database, no post-import hook (each bench runs what it measures itself) and media in a
    temporary folder, which it yields."""
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    settings.SPINEREAD_AFTER_IMPORT = ""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings.MEDIA_ROOT = tmp / "media"
        yield tmp


def phantom_ground_truth(project, phantom_dir: Path, case_truth: dict, readers):
    """Imports a phantom case and makes its ground truth the platform's way: two agreeing reads of its boxes."""
    from annotation import services
    from annotation.dicom import path_sources
    from annotation.models import Case, Instance, Role
    from fixtures.phantoms.truth import truth_instance, truth_value

    result = services.case_import(project=project, sources=path_sources(phantom_dir / case_truth["case_key"],
                                                                         max_file_bytes=10**8))
    case = Case.objects.get(pk=result.case_ids[0])
    findings = []
    for box in case_truth["boxes"]:
        instance = Instance.objects.get(series__case=case, **truth_instance(box["file"]))
        value = truth_value(box["value"])
        findings.append(services.FindingInput(disc_level=box["level"], finding_type=box["finding"], value=value,
                                              instance_id=instance.pk, box=tuple(box["box"])))
    for reader in readers:
        services.case_assign(case=case, user=reader, role=Role.READER)
        read = services.read_open(case=case, reader=reader)
        services.read_submit(read=read, reader=reader, findings=findings)
    return case


def bench_readers(prefix: str):
    from django.contrib.auth import get_user_model

    from annotation import services
    from annotation.models import Role

    users = []
    for name in ("a", "b"):
        user, _ = get_user_model().objects.get_or_create(username=f"{prefix}-reader-{name}")
        services.user_set_role(user=user, role=Role.READER)
        users.append(user)
    return users


def project_cleanup(project):
    from mlbackend.models import ModelVersion, ProjectModelSettings

    ProjectModelSettings.objects.filter(project=project).update(served_version=None)
    ModelVersion.objects.filter(project=project).update(parent=None)
    project.delete()
