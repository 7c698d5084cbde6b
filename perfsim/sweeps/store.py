"""A sweep's directory: its lock, its manifest, the Parquet parts rows stream into, and the
final table.

Layout of ``DIR``::

    sweep.lock              held (a POSIX record lock) by the sweep writing DIR; holds its PID
    manifest.json           what is swept (hardware, workloads, points, batches, options)
    parts/totals-<id>.parquet   totals rows, one part per flush, each written atomically
    parts/layers-<id>.parquet   their per-layer rows (with ``per_layer``), written first
    sweep.parquet, sweep.csv    the final table: every point exactly once, in sweep order
    layers.parquet, layers.csv  the final per-layer table (with ``per_layer``)

One sweep at a time: a second one on DIR (another process, or this one) stops at once with a
:class:`SweepError` naming the holder rather than waiting, since a sweep may run for hours and
a command that sits silently looks hung; the lock goes with its process, even on SIGKILL.

A part appears whole or not at all, fsynced before it is renamed into place
(:func:`perfsim.storage.write_atomic`), and a layers part counts only once its totals part
exists, so a sweep killed at any moment, even by SIGKILL or a power loss, loses at most the
rows not yet flushed; running it again skips every point whose totals are in a part. On
opening, under the lock, the store removes the temporary files a killed run left, and any part
that cannot be read (empty, truncated, damaged) with its twin, so its points are computed
again. A directory holding a different sweep is refused rather than mixed.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from perfsim.errors import PerfsimError
from perfsim.storage import check_destination, write_atomic, write_text_atomic
from perfsim.sweeps.evaluate import in_sweep_order, layers_in_order, totals_frame

LOCK = "sweep.lock"
MANIFEST = "manifest.json"
PARTS = "parts"
OUTPUTS = (MANIFEST, "sweep.parquet", "sweep.csv", "layers.parquet", "layers.csv")
PART_ROWS = 2000
"""Rows per part at most: 100,000 points make 50 files, not 100,000."""
PART_SECONDS = 10.0
"""A part is flushed at least this often while rows arrive, so a kill loses little work."""

_held: set[str] = set()
"""The directories this process holds: POSIX locks do not exclude their own process."""
_held_guard = threading.Lock()


class SweepError(PerfsimError):
    """A sweep that cannot start: its directory is in use, holds a different sweep, or cannot
    be written."""


class SweepStore:
    """Writes a sweep's rows into ``directory`` in parts and assembles the final table; a
    context manager holding the directory's lock until it exits.

    ``manifest`` (JSON-able) describes the sweep; ``parameters`` are the varied key paths
    (columns of the totals); ``workloads`` (labels), ``batches`` and ``sequence`` (the swept
    sequence settings, key -> values) order the final table.
    Opening a directory in use or holding another manifest raises :class:`SweepError`."""

    def __init__(self, directory: str | Path, manifest: dict, parameters: list[str],
                 workloads: list[str], batches: list[int], part_rows: int = PART_ROWS,
                 part_seconds: float = PART_SECONDS, sequence: dict[str, list] | None = None):
        self.directory = Path(directory)
        self.parameters = parameters
        self.workloads = workloads
        self.batches = batches
        self.sequence = sequence or {}
        self.part_rows = part_rows
        self.part_seconds = part_seconds
        self.parts_written = 0
        self.done: set[str] = set()
        """The ids of the points whose totals were on disk when the store opened."""
        self._lock_fd: int | None = None
        self._totals: list[dict] = []
        self._layers: list[dict] = []
        self._last_flush = time.monotonic()
        try:
            if self.directory.exists() and not self.directory.is_dir():
                raise SweepError(f"{self.directory}: exists and is not a directory; give a "
                                 f"directory for the sweep's output")
            for name in OUTPUTS:
                check_destination(self.directory / name)
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(self.directory)
        except OSError as err:
            raise SweepError(f"cannot write the sweep to {self.directory}: "
                             f"{err.strerror or err}") from None
        try:
            self._remove_temps()
            self._open_manifest(manifest)
            (self.directory / PARTS).mkdir(exist_ok=True)
            self._read_parts()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the directory (idempotent)."""
        if self._lock_fd is not None:
            _unlock(self.directory, self._lock_fd)
            self._lock_fd = None

    def _remove_temps(self) -> None:
        """Temporary files of killed runs: every dot-file in ``parts/`` and those of the
        final files (this sweep holds the lock, so none is being written)."""
        parts = self.directory / PARTS
        temps = [p for p in parts.glob(".*") if p.is_file()] if parts.is_dir() else []
        temps += [p for name in OUTPUTS for p in self.directory.glob(f".{name}.*")
                  if p.is_file()]
        for temp in temps:
            temp.unlink(missing_ok=True)

    def _open_manifest(self, manifest: dict) -> None:
        path = self.directory / MANIFEST
        if not path.exists():
            write_text_atomic(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            return
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            stored = err
        if not isinstance(stored, dict):
            if any(self._parts("totals")):
                raise SweepError(f"{path}: damaged ({_what(stored)}), so the parts beside it "
                                 f"cannot be matched to this sweep; delete {self.directory} "
                                 f"to start over, or give another output directory")
            write_text_atomic(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            return
        if stored != manifest:
            changed = sorted(k for k in {*stored, *manifest}
                             if stored.get(k) != manifest.get(k))
            raise SweepError(f"{self.directory} holds a different sweep (differs in: "
                             f"{', '.join(changed)}); give another output directory, or "
                             f"delete this one to start over")

    def _parts(self, kind: str) -> list[Path]:
        return sorted((self.directory / PARTS).glob(f"{kind}-*.parquet"))

    def _twin(self, part: Path, kind: str) -> Path:
        return part.with_name(f"{kind}-{part.name.split('-', 1)[1]}")

    def _read_parts(self) -> None:
        """Collect the ids of the points done; remove every totals part that cannot be read
        (with its layers twin), every one whose layers twin cannot be read (with it), and
        every layers part without a totals part (a run killed between the two)."""
        for part in self._parts("totals"):
            layers = self._twin(part, "layers")
            ids = _point_ids(part)
            if ids is not None and (not layers.exists() or _readable(layers)):
                self.done.update(ids)
                continue
            part.unlink()
            layers.unlink(missing_ok=True)
        for part in self._parts("layers"):
            if not self._twin(part, "totals").exists():
                part.unlink()

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
        totals = totals_frame(self._totals, self.parameters, list(self.sequence))
        write_atomic(parts / f"totals-{name}.parquet",
                     lambda tmp: totals.to_parquet(tmp, index=False))
        self._totals, self._layers = [], []
        self.parts_written += 1

    def finish(self, per_layer: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Flush, then write and return the final tables: every point on disk exactly once,
        in sweep order."""
        self.flush()
        totals_parts = self._parts("totals")
        frames = [pd.read_parquet(p) for p in totals_parts]
        totals = (pd.concat(frames, ignore_index=True) if frames
                  else totals_frame([], self.parameters, list(self.sequence)))
        totals = in_sweep_order(totals.drop_duplicates("point_id"), self.workloads,
                                self.batches, self.sequence)
        totals = totals_frame(totals, self.parameters, list(self.sequence))
        write_atomic(self.directory / "sweep.parquet",
                     lambda tmp: totals.to_parquet(tmp, index=False))
        write_atomic(self.directory / "sweep.csv", lambda tmp: totals.to_csv(tmp, index=False))
        if not per_layer:
            return totals, None
        layer_parts = [self._twin(p, "layers") for p in totals_parts]
        frames = [pd.read_parquet(p).assign(_part=i) for i, p in enumerate(layer_parts)
                  if p.exists()]
        layers = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["point_id", "_part"])
        first_part = layers.groupby("point_id")["_part"].transform("min")
        layers = layers_in_order(layers[layers["_part"] == first_part].drop(columns="_part"),
                                 totals)
        write_atomic(self.directory / "layers.parquet",
                     lambda tmp: layers.to_parquet(tmp, index=False))
        write_atomic(self.directory / "layers.csv", lambda tmp: layers.to_csv(tmp, index=False))
        return totals, layers


def _point_ids(part: Path) -> list[str] | None:
    """The point ids of a totals part, or None if it cannot be read."""
    try:
        return list(pd.read_parquet(part, columns=["point_id"])["point_id"])
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return None


def _readable(part: Path) -> bool:
    """Whether a Parquet part opens: its footer is whole (a truncated or empty file's is not)."""
    try:
        pq.read_metadata(part)
    except (OSError, ValueError):
        return False
    return True


def _what(problem: object) -> str:
    return str(problem) if isinstance(problem, Exception) else \
        f"a JSON {type(problem).__name__}, not an object"


def _lock(directory: Path) -> int:
    """Lock ``directory`` for this process (its ``sweep.lock``, created if needed, then holding
    this PID); a :class:`SweepError` naming the holder if another sweep has it."""
    key = os.path.realpath(directory)
    with _held_guard:
        if key in _held:
            raise SweepError(f"{directory} is in use by another sweep in this process; wait "
                             f"for it to end, or give another output directory")
        fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise SweepError(f"{directory} is in use by another sweep (process "
                             f"{holder or '?'}); wait for it to end, or give another output "
                             f"directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held.add(key)
    return fd


def _unlock(directory: Path, fd: int) -> None:
    with _held_guard:
        _held.discard(os.path.realpath(directory))
        os.close(fd)  # closing releases the POSIX lock
