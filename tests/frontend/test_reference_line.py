"""The reference line's geometry (frontend/static/frontend/reference_line.js), run under node: where an axial
slice cuts the sagittal image, in sagittal pixels."""

import pytest

from tests.frontend.conftest import node_results


@pytest.fixture(scope="module")
def lines():
    return node_results("reference_line.test.mjs")


def test_an_axial_slice_cuts_the_sagittal_in_a_horizontal_line_at_its_height(lines):
    # Sagittal row y lies at z = 120 - 0.5 y: z = 100 is row 40, z = 60 is row 120, across the whole width.
    assert lines["z100"] == {"start": {"x": 0, "y": 40}, "end": {"x": 300, "y": 40}}
    assert lines["z60"] == {"start": {"x": 0, "y": 120}, "end": {"x": 300, "y": 120}}


def test_a_slice_outside_the_image_or_parallel_to_it_gives_no_line(lines):
    assert lines["above"] is None
    assert lines["parallel"] is None


def test_a_tilted_slice_gives_a_sloping_line_through_its_points(lines):
    # The tilted plane holds the points with z - 50 = y: on the sagittal (y = -100 + 0.5 x, z = 120 - 0.5 y_px).
    start, end = lines["tilted"]["start"], lines["tilted"]["end"]
    for point in (start, end):
        y_mm, z_mm = -100 + 0.5 * point["x"], 120 - 0.5 * point["y"]
        assert z_mm - 50 == pytest.approx(y_mm, abs=1e-6)
    assert start["y"] != pytest.approx(end["y"])


def test_a_sagittal_pixel_is_placed_in_the_patient_by_the_image_plane(lines):
    # Pixel (100, 40) of the sagittal: y = -100 + 0.5 * 100, z = 120 - 0.5 * 40, x on the slice (2).
    assert lines["pixel"] == [2, -50, 100]
    assert lines["centre"] == [2, -50, 100]  # box [90, 30, 110, 50] has its centre there
    assert lines["mean"] == [1, 2, 3]
    assert lines["noMean"] is None


def test_the_distance_to_a_slice_is_taken_along_its_normal(lines):
    assert lines["distance"] == 40  # 100 mm high, slice at 60 mm: x and y do not count
    # The tilted slice (normal (0, -1, 1) / sqrt 2 through (0, 0, 50)): the point (0, 10, 50) is 10 / sqrt 2 off.
    assert lines["distanceTilted"] == pytest.approx(10 / 2 ** 0.5)


def test_the_nearest_slice_to_a_point_and_none_without_point_or_geometry(lines):
    # Sagittal pixel (100, 45) lies at z = 97.5: of the slices at 20, 60, 100 and 140 mm, the third.
    assert lines["nearest"] == 2
    assert lines["nearestSkipsUnknown"] == 0  # a slice without geometry (null) is never chosen
    assert lines["nearestNoPoint"] == -1
    assert lines["nearestNoPlanes"] == -1
