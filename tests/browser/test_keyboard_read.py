"""The reader's keyboard-only read in real Chromium: open a case from the worklist, grade it, submit and open the
next case without the mouse; confirm a perfectly pre-annotated case with Shift+A and Enter; the axial slice's
reference line on the sagittal. Screenshots in test-artifacts/keyboard_*.png."""
import pytest

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Case, Finding, Instance, Read, Role
from annotation.schema import default_schema
from fixtures.phantoms.truth import reading_keys, truth_instance, truth_value, truth_values
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA = default_schema()


@pytest.fixture
def phantoms(tmp_path, project):
    """Two phantom cases assigned to reader1, with their truth."""
    from fixtures.phantoms import generate_phantoms

    truth = generate_phantoms(n_cases=2, out_dir=tmp_path / "phantoms", seed=7)
    reader = make_user("reader1", Role.READER)
    cases = []
    for case_truth in truth["cases"]:
        result = services.case_import(project=project, sources=path_sources(
            tmp_path / "phantoms" / case_truth["case_key"], max_file_bytes=10**8))
        case = Case.objects.get(pk=result.case_ids[0])
        services.case_assign(case=case, user=reader, role=Role.READER)
        cases.append((case, case_truth))
    return cases


def stored_values(read: Read) -> dict:
    return {(f.disc_level, f.finding_type): f.value for f in read.findings.filter(instance__isnull=True)}


def ref_line(page) -> list[float]:
    return [float(v) for v in page.get_attribute("#viewer", "data-ref-line").split(",")]


def test_a_keyboard_only_read_from_the_worklist_to_the_next_case(browser, live_server, phantoms):
    (first, first_truth), (second, _) = phantoms
    page = log_in(browser, live_server, "reader1")
    page.wait_for_selector("#worklist")
    assert "0 of 2" in page.inner_text("#progress")
    page.screenshot(path=str(ARTIFACTS / "keyboard_worklist.png"))
    page.keyboard.press("Enter")  # the first case to read has the focus
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert page.url.endswith(f"/cases/{first.pk}/read/")
    assert "Case 1 of 2" in page.inner_text("#position")
    assert page.is_visible("#viewer-axial")  # sagittal and axial side by side
    page.screenshot(path=str(ARTIFACTS / "keyboard_side_by_side.png"))

    # The reference line: where the current axial slice cuts the sagittal, in sagittal pixels; it moves with the
    # axial slice, and lies on the disc the axial slice shows.
    page.wait_for_function("document.querySelector('#viewer').dataset.refLine")
    before = ref_line(page)
    axial_before = page.get_attribute("#viewer-axial", "data-instance")
    page.keyboard.press("PageDown")
    page.wait_for_function(f"document.querySelector('#viewer-axial').dataset.instance !== '{axial_before}'")
    moved = ",".join(f"{v:.1f}" for v in before)
    page.wait_for_function(f"document.querySelector('#viewer').dataset.refLine !== '{moved}'")
    after = ref_line(page)
    assert after[1] != pytest.approx(before[1], abs=1)
    axial = Instance.objects.get(pk=int(page.get_attribute("#viewer-axial", "data-instance")))
    axial_level = next(box["level"] for box in first_truth["boxes"] if box["plane"] == "axial"
                       and Instance.objects.get(series__case=first, **truth_instance(box["file"])).pk == axial.pk)
    disc_box = next(box["box"] for box in first_truth["boxes"] if box["plane"] == "sagittal"
                    and box["level"] == axial_level and box["finding"] == "pfirrmann")
    line_y = (after[1] + after[3]) / 2
    assert disc_box[1] - 5 <= line_y <= disc_box[3] + 5, (axial_level, disc_box, after)

    keys = reading_keys(first_truth["levels"], SCHEMA)
    for key in keys[:-1]:
        page.keyboard.press(key)
    page.screenshot(path=str(ARTIFACTS / "keyboard_graded.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector("#status >> text=/^Submitted \\(version/")
    assert page.evaluate("document.activeElement.id") == "next-case"
    page.screenshot(path=str(ARTIFACTS / "keyboard_submitted.png"))
    read = Read.objects.get(case=first, status="submitted")
    assert stored_values(read) == truth_values(first_truth)

    page.keyboard.press("Enter")  # the focused "Next case"
    page.wait_for_url(f"**/cases/{second.pk}/read/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert "Case 2 of 2" in page.inner_text("#position")
    page.context.close()


def test_accept_all_and_submit_in_two_keys_stores_the_model_findings(browser, live_server, phantoms):
    case, case_truth = phantoms[0]
    # A perfect model: one box per plane, level and finding of the truth (the first image that has it).
    chosen = {}
    for box in case_truth["boxes"]:
        chosen.setdefault((box["plane"], box["level"], box["finding"]), box)
    services.model_findings_replace(case=case, model_version="perfect", findings=[services.ModelFindingInput(
        disc_level=box["level"], finding_type=box["finding"], value=truth_value(box["value"]),
        instance_id=Instance.objects.get(series__case=case, **truth_instance(box["file"])).pk,
        box=tuple(box["box"]), score=0.99)
        for box in chosen.values()])
    model = list(Finding.objects.filter(case=case, source="model"))

    page = log_in(browser, live_server, "reader1")
    page.goto(f"{live_server.url}/cases/{case.pk}/read/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    page.screenshot(path=str(ARTIFACTS / "keyboard_model_pending.png"))
    page.keyboard.press("Shift+A")
    page.wait_for_selector("#status >> text=Accepted")
    page.keyboard.press("Enter")
    page.wait_for_selector("#status >> text=/^Submitted \\(version/")
    page.screenshot(path=str(ARTIFACTS / "keyboard_accept_all_submitted.png"))
    page.context.close()

    read = Read.objects.get(case=case, status="submitted")
    assert stored_values(read) == truth_values(case_truth)
    boxes = read.findings.filter(instance__isnull=False)
    assert {(f.model_finding_id, f.review_action, f.value) for f in boxes} == {
        (m.pk, "accepted", m.value) for m in model}
