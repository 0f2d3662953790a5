import json
import shutil
import subprocess
from pathlib import Path

import pytest


def node_results(script: str) -> dict:
    """What a test script of ours under tests/frontend/ prints (one JSON object), run by node against the page's
    ES modules; skips where node is missing."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    done = subprocess.run(["node", str(Path(__file__).with_name(script))], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)
