"""A reader's effort on the reading page: the key presses and clicks it takes, in real Chromium (Debian's, driven
by Playwright) against a live server, (a) to confirm a case whose pre-annotations all equal the phantom truth (a
perfect model) and submit it, and (b) to grade an unaided case fully from its truth by keyboard and submit it.

Every key press and click the script performs counts one; opening the case by its URL does not. The server is
`manage.py runserver` on a free port with a temporary SQLite database and media folder. After each read the
stored submitted findings must equal the truth, else the script exits non-zero. Last line: one JSON object,
{"actions_to_confirm": n, "actions_unaided": m}. Goals: n <= 2, m <= 25.

    .venv/bin/python bench/reader_effort.py [--seed 0]
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TMP = Path(tempfile.mkdtemp(prefix="reader-effort-"))
# Before Django loads: the bench's own database, media and var folder (its secrets), no pre-annotation hook.
os.environ.update({"DATABASE_URL": f"sqlite:///{TMP / 'bench.sqlite3'}", "SPINEREAD_VAR_DIR": str(TMP),
                   "MEDIA_ROOT": str(TMP / "media"), "SPINEREAD_AFTER_IMPORT": "", "DEBUG": "0"})
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from annotation import services  # noqa: E402
from annotation.dicom import path_sources  # noqa: E402
from annotation.models import Case, Instance, Read, Role  # noqa: E402
from annotation.schema import default_schema  # noqa: E402
from fixtures.phantoms.truth import reading_keys, truth_instance, truth_value, truth_values  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-reader-effort"
SCHEMA = default_schema()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_up(seed: int):
    """An exhaustive project with two phantom cases for one reader; the first pre-annotated by a perfect model
    (one box per plane, level and finding of its truth), the second without model findings."""
    from django.contrib.auth import get_user_model
    from fixtures.phantoms import generate_phantoms

    call_command("migrate", verbosity=0)
    services.roles_ensure()
    truth = generate_phantoms(n_cases=2, out_dir=TMP / "phantoms", seed=seed)
    project = services.project_create(slug="effort", name="Reader effort bench")
    reader = get_user_model().objects.create_user(username="effort-reader", password=PASSWORD)
    services.user_set_role(user=reader, role=Role.READER)
    cases = []
    for case_truth in truth["cases"]:
        result = services.case_import(project=project, sources=path_sources(
            TMP / "phantoms" / case_truth["case_key"], max_file_bytes=10**8))
        case = Case.objects.get(pk=result.case_ids[0])
        services.case_assign(case=case, user=reader, role=Role.READER)
        cases.append((case, case_truth))
    confirm_case, confirm_truth = cases[0]
    chosen = {}
    for box in confirm_truth["boxes"]:
        chosen.setdefault((box["plane"], box["level"], box["finding"]), box)
    services.model_findings_replace(case=confirm_case, model_version="perfect", findings=[
        services.ModelFindingInput(disc_level=box["level"], finding_type=box["finding"],
                                   value=truth_value(box["value"]), score=0.99,
                                   instance_id=Instance.objects.get(series__case=confirm_case,
                                                                    **truth_instance(box["file"])).pk,
                                   box=tuple(box["box"]))
        for box in chosen.values()])
    return reader, cases


class Reader:
    """The browser page with every key press counted."""

    def __init__(self, page):
        self.page, self.actions = page, 0

    def press(self, key):
        self.page.keyboard.press(key)
        self.actions += 1


def read_matches_truth(case, case_truth) -> list[str]:
    """The differences between the stored submitted read's values and the truth (empty when they match)."""
    read = Read.objects.filter(case=case, status=Read.Status.SUBMITTED).first()
    if read is None:
        return ["no submitted read"]
    stored = {(f.disc_level, f.finding_type): f.value for f in read.findings.filter(instance__isnull=True)}
    truth = truth_values(case_truth)
    return [f"{level} {name}: stored {stored.get((level, name))!r}, truth {value!r}"
            for (level, name), value in truth.items() if stored.get((level, name)) != value]


def open_case(page, base, case):
    page.goto(f"{base}/cases/{case.pk}/read/")
    page.wait_for_selector("body[data-ready='1']", timeout=60000)


def measure(base, cases) -> dict:
    from playwright.sync_api import sync_playwright

    (confirm_case, confirm_truth), (unaided_case, unaided_truth) = cases
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport={"width": 1400, "height": 950}).new_page()
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", "effort-reader")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")  # logging in is not part of a read
        page.wait_for_url(f"{base}/**")

        open_case(page, base, confirm_case)
        confirm = Reader(page)
        confirm.press("Shift+A")
        confirm.press("Enter")
        page.wait_for_selector("#status >> text=/^Submitted \\(version/", timeout=30000)

        open_case(page, base, unaided_case)
        unaided = Reader(page)
        for key in reading_keys(unaided_truth["levels"], SCHEMA):
            unaided.press(key)
        page.wait_for_selector("#status >> text=/^Submitted \\(version/", timeout=30000)
        browser.close()
    return {"actions_to_confirm": confirm.actions, "actions_unaided": unaided.actions}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (the demo's is 0)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    _, cases = set_up(args.seed)
    connection.close()
    port = free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", "--insecure",
                               f"127.0.0.1:{port}"], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        result = measure(base, cases)
    finally:
        server.terminate()
        server.wait(timeout=30)
    problems = [f"case {case.pk}: {line}" for case, truth in cases for line in read_matches_truth(case, truth)]
    for line in problems:
        print("mismatch:", line, file=sys.stderr)
    connection.close()
    shutil.rmtree(TMP, ignore_errors=True)
    print(json.dumps(result))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
