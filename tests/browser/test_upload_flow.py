"""The DICOM upload page in real headless Chromium: a phantom zip with one non-DICOM file and one burned-in image
goes up in 1 MiB chunks through a dropped connection, the progress bars reach 100%, and the per-file table says
what became of each file; a file dropped afterwards is reported as a duplicate."""
import base64
import zipfile

import pytest

from annotation.models import Case, Instance, Upload
from tests.annotation.test_burned_in import burned_in
from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MIB = 1024 * 1024


@pytest.fixture
def phantom_zip(tmp_path):
    from fixtures.phantoms import generate_phantoms

    generate_phantoms(n_cases=1, out_dir=tmp_path / "phantoms", seed=3)
    images = sorted((tmp_path / "phantoms").rglob("*.dcm"))
    path = tmp_path / "study.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:  # stored: several chunks of 1 MiB
        for image in images:
            archive.write(image, image.relative_to(tmp_path / "phantoms"))
        archive.writestr("README.txt", "viewer software notes")
        archive.writestr("scan-with-name.dcm", burned_in())
    return path, images


def drop_connection(page, *, answers_lost: set[int], never_arrived: set[int]):
    """The PUTs so numbered (1-based) reach the server but their answers never come back, or never reach it."""
    puts = []

    def handle(route):
        if route.request.method == "PUT":
            puts.append(route.request.headers.get("content-range"))
            if len(puts) in answers_lost:
                route.fetch()  # the server stores the chunk ...
            if len(puts) in answers_lost | never_arrived:
                route.abort("connectionreset")  # ... and the browser hears nothing
                return
        route.continue_()

    page.route("**/uploads/*/", handle)
    return puts


def test_a_phantom_zip_uploads_through_a_dropped_connection_with_progress_and_per_file_results(
        browser, live_server, settings, coordinator, project, phantom_zip):
    settings.DICOM_UPLOAD_CHUNK_BYTES = MIB
    path, images = phantom_zip
    page = log_in(browser, live_server, coordinator.username)
    # Every text the status line shows, to see that the page said it was retrying.
    page.add_init_script("""window.statusLog = []; document.addEventListener("DOMContentLoaded", () =>
        new MutationObserver(() => window.statusLog.push(document.getElementById("status").textContent))
            .observe(document.getElementById("status"), {childList: true, characterData: true, subtree: true}));""")
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    page.click("text=Upload DICOM")
    page.wait_for_url(f"**/projects/{project.slug}/upload/")
    size = path.stat().st_size
    last = -(-size // MIB)
    # A chunk in the middle and the last one (ingested) whose answers are lost; the third never arrives.
    puts = drop_connection(page, answers_lost={2, last + 1}, never_arrived={3})

    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("body[data-uploaded='1']", timeout=60000)
    page.screenshot(path=str(ARTIFACTS / "upload_results.png"), full_page=True)

    # After each failure the page asked where the upload stood: only the chunk that never arrived went twice.
    assert len(puts) == last + 1 and last > 3
    assert puts.count(f"bytes {MIB}-{2 * MIB - 1}/{size}") == 1
    assert puts.count(f"bytes {2 * MIB}-{3 * MIB - 1}/{size}") == 2
    assert any("retrying" in text for text in page.evaluate("window.statusLog"))
    assert "(100%)" in page.text_content("#bytes-text")
    assert page.text_content("#files-text") == "1 of 1 file(s) done"
    assert page.evaluate("document.getElementById('bytes-bar').value === document.getElementById('bytes-bar').max")
    assert "refused" in page.text_content("#status")
    rows = page.locator("#results tbody tr")
    assert rows.count() == len(images) + 2
    readme = page.locator("#results tbody tr", has_text="README.txt")
    assert "Refused" in readme.text_content() and "not a DICOM file" in readme.text_content()
    assert "burned-in" in page.locator("#results tbody tr", has_text="scan-with-name.dcm").text_content()
    assert page.locator("#results tbody tr.result-stored").count() == len(images)
    upload = Upload.objects.get()
    assert (upload.status, upload.received, upload.size) == ("done", size, size)
    assert Instance.objects.count() == len(images) and Case.objects.count() == 1

    # A single image dropped on the zone afterwards: the project holds it already.
    content = base64.b64encode(images[0].read_bytes()).decode()
    page.evaluate("""([name, content]) => {
        const bytes = Uint8Array.from(atob(content), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: "application/dicom"}));
        const drop = new DragEvent("drop", {dataTransfer: transfer, bubbles: true});
        document.getElementById("drop-zone").dispatchEvent(drop);
    }""", [images[0].name, content])
    page.wait_for_selector("body[data-uploaded='2']", timeout=30000)
    page.screenshot(path=str(ARTIFACTS / "upload_duplicate.png"), full_page=True)
    duplicate = page.locator("#results tbody tr").last
    assert images[0].name in duplicate.text_content() and "Duplicate" in duplicate.text_content()
    assert Instance.objects.count() == len(images) and Upload.objects.count() == 2
