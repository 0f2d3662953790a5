"""The reader-study form (/studies/new/) and the case filter beneath it."""
import pytest

from annotation import services
from annotation.models import Case, Finding, ProjectMembership, Role, Source
from studies import selectors
from studies.models import ReaderStudy, StudySession
from tests.conftest import make_user
from tests.factories import ground_truth_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(project):
    return {
        "a_none": ground_truth_case(project), "a_protrusion": ground_truth_case(project, herniation="protrusion"),
        "b_protrusion": ground_truth_case(project, site="B", herniation="protrusion", split="test"),
        "b_none": ground_truth_case(project, site="B", split="test"),
        "a_unread": ground_truth_case(project, herniation="protrusion", status=Case.Status.UNREAD),
    }


def _reader(project, name):
    """A reader of the project: the platform role and the project's reader membership."""
    user = make_user(name, Role.READER)
    ProjectMembership.objects.create(project=project, user=user, role=ProjectMembership.Role.READER)
    return user


def _ids(cases, *names):
    return sorted(cases[n].pk for n in names)


def test_filter_keeps_only_final_ground_truth_matching_site_split_and_finding(project, cases):
    assert selectors.study_candidate_cases(project) == _ids(cases, "a_none", "a_protrusion", "b_protrusion", "b_none")
    assert selectors.study_candidate_cases(project, site="A") == _ids(cases, "a_none", "a_protrusion")
    assert selectors.study_candidate_cases(project, split="test") == _ids(cases, "b_protrusion", "b_none")
    assert selectors.study_candidate_cases(project, split="") == _ids(cases, "a_none", "a_protrusion")
    assert selectors.study_candidate_cases(project, finding="herniation", value="protrusion") == _ids(
        cases, "a_protrusion", "b_protrusion")
    assert selectors.study_candidate_cases(project, site="B", finding="herniation", value="protrusion") == _ids(
        cases, "b_protrusion")
    assert selectors.study_candidate_cases(project, finding="herniation", value="extrusion") == []


def test_filter_samples_count_cases_reproducibly_by_seed(project, cases):
    every = selectors.study_candidate_cases(project)
    sample = selectors.study_candidate_cases(project, count=2, seed=7)
    assert len(sample) == 2 and set(sample) <= set(every)
    assert selectors.study_candidate_cases(project, count=2, seed=7) == sample
    assert selectors.study_candidate_cases(project, count=10, seed=7) == every


def _post(client, project, readers, **extra):
    data = {"project": project.slug, "name": "Protrusions", "description": "", "site": "", "split": "any",
            "finding": "herniation", "value": "protrusion", "count": "", "seed": "3", "readers": readers,
            "design": "unaided", "washout_days": "0", "repeat_fraction": "0", "model_version": "", **extra}
    return client.post("/studies/new/", data)


def test_form_defines_the_study_of_the_filtered_cases_and_redirects_to_its_dashboard(client, coordinator, project,
                                                                                     cases):
    readers = [_reader(project, "ann"), _reader(project, "ben")]
    make_user("elsewhere", Role.READER)  # a reader of no project of this coordinator's: never offered
    client.force_login(coordinator)
    page = client.get("/studies/new/")
    assert page.status_code == 200 and b'value="ann"' in page.content and b'value="ben"' in page.content
    assert b"elsewhere" not in page.content
    response = _post(client, project, ["ann", "ben"], repeat_fraction="0.5")
    study = ReaderStudy.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.pk}/"
    assert sorted(study.study_cases.values_list("case_id", flat=True)) == _ids(cases, "a_protrusion", "b_protrusion")
    assert (study.name, study.design, study.washout_days, study.repeat_fraction, study.seed) == (
        "Protrusions", "unaided", 0, 0.5, 3)
    assert StudySession.objects.filter(study=study).count() == 2 * (2 + 1)  # each reader: 2 cases, 1 repeat
    dashboard = client.get(response["Location"])
    assert f"Study {study.pk} defined: 2 cases, 6 sessions.".encode() in dashboard.content
    assert b'<tr data-reader="ann"><td>ann</td>' in dashboard.content and b"0 of 3" in dashboard.content


def test_preview_counts_the_matching_cases_and_stores_nothing(client, coordinator, project, cases):
    _reader(project, "ann")
    client.force_login(coordinator)
    response = _post(client, project, ["ann"], preview="1", site="A")
    assert response.status_code == 200 and b"1 case matches the filter." in response.content
    assert not ReaderStudy.objects.exists()


def test_no_matching_case_is_refused_in_words_and_stores_nothing(client, coordinator, project, cases):
    _reader(project, "ann")
    client.force_login(coordinator)
    response = _post(client, project, ["ann"], value="extrusion")
    assert response.status_code == 400
    assert b"no case of the project with final ground truth matches the filter" in response.content
    assert ReaderStudy.objects.count() == 0 and StudySession.objects.count() == 0


def test_a_reader_of_the_double_reading_is_refused_in_words_and_nothing_is_stored(client, coordinator, project,
                                                                                  cases):
    _reader(project, "ann")
    conflicted = _reader(project, "cat")
    services.case_assign(case=cases["a_protrusion"], user=conflicted, role=Role.READER)
    client.force_login(coordinator)
    response = _post(client, project, ["ann", "cat"])
    assert response.status_code == 400
    assert b"their study reads would not be blind: cat" in response.content
    assert ReaderStudy.objects.count() == 0 and StudySession.objects.count() == 0
    assert Case.objects.filter(split="study").count() == 0


def test_aided_design_offers_only_the_projects_model_versions(client, coordinator, project, cases):
    _reader(project, "ann")
    Finding.objects.create(case=cases["a_protrusion"], disc_level="L4/L5", finding_type="herniation",
                           value="protrusion", source=Source.MODEL, model_version="lumbar-v1", score=0.8)
    client.force_login(coordinator)
    assert b'<option value="lumbar-v1">lumbar-v1 (lumbar)</option>' in client.get("/studies/new/").content
    refused = _post(client, project, ["ann"], design="aided", model_version="other-v9")
    assert refused.status_code == 400 and b"Select a valid choice" in refused.content
    assert not ReaderStudy.objects.exists()
    response = _post(client, project, ["ann"], design="aided", model_version="lumbar-v1")
    assert response.status_code == 302
    assert ReaderStudy.objects.get().model_version == "lumbar-v1"


def test_a_reader_outside_the_project_is_refused_and_nothing_is_stored(client, coordinator, project, cases):
    _reader(project, "ann")
    make_user("elsewhere", Role.READER)
    client.force_login(coordinator)
    response = _post(client, project, ["ann", "elsewhere"])
    assert response.status_code == 400 and b"Select a valid choice. elsewhere" in response.content
    assert not ReaderStudy.objects.exists()


def test_readers_and_seniors_do_not_get_the_form(client, project):
    for user in (_reader(project, "ann"), make_user("sam", Role.SENIOR)):
        client.force_login(user)
        assert client.get("/studies/new/").status_code == 404
        assert client.post("/studies/new/", {"project": project.slug}).status_code == 404
    assert not ReaderStudy.objects.exists()


def test_no_reader_or_no_name_is_refused_in_the_services_words(client, coordinator, project, cases):
    client.force_login(coordinator)
    response = _post(client, project, [])
    assert response.status_code == 400 and b"a study needs at least one reader" in response.content
    _reader(project, "ann")
    response = _post(client, project, ["ann"], name="  ")
    assert response.status_code == 400 and b"a study needs a name" in response.content
    assert not ReaderStudy.objects.exists()
