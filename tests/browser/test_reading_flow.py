"""The whole reading flow in real headless Chromium (Debian's, driven by Playwright) against a live server.

Two readers read a phantom case blind, disagree on exactly one level, the senior resolves that item, and the
ground truth is as chosen with provenance. Screenshots of each page land in test-artifacts/.
"""

import pytest

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Adjudication, Case, GroundTruthItem, Read, Role
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phantom_case(tmp_path, project):
    from fixtures.phantoms import generate_phantoms

    generate_phantoms(n_cases=1, out_dir=tmp_path / "phantoms", seed=3)
    result = services.case_import(project=project, sources=path_sources(tmp_path / "phantoms", max_file_bytes=10**8))
    case = Case.objects.get(pk=result.case_ids[0])
    users = {name: make_user(name, role) for name, role in
             [("reader1", Role.READER), ("reader2", Role.READER), ("senior", Role.SENIOR)]}
    for name in ("reader1", "reader2"):
        services.case_assign(case=case, user=users[name], role=Role.READER)
    services.case_assign(case=case, user=users["senior"], role=Role.SENIOR)
    return case


def canvas_stats(page):
    return page.evaluate("""() => {
        const c = document.querySelector('#viewer canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let bright = 0; const levels = new Set();
        for (let i = 0; i < d.length; i += 4 * 7) { if (d[i] > 20) bright++; levels.add(d[i]); }
        return {bright, levels: levels.size, width: c.width};
    }""")


def read_case(page, live_server, case, reader, l4l5_grade):
    page.click(f"tr[data-case='{case.pk}'] a")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    stats = canvas_stats(page)
    assert stats["bright"] > 1000 and stats["levels"] > 20, stats  # a rendered MR image, not a blank canvas
    first_slice = page.get_attribute("#viewer", "data-slice")
    page.hover("#viewer")
    page.mouse.wheel(0, 200)
    page.wait_for_selector(f"#viewer:not([data-slice='{first_slice}'])")
    page.keyboard.press("ArrowUp")  # back to the middle slice: both readers box on the same image
    page.wait_for_selector(f"#viewer[data-slice='{first_slice}']")
    for level in ("L1/L2", "L2/L3", "L3/L4", "L5/S1"):
        page.select_option(f"select[data-level='{level}'][data-finding='pfirrmann']", "3")
    page.select_option("select[data-level='L4/L5'][data-finding='pfirrmann']", l4l5_grade)
    page.click("button.level[data-level='L4/L5']")
    page.select_option("#box-finding", "pfirrmann")
    page.keyboard.press("b")
    box = page.locator("#viewer").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    page.wait_for_selector("#boxes li >> text=L4/L5 pfirrmann")
    page.screenshot(path=str(ARTIFACTS / f"read_{reader}.png"))
    # The draft is on the server: a closed or reloaded tab loses nothing.
    page.click("#save")
    page.wait_for_selector("#status >> text=Draft saved")
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert page.input_value("select[data-level='L4/L5'][data-finding='pfirrmann']") == l4l5_grade
    page.wait_for_selector("#boxes li >> text=L4/L5 pfirrmann")
    page.click("#submit")
    page.wait_for_selector("#status >> text=Submitted")
    page.screenshot(path=str(ARTIFACTS / f"read_{reader}_submitted.png"))


def test_two_readers_disagree_on_one_level_and_the_senior_resolves_it(browser, live_server, phantom_case):
    case = phantom_case
    for reader, grade in (("reader1", "3"), ("reader2", "4")):
        page = log_in(browser, live_server, reader)
        page.wait_for_selector("#worklist")
        page.screenshot(path=str(ARTIFACTS / f"worklist_{reader}.png"))
        read_case(page, live_server, case, reader, grade)
        page.context.close()

    page = log_in(browser, live_server, "senior")
    page.wait_for_selector("#queue")
    page.screenshot(path=str(ARTIFACTS / "adjudication_queue.png"))
    assert page.locator("#queue tbody tr").count() == 1
    page.click("#queue tbody tr a")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    rows = page.locator("#items tbody tr")
    assert rows.count() == 1
    assert "L4/L5 Pfirrmann grade" in rows.first.inner_text()
    page.check("#items tbody tr input[value='reader_b']")
    page.fill("#items tbody tr input[data-reason]", "nucleus dark grey, boundary lost")
    page.screenshot(path=str(ARTIFACTS / "adjudication.png"))
    page.click("#resolve")
    page.wait_for_selector("#status >> text=Resolved")
    page.screenshot(path=str(ARTIFACTS / "adjudication_resolved.png"))
    page.context.close()

    case.refresh_from_db()
    assert case.status == Case.Status.GROUND_TRUTH
    decided = GroundTruthItem.objects.get(case=case, disc_level="L4/L5", finding_type="pfirrmann",
                                          instance__isnull=True)
    assert (decided.value, decided.provenance, decided.decided_by.username) == ("4", "reader_b", "senior")
    assert decided.reason == "nucleus dark grey, boundary lost"
    others = GroundTruthItem.objects.filter(case=case).exclude(pk=decided.pk)
    assert set(others.values_list("provenance", flat=True)) == {"agreement"}
    box = GroundTruthItem.objects.get(case=case, instance__isnull=False)
    assert (box.disc_level, box.finding_type, box.value) == ("L4/L5", "pfirrmann", "4")
    reads = Read.objects.filter(case=case, status="submitted")
    assert reads.count() == 2 and all(r.active_seconds > 0 for r in reads)
    assert Adjudication.objects.get(case=case).resolved_by.username == "senior"
