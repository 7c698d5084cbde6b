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

import itertools
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping, Sequence

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
    return list(_template(hw)[1])


@lru_cache(maxsize=8)
def _template(hw: HwConfig) -> tuple[dict, tuple[str, ...]]:
    """``hw``'s document (:func:`~perfsim.hardware.loading.to_document`; copy it before
    changing it) and its key paths: every variant of a sweep starts from them."""
    document = to_document(hw)
    paths: list[str] = []
    _walk(document, "", paths)
    for key in BY_NAME:  # optional keys left unset (split buffers, reads_from) may be set too
        sections = {s["kind"].choices[0]: s for s in SCHEMA_V2[key]}
        for entry in document[key]:
            paths += [f"{key}.{entry['name']}.{k}" for k in sections[entry["kind"]]
                      if k not in entry and k not in FIXED_KEYS]
    return document, tuple(paths)


def _walk(value: dict, prefix: str, paths: list[str]) -> None:
    """Append the key paths of ``value`` (a section of a document) to ``paths``."""
    for key, sub in value.items():
        if key in FIXED_KEYS:
            continue
        path = f"{prefix}{key}"
        if isinstance(sub, dict):
            _walk(sub, path + ".", paths)
        elif key in BY_NAME:
            for entry in sub:
                _walk({k: v for k, v in entry.items() if k != "name"},
                      f"{key}.{entry['name']}.", paths)
        else:
            paths.append(path)


def check_key_path(hw: HwConfig, path: str) -> None:
    """A :class:`ConfigError` naming the valid key paths (and the closest) unless ``path``
    addresses a field of ``hw`` (one of its :func:`key_paths`)."""
    valid = _template(hw)[1]
    if path not in valid:
        raise ConfigError(f"unknown key path '{path}' for {hw.name}{suggest(path, valid)} "
                          f"(valid: {', '.join(valid)})")


VARIANTS_KEPT = 1024
"""Variants :func:`variant` keeps (a few kB each), the least recently used dropped first: a
sweep over one key path checks each value alone before it starts (:func:`check_values`), and
each of its points is then that same variant."""


def variant(hw: HwConfig | str | Path, point: Mapping[str, object]) -> HwConfig:
    """``hw`` (a config, or a shipped name or YAML path) with the values of ``point`` set
    and the whole config revalidated: ``perfsim.variant(hw, {"engines.mxu.rows": 64,
    "memory.sram.size_kib": 4096})``. Key paths address fields as the YAML does, engines and
    memory levels by name (the sweep spec's keys); a :class:`ConfigError` names the key path
    and the problem. A variant made before is returned again (configs are immutable)."""
    if not isinstance(hw, HwConfig):
        hw = load_hw(hw)
    # a value's type is part of the key: 1, 1.0 and True are equal values, not the same one
    key = tuple((path, type(value), value) for path, value in point.items())
    try:
        hash(key)
    except TypeError:  # a value that does not hash (a list): made afresh
        return _make_variant(hw, point)
    return _kept_variant(hw, key)


@lru_cache(maxsize=VARIANTS_KEPT)
def _kept_variant(hw: HwConfig, key: tuple) -> HwConfig:
    """:func:`_make_variant` of the point whose ``(key path, type, value)`` are ``key``."""
    return _make_variant(hw, {path: value for path, _, value in key})


def _make_variant(hw: HwConfig, point: Mapping[str, object]) -> HwConfig:
    """:func:`variant`, made: the config's document with the point's values set, validated as
    a file is."""
    document = _copied(_template(hw)[0])
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


def _copied(value):
    """A copy of a document's ``value`` (dicts, lists and scalars, as YAML gives them): what
    ``copy.deepcopy`` makes of them, in a quarter of its time (it is made for every point)."""
    if type(value) is dict:
        return {key: _copied(sub) for key, sub in value.items()}
    if type(value) is list:
        return [_copied(sub) for sub in value]
    return value


def _by_name(document: dict, path: KeyPath) -> KeyPath:
    """A document key path with engines and memory levels named, as in sweep key paths."""
    if len(path) > 1 and path[0] in BY_NAME and isinstance(path[1], int):
        return (path[0], document[path[0]][path[1]]["name"]) + path[2:]
    return path


