# The phantom project, its ground-truth cases and the tiny checkpoint are the ML tests' own fixtures.
from tests.mlbackend.conftest import gt_cases, ml_project, phantom_dir, readers, tiny_weights  # noqa: F401
