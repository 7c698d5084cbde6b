"""Running a test file's kernel tests again with Numba's JIT disabled, where each jitted
kernel runs as the plain Python it is written in: equality with the ``_ref`` twins must hold
there too (DESIGN section 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

skip_without_jit = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                                      reason="already running without JIT")


def passes_without_jit(test_file: str, selection: str) -> None:
    """Run the tests of ``test_file`` that ``selection`` (a ``-k`` expression) picks with
    ``NUMBA_DISABLE_JIT=1`` in a fresh interpreter; assert they ran and passed."""
    here = Path(test_file)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here), "-k",
         selection], cwd=here.parent.parent, env=dict(os.environ, NUMBA_DISABLE_JIT="1"),
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
