"""The page payloads: the endpoints the scripts call (resolved here to the views that answer them) and the schema as
annotation/schema.py hands it to the browser; and the scripts themselves spell no finding and no API path."""
import json
import re
from pathlib import Path

import pytest
from django.urls import resolve

from annotation import services
from annotation.api import (AdjudicationResolveApi, ModelFindingsApi, MyReadApi, MyReadDraftApi, MyReadSubmitApi,
                            ReadCorrectApi)
from annotation.models import Adjudication, Role
from annotation.schema import default_schema, schema_for_page
from studies import api as studies_api
from studies.models import StudySession
from tests.annotation.test_reading_api import full_read, submit
from tests.conftest import make_user
from tests.factories import CaseFactory, unaided_study_of_one_case

SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "frontend" / "static" / "frontend").glob("*.js"))


def page_payload(response) -> dict:
    assert response.status_code == 200
    match = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', response.content.decode(), re.S)
    return json.loads(match.group(1))


def answers(url: str, view_class, **kwargs) -> bool:
    match = resolve(url)
    return match.func.view_class is view_class and match.kwargs == kwargs


@pytest.fixture
def assigned_case(db, project, reader):
    case = CaseFactory(project=project)
    services.case_assign(case=case, user=reader, role=Role.READER)
    return case


def test_case_read_page_carries_the_double_readings_endpoints_and_the_page_schema(client, assigned_case, reader):
    client.force_login(reader)
    response = client.get(f"/cases/{assigned_case.pk}/read/")
    page = page_payload(response)

    endpoints, case_id = page["endpoints"], assigned_case.pk
    assert set(endpoints) == {"open", "draft", "submit", "model", "correct"}
    assert answers(endpoints["open"], MyReadApi, case_id=case_id)
    assert answers(endpoints["draft"], MyReadDraftApi, case_id=case_id)
    assert answers(endpoints["submit"], MyReadSubmitApi, case_id=case_id)
    assert answers(endpoints["model"], ModelFindingsApi, case_id=case_id)
    assert answers(endpoints["correct"].replace("{read_id}", "41"), ReadCorrectApi, read_id=41)
    assert page["schema"] == schema_for_page(assigned_case.project.label_schema)
    assert b'<script type="module" src="/static/frontend/read.js">' in response.content


def test_adjudication_page_carries_the_resolve_endpoint_and_the_page_schema(client, assigned_case, reader,
                                                                            other_reader):
    senior = make_user("senior", Role.SENIOR)
    services.case_assign(case=assigned_case, user=other_reader, role=Role.READER)
    services.case_assign(case=assigned_case, user=senior, role=Role.SENIOR)
    submit(client, reader, assigned_case, full_read({"L4/L5": 3}))
    submit(client, other_reader, assigned_case, full_read({"L4/L5": 4}))
    adjudication = Adjudication.objects.get(case=assigned_case)

    client.force_login(senior)
    response = client.get(f"/adjudications/{adjudication.pk}/")
    page = page_payload(response)

    assert set(page["endpoints"]) == {"resolve"}
    assert answers(page["endpoints"]["resolve"], AdjudicationResolveApi, adjudication_id=adjudication.pk)
    assert page["schema"] == schema_for_page(assigned_case.project.label_schema)
    assert b'<script type="module" src="/static/frontend/adjudicate.js">' in response.content


def test_study_session_page_carries_the_sessions_endpoints_and_no_model_in_an_unaided_arm(client, project,
                                                                                          coordinator):
    case = CaseFactory(project=project)
    study, study_reader = unaided_study_of_one_case(case=case, name="Payload study", coordinator=coordinator)
    session = StudySession.objects.get(study=study)

    client.force_login(study_reader)
    page = page_payload(client.get(f"/studies/sessions/{session.pk}/read/"))

    endpoints = page["endpoints"]
    assert set(endpoints) == {"open", "draft", "submit", "model"} and endpoints["model"] is None
    assert answers(endpoints["open"], studies_api.SessionOpenApi, session_id=session.pk)
    assert answers(endpoints["draft"], studies_api.SessionDraftApi, session_id=session.pk)
    assert answers(endpoints["submit"], studies_api.SessionSubmitApi, session_id=session.pk)
    assert page["schema"] == schema_for_page(project.label_schema)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_spell_no_finding_and_no_api_path(script):
    text = script.read_text()
    names = [finding["name"] for finding in default_schema()["findings"]]

    spelled = [name for name in names if re.search(rf"\b{name}\b", text, re.IGNORECASE)]
    assert spelled == [], f"{script.name} spells {spelled}: findings come from page.schema"
    assert "/api/" not in text, f"{script.name} spells an API path: endpoints come from page.endpoints"


def test_only_the_escaping_helper_assigns_inner_html():
    assigning = [path.name for path in SCRIPTS if re.search(r"\.innerHTML\s*=", path.read_text())]
    assert assigning == ["escape.js"]
