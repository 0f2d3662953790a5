"""Who may see what: every role against assigned and unassigned cases, through the API and the pages."""
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Role
from tests.conftest import make_user
from tests.factories import CaseFactory


@pytest.fixture
def world(db, project, coordinator, reader, other_reader):
    senior = make_user("senior", Role.SENIOR)
    nobody = make_user("nobody", None)
    result = services.case_import(
        project=project, sources=path_sources(get_testdata_file("MR_small.dcm"), max_file_bytes=10**7)
    )
    imaged = project.cases.get(pk=result.case_ids[0])
    assigned_to_reader = CaseFactory(project=project)
    services.case_assign(case=imaged, user=reader, role=Role.READER)
    services.case_assign(case=imaged, user=senior, role=Role.SENIOR)
    services.case_assign(case=assigned_to_reader, user=reader, role=Role.READER)
    unassigned = CaseFactory(project=project)
    return {
        "users": {"coordinator": coordinator, "reader": reader, "other_reader": other_reader, "senior": senior,
                  "nobody": nobody},
        "cases": {"imaged": imaged, "reader_only": assigned_to_reader, "unassigned": unassigned},
    }


# (user, case) -> may see
VISIBLE = {
    ("coordinator", "imaged"): True, ("coordinator", "reader_only"): True, ("coordinator", "unassigned"): True,
    ("reader", "imaged"): True, ("reader", "reader_only"): True, ("reader", "unassigned"): False,
    ("other_reader", "imaged"): False, ("other_reader", "reader_only"): False, ("other_reader", "unassigned"): False,
    ("senior", "imaged"): True, ("senior", "reader_only"): False, ("senior", "unassigned"): False,
    ("nobody", "imaged"): False, ("nobody", "reader_only"): False, ("nobody", "unassigned"): False,
}


@pytest.mark.parametrize("user_name, case_name", sorted(VISIBLE))
def test_case_detail_follows_assignment(client, world, user_name, case_name):
    client.force_login(world["users"][user_name])
    case = world["cases"][case_name]

    response = client.get(f"/api/cases/{case.pk}/")

    assert response.status_code == (200 if VISIBLE[(user_name, case_name)] else 404)
    if response.status_code == 200:
        assert response.json()["id"] == case.pk


@pytest.mark.parametrize("user_name", ["coordinator", "reader", "other_reader", "senior", "nobody"])
def test_case_list_and_dicom_follow_the_same_rule(client, world, user_name):
    client.force_login(world["users"][user_name])
    expected = sorted(c.pk for (u, name), ok in VISIBLE.items() if u == user_name and ok
                      for c in [world["cases"][name]])
    instance = world["cases"]["imaged"].series.get().instances.get()

    listed = client.get("/api/projects/lumbar/cases/")
    dicom = client.get(f"/api/instances/{instance.pk}/dicom")
    projects = client.get("/api/projects/")

    if expected:
        assert sorted(row["id"] for row in listed.json()) == expected
        assert [p["slug"] for p in projects.json()] == ["lumbar"]
    else:
        assert listed.status_code == 404 and projects.json() == []
    may_see_image = VISIBLE[(user_name, "imaged")]
    assert dicom.status_code == (200 if may_see_image else 404)
    if may_see_image:
        assert dicom["Content-Type"] == "application/dicom"
        assert b"".join(dicom.streaming_content)[128:132] == b"DICM"


def test_anonymous_gets_nothing(client, world):
    case = world["cases"]["imaged"]
    assert client.get(f"/api/cases/{case.pk}/").status_code in (401, 403)
    assert client.get("/api/projects/").status_code in (401, 403)
    page = client.get("/projects/lumbar/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")


def test_project_page_lists_only_visible_cases(client, world):
    client.force_login(world["users"]["senior"])
    page = client.get("/projects/lumbar/").content.decode()
    assert page.count("<tr><td>") == 1
    assert world["cases"]["imaged"].patient_key[:12] in page


def test_reader_profile_and_roles_are_recorded(world):
    reader = world["users"]["reader"]
    assert reader.reader_profile.years_experience == 8
    assert set(reader.groups.values_list("name", flat=True)) == {"reader"}


def test_openapi_schema_is_served(client, world):
    client.force_login(world["users"]["coordinator"])
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/projects/{slug}/dicom/" in response.content


def test_api_docs_are_served_without_a_cdn(client, world):
    client.force_login(world["users"]["coordinator"])
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"cdn" not in page.content.lower() and b"swagger-ui" in page.content
