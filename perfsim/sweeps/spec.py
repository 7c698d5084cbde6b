"""Sweep spec files (YAML), read strictly: every problem is one ``file:line: key.path:
problem`` message, as for hardware configs.

::

    workloads: [mobilenet_v1, resnet50]    # zoo names or network files
    hw: matrix_engine                      # shipped name or path (relative to the spec)
    grid:                                  # key path -> values; or `points:` a list of
      engines.mxu.rows: [32, 64, 128]      #   {key path: value} mappings
      memory.dram.bandwidth_gb_per_s: [10, 30, 100]
    mode: product                          # optional: product (default) or zip
                                           # (neither grid nor points: the config as is)
    batch: 1                               # optional: an int or a list of ints
    seq_len: [128, 512]                    # optional, zoo sequence models only: tokens (an
    phase: decode                          #   int or a list); prefill, decode or a list
    residency: auto                        # optional: auto (default) or dram
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from perfsim.io.load import load_hw
from perfsim.errors import ConfigError, PerfsimError, WorkloadError, suggest
from perfsim.hardware.model import HwConfig
from perfsim.mapping import RESIDENCY_MODES
from perfsim.sweeps.run import check_sequence_value
from perfsim.sweeps.space import MODES, Space, check_key_path, points_of, variant
from perfsim.io.load import load_workload
from perfsim.text_files import is_file
from perfsim.workload import PHASES
from perfsim.workload.limits import MAX_BATCH, power_text
from perfsim.yaml_source import YamlDoc, load_yaml

KEYS = ("workloads", "hw", "grid", "points", "mode", "batch", "seq_len", "phase", "residency")


@dataclass(frozen=True)
class SweepSpec:
    """A validated spec: what :func:`perfsim.sweeps.sweep` takes (its points made lazily)."""

    path: str
    workloads: tuple[str, ...]
    hw: HwConfig
    points: Space
    batch: tuple[int, ...]
    residency: str
    sequence: dict[str, list]
    """The sequence settings swept (``seq_len``, ``phase``: values), only those given."""


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a spec file; a :class:`ConfigError` names ``file:line: key.path``."""
    doc = load_yaml(path, ConfigError)
    data = doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.where(())}: expected a mapping with keys {', '.join(KEYS)}")
    for key in data:
        if key not in KEYS:
            _fail(doc, (key,), f"unknown key{suggest(key, list(KEYS))} (valid: "
                               f"{', '.join(KEYS)})")
    for key in ("workloads", "hw"):
        if key not in data:
            _fail(doc, (), f"required key '{key}' is missing")
    if "grid" in data and "points" in data:
        _fail(doc, ("points",), "give one of grid (key path -> list of values) and points (a "
                                "list of {key path: value} mappings), not both")
    base = Path(path).parent
    workloads = _workloads(doc, base)
    hw = _hw(doc, base)
    mode = data.get("mode", "product")
    if mode not in MODES:
        _fail(doc, ("mode",), f"must be one of {', '.join(MODES)}, got {mode!r}"
                              f"{suggest(str(mode), list(MODES))}")
    residency = data.get("residency", "auto")
    if residency not in RESIDENCY_MODES:
        _fail(doc, ("residency",), f"must be one of {', '.join(RESIDENCY_MODES)}, got "
                                   f"{residency!r}")
    points = (_grid(doc, hw, mode) if "grid" in data else
              _points(doc, hw) if "points" in data else points_of())
    batch = _batch(doc)
    sequence = _sequence(doc, workloads)
    _within_limits(doc, workloads, batch, sequence)
    return SweepSpec(doc.path, tuple(workloads), hw, points, batch, residency, sequence)


def _fail(doc: YamlDoc, path: tuple, problem: str):
    raise ConfigError(f"{doc.where(path)}: {problem}")


def _workloads(doc: YamlDoc, base: Path) -> list[str]:
    items = doc.data["workloads"]
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items:
        _fail(doc, ("workloads",), "expected a non-empty list of workload names or files")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            _fail(doc, ("workloads", i), f"expected a workload name or file, got {item!r}")
        name = str(base / item) if is_file(base / item) else item
        try:
            load_workload(name)
        except PerfsimError as err:
            _fail(doc, ("workloads", i), str(err))
        out.append(name)
    if len(set(out)) != len(out):
        _fail(doc, ("workloads",), f"lists a workload twice: {', '.join(out)}")
    return out


def _hw(doc: YamlDoc, base: Path) -> HwConfig:
    name = doc.data["hw"]
    if not isinstance(name, str):
        _fail(doc, ("hw",), f"expected a shipped config name or a path, got {name!r}")
    try:
        return load_hw(base / name if is_file(base / name) else name)
    except ConfigError as err:
        _fail(doc, ("hw",), str(err))
    raise AssertionError  # unreachable: _fail raises


