"""A coordinator sets up a project entirely in the browser (Debian's Chromium, driven by Playwright): a new
project from the lumbar template, its schema edited and saved as v2, two readers and a senior created with their
specialty and experience, and a phantom case assigned (balanced). Screenshots land in test-artifacts/setup_*.png.
"""
import json

import pytest

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Assignment, Case, Project, ProjectMembership, ProjectSchema, Read, ReaderProfile, Role
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PEOPLE = [("rita_reads", "reader", "radiology", "9"), ("rob_reads", "reader", "spine surgery", "4"),
          ("sara_senior", "senior", "neuroradiology", "21")]


def edited_schema(text: str) -> str:
    """The page's schema with one value removed and one finding added: what a coordinator would type."""
    schema = json.loads(text)
    herniation = next(f for f in schema["findings"] if f["name"] == "herniation")
    herniation["values"].remove("sequestration")
    herniation["classes"].pop("sequestration")
    schema["findings"].append({"name": "modic", "label": "Modic change", "values": ["0", "1", "2", "3"],
                               "scale": "nominal", "planes": ["sagittal"],
                               "classes": {"1": "modic_1", "2": "modic_2", "3": "modic_3"}})
    return json.dumps(schema, indent=2)


def create_project(page):
    page.click("#new-project")
    page.fill("input[name=name]", "Pilot lumbar")
    page.fill("input[name=slug]", "pilot")
    page.screenshot(path=str(ARTIFACTS / "setup_new_project.png"))
    page.click("#project-new button[type=submit]")
    page.wait_for_selector(".messages >> text=Created project Pilot lumbar from the lumbar template")


def save_schema_v2(page):
    page.fill("#label-schema", edited_schema(page.input_value("#label-schema")))
    page.click("#schema-form button[type=submit]")
    page.wait_for_selector(".messages >> text=Saved schema v2.")
    assert page.inner_text("#schema-version strong") == "v2"
    assert page.locator("#findings tr[data-finding='modic']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "setup_schema_v2.png"), full_page=True)


def add_people(page):
    page.click("a:has-text('People')")
    for username, role, specialty, years in PEOPLE:
        page.fill("#member-add input[name=username]", username)
        page.check("#create-account")
        page.fill("#member-add input[name=password]", f"pw-{username}-long")
        page.select_option("#member-add select[name=role]", role)
        page.fill("#member-add input[name=specialty]", specialty)
        page.fill("#member-add input[name=years_experience]", years)
        page.click("#member-add button[type=submit]")
        page.wait_for_selector(f".messages >> text=Created the account and gave {username} the {role} role")
    page.screenshot(path=str(ARTIFACTS / "setup_people.png"), full_page=True)


def import_phantom_case(tmp_path) -> Case:
    from fixtures.phantoms import generate_phantoms

    generate_phantoms(n_cases=1, out_dir=tmp_path / "phantoms", seed=3)
    result = services.case_import(project=Project.objects.get(slug="pilot"),
                                  sources=path_sources(tmp_path / "phantoms", max_file_bytes=10**8))
    return Case.objects.get(pk=result.case_ids[0])


def test_a_coordinator_sets_up_a_project_in_the_browser(browser, live_server, tmp_path):
    coordinator = make_user("cora_coord", Role.COORDINATOR)
    page = log_in(browser, live_server, "cora_coord")
    create_project(page)
    save_schema_v2(page)
    add_people(page)
    case = import_phantom_case(tmp_path)

    page.goto(f"{live_server.url}/projects/pilot/")
    for username, _, _, _ in PEOPLE:
        page.check(f"input[value='{username}']")
    page.click("form[action$='/assign/'] button[type=submit]")
    page.wait_for_selector(".messages >> text=Assigned 1 unassigned case(s).")
    page.screenshot(path=str(ARTIFACTS / "setup_assigned.png"), full_page=True)

    project = Project.objects.get(slug="pilot")
    assert project.schema_version == 2
    assert list(ProjectSchema.objects.filter(project=project).order_by("version")
                .values_list("version", "created_by__username")) == [(1, "cora_coord"), (2, "cora_coord")]
    herniation = next(f for f in project.label_schema["findings"] if f["name"] == "herniation")
    assert "sequestration" not in herniation["values"]
    assert [f["name"] for f in project.label_schema["findings"]][-1] == "modic"
    assert set(ProjectMembership.objects.filter(project=project).values_list("user__username", "role")) == {
        ("cora_coord", "coordinator"), ("rita_reads", "reader"), ("rob_reads", "reader"),
        ("sara_senior", "senior")}
    assert set(ReaderProfile.objects.values_list("user__username", "specialty", "years_experience")) == {
        ("rita_reads", "radiology", 9), ("rob_reads", "spine surgery", 4), ("sara_senior", "neuroradiology", 21)}
    assert set(Assignment.objects.filter(case=case).values_list("user__username", "role")) == {
        ("rita_reads", "reader"), ("rob_reads", "reader"), ("sara_senior", "senior")}
    # A read opened now is under the new schema.
    read = services.read_open(case=case, reader=Assignment.objects.filter(case=case, role="reader")[0].user)
    assert Read.objects.get(pk=read.pk).schema_version == 2
    assert coordinator.memberships.count() == 1
