"""A coordinator's label is text on the reading page, never markup: the schema reaches the page as data and every
value the scripts put into HTML goes through frontend/static/frontend/escape.js."""
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from annotation import services
from annotation.models import Role
from tests.browser.conftest import log_in
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABEL = "<img src=x onerror=window.__xss=1>"


def test_a_finding_label_with_markup_is_shown_as_text_on_the_reading_page(browser, live_server, project):
    schema = project.label_schema
    schema["findings"][1]["label"] = LABEL
    project.label_schema = schema
    project.save(update_fields=["label_schema"])
    name = "MR_small.dcm"
    imported = services.case_import(project=project, sources=[(name, Path(get_testdata_file(name)).read_bytes(),
                                                                False)])
    reader = make_user("alice", Role.READER)
    services.case_assign(case=project.cases.get(pk=imported.case_ids[0]), user=reader, role=Role.READER)

    page = log_in(browser, live_server, "alice")
    page.goto(f"{live_server.url}/cases/{imported.case_ids[0]}/read/")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)

    assert page.evaluate("() => window.__xss") is None
    assert page.locator("#grading img, #box-finding img").count() == 0
    assert LABEL in page.locator("#grading thead").inner_text()
    assert LABEL in page.locator("#box-finding option").all_text_contents()
    page.context.close()
