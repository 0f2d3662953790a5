"""The senior's adjudication queue by keyboard, in real headless Chromium against a live server.

Two readers' reads (written through the reading services) disagree on three items of one phantom case and on one
item of another. The senior sees the counts, opens the first case with Enter, decides reader A, reader B and an own
value with the keys a, b, o and a digit, submits with Ctrl+Enter, and "Next case" (key n) opens the other one.
"""
import pytest

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Adjudication, Case, GroundTruthItem, Role
from annotation.schema import DEFAULT_SCHEMA, finding_specs
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HERNIATION = next(f for f in DEFAULT_SCHEMA["findings"] if f["name"] == "herniation")["values"]
# (level, finding): (reader 1's value, reader 2's value); everything else (an exhaustive read) both give alike.
FIRST_CASE = {("L3/L4", "pfirrmann"): ("2", "3"), ("L4/L5", "pfirrmann"): ("3", "4"),
              ("L5/S1", "herniation"): ("bulge", "extrusion")}
SECOND_CASE = {("L2/L3", "pfirrmann"): ("2", "4")}
# What the senior decides: A at L3/L4, B at L4/L5, their own "protrusion" at L5/S1.
DECISIONS = {("L3/L4", "pfirrmann"): ("a", "reader_a", "2"), ("L4/L5", "pfirrmann"): ("b", "reader_b", "4"),
             ("L5/S1", "herniation"): ("o", "senior", "protrusion")}


def _read(case, reader, disagreements, side):
    values = {(level, name): spec.values[0] for level in DEFAULT_SCHEMA["levels"]
              for name, spec in finding_specs(DEFAULT_SCHEMA).items()}
    values.update({key: pair[side] for key, pair in disagreements.items()})
    read = services.read_open(case=case, reader=reader)
    services.read_submit(read=read, reader=reader, findings=[
        services.FindingInput(disc_level=level, finding_type=name, value=value)
        for (level, name), value in sorted(values.items())])


@pytest.fixture
def two_adjudications(tmp_path, project):
    from fixtures.phantoms import generate_phantoms

    generate_phantoms(n_cases=2, out_dir=tmp_path / "phantoms", seed=4)
    result = services.case_import(project=project, sources=path_sources(tmp_path / "phantoms", max_file_bytes=10**8))
    cases = list(Case.objects.filter(pk__in=result.case_ids).order_by("id"))
    readers = [make_user("reader1", Role.READER), make_user("reader2", Role.READER)]
    senior = make_user("senior", Role.SENIOR)
    for case, disagreements in zip(cases, (FIRST_CASE, SECOND_CASE)):
        for side, reader in enumerate(readers):
            services.case_assign(case=case, user=reader, role=Role.READER)
        services.case_assign(case=case, user=senior, role=Role.SENIOR)
        for side, reader in enumerate(readers):
            _read(case, reader, disagreements, side)
    return [Adjudication.objects.get(case=case) for case in cases]


def test_senior_decides_a_case_by_keyboard_and_goes_on_to_the_next(browser, live_server, two_adjudications):
    first, second = two_adjudications
    page = log_in(browser, live_server, "senior")
    page.wait_for_selector("#queue")
    assert page.inner_text("[data-count='cases']") == "2"
    assert page.inner_text("[data-count='items']") == "4"
    assert "Lumbar MRI: 4 items" in page.inner_text("#queue-counts")
    assert [r.inner_text() for r in page.locator("#queue tbody tr td[data-items]").all()] == ["3", "1"]
    page.screenshot(path=str(ARTIFACTS / "adjudication_queue_list.png"))
    page.keyboard.press("j")
    page.keyboard.press("k")  # back to the oldest
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/adjudications/{first.pk}/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert page.is_visible("#key-legend")

    rows = page.locator("#items tbody tr")
    assert rows.count() == 3
    for index in range(3):
        row = rows.nth(index)
        assert "current" in row.get_attribute("class")  # the keys act on this item; a decision moves on
        level, label = row.locator("[data-show]").inner_text().split(" ", 1)
        name = next(n for n, spec in finding_specs(DEFAULT_SCHEMA).items() if spec.label == label)
        key, _choice, value = DECISIONS[(level, name)]
        page.keyboard.press(key)
        if key == "o":
            page.wait_for_selector("#status >> text=Own value for")
            page.keyboard.press(str(HERNIATION.index(value) + 1))
        page.wait_for_selector(f"#status >> text={level} {name}")
    page.screenshot(path=str(ARTIFACTS / "adjudication_queue_decided.png"))
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#status >> text=Resolved by senior")
    assert page.is_visible("#next-case")
    page.screenshot(path=str(ARTIFACTS / "adjudication_queue_resolved.png"))

    for (level, name), (_key, choice, value) in DECISIONS.items():
        item = GroundTruthItem.objects.get(case=first.case, disc_level=level, finding_type=name, instance__isnull=True)
        assert (item.value, item.provenance, item.decided_by.username) == (value, choice, "senior")
    first.refresh_from_db()
    assert first.status == Adjudication.Status.RESOLVED and first.resolved_by.username == "senior"
    every = len(DEFAULT_SCHEMA["levels"]) * len(finding_specs(DEFAULT_SCHEMA))
    assert first.case.ground_truth.filter(provenance="agreement").count() == every - 3

    page.keyboard.press("n")
    page.wait_for_url(f"**/adjudications/{second.pk}/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    assert page.locator("#items tbody tr").count() == 1
    page.keyboard.press("b")
    page.click("#resolve")  # the button does what Ctrl+Enter does
    page.wait_for_selector("#status >> text=Nothing else is waiting in your queue")
    page.screenshot(path=str(ARTIFACTS / "adjudication_queue_last.png"))
    page.goto(f"{live_server.url}/adjudications/")
    page.wait_for_selector("text=Nothing to adjudicate.")
    assert page.inner_text("[data-count='items']") == "0"
    page.context.close()


def test_submitting_with_an_undecided_item_says_which_and_stores_nothing(browser, live_server, two_adjudications):
    first, _second = two_adjudications
    agreed = set(GroundTruthItem.objects.filter(case=first.case).values_list("pk", flat=True))
    page = log_in(browser, live_server, "senior")
    page.goto(f"{live_server.url}/adjudications/{first.pk}/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    page.keyboard.press("a")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#status.error >> text=first.")
    assert "Decide" in page.inner_text("#status")
    first.refresh_from_db()
    assert first.status == Adjudication.Status.OPEN
    # Only what the two readers agreed on (written when the adjudication opened); no decision.
    assert set(GroundTruthItem.objects.filter(case=first.case).values_list("pk", flat=True)) == agreed
    assert not GroundTruthItem.objects.filter(case=first.case).exclude(provenance="agreement").exists()
    page.context.close()
