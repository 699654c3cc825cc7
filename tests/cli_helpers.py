"""Running the real ``dancenow`` CLI from tests, and checking its one-line error contract."""

from __future__ import annotations

import subprocess
import sys


def run_dancenow(*args) -> subprocess.CompletedProcess:
    """Run ``python -m dancenow ARGS`` in a fresh process (as a user would), capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "dancenow", *map(str, args)], capture_output=True, text=True, timeout=900
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit status 2, no traceback, exactly one message line (progress bars aside) containing ``needles``."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dancenow")
    for needle in needles:
        assert needle in lines[0], lines[0]
