"""Every operation of /api/schema/, fuzzed by schemathesis as a coordinator and as a reader: no input is a 5xx.

Requests go to the WSGI application in process, on the test database, with HTTP Basic (no CSRF token needed).
Path ids are swapped for the ids of a small real project, so that the generated bodies reach the views
instead of a 404. The examples are few and derandomised so that CI stays fast and repeatable; locally,
FUZZ_EXAMPLES=200 fuzzes harder and FUZZ_RANDOM=1 draws new inputs each run. A failure prints the request that
reproduces it (a curl line).
"""
import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
import schemathesis
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from pydicom.data import get_testdata_file
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from annotation import services
from annotation.models import Adjudication, Case, Instance, Role, Series
from studies.models import StudySession
from tests.conftest import make_user
from tests.factories import unaided_study_of_one_case

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CONFIG = SchemathesisConfig.from_dict({
    "seed": 20261201,
    # The coverage phase would send every boundary value of every field: hundreds of requests an operation.
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "generation": {"max-examples": EXAMPLES, "mode": "all", "deterministic": not os.environ.get("FUZZ_RANDOM")},
})


def basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:pw-{username}".encode()).decode()


def _case_with_image(project, number: int, dicom: bytes) -> tuple[Case, Instance]:
    case = Case.objects.create(project=project, patient_key=f"{number:032x}", study_instance_uid=f"2.25.6{number}")
    series = Series.objects.create(case=case, series_instance_uid=f"2.25.5{number}", plane="sagittal")
    instance = Instance(series=series, sop_instance_uid=f"2.25.4{number}", sha256=hashlib.sha256(dicom).hexdigest(),
                        size_bytes=len(dicom), transfer_syntax_uid="1.2.840.10008.1.2.1", rows=64, columns=64)
    instance.file.save(f"fuzz/{number}.dcm", ContentFile(dicom), save=False)
    instance.save()
    return case, instance


def _submitted(case, reader, instance, box):
    read = services.read_open(case=case, reader=reader)
    return services.read_submit(read=read, reader=reader, findings=[services.FindingInput(
        disc_level="L4/L5", finding_type="pfirrmann", value="3", instance_id=instance.pk, box=box)])


@pytest.fixture
def api_world(db, coordinator, reader, other_reader):
    """One project (boxes of positive findings only): an imported MR case the reader has a draft of, a case the
    two readers disagree on (open for the senior to adjudicate), and a case with final ground truth in a reader
    study with one study reader."""
    project = services.project_create(slug="fuzzed", name="Fuzzed", actor=coordinator, labelling_mode="positive_only")
    dicom = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    imported = services.case_import(project=project, sources=[("MR_small.dcm", dicom, False)], actor=coordinator)
    draft_case = Case.objects.get(pk=imported.case_ids[0])
    services.case_assign(case=draft_case, user=reader, role=Role.READER, actor=coordinator)
    draft = services.read_open(case=draft_case, reader=reader)
    dicom = Instance.objects.get(series__case=draft_case).file.open("rb").read()  # de-identified, as stored

    disputed, disputed_image = _case_with_image(project, 1, dicom)
    senior = make_user("senior1", Role.SENIOR)
    services.case_assign(case=disputed, user=senior, role=Role.SENIOR, actor=coordinator)
    for user, box in ((reader, (10, 10, 30, 30)), (other_reader, (40, 40, 60, 60))):  # boxes apart: disputed
        services.case_assign(case=disputed, user=user, role=Role.READER, actor=coordinator)
        _submitted(disputed, user, disputed_image, box)
    adjudication = Adjudication.objects.get(case=disputed)

    truth_case, _ = _case_with_image(project, 2, dicom)
    study, _reader = unaided_study_of_one_case(case=truth_case, name="Fuzz study", coordinator=coordinator)
    return {
        "ids": {"slug": project.slug, "case_id": draft_case.pk, "read_id": draft.pk,
                "instance_id": draft_case.series.first().instances.first().pk, "adjudication_id": adjudication.pk,
                "study_id": study.pk, "session_id": StudySession.objects.get(study=study).pk},
        "auth": {name: basic(name) for name in ("coord", "reader1", "senior1", "studyreader")},
    }


def _load_schema():
    """The OpenAPI document /api/schema/ serves, built in process: collection has no database to sign in to
    (the schema is for signed-in users), and schemathesis' fixture-based loading does not run on pytest 9."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document, config=CONFIG)
    loaded.app = get_wsgi_application()
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def in_process_requests(db):
    # The WSGI handler closes "old" connections at each request's start and end; inside the test's transaction
    # that would end it. Django's own test client switches this off the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    cache.clear()  # the API throttle's counts
    yield
    cache.clear()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call_as(role: str, case, api_world) -> None:
    ids = api_world["ids"]
    if case.path_parameters:
        case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
    response = case.call(headers={"Authorization": api_world["auth"][role]})
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code)


FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"),
                         database=None, suppress_health_check=list(HealthCheck))


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_no_request_of_a_coordinator_gives_a_server_error(case, api_world):
    call_as("coord", case, api_world)


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_no_request_of_a_reader_gives_a_server_error(case, api_world):
    call_as("reader1", case, api_world)


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_no_request_of_a_senior_gives_a_server_error(case, api_world):
    call_as("senior1", case, api_world)


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_no_request_of_a_study_reader_gives_a_server_error(case, api_world):
    call_as("studyreader", case, api_world)
