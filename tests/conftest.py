"""What every test shares: the tiling search's answers that ``perfsim run`` keeps on disk
(:mod:`perfsim.mapping.kernels.kept_answers`) go to a directory of the session's, never the
user's cache. A test that needs a run to compute sets its own, empty."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _kept_answers_apart(tmp_path_factory):
    os.environ["PERFSIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("perfsim-cache"))
