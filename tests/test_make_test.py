"""`make test` on a fresh machine runs the browser tests too: it installs Debian's chromium when missing, and a
user who cannot install it gets one line saying how, not a run that silently skips them."""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_test_target_installs_chromium_first():
    plan = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert plan.index("command -v chromium") < plan.index("-m pytest")
    assert "apt-get install -y -qq --no-install-recommends chromium" in plan


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to act as another user")
def test_without_chromium_or_root_it_stops_with_one_line_saying_how():
    # A PATH with the tools make needs and no chromium, sudo or apt-get, readable by the unprivileged user.
    bin_dir = Path(tempfile.mkdtemp(prefix="make-test-"))
    try:
        bin_dir.chmod(0o755)
        for tool in ("make", "sh", "id", "cat", "cksum", "cut"):
            (bin_dir / tool).symlink_to(shutil.which(tool))
        result = subprocess.run(["runuser", "-u", "nobody", "--", "env", f"PATH={bin_dir}", "make", "-s", "-f",
                                 str(ROOT / "Makefile"), "chromium"], cwd=bin_dir, capture_output=True, text=True)
    finally:
        shutil.rmtree(bin_dir)
    assert result.returncode != 0
    assert result.stdout.strip().splitlines() == [
        "make test needs Debian's chromium for the browser tests: run 'sudo apt-get install chromium' "
        "(or 'make test-fast' to leave them out)"]
