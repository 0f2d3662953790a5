"""The reader's worklist and reading page: n of N, drafts to resume, the focus on the next case, and the reading
page's next case (the selector next_case_for_reader) and place in the worklist."""
import pytest

from annotation import selectors, services
from annotation.models import Project, Role
from tests.annotation.test_reading_api import full_read, submit
from tests.conftest import make_user
from tests.factories import CaseFactory
from tests.frontend.test_pages import page_payload


@pytest.fixture
def three_cases(db, project, reader):
    project.case_order = Project.CaseOrder.PRIORITY
    project.save()
    cases = [CaseFactory(project=project, priority=priority) for priority in (3, 2, 1)]  # read in this order
    for case in cases:
        services.case_assign(case=case, user=reader, role=Role.READER)
    return cases


def test_next_case_is_the_next_unsubmitted_one_in_worklist_order_wrapping_round(client, three_cases, reader):
    first, second, third = three_cases
    assert selectors.next_case_for_reader(reader, first) == second
    assert submit(client, reader, second, full_read()).status_code == 200
    assert selectors.next_case_for_reader(reader, first) == third
    assert selectors.next_case_for_reader(reader, third) == first
    assert submit(client, reader, first, full_read()).status_code == 200
    assert selectors.next_case_for_reader(reader, third) is None
    assert selectors.worklist_position(reader, third) == (3, 3)
    assert selectors.worklist_position(make_user("stranger", Role.READER), third) is None


def test_worklist_shows_n_of_n_resumes_drafts_and_focuses_the_first_case_to_read(client, three_cases, reader):
    first, second, third = three_cases
    assert submit(client, reader, first, full_read()).status_code == 200
    assert client.post(f"/api/cases/{second.pk}/read/").status_code == 200  # a draft
    client.force_login(reader)
    body = client.get("/worklist/").content.decode()
    assert "<strong>1 of 3</strong> cases submitted" in body
    assert f'href="/cases/{second.pk}/read/" autofocus>Resume draft</a>' in body
    assert f'href="/cases/{third.pk}/read/">Read</a>' in body
    assert body.count("autofocus") == 1


def test_reading_page_gives_the_next_case_and_the_place_in_the_worklist(client, three_cases, reader):
    first, second, third = three_cases
    client.force_login(reader)
    response = client.get(f"/cases/{second.pk}/read/")
    assert page_payload(response)["next"] == f"/cases/{third.pk}/read/"
    assert "Case 2 of 3 in your worklist" in response.content.decode()
    for case in (first, third):
        assert submit(client, reader, case, full_read()).status_code == 200
    assert page_payload(client.get(f"/cases/{second.pk}/read/"))["next"] is None
