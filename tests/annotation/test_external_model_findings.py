"""An imported external model's findings and our served model's live side by side: neither replaces the other,
and the double reading's readers see only ours."""
import pytest

from annotation import services
from annotation.models import Finding, Role
from tests.conftest import make_user
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def _finding(value):
    return services.ModelFindingInput(disc_level="L4/L5", finding_type="pfirrmann", value=value, score=0.8)


def test_external_and_served_model_findings_never_replace_each_other(client, project):
    case = CaseFactory(project=project)
    services.model_findings_replace(case=case, model_version="v1", findings=[_finding("3")])
    services.model_findings_replace(case=case, model_version="external:other", findings=[_finding("4")])
    services.model_findings_replace(case=case, model_version="v2", findings=[_finding("2")])
    assert sorted(Finding.objects.filter(case=case).values_list("model_version", "value")) == [
        ("external:other", "4"), ("v2", "2")]
    services.model_findings_replace(case=case, model_version="external:other", findings=[])
    assert list(Finding.objects.filter(case=case).values_list("model_version", flat=True)) == ["v2"]

    services.model_findings_replace(case=case, model_version="external:other", findings=[_finding("4")])
    reader = make_user("r", Role.READER, project=project)
    services.case_assign(case=case, user=reader, role=Role.READER)
    client.force_login(reader)
    shown = client.get(f"/api/cases/{case.pk}/model-findings/").json()
    assert [(f["model_version"], f["value"]) for f in shown] == [("v2", "2")]
