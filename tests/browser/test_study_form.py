"""A reader study defined with the form and read through to its dashboard, in real headless Chromium.

The coordinator picks the cases by filter (split, finding in the ground truth, count), two readers, the design,
no washout, a repeat fraction and the pinned model; one reader reads every session of theirs (the repeat opens
at once, washout 0) and the dashboard's sessions table shows it.
"""
import pytest

from annotation.models import Finding, ProjectMembership, Read, Role, Source
from annotation.schema import LUMBAR_LEVELS
from studies.models import ReaderStudy, StudySession
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import make_user
from tests.interchange.conftest import phantom_project_with_truth

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def study_set_up(tmp_path, project):
    cases, _boxes = phantom_project_with_truth(tmp_path, project, n_cases=3, splits=("train", "train", "val"))
    Finding.objects.create(case=cases[0], disc_level="L4/L5", finding_type="pfirrmann", value="3",
                           source=Source.MODEL, model_version="lumbar-v1", score=0.7)
    for name in ("ann", "ben"):
        ProjectMembership.objects.create(project=project, user=make_user(name, Role.READER),
                                         role=ProjectMembership.Role.READER)
    return cases


def _read_every_open_session(page, live_server):
    """Reads the first open, unsubmitted session of the list until none is left; returns how many were read."""
    done = 0
    while True:
        page.goto(f"{live_server.url}/studies/sessions/")
        link = page.locator("tr[data-session] a.button:text-is('Read')")
        if link.count() == 0:
            return done
        link.first.click()
        page.wait_for_selector("body[data-ready='1']", timeout=30000)
        for level in LUMBAR_LEVELS:
            page.select_option(f"select[data-level='{level}'][data-finding='pfirrmann']", "3")
        if done == 0:
            page.screenshot(path=str(ARTIFACTS / "study_form_session.png"))
        page.click("#submit")
        page.wait_for_selector("#status >> text=Submitted")
        done += 1


def test_coordinator_defines_a_study_by_form_and_a_reader_reads_it(browser, live_server, study_set_up):
    page = log_in(browser, live_server, "coord")
    page.goto(f"{live_server.url}/studies/")
    page.click("#new-study")
    page.wait_for_selector("#study-form")
    page.fill("input[name=name]", "Train-split Pfirrmann")
    page.select_option("select[name=split]", "train")
    page.select_option("select[name=finding]", "pfirrmann")
    page.fill("input[name=count]", "2")
    page.click("#preview-button")
    page.wait_for_selector("#preview >> text=2 cases match the filter.")
    page.check("input[name=readers][value=ann]")
    page.check("input[name=readers][value=ben]")
    page.select_option("select[name=design]", "unaided")
    page.fill("input[name=washout_days]", "0")
    page.fill("input[name=repeat_fraction]", "0.5")
    page.select_option("select[name=model_version]", "lumbar-v1")
    page.screenshot(path=str(ARTIFACTS / "study_form_filled.png"), full_page=True)
    page.click("#define")
    page.wait_for_selector("#sessions")
    study = ReaderStudy.objects.get()
    assert page.url.endswith(f"/studies/{study.pk}/")
    assert f"Study {study.pk} defined: 2 cases, 6 sessions." in page.inner_text(".messages")
    assert (study.model_version, study.washout_days, study.repeat_fraction) == ("lumbar-v1", 0, 0.5)
    train = {c.pk for c in study_set_up[:2]}
    assert set(study.study_cases.values_list("case_id", flat=True)) == train
    page.screenshot(path=str(ARTIFACTS / "study_form_defined.png"), full_page=True)
    page.context.close()

    page = log_in(browser, live_server, "ann")
    assert _read_every_open_session(page, live_server) == 3  # two cases, then the repeat after washout 0
    page.screenshot(path=str(ARTIFACTS / "study_form_sessions_done.png"))
    page.context.close()
    reads = Read.objects.filter(reader__username="ann", context__startswith=f"study:{study.pk}:")
    assert reads.filter(status="submitted").count() == 3
    assert StudySession.objects.filter(study=study, reader__username="ann").count() == 3

    page = log_in(browser, live_server, "coord")
    page.goto(f"{live_server.url}/studies/{study.pk}/")
    assert "3 of 3" in page.inner_text("#sessions tr[data-reader=ann]")
    assert "0 of 3" in page.inner_text("#sessions tr[data-reader=ben]")
    page.screenshot(path=str(ARTIFACTS / "study_form_dashboard.png"))
    page.context.close()


def test_a_filter_that_matches_nothing_is_refused_in_words(browser, live_server, study_set_up):
    page = log_in(browser, live_server, "coord")
    page.goto(f"{live_server.url}/studies/new/")
    page.fill("input[name=name]", "Nothing")
    page.fill("input[name=site]", "NO-SUCH-SITE")
    page.check("input[name=readers][value=ann]")
    page.click("#define")
    page.wait_for_selector("#form-errors >> text=no case of the project with final ground truth matches")
    page.screenshot(path=str(ARTIFACTS / "study_form_refused.png"), full_page=True)
    assert ReaderStudy.objects.count() == 0
    page.context.close()
