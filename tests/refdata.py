"""The project's own copy of the reference numbers (tests/refs/, copied from
the published and re-derived counts documented in tests/refs/networks.md)."""

from __future__ import annotations

import json
from pathlib import Path

REFS = Path(__file__).parent / "refs"


def reference_networks() -> dict[str, dict]:
    """networks.json as a mapping name -> entry."""
    return {e["name"]: e for e in json.loads((REFS / "networks.json").read_text())}