def _value(doc: YamlDoc, hw: HwConfig, where: tuple, path: str, value) -> None:
    try:
        variant(hw, {path: value})
    except ConfigError as err:
        if str(err).startswith(f"{path}:"):  # a rule between fields makes infeasible rows
            _fail(doc, where, str(err))


def _grid(doc: YamlDoc, hw: HwConfig, mode: str) -> Space:
    grid = doc.data["grid"]
    if not isinstance(grid, dict) or not grid:
        _fail(doc, ("grid",), "expected a mapping of key paths to lists of values")
    for path, values in grid.items():
        try:
            check_key_path(hw, path)
        except ConfigError as err:
            _fail(doc, ("grid", path), str(err))
        if not isinstance(values, list) or not values:
            _fail(doc, ("grid", path), f"expected a non-empty list of values, got {values!r}")
        for i, value in enumerate(values):
            _value(doc, hw, ("grid", path, i), path, value)
    try:
        return points_of(grid=grid, mode=mode)
    except ConfigError as err:
        _fail(doc, ("mode",) if "mode" in doc.data else ("grid",), str(err))
    raise AssertionError


def _points(doc: YamlDoc, hw: HwConfig) -> Space:
    points = doc.data["points"]
    if not isinstance(points, list) or not points:
        _fail(doc, ("points",), "expected a non-empty list of {key path: value} mappings")
    for i, point in enumerate(points):
        if not isinstance(point, dict) or not point:
            _fail(doc, ("points", i), f"expected a {{key path: value}} mapping, got {point!r}")
        for path, value in point.items():
            try:
                check_key_path(hw, path)
            except ConfigError as err:
                _fail(doc, ("points", i, path), str(err))
            _value(doc, hw, ("points", i, path), path, value)
    return points_of(points=points)


def _within_limits(doc: YamlDoc, workloads: list[str], batch: tuple[int, ...],
                   sequence: dict[str, list]) -> None:
    """Every workload at every batch (and every sequence setting it builds with) is within
    perfsim's limits on a layer's size (:mod:`perfsim.workload.limits`); else the batch is the
    problem, named at its line."""
    listed = isinstance(doc.data.get("batch"), list)
    for name in workloads:
        for settings in itertools.product(*sequence.values()):
            options = dict(zip(sequence, settings))
            try:
                load_workload(name, **options)
            except WorkloadError:  # valid apart, not together: infeasible rows
                continue
            for i, b in enumerate(batch):
                try:
                    load_workload(name, batch=b, **options)
                except WorkloadError as err:
                    _fail(doc, ("batch", i) if listed else ("batch",), str(err))


def _sequence(doc: YamlDoc, workloads: list[str]) -> dict[str, list]:
    """``seq_len`` and ``phase``: each a value or a list of distinct values, each value
    taken by every workload (:func:`perfsim.sweeps.run.check_sequence_value`)."""
    sequence: dict[str, list] = {}
    for key in ("seq_len", "phase"):
        if key not in doc.data:
            continue
        given = doc.data[key]
        values = given if isinstance(given, list) else [given]
        if not values:
            _fail(doc, (key,), "expected a value or a non-empty list of values")
        for i, value in enumerate(values):
            where = (key, i) if isinstance(given, list) else (key,)
            if key == "seq_len" and (isinstance(value, bool) or not isinstance(value, int)
                                     or value < 1):
                _fail(doc, where, f"expected a positive integer (tokens), got {value!r}")
            if key == "phase" and value not in PHASES:
                _fail(doc, where, f"expected one of {', '.join(PHASES)}, got {value!r}"
                                  f"{suggest(str(value), list(PHASES))}")
            if value in values[:i]:
                _fail(doc, where, f"{value!r} is listed twice")
        sequence[key] = values
    for key, values in sequence.items():
        for i, value in enumerate(values):
            try:
                check_sequence_value(workloads, sequence, key, value)
            except PerfsimError as err:
                _fail(doc, (key, i) if isinstance(doc.data[key], list) else (key,), str(err))
    return sequence


def _batch(doc: YamlDoc) -> tuple[int, ...]:
    batch = doc.data.get("batch", 1)
    values = batch if isinstance(batch, list) else [batch]
    for i, b in enumerate(values):
        where = ("batch", i) if isinstance(batch, list) else ("batch",)
        if not isinstance(b, int) or isinstance(b, bool) or b < 1:
            _fail(doc, where, f"expected a positive integer, got {b!r}")
        if b > MAX_BATCH:
            _fail(doc, where, f"{b:,} is beyond {power_text(MAX_BATCH)}, the largest batch "
                              f"perfsim accepts")
    if not values or len(set(values)) != len(values):
        _fail(doc, ("batch",), f"expected an int or a list of distinct ints, got {batch!r}")
    return tuple(values)
