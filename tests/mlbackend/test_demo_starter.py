"""The demo serves the shipped starter model, so its first case shows model pre-annotations."""
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotation.models import Finding, Source
from annotation.schema import DEFAULT_SCHEMA
from annotation.selectors import worklist_for_reader
from mlbackend.models import ModelVersion
from mlbackend.services.registry import STARTER_WEIGHTS

LEVELS = DEFAULT_SCHEMA["levels"]


@pytest.mark.slow
@pytest.mark.django_db
def test_demo_serves_the_starter_model_and_pre_annotates_its_first_case(settings, tmp_path):
    assert STARTER_WEIGHTS.exists() and STARTER_WEIGHTS.stat().st_size < 8 * 1024 * 1024
    settings.VAR_DIR = tmp_path

    call_command("demo", "--no-serve", "--cases", "4")

    version = ModelVersion.objects.get(project__slug="demo")
    assert (version.version, version.decision) == (1, ModelVersion.Decision.REGISTERED)
    # the case reader1 opens first (active learning puts the model's least certain case on top) shows a
    # pre-annotated Pfirrmann grade on every disc level
    first = worklist_for_reader(get_user_model().objects.get(username="reader1"))[0]["case"]
    findings = Finding.objects.filter(case=first, source=Source.MODEL, model_version="demo-v1")
    assert set(findings.filter(finding_type="pfirrmann").values_list("disc_level", flat=True)) == set(LEVELS)
