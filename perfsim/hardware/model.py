"""The accelerator model: frozen, validated dataclasses.

Fields mirror the YAML schema (DESIGN section 3), with units in their names, so a sweep's key
path (``engines.mxu.rows``, ``memory.dram.bandwidth_gb_per_s``) is a field path and a variant
is a ``dataclasses.replace``. The cost model reads the internal units (bytes, cycles, bytes per
cycle) from the properties, which convert once, in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from perfsim.errors import ConfigError

DATAFLOWS = ("output_stationary", "weight_stationary", "input_stationary")


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise ConfigError(what)


def _positive_int(value, what: str) -> None:
    _check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
           f"{what} must be a positive integer, got {value!r}")


def _positive_number(value, what: str) -> None:
    _check(isinstance(value, (int, float)) and not isinstance(value, bool)
           and 0 < value < math.inf, f"{what} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class Precision:
    """Bytes per stored element of each tensor kind."""

    activation_bytes: int = 1
    weight_bytes: int = 1
    accumulator_bytes: int = 4

    def __post_init__(self):
        for name in ("activation_bytes", "weight_bytes", "accumulator_bytes"):
            _positive_int(getattr(self, name), f"precision.{name}")


@dataclass(frozen=True)
class MatrixEngine:
    """A ``rows x cols`` systolic array with a dataflow (DESIGN section 4.1)."""

    kind: ClassVar[str] = "matrix"
    name: str
    rows: int
    cols: int
    dataflow: str = "weight_stationary"

    def __post_init__(self):
        _positive_int(self.rows, f"engine {self.name}: rows")
        _positive_int(self.cols, f"engine {self.name}: cols")
        _check(self.dataflow in DATAFLOWS, f"engine {self.name}: dataflow must be one of "
                                           f"{', '.join(DATAFLOWS)}, got {self.dataflow!r}")

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class VectorEngine:
    """``lanes`` SIMD lanes, each one MAC or element op per cycle, with a pipeline latency
    paid once per layer."""

    kind: ClassVar[str] = "vector"
    name: str
    lanes: int
    pipeline_latency_cycles: int = 0

    def __post_init__(self):
        _positive_int(self.lanes, f"engine {self.name}: lanes")
        _check(isinstance(self.pipeline_latency_cycles, int)
               and self.pipeline_latency_cycles >= 0,
               f"engine {self.name}: pipeline_latency_cycles must be >= 0")

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.lanes


Engine = MatrixEngine | VectorEngine


@dataclass(frozen=True)
class Sram:
    """On-chip buffer: one shared capacity, or (SCALE-Sim style) one buffer per operand.
    ``buffers`` is how many tiles of each operand it holds at once: 2 is double buffering
    (the next tile loads while the current one computes), more lets loads run further ahead."""

    size_kib: float
    bandwidth_bytes_per_cycle: float
    ifmap_kib: float | None = None
    filter_kib: float | None = None
    ofmap_kib: float | None = None
    buffers: int = 2

    def __post_init__(self):
        _positive_number(self.size_kib, "memory.sram.size_kib")
        _positive_number(self.bandwidth_bytes_per_cycle, "memory.sram.bandwidth_bytes_per_cycle")
        _check(isinstance(self.buffers, int) and not isinstance(self.buffers, bool)
               and self.buffers >= 2,
               f"memory.sram.buffers must be an integer >= 2, got {self.buffers!r}")
        split = (self.ifmap_kib, self.filter_kib, self.ofmap_kib)
        _check(all(v is None for v in split) or all(v is not None for v in split),
               "memory.sram: give all of ifmap_kib, filter_kib, ofmap_kib or none")
        if self.ifmap_kib is not None:
            for name in ("ifmap_kib", "filter_kib", "ofmap_kib"):
                _positive_number(getattr(self, name), f"memory.sram.{name}")
            _check(sum(split) <= self.size_kib + 1e-9,  # type: ignore[arg-type]
                   f"memory.sram: ifmap_kib + filter_kib + ofmap_kib = {sum(split)} exceeds "
                   f"size_kib = {self.size_kib}")

    @property
    def size_bytes(self) -> int:
        return int(self.size_kib * 1024)

    @property
    def split_bytes(self) -> tuple[int, int, int] | None:
        """(ifmap, filter, ofmap) capacities in bytes, or None for one shared buffer."""
        if self.ifmap_kib is None:
            return None
        return (int(self.ifmap_kib * 1024), int(self.filter_kib * 1024),  # type: ignore
                int(self.ofmap_kib * 1024))  # type: ignore


@dataclass(frozen=True)
class Dram:
    """Off-chip memory: one channel of ``bandwidth_gb_per_s`` (10^9 bytes/s) and a latency."""

    bandwidth_gb_per_s: float
    latency_ns: float = 0.0

    def __post_init__(self):
        _positive_number(self.bandwidth_gb_per_s, "memory.dram.bandwidth_gb_per_s")
        _check(isinstance(self.latency_ns, (int, float)) and 0 <= self.latency_ns < math.inf,
               "memory.dram.latency_ns must be >= 0 and finite")


@dataclass(frozen=True)
class Energy:
    """Energy per MAC and per byte moved at each level, in picojoules."""

    mac: float
    sram_byte: float
    dram_byte: float

    def __post_init__(self):
        for name in ("mac", "sram_byte", "dram_byte"):
            value = getattr(self, name)
            _check(isinstance(value, (int, float)) and 0 <= value < math.inf,
                   f"energy_pj.{name} must be >= 0 and finite")


@dataclass(frozen=True)
class HwConfig:
    """One accelerator: engines sharing an SRAM and a DRAM channel, at one clock."""

    name: str
    clock_ghz: float
    precision: Precision
    engines: tuple[Engine, ...]
    sram: Sram
    dram: Dram
    energy_pj: Energy | None = None

    def __post_init__(self):
        _positive_number(self.clock_ghz, "clock_ghz")
        _check(len(self.engines) > 0, "engines: an accelerator needs at least one engine")
        names = [e.name for e in self.engines]
        _check(len(set(names)) == len(names), f"engines: names must be unique, got {names}")
        object.__setattr__(self, "engines", tuple(self.engines))

    def engine(self, name: str) -> Engine:
        for engine in self.engines:
            if engine.name == name:
                return engine
        raise ConfigError(f"{self.name}: no engine '{name}' (engines: "
                          f"{', '.join(e.name for e in self.engines)})")

    @property
    def dram_bytes_per_cycle(self) -> float:
        """DRAM bandwidth in bytes per clock cycle."""
        return self.dram.bandwidth_gb_per_s / self.clock_ghz

    @property
    def dram_latency_cycles(self) -> int:
        return round(self.dram.latency_ns * self.clock_ghz)

    @property
    def peak_macs_per_cycle(self) -> int:
        """All engines together."""
        return sum(e.peak_macs_per_cycle for e in self.engines)

    def summary(self) -> dict:
        """The figures a reader needs beside a run (``hw_summary`` in JSON)."""
        return {
            "name": self.name,
            "clock_ghz": self.clock_ghz,
            "dram_bytes_per_cycle": self.dram_bytes_per_cycle,
            "dram_gb_per_s": self.dram.bandwidth_gb_per_s,
            "sram_bytes": self.sram.size_bytes,
            "sram_bytes_per_cycle": self.sram.bandwidth_bytes_per_cycle,
            "engines": [{"name": e.name, "kind": e.kind,
                         "peak_macs_per_cycle": e.peak_macs_per_cycle,
                         **({"rows": e.rows, "cols": e.cols, "dataflow": e.dataflow}
                            if isinstance(e, MatrixEngine) else {"lanes": e.lanes})}
                        for e in self.engines],
        }
