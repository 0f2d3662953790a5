"""The demo serves the shipped starter model, so its first case shows model pre-annotations."""
import pytest
from django.core.management import call_command

from annotation.models import Case, Finding, Source
from mlbackend.models import ModelVersion
from mlbackend.services.registry import STARTER_WEIGHTS


@pytest.mark.slow
@pytest.mark.django_db
def test_demo_serves_the_starter_model_and_pre_annotates_its_first_case(settings, tmp_path):
    assert STARTER_WEIGHTS.exists() and STARTER_WEIGHTS.stat().st_size < 8 * 1024 * 1024
    settings.VAR_DIR = tmp_path

    call_command("demo", "--no-serve", "--cases", "1")

    version = ModelVersion.objects.get(project__slug="demo")
    assert (version.version, version.decision) == (1, ModelVersion.Decision.REGISTERED)
    first = Case.objects.filter(project__slug="demo").order_by("id").first()
    findings = Finding.objects.filter(case=first, source=Source.MODEL, model_version="demo-v1")
    assert findings.filter(finding_type="pfirrmann").exists()
