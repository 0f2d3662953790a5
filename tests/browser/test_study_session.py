"""A reader-study session read in real Chromium: the same viewer and form, the session's own endpoints, and the
read lands in the session's context without touching the case's ground truth."""
import pytest

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Case, GroundTruthItem, Read
from annotation.schema import LUMBAR_LEVELS
from studies.models import StudySession
from tests.browser.conftest import ARTIFACTS, log_in
from tests.browser.test_reading_flow import canvas_stats
from tests.factories import unaided_study_of_one_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_study_reader_reads_an_unaided_session_in_the_browser(browser, live_server, tmp_path, project, coordinator):
    from fixtures.phantoms import generate_phantoms

    generate_phantoms(n_cases=1, out_dir=tmp_path / "phantoms", seed=5)
    result = services.case_import(project=project, sources=path_sources(tmp_path / "phantoms", max_file_bytes=10**8))
    case = Case.objects.get(pk=result.case_ids[0])
    study, reader = unaided_study_of_one_case(case=case, name="Pfirrmann study", coordinator=coordinator)
    session = StudySession.objects.get(study=study)

    page = log_in(browser, live_server, "studyreader")
    page.goto(f"{live_server.url}/studies/sessions/")
    page.click(f"tr[data-session='{session.pk}'] a")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    stats = canvas_stats(page)
    assert stats["bright"] > 1000 and stats["levels"] > 20, stats
    for level in LUMBAR_LEVELS:
        page.select_option(f"select[data-level='{level}'][data-finding='pfirrmann']", "4")
    page.screenshot(path=str(ARTIFACTS / "study_session_read.png"))
    page.click("#submit")
    page.wait_for_selector("#status >> text=Submitted")
    page.context.close()

    read = Read.objects.get(reader=reader)
    assert (read.context, read.status) == (session.context, "submitted")
    assert set(read.findings.filter(finding_type="pfirrmann").values_list("value", flat=True)) == {"4"}
    assert set(GroundTruthItem.objects.filter(case=case).values_list("value", flat=True)) == {"3"}
    case.refresh_from_db()
    assert case.status == Case.Status.GROUND_TRUTH
