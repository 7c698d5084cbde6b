"""The command line as a user runs it, for the tests: ``python -m perfsim ARGS`` in a
subprocess (from a directory outside the checkout, where the test gives one), and the one-line
error every bad input gets."""

from __future__ import annotations

import subprocess
import sys


def perfsim_cli(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    """Run ``python -m perfsim ARGS`` from ``cwd`` (with ``env``); the CompletedProcess, its
    output as text."""
    return subprocess.run([sys.executable, "-m", "perfsim", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, no traceback, one line on stderr holding every fragment."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