@dataclass(frozen=True)
class Space:
    """The hardware points of a sweep, made one at a time when iterated: a ``grid`` (pairs of
    key path and values, crossed by ``mode``: every combination for ``product``, the first
    path varying slowest; the i-th values together for ``zip``) or an explicit list
    ``listed``; neither: the config as it is (one point, no parameters). ``len()`` counts the
    points without making them, and ``space[i]`` makes the i-th alone."""

    grid: tuple[tuple[str, tuple], ...] = ()
    listed: tuple[Point, ...] | None = None
    mode: str = "product"

    def __len__(self) -> int:
        if self.listed is not None:
            return len(self.listed)
        lengths = [len(values) for _, values in self.grid]
        return math.prod(lengths) if self.mode == "product" else lengths[0] if lengths else 1

    def __iter__(self) -> Iterator[Point]:
        if self.listed is not None:
            return (dict(p) for p in self.listed)
        keys = [k for k, _ in self.grid]
        combine = itertools.product if self.mode == "product" else zip
        return (dict(zip(keys, values)) for values in combine(*(v for _, v in self.grid)))

    def in_order(self, fastest: Sequence[str] = ()) -> Iterator[tuple[int, Point]]:
        """``(index, point)`` of every point, as iteration makes them but for a product grid
        whose key paths listed in ``fastest`` vary fastest (the others keep their order):
        the points a cost model reuses its work across run one after another, and land in
        the same chunk. ``index`` is the point's place in the given order."""
        inner = [k for k, _ in self.grid if k in fastest]
        if self.listed is not None or self.mode != "product" or not inner:
            yield from enumerate(self)
            return
        keys = [k for k, _ in self.grid if k not in inner] + inner
        values = dict(self.grid)
        strides, stride = {}, 1
        for k, v in reversed(self.grid):  # the given order: the last key path fastest
            strides[k] = stride
            stride *= len(v)
        for positions in itertools.product(*(range(len(values[k])) for k in keys)):
            at = dict(zip(keys, positions))
            yield (sum(strides[k] * i for k, i in at.items()),
                   {k: values[k][at[k]] for k, _ in self.grid})

    def __getitem__(self, index: int) -> Point:
        if self.listed is not None:
            return dict(self.listed[index])
        if self.mode == "zip":
            return {k: values[index] for k, values in self.grid}
        point = {}
        for k, values in reversed(self.grid):  # the last key path varies fastest
            index, position = divmod(index, len(values))
            point[k] = values[position]
        return dict(reversed(point.items()))

    @property
    def parameters(self) -> list[str]:
        """The varied key paths, in the order they are first given."""
        if self.listed is not None:
            return list(dict.fromkeys(k for p in self.listed for k in p))
        return [k for k, _ in self.grid]

    def document(self) -> object:
        """The space as JSON-able data (for a sweep's manifest): the list of points, or the
        grid as ``[key path, values]`` pairs (their order sets the points' order) and mode."""
        if self.listed is not None:
            return [dict(p) for p in self.listed]
        return {"grid": [[k, list(values)] for k, values in self.grid], "mode": self.mode}

    def first_uses(self) -> Iterator[tuple[int, str, object]]:
        """``(point index, key path, value)`` for the first point giving each key path each
        of its values: one per value of a grid (no combination is made)."""
        if self.listed is not None:
            for index, point in enumerate(self.listed):
                for path, value in point.items():
                    yield index, path, value
            return
        stride = len(self)
        for path, values in self.grid:
            stride //= len(values) if self.mode == "product" else 1
            for position, value in enumerate(values):
                yield position * (stride if self.mode == "product" else 1), path, value

    def check_distinct(self) -> None:
        """A :class:`ConfigError` naming the first point that repeats another (a grid repeats a
        point exactly when one of its lists repeats a value)."""
        if self.listed is None and self.mode == "product":
            first: dict[tuple[str, str], int] = {}
            for index, path, value in self.first_uses():
                key = (path, _key(value))
                if key in first:
                    raise ConfigError(f"point {index} repeats point {first[key]}: "
                                      f"{self[index]}")
                first[key] = index
            return
        seen: dict[str, int] = {}
        for index, point in enumerate(self):
            key = _key(point)
            if key in seen:
                raise ConfigError(f"point {index} repeats point {seen[key]}: {point}")
            seen[key] = index


def _key(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def points_of(grid: Mapping[str, Sequence] | None = None,
              points: Sequence[Mapping[str, object]] | None = None,
              mode: str = "product") -> Space:
    """The :class:`Space` of a ``grid`` (key path -> values, crossed by ``mode``) or of an
    explicit list of ``points``; neither: the config as it is (one point, no parameters)."""
    if grid is not None and points is not None:
        raise ConfigError("give one of grid (key path -> values) and points (a list of {key "
                          "path: value} mappings), not both")
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}"
                          f"{suggest(str(mode), list(MODES))}")
    if grid is None and points is None:
        return Space(listed=({},))
    if points is not None:
        if not points or not all(isinstance(p, Mapping) for p in points):
            raise ConfigError("points must be a non-empty list of {key path: value} mappings")
        return Space(listed=tuple(dict(p) for p in points))
    assert grid is not None
    if not grid:
        raise ConfigError("grid must name at least one key path")
    for path, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(f"grid.{path}: expected a non-empty list of values, got "
                              f"{values!r}")
    if mode == "zip":
        lengths = {k: len(v) for k, v in grid.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"mode zip needs lists of one length, got "
                              f"{', '.join(f'{k}: {n}' for k, n in lengths.items())}")
    return Space(grid=tuple((k, tuple(v)) for k, v in grid.items()), mode=mode)


def check_values(hw: HwConfig, space: Space) -> None:
    """Every key path exists, and every value is valid on its own (set alone on ``hw``): a
    :class:`ConfigError` naming the point, the key path and the problem. Combinations that are
    invalid together are left to the sweep, which records them as infeasible points. A grid's
    values are checked once each, never its combinations."""
    checked: set[tuple[str, str]] = set()
    for index, path, value in space.first_uses():
        check_key_path(hw, path)
        if (path, repr(value)) in checked:
            continue
        checked.add((path, repr(value)))
        try:
            variant(hw, {path: value})
        except ConfigError as err:
            if str(err).startswith(f"{path}:"):  # not a rule between fields (memory.sram:)
                raise ConfigError(f"point {index} ({_describe(space[index])}): {err}") \
                    from None


def _describe(point: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items())
