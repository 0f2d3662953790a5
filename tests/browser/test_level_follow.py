"""The axial follows the current level, in real Chromium: on a phantom case whose model boxes place each level on
the sagittal, j / k move the axial viewport to the slice of that level (the phantom truth names the level each
axial file shows) and the reference line with it; PageUp/PageDown still move the axial freely. Without boxes the
axial stays, and the sagittal always names the current level. Screenshot test-artifacts/level_follow.png."""
import pytest

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Case, Instance, Role
from fixtures.phantoms.truth import truth_instance, truth_value
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phantom(tmp_path, project):
    """One phantom case assigned to reader1, with its truth."""
    from fixtures.phantoms import generate_phantoms

    truth = generate_phantoms(n_cases=1, out_dir=tmp_path / "phantoms", seed=7)
    case_truth = truth["cases"][0]
    result = services.case_import(project=project, sources=path_sources(
        tmp_path / "phantoms" / case_truth["case_key"], max_file_bytes=10**8))
    case = Case.objects.get(pk=result.case_ids[0])
    services.case_assign(case=case, user=make_user("reader1", Role.READER), role=Role.READER)
    return case, case_truth


def instance_of(case, file_name) -> Instance:
    return Instance.objects.get(series__case=case, **truth_instance(file_name))


def add_sagittal_model_boxes(case, case_truth):
    """The model's boxes on the sagittal only (one per level and finding, the first image that has it), so that
    the axial slice of a level is found from the sagittal and not from an axial box."""
    chosen = {}
    for box in case_truth["boxes"]:
        if box["plane"] == "sagittal":
            chosen.setdefault((box["level"], box["finding"]), box)
    services.model_findings_replace(case=case, model_version="perfect", findings=[services.ModelFindingInput(
        disc_level=box["level"], finding_type=box["finding"], value=truth_value(box["value"]),
        instance_id=instance_of(case, box["file"]).pk, box=tuple(box["box"]), score=0.99)
        for box in chosen.values()])


def axial_of_level(case, case_truth, level) -> str:
    """The axial instance (its id, as the viewport's data-instance) whose truth boxes name `level`."""
    return str(next(instance_of(case, box["file"]).pk for box in case_truth["boxes"]
                    if box["plane"] == "axial" and box["level"] == level))


def wait_axial(page, instance_id: str):
    page.wait_for_function(f"document.querySelector('#viewer-axial').dataset.instance === '{instance_id}'",
                           timeout=15000)


def ref_line(page) -> list[float]:
    return [float(v) for v in page.get_attribute("#viewer", "data-ref-line").split(",")]


def disc_box(case_truth, level) -> list[float]:
    return next(box["box"] for box in case_truth["boxes"] if box["plane"] == "sagittal"
                and box["level"] == level and box["finding"] == "pfirrmann")


def test_j_and_k_move_the_axial_to_the_slice_of_the_level_and_the_reference_line_with_it(
        browser, live_server, phantom):
    case, case_truth = phantom
    add_sagittal_model_boxes(case, case_truth)
    levels = list(case_truth["levels"])
    axial_levels = [level for level in levels if any(
        box["plane"] == "axial" and box["level"] == level for box in case_truth["boxes"])]
    first, second = axial_levels[0], axial_levels[1]

    page = log_in(browser, live_server, "reader1")
    page.goto(f"{live_server.url}/cases/{case.pk}/read/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    for _ in range(levels.index(first)):
        page.keyboard.press("j")
    wait_axial(page, axial_of_level(case, case_truth, first))
    page.wait_for_function(f"document.querySelector('#viewer').dataset.caption === '{first}'")
    line_first = ref_line(page)
    box = disc_box(case_truth, first)
    assert box[1] - 5 <= (line_first[1] + line_first[3]) / 2 <= box[3] + 5, (first, box, line_first)

    page.keyboard.press("j")  # the next level: its axial slice, and the line on its disc
    assert page.inner_text("#current-level").startswith(second)
    wait_axial(page, axial_of_level(case, case_truth, second))
    page.wait_for_function(f"document.querySelector('#viewer').dataset.caption === '{second}'")
    shown = ",".join(f"{v:.1f}" for v in line_first)
    page.wait_for_function(f"document.querySelector('#viewer').dataset.refLine !== '{shown}'")
    line_second = ref_line(page)
    box = disc_box(case_truth, second)
    assert box[1] - 5 <= (line_second[1] + line_second[3]) / 2 <= box[3] + 5, (second, box, line_second)
    assert page.get_attribute("#viewer", "data-level-band").startswith(f"{second}:")  # the band stays with boxes
    page.screenshot(path=str(ARTIFACTS / "level_follow.png"))

    page.keyboard.press("k")  # back: the first level's slice again
    wait_axial(page, axial_of_level(case, case_truth, first))

    # PageUp/PageDown still move the axial away from the level, and the level stays.
    page.keyboard.press("PageDown")
    page.wait_for_function(f"document.querySelector('#viewer-axial').dataset.instance !== "
                           f"'{axial_of_level(case, case_truth, first)}'")
    assert page.inner_text("#current-level").startswith(first)
    page.context.close()


def test_without_boxes_the_axial_stays_and_the_sagittal_names_the_level(browser, live_server, phantom):
    case, case_truth = phantom
    levels = list(case_truth["levels"])
    page = log_in(browser, live_server, "reader1")
    page.goto(f"{live_server.url}/cases/{case.pk}/read/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    page.wait_for_function(f"document.querySelector('#viewer').dataset.caption === '{levels[0]}'")
    axial = page.get_attribute("#viewer-axial", "data-instance")
    page.keyboard.press("j")
    page.wait_for_function(f"document.querySelector('#viewer').dataset.caption === '{levels[1]}'")
    assert page.get_attribute("#viewer", "data-level-band") == ""  # no boxes: no band
    page.wait_for_timeout(500)  # time for a (wrong) jump to land
    assert page.get_attribute("#viewer-axial", "data-instance") == axial
    page.screenshot(path=str(ARTIFACTS / "level_follow_no_boxes.png"))
    page.context.close()
