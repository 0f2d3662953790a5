"""The walk of a dropped folder (frontend/static/frontend/dropped_files.js), run under node with mock entries that
answer in batches of at most 100, as Chromium's readEntries does."""
from collections import Counter

import pytest

from tests.frontend.conftest import node_results


@pytest.fixture(scope="module")
def walked():
    return node_results("dropped_files.test.mjs")


def test_every_file_of_a_nested_folder_and_the_zip_comes_out_once_with_its_path(walked):
    expected = (["study.zip"] + [f"patient/img{i}.dcm" for i in range(130)]
                + [f"patient/series2/s{i}.dcm" for i in range(110)]
                + [f"patient/series2/extra/e{i}.dcm" for i in range(10)])
    names = [entry["name"] for entry in walked["files"]]
    assert len(names) == 251 and Counter(names) == Counter(expected)
    # Each name carries the file that entry gave, not another's.
    assert all(entry["name"].rsplit("/", 1)[-1] == entry["id"] for entry in walked["files"])


def test_a_folder_is_read_until_its_reader_answers_an_empty_batch(walked):
    # 131 entries: batches of 100 and 31, then the empty one; 120 entries: 100, 20, empty; 10: 10, empty.
    assert walked["readCalls"] == {"patient": 3, "series2": 3, "extra": 2}


def test_a_file_that_cannot_be_read_rejects_the_walk_with_its_words(walked):
    assert walked["failed"] == "bad.dcm is unreadable"


def test_a_drop_without_entries_gives_its_flat_file_list(walked):
    assert walked["flat"] == [{"id": "a.dcm", "name": "a.dcm"}, {"id": "b.zip", "name": "b.zip"}]
