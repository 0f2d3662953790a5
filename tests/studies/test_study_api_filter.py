"""POST /api/studies/ with a case filter: the same filter, through the same selector, as the study form."""
import random

import pytest

from annotation.models import Case, Role
from studies import selectors
from studies.models import ReaderStudy, StudyCase, StudySession
from tests.conftest import make_user
from tests.factories import ground_truth_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(project):
    return {
        "a_none": ground_truth_case(project), "a_protrusion": ground_truth_case(project, herniation="protrusion"),
        "a_protrusion_2": ground_truth_case(project, herniation="protrusion"),
        "b_protrusion": ground_truth_case(project, site="B", herniation="protrusion", split="test"),
        "b_none": ground_truth_case(project, site="B", split="test"),
        "a_unread": ground_truth_case(project, herniation="protrusion", status=Case.Status.UNREAD),
    }


@pytest.fixture
def readers(project):
    return [make_user("ann", Role.READER, project=project), make_user("ben", Role.READER, project=project)]


def _body(project, **extra):
    return {"project": project.slug, "name": "Protrusions", "readers": ["ann", "ben"], "design": "unaided",
            "washout_days": 0, "repeat_fraction": 0.5, "seed": 5, **extra}


def _api(client, body):
    return client.post("/api/studies/", body, content_type="application/json")


def _layout(study):
    """What a study defines: its cases (and which repeat) and every session, by reader."""
    cases = sorted(StudyCase.objects.filter(study=study).values_list("case_id", "repeat"))
    sessions = sorted(StudySession.objects.filter(study=study).values_list(
        "reader__username", "case_id", "arm", "repetition", "period", "position"))
    return cases, sessions


def test_the_api_filter_defines_the_same_study_as_the_form_with_the_same_seed(client, coordinator, project, cases,
                                                                                readers):
    client.force_login(coordinator)
    form = client.post("/studies/new/", {
        "project": project.slug, "name": "Protrusions", "description": "", "site": "", "split": "any",
        "finding": "herniation", "value": "protrusion", "count": "2", "seed": "4", "readers": ["ann", "ben"],
        "design": "unaided", "washout_days": "0", "repeat_fraction": "0.5", "model_version": ""})
    assert form.status_code == 302
    by_form = ReaderStudy.objects.get()
    # No seed in the filter: the study's, as the form's one seed does both (4 and 0 draw different cases here).
    response = _api(client, _body(project, seed=4,
                                  case_filter={"finding": "herniation", "value": "protrusion", "count": 2}))
    assert response.status_code == 201 and response.json()["cases"] == 2
    by_api = ReaderStudy.objects.get(pk=response.json()["id"])
    assert by_api.pk != by_form.pk and by_api.seed == 4
    assert _layout(by_api) == _layout(by_form)
    protruded = sorted(cases[n].pk for n in ("a_protrusion", "a_protrusion_2", "b_protrusion"))
    drawn = sorted(case_id for case_id, _repeat in _layout(by_api)[0])
    assert set(drawn) <= set(protruded) and drawn == sorted(random.Random(4).sample(protruded, 2))
    assert drawn != sorted(random.Random(0).sample(protruded, 2))


def test_the_filter_takes_site_split_and_its_own_seed(client, coordinator, project, cases, readers):
    client.force_login(coordinator)
    response = _api(client, _body(project, case_filter={"site": "B", "split": "test"}))
    assert response.status_code == 201
    study = ReaderStudy.objects.get(pk=response.json()["id"])
    assert sorted(study.study_cases.values_list("case_id", flat=True)) == sorted(
        [cases["b_protrusion"].pk, cases["b_none"].pk])
    # "" is the unassigned split (the B cases are now tagged "study"); the filter's own seed draws the sample.
    expected = selectors.study_candidate_cases(project, split="", count=1, seed=5)
    # Seeds 5 and 99 draw different ones of these three cases, so the study's seed is not what drew it.
    assert expected != selectors.study_candidate_cases(project, split="", count=1, seed=99)
    response = _api(client, _body(project, seed=99, case_filter={"split": "", "count": 1, "seed": 5}))
    assert response.status_code == 201
    study = ReaderStudy.objects.get(pk=response.json()["id"])
    assert list(study.study_cases.values_list("case_id", flat=True)) == expected and study.seed == 99
    assert expected[0] in {cases[n].pk for n in ("a_none", "a_protrusion", "a_protrusion_2")}


@pytest.mark.parametrize("change, words", [
    ({"case_filter": {"finding": "herniation", "value": "extrusion"}},
     "no case of the project with final ground truth matches the filter"),
    ({"case_filter": {"site": "A"}, "case_ids": [1]}, "give exactly one of case_ids and case_filter"),
    ({}, "give exactly one of case_ids and case_filter"),
    ({"case_filter": {"split": "sideways"}}, "is not a valid choice"),
    ({"case_filter": {"count": 0}}, "greater than or equal to 1"),
    ({"case_filter": "site A"}, "Invalid data"),
    ({"case_filter": {"site": "A"}, "readers": ["ann", "outsider"]}, "outsider"),
])
def test_bad_input_is_refused_in_words_and_stores_nothing(client, coordinator, project, cases, readers, change,
                                                          words):
    make_user("outsider", Role.READER)  # the platform role, but no reader role on the project
    client.force_login(coordinator)
    response = _api(client, _body(project, **change))
    assert response.status_code == 400 and words in response.content.decode()
    assert ReaderStudy.objects.count() == 0 and StudySession.objects.count() == 0
    assert not Case.objects.filter(split=Case.Split.STUDY).exists()


def test_a_reader_may_not_define_a_study_through_the_filter(client, project, cases, readers):
    client.force_login(readers[0])
    assert _api(client, _body(project, case_filter={"site": "A"})).status_code == 404
    assert ReaderStudy.objects.count() == 0 and StudySession.objects.count() == 0
