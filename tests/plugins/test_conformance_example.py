"""The example plugin's own test suite (docs/plugin-example/tests), which runs the conformance
kit on its model, passes as a plugin author would run it: pytest in the plugin's folder."""

from __future__ import annotations

import os
import subprocess
import sys

from ..conftest import REPO

EXAMPLE = REPO / "docs" / "plugin-example"


def test_the_example_plugins_own_tests_pass():
    path = os.pathsep.join(
        [
            str(EXAMPLE / "src"),
            str(REPO / "server"),
            str(REPO / "plugins"),
            os.environ.get("PYTHONPATH", ""),
        ]
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLE,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every check ran or was skipped for a capability the model does not claim.
    assert "6 passed, 4 skipped" in result.stdout, result.stdout
