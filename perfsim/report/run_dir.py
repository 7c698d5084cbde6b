"""A saved run read back from its directory (what ``perfsim run --out DIR`` writes), with a
clean :class:`PerfsimError` naming the file when something is missing or unreadable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from perfsim.errors import PerfsimError
from perfsim.results import RunResult

RUN_KEYS = ("network", "hw", "batch", "fidelity", "hw_summary", "totals")
"""The keys of ``run.json`` a report needs."""

LAYER_COLUMNS = ("layer", "op", "engine", "kernel", "groups", "out_shape", "macs",
                 "dram_read_bytes", "dram_write_bytes", "compute_cycles", "stall_cycles",
                 "total_cycles", "utilization", "macs_per_dram_byte", "bound", "reason")
"""The columns of ``layers.parquet`` a report needs."""

TIMELINE_COLUMNS = ("resource", "kind", "layer", "tile", "tiles", "start_cycle", "end_cycle")
"""The columns of ``timeline.csv`` (written by event-schedule runs)."""


@dataclass(frozen=True)
class SavedRun:
    """One run on disk (or in memory, :func:`as_saved`, with no ``path``): its per-layer
    frame, its ``run.json`` document and, for event runs, its timeline (cycles)."""

    path: Path | None
    layers: pd.DataFrame
    document: dict
    timeline: pd.DataFrame | None

    @property
    def hw_summary(self) -> dict:
        return self.document["hw_summary"]

    @property
    def totals(self) -> dict:
        return self.document["totals"]

    @property
    def title(self) -> str:
        """``network on hw, batch B`` for headings and legends."""
        d = self.document
        return f"{d['network']} on {d['hw']}, batch {d['batch']}"


def as_saved(result: RunResult) -> SavedRun:
    """A run in memory (``simulate``'s result) as a report reads one from disk."""
    return SavedRun(path=None, layers=result.to_frame(), document=result.to_dict(),
                    timeline=result.timeline)


def load_run(path: str | Path) -> SavedRun:
    """Read ``layers.parquet``, ``run.json`` and, when present, ``timeline.csv`` from ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise PerfsimError(f"{path}: no such run directory (write one with "
                           f"`perfsim run NET --hw HW --out {path}`)")
    return SavedRun(path=path, layers=_layers(path / "layers.parquet"),
                    document=_document(path / "run.json"),
                    timeline=_timeline(path / "timeline.csv"))


def run_identity(path: str | Path) -> dict | None:
    """What run a directory holds, from its ``run.json``: ``network``, ``hw``, ``batch``,
    ``fidelity`` and the ``graph`` and ``residency`` options; None when it holds none (a
    ``run.json`` that cannot be read counts as a run of unknown identity: every value None)."""
    file = Path(path) / "run.json"
    if not file.is_file():
        return None
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
        options = document.get("options", {})
        return {**{key: document.get(key) for key in ("network", "hw", "batch", "fidelity")},
                "graph": options.get("graph"), "residency": options.get("residency")}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return {}


def _document(file: Path) -> dict:
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PerfsimError(f"{file}: missing (not a saved run?)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PerfsimError(f"{file}: cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise PerfsimError(f"{file}:{err.lineno}: not valid JSON: {err.msg}") from None
    if not isinstance(document, dict):
        raise PerfsimError(f"{file}: expected a JSON object, got {type(document).__name__}")
    missing = [k for k in RUN_KEYS if k not in document]
    if missing:
        raise PerfsimError(f"{file}: missing key(s) {', '.join(missing)}")
    return document


def _layers(file: Path) -> pd.DataFrame:
    if not file.is_file():
        raise PerfsimError(f"{file}: missing (not a saved run?)")
    try:
        frame = pd.read_parquet(file)
    except Exception as err:  # pyarrow raises several unrelated types for a damaged file
        raise PerfsimError(f"{file}: not a readable Parquet file ({type(err).__name__})") \
            from None
    missing = [c for c in LAYER_COLUMNS if c not in frame]
    if missing:
        raise PerfsimError(f"{file}: missing column(s) {', '.join(missing)}")
    return frame


def _timeline(file: Path) -> pd.DataFrame | None:
    if not file.is_file():
        return None
    try:
        frame = pd.read_csv(file)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) \
            as err:
        raise PerfsimError(f"{file}: not a readable CSV file ({err})") from None
    missing = [c for c in TIMELINE_COLUMNS if c not in frame]
    if missing:
        raise PerfsimError(f"{file}: missing column(s) {', '.join(missing)}")
    return frame
