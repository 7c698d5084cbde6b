"""A sweep's directory: its manifest, the Parquet parts rows stream into, and the final table.

Layout of ``DIR``::

    manifest.json           what is swept (hardware, workloads, points, batches, options)
    parts/totals-<id>.parquet   totals rows, one part per flush, each written atomically
    parts/layers-<id>.parquet   their per-layer rows (with ``per_layer``), written first
    sweep.parquet, sweep.csv    the final table: every point exactly once, in sweep order
    layers.parquet, layers.csv  the final per-layer table (with ``per_layer``)

A part appears whole or not at all (:func:`perfsim.storage.write_atomic`), and a layers part
counts only once its totals part exists, so a sweep killed at any moment, even by SIGKILL,
loses at most the rows not yet flushed; running it again skips every point whose totals are
in a part. A directory holding a different sweep is refused rather than mixed.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pandas as pd

from perfsim.errors import PerfsimError
from perfsim.storage import write_atomic, write_text_atomic
from perfsim.sweeps.evaluate import totals_frame

MANIFEST = "manifest.json"
PARTS = "parts"
PART_ROWS = 2000
"""Rows per part at most: 100,000 points make 50 files, not 100,000."""
PART_SECONDS = 10.0
"""A part is flushed at least this often while rows arrive, so a kill loses little work."""


class SweepError(PerfsimError):
    """A sweep that cannot start: its directory holds a different sweep."""


class SweepStore:
    """Writes a sweep's rows into ``directory`` in parts and assembles the final table.

    ``manifest`` (JSON-able) describes the sweep; ``parameters`` are the varied key paths
    (columns of the totals). Opening a directory with another manifest raises
    :class:`SweepError`."""

    def __init__(self, directory: str | Path, manifest: dict, parameters: list[str],
                 part_rows: int = PART_ROWS, part_seconds: float = PART_SECONDS):
        self.directory = Path(directory)
        self.parameters = parameters
        self.part_rows = part_rows
        self.part_seconds = part_seconds
        self.parts_written = 0
        self._totals: list[dict] = []
        self._layers: list[dict] = []
        self._last_flush = time.monotonic()
        path = self.directory / MANIFEST
        if path.exists():
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored != manifest:
                changed = sorted(k for k in {*stored, *manifest}
                                 if stored.get(k) != manifest.get(k))
                raise SweepError(f"{self.directory} holds a different sweep (differs in: "
                                 f"{', '.join(changed)}); give another output directory, or "
                                 f"delete this one to start over")
        else:
            write_text_atomic(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        (self.directory / PARTS).mkdir(parents=True, exist_ok=True)

    def _parts(self, kind: str) -> list[Path]:
        return sorted((self.directory / PARTS).glob(f"{kind}-*.parquet"))

    def done(self) -> set[str]:
        """The ids of the points whose totals are on disk."""
        ids: set[str] = set()
        for part in self._parts("totals"):
            ids.update(pd.read_parquet(part, columns=["point_id"])["point_id"])
        return ids

    def add(self, row: dict, layers: list[dict]) -> bool:
        """Buffer one finished point; returns True when that flushed a part."""
        self._totals.append(row)
        self._layers.extend(layers)
        due = time.monotonic() - self._last_flush >= self.part_seconds
        if len(self._totals) >= self.part_rows or due:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write the buffered rows as one part (layers first, then the totals that make the
        part count)."""
        self._last_flush = time.monotonic()
        if not self._totals:
            return
        name = uuid.uuid4().hex
        parts = self.directory / PARTS
        if self._layers:
            layers = pd.DataFrame(self._layers)
            write_atomic(parts / f"layers-{name}.parquet",
                         lambda tmp: layers.to_parquet(tmp, index=False))
        totals = totals_frame(self._totals, self.parameters)
        write_atomic(parts / f"totals-{name}.parquet",
                     lambda tmp: totals.to_parquet(tmp, index=False))
        self._totals, self._layers = [], []
        self.parts_written += 1

    def finish(self, order: dict[str, int], per_layer: bool) -> tuple[pd.DataFrame,
                                                                       pd.DataFrame | None]:
        """Flush, then write and return the final tables: every point of ``order`` (point id
        -> position) exactly once, in that order."""
        self.flush()
        totals_parts = self._parts("totals")
        frames = [pd.read_parquet(p) for p in totals_parts]
        totals = (pd.concat(frames, ignore_index=True) if frames
                  else totals_frame([], self.parameters))
        totals = totals[totals["point_id"].isin(order)].drop_duplicates("point_id")
        totals = _in_order(totals, order)
        totals = totals_frame(totals, self.parameters)
        write_atomic(self.directory / "sweep.parquet",
                     lambda tmp: totals.to_parquet(tmp, index=False))
        write_atomic(self.directory / "sweep.csv", lambda tmp: totals.to_csv(tmp, index=False))
        if not per_layer:
            return totals, None
        names = [p.name.removeprefix("totals-") for p in totals_parts]
        layer_parts = [self.directory / PARTS / f"layers-{n}" for n in names]
        frames = [pd.read_parquet(p).assign(_part=i) for i, p in enumerate(layer_parts)
                  if p.exists()]
        layers = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["point_id", "_part"])
        first_part = layers.groupby("point_id")["_part"].transform("min")
        layers = layers[(layers["_part"] == first_part) & layers["point_id"].isin(order)]
        layers = _in_order(layers.drop(columns="_part"), order)
        write_atomic(self.directory / "layers.parquet",
                     lambda tmp: layers.to_parquet(tmp, index=False))
        write_atomic(self.directory / "layers.csv", lambda tmp: layers.to_csv(tmp, index=False))
        return totals, layers


def _in_order(frame: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    position = frame["point_id"].map(order)
    return frame.assign(_order=position).sort_values("_order", kind="stable") \
        .drop(columns="_order").reset_index(drop=True)
