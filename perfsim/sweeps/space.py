"""The parameter space of a sweep: key paths into a hardware config, grids of values, and the
variants they make.

A key path addresses a config field as the YAML does, engines and memory levels by name:
``engines.mxu.rows``, ``memory.sram.size_kib``, ``memory.dram.bandwidth_gb_per_s``,
``clock_ghz``, ``precision.weight_bytes``, ``energy_pj.dram_byte`` (a ``schema_version: 1``
config's levels are named ``sram`` and ``dram``). A variant is built from the config's
normalised document (:func:`perfsim.hardware.loading.to_document`) with the values set, then
revalidated by the config module's own checker and builder
(:func:`perfsim.hardware.loading.parse_config`), so a sweep accepts exactly what a hardware file
accepts; no YAML text is generated.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Mapping, Sequence

from perfsim.hardware.loading import SCHEMA_V2, parse_config, to_document
from perfsim.hardware.rules import ConfigProblems
from perfsim.errors import ConfigError, suggest
from perfsim.hardware.model import HwConfig
from perfsim.io.load import load_hw
from perfsim.yaml_source import KeyPath, YamlDoc, format_path

Point = dict[str, object]
"""One hardware point: key path -> value."""

MODES = ("product", "zip")
FIXED_KEYS = ("schema_version", "name", "kind")
"""Fields a sweep does not vary: the schema version, the config's name and the kinds and
names of engines and memory levels (they are addressed by their names)."""
BY_NAME = ("engines", "memory")
"""The lists whose entries a key path addresses by name."""


def key_paths(hw: HwConfig) -> list[str]:
    """Every key path a sweep may vary on ``hw``, in document order."""
    paths: list[str] = []

    def walk(value, prefix: str) -> None:
        for key, sub in value.items():
            if key in FIXED_KEYS:
                continue
            path = f"{prefix}{key}"
            if isinstance(sub, dict):
                walk(sub, path + ".")
            elif key in BY_NAME:
                for entry in sub:
                    walk({k: v for k, v in entry.items() if k != "name"},
                         f"{key}.{entry['name']}.")
            else:
                paths.append(path)

    document = to_document(hw)
    walk(document, "")
    for key in BY_NAME:  # optional keys left unset (split buffers, reads_from) may be set too
        sections = {s["kind"].choices[0]: s for s in SCHEMA_V2[key]}
        for entry in document[key]:
            paths += [f"{key}.{entry['name']}.{k}" for k in sections[entry["kind"]]
                      if k not in entry and k not in FIXED_KEYS]
    return paths


def check_key_path(hw: HwConfig, path: str) -> None:
    """A :class:`ConfigError` naming the valid key paths (and the closest) unless ``path``
    addresses a field of ``hw``."""
    valid = key_paths(hw)
    if path not in valid:
        raise ConfigError(f"unknown key path '{path}' for {hw.name}{suggest(path, valid)} "
                          f"(valid: {', '.join(valid)})")


def variant(hw: HwConfig | str | Path, point: Mapping[str, object]) -> HwConfig:
    """``hw`` (a config, or a shipped name or YAML path) with the values of ``point`` set
    and the whole config revalidated: ``perfsim.variant(hw, {"engines.mxu.rows": 64,
    "memory.sram.size_kib": 4096})``. Key paths address fields as the YAML does, engines and
    memory levels by name (the sweep spec's keys); a :class:`ConfigError` names the key path
    and the problem."""
    if not isinstance(hw, HwConfig):
        hw = load_hw(hw)
    document = copy.deepcopy(to_document(hw))
    named = {key: {e["name"]: e for e in document[key]} for key in BY_NAME}
    for path, value in point.items():
        check_key_path(hw, path)
        parts = path.split(".")
        if parts[0] in BY_NAME:
            named[parts[0]][parts[1]][parts[2]] = value
            continue
        section = document
        for part in parts[:-1]:
            section = section.setdefault(part, {})
        section[parts[-1]] = value
    try:
        return parse_config(YamlDoc("<sweep point>", document, {}))
    except ConfigProblems as err:
        raise ConfigError("; ".join(f"{format_path(_by_name(document, p.path))}: {p.message}"
                                    for p in err.problems)) from None


def _by_name(document: dict, path: KeyPath) -> KeyPath:
    """A document key path with engines and memory levels named, as in sweep key paths."""
    if len(path) > 1 and path[0] in BY_NAME and isinstance(path[1], int):
        return (path[0], document[path[0]][path[1]]["name"]) + path[2:]
    return path


def points_of(grid: Mapping[str, Sequence] | None = None,
              points: Sequence[Mapping[str, object]] | None = None,
              mode: str = "product") -> list[Point]:
    """The hardware points of a ``grid`` (key path -> values, crossed by ``mode``: every
    combination for ``product``, the i-th values together for ``zip``) or an explicit list
    of ``points``; neither: the config as it is (one point, no parameters)."""
    if grid is not None and points is not None:
        raise ConfigError("give one of grid (key path -> values) and points (a list of {key "
                          "path: value} mappings), not both")
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}"
                          f"{suggest(str(mode), list(MODES))}")
    if grid is None and points is None:
        return [{}]
    if points is not None:
        if not points or not all(isinstance(p, Mapping) for p in points):
            raise ConfigError("points must be a non-empty list of {key path: value} mappings")
        return [dict(p) for p in points]
    assert grid is not None
    if not grid:
        raise ConfigError("grid must name at least one key path")
    for path, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(f"grid.{path}: expected a non-empty list of values, got "
                              f"{values!r}")
    keys = list(grid)
    if mode == "zip":
        lengths = {k: len(v) for k, v in grid.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"mode zip needs lists of one length, got "
                              f"{', '.join(f'{k}: {n}' for k, n in lengths.items())}")
        return [dict(zip(keys, values)) for values in zip(*grid.values())]
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def check_values(hw: HwConfig, points: Sequence[Point]) -> None:
    """Every key path exists, and every value is valid on its own (set alone on ``hw``): a
    :class:`ConfigError` naming the point, the key path and the problem. Combinations that are
    invalid together are left to the sweep, which records them as infeasible points."""
    checked: set[tuple[str, str]] = set()
    for index, point in enumerate(points):
        for path, value in point.items():
            check_key_path(hw, path)
            if (path, repr(value)) in checked:
                continue
            checked.add((path, repr(value)))
            try:
                variant(hw, {path: value})
            except ConfigError as err:
                if str(err).startswith(f"{path}:"):  # not a rule between fields (memory.sram:)
                    raise ConfigError(f"point {index} ({_describe(point)}): {err}") from None


def _describe(point: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items())
