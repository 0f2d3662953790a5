import numpy as np
import pytest
from pydicom.data import get_testdata_file

from annotation import services
from annotation.dicom import path_sources
from annotation.models import Instance
from annotation.rendering import instance_to_uint8, pixels_to_uint8


def test_window_maps_linearly_and_clips():
    pixels = np.array([[0, 100, 200, 300]])
    assert pixels_to_uint8(pixels, window_center=150, window_width=200).tolist() == [[0, 64, 191, 255]]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_RLE.dcm", "CT_small.dcm"])
def test_stored_instances_render_to_uint8_of_their_size(project, name):
    services.case_import(project=project, sources=path_sources(get_testdata_file(name), max_file_bytes=10**7))
    instance = Instance.objects.get()
    image = instance_to_uint8(instance)
    assert image.dtype == np.uint8 and image.shape == (instance.rows, instance.columns)
    assert image.std() > 10  # real anatomy, not a flat field
