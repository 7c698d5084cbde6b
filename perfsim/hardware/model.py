"""The accelerator model: frozen dataclasses, validated on construction.

Fields mirror the YAML schema (DESIGN section 3; README, "Hardware configs"), with units in their
names, and every field's rule is declared once, in its metadata (:mod:`.rules`). The loader
derives its schema from those declarations and runs the same rules between fields, so a file,
a sweep variant and a ``dataclasses.replace`` are held to one set of rules and get the same
messages. A problem from construction names its key path as a sweep does, engines and memory
levels by name (``engines.mxu.rows: must be > 0, got 0``); a file's problems name their place
in the file (``engines[0].rows``).

The memory is an ordered tuple of levels, innermost first, DRAM last (:attr:`HwConfig.
memory_levels`). The cost model costs local levels replicated per engine, one shared on-chip
level (``hw.sram``, where activations stay between layers) and DRAM (``hw.dram``); each engine
reads through :meth:`HwConfig.path` of them. :func:`check_costable` refuses what it cannot cost
(a second shared level, a level per processing element), rather than costing it as if it were
not there. The internal units (bytes, cycles, bytes per cycle)
come from properties that convert once, in one place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Iterator, Mapping, NamedTuple, Sequence

from perfsim.errors import ConfigError, suggest
from perfsim.hardware.limits import (MAX_ARRAY_SIDE, MAX_BANDWIDTH, MAX_BUFFERS,
                                     MAX_BURST_BYTES, MAX_CLOCK_GHZ, MAX_COUNT_CYCLES,
                                     MAX_ELEMENT_BYTES, MAX_ENERGY_PJ, MAX_LANES,
                                     MAX_LATENCY_NS, MAX_LOCAL_BYTES, MAX_SRAM_KIB,
                                     MIN_BANDWIDTH, MIN_CLOCK_GHZ)
from perfsim.hardware.rules import (ConfigProblems, Key, Problem, Rule, check, field_problems,
                                    key, keys_of, port_rule, split_rule, value_problems)
from perfsim.yaml_source import KeyPath, format_path

DATAFLOWS = ("output_stationary", "weight_stationary", "input_stationary")
OPERANDS = ("input", "weight", "output")
"""What a memory level may hold (``holds``): activations in, weights, activations out."""
LOCAL_SCOPES = ("pe", "engine")
"""A local level is replicated per processing element (a MAC of an array, a lane of a vector
engine) or per engine."""

ENERGY_PER_BYTE = Key(float, minimum=0, maximum=MAX_ENERGY_PJ)
"""The rule of every ``energy_pj.<level>_byte`` (pJ per byte moved at that level)."""


class _Validated(ABC):
    """Checks its field rules and then :attr:`RULES` (rules between its fields) on
    construction; a problem names :meth:`place` + the field."""

    RULES: ClassVar[tuple[Rule, ...]] = ()

    @abstractmethod
    def place(self) -> KeyPath:
        """The key path of this part of the config (``memory.sram``, ``engines.mxu``)."""

    def __post_init__(self) -> None:
        check(self, self.place(), self.RULES)
        for name, spec in keys_of(type(self)).items():  # a valid list: a tuple, hashable
            if spec.type is tuple and isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))


def _place(section: str, name: object) -> KeyPath:
    """An engine's or a level's key path: by its name, once it has a valid one."""
    return (section, name) if isinstance(name, str) else (section,)


@dataclass(frozen=True)
class Precision(_Validated):
    """Bytes per stored element of each tensor kind."""

    activation_bytes: int = key(int, default=1, required=True, positive=True,
                                maximum=MAX_ELEMENT_BYTES)
    weight_bytes: int = key(int, default=1, required=True, positive=True,
                            maximum=MAX_ELEMENT_BYTES)
    accumulator_bytes: int = key(int, default=4, required=True, positive=True,
                                 maximum=MAX_ELEMENT_BYTES)

    def place(self) -> KeyPath:
        return ("precision",)


def _weight_buffers(values: Mapping[str, Any]) -> Iterator[Problem]:
    """A second weight buffer is for a weight-stationary array (its stationary operand)."""
    if values.get("weight_buffers") == 2 and values["dataflow"] != "weight_stationary":
        yield Problem(("weight_buffers",), f"2 needs dataflow weight_stationary (in "
                                           f"{values['dataflow']} the weights do not stay in "
                                           f"the array)")


@dataclass(frozen=True)
class MatrixEngine(_Validated):
    """A ``rows x cols`` systolic array with a dataflow (DESIGN section 4.1). ``reads_from``
    names the on-chip memory level it reads its operands from; None: the innermost shared
    level. ``weight_buffers: 2`` gives a weight-stationary array a second weight register per
    PE, so the next fold's weights shift in while the current fold computes (TPU v1); 1 (the
    default, and SCALE-Sim's model) loads them between folds. ``output_elems_per_cycle`` is
    the throughput of its output path (an activation unit at the array's output, as the TPU
    v1's activation pipeline or NVDLA's SDP): element operations per cycle applied to results
    as they leave the array (activations, per-channel scale and offset, residual adds); None:
    one per column (``cols``); 0: no output path, so such ops stay layers of their own."""

    kind: ClassVar[str] = "matrix"
    SHAPE_FIELDS: ClassVar[tuple[str, ...]] = ("rows", "cols", "dataflow")
    """The fields a run's summary shows beside the engine's peak."""
    name: str = key(str)
    rows: int = key(int, positive=True, maximum=MAX_ARRAY_SIDE)
    cols: int = key(int, positive=True, maximum=MAX_ARRAY_SIDE)
    dataflow: str = key(str, default="weight_stationary", required=True, choices=DATAFLOWS)
    reads_from: str | None = key(str, default=None, since=2)
    weight_buffers: int = key(int, default=1, choices=(1, 2), since=2)
    output_elems_per_cycle: int | None = key(int, default=None, minimum=0,
                                             maximum=MAX_ARRAY_SIDE**2, since=2)

    RULES = (_weight_buffers,)

    def place(self) -> KeyPath:
        return _place("engines", self.name)

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.rows * self.cols

    @property
    def output_path_elems_per_cycle(self) -> int:
        """Element operations per cycle of the output path (0: it has none)."""
        return self.cols if self.output_elems_per_cycle is None else self.output_elems_per_cycle


@dataclass(frozen=True)
class VectorEngine(_Validated):
    """``lanes`` SIMD lanes, each one MAC or element op per cycle, with a pipeline latency
    paid once per layer. ``reads_from`` as for :class:`MatrixEngine`."""

    kind: ClassVar[str] = "vector"
    SHAPE_FIELDS: ClassVar[tuple[str, ...]] = ("lanes",)
    """The fields a run's summary shows beside the engine's peak."""
    name: str = key(str)
    lanes: int = key(int, positive=True, maximum=MAX_LANES)
    pipeline_latency_cycles: int = key(int, default=0, minimum=0, maximum=MAX_COUNT_CYCLES)
    reads_from: str | None = key(str, default=None, since=2)

    def place(self) -> KeyPath:
        return _place("engines", self.name)

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.lanes

    @property
    def output_path_elems_per_cycle(self) -> int:
        """A vector engine's output path is its own lanes: element ops applied to a layer's
        results cost lane time (:mod:`perfsim.mapping.engines`), never a layer of their own."""
        return self.lanes


Engine = MatrixEngine | VectorEngine
ENGINE_KINDS: dict[str, type] = {cls.kind: cls for cls in (MatrixEngine, VectorEngine)}

# Keys of memory levels from schema_version 2 on. The cost model does not read holds yet, so a
# config that sets it off its default is refused (check_costable), not costed as if it were not
# set. A transfer into an on-chip level pays its setup cycles (a DMA descriptor, a handshake) and
# moves whole bursts of the level it comes from.
_HOLDS = dict(default=OPERANDS, choices=OPERANDS, since=2, costed=False)
_SETUP = dict(default=0, minimum=0, maximum=MAX_COUNT_CYCLES, since=2)
_BURST = dict(default=1, positive=True, maximum=MAX_BURST_BYTES, since=2)
_BANDWIDTH = dict(positive=True, minimum=MIN_BANDWIDTH, maximum=MAX_BANDWIDTH)
_PORT = dict(_BANDWIDTH, since=2)
_LOCAL_BYTES = dict(positive=True, maximum=MAX_LOCAL_BYTES)
_SRAM_KIB = dict(positive=True, maximum=MAX_SRAM_KIB)
DRAM_BURST_BYTES = 64
"""The default DRAM burst: DDR4 moves bursts of 8 beats on a 64-bit channel (JEDEC JESD79-4,
BL8: 64 bytes), LPDDR4 16 beats on a 32-bit channel (JESD209-4, BL16: 64 bytes); a transfer
of fewer bytes still occupies the channel for a whole burst."""


@dataclass(frozen=True)
class LocalMemory(_Validated):
    """A register file or scratch pad replicated per processing element or per engine
    (``per``), read by the engines that name it in ``reads_from``. Capacity and bandwidth
    are per copy: ``size_bytes``, optionally split per operand (``ifmap_bytes``,
    ``filter_bytes``, ``ofmap_bytes``: all or none, together at most ``size_bytes``);
    reads and writes share ``bandwidth_bytes_per_cycle``. ``buffers`` tiles of each operand
    fit at once (1: no double buffering). ``holds`` names the operands it may keep;
    ``transfer_setup_cycles`` is paid per transfer into the level and ``burst_bytes`` is its
    transfer granularity (every level has these three)."""

    kind: ClassVar[str] = "local"
    name: str = key(str, since=2)
    per: str = key(str, choices=LOCAL_SCOPES, since=2)
    size_bytes: int = key(int, **_LOCAL_BYTES, since=2)
    bandwidth_bytes_per_cycle: float = key(float, **_BANDWIDTH, since=2)
    ifmap_bytes: int | None = key(int, default=None, **_LOCAL_BYTES, since=2)
    filter_bytes: int | None = key(int, default=None, **_LOCAL_BYTES, since=2)
    ofmap_bytes: int | None = key(int, default=None, **_LOCAL_BYTES, since=2)
    buffers: int = key(int, default=1, minimum=1, maximum=MAX_BUFFERS, since=2)
    holds: tuple[str, ...] = key(tuple, **_HOLDS)
    transfer_setup_cycles: int = key(int, **_SETUP)
    burst_bytes: int = key(int, **_BURST)

    RULES = (split_rule("size_bytes", ("ifmap_bytes", "filter_bytes", "ofmap_bytes")),)

    def place(self) -> KeyPath:
        return _place("memory", self.name)

    @property
    def split_bytes(self) -> tuple[int, int, int] | None:
        """(ifmap, filter, ofmap) capacities in bytes, or None for one shared capacity."""
        if self.ifmap_bytes is None:
            return None
        return (self.ifmap_bytes, self.filter_bytes, self.ofmap_bytes)  # type: ignore


@dataclass(frozen=True)
class Sram(_Validated):
    """A shared on-chip buffer (a global buffer, an L2): one capacity, or (SCALE-Sim style) one
    buffer per operand (``ifmap_kib``, ``filter_kib``, ``ofmap_kib``: all or none, together at
    most ``size_kib``). Reads and writes share ``bandwidth_bytes_per_cycle``, unless split
    buffers have ports of their own (``ifmap_``, ``filter_`` and ``ofmap_bandwidth_bytes_per_
    cycle``, adding up to it: the TPU's Unified Buffer, Weight FIFO and accumulators), when
    each buffer's traffic takes its own port's time and the busiest sets the pace. ``buffers`` is
    how many tiles of each operand it holds at once: 2 is double buffering (the next tile
    loads while the current one computes), more lets loads run further ahead. ``holds``,
    ``transfer_setup_cycles`` and ``burst_bytes`` as for :class:`LocalMemory`. A
    ``schema_version: 1`` file's ``memory.sram`` is the level named ``sram``; version 1's
    fields come first, so ``Sram(size_kib, bandwidth_bytes_per_cycle)`` builds it."""

    kind: ClassVar[str] = "sram"
    size_kib: float = key(float, **_SRAM_KIB)
    bandwidth_bytes_per_cycle: float = key(float, **_BANDWIDTH)
    ifmap_kib: float | None = key(float, default=None, **_SRAM_KIB)
    filter_kib: float | None = key(float, default=None, **_SRAM_KIB)
    ofmap_kib: float | None = key(float, default=None, **_SRAM_KIB)
    buffers: int = key(int, default=2, minimum=2, maximum=MAX_BUFFERS)
    name: str = key(str, default="sram", since=2)
    holds: tuple[str, ...] = key(tuple, **_HOLDS)
    transfer_setup_cycles: int = key(int, **_SETUP)
    burst_bytes: int = key(int, **_BURST)
    ifmap_bandwidth_bytes_per_cycle: float | None = key(float, default=None, **_PORT)
    filter_bandwidth_bytes_per_cycle: float | None = key(float, default=None, **_PORT)
    ofmap_bandwidth_bytes_per_cycle: float | None = key(float, default=None, **_PORT)

    RULES = (split_rule("size_kib", ("ifmap_kib", "filter_kib", "ofmap_kib")),
             port_rule("bandwidth_bytes_per_cycle", ("ifmap_kib", "filter_kib", "ofmap_kib"),
                       ("ifmap_bandwidth_bytes_per_cycle", "filter_bandwidth_bytes_per_cycle",
                        "ofmap_bandwidth_bytes_per_cycle")))

    def place(self) -> KeyPath:
        return _place("memory", self.name)

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

    @property
    def port_bytes_per_cycle(self) -> tuple[float, float, float] | None:
        """(ifmap, filter, ofmap) port bandwidths, or None when all share one."""
        if self.ifmap_bandwidth_bytes_per_cycle is None:
            return None
        return (self.ifmap_bandwidth_bytes_per_cycle,  # type: ignore[return-value]
                self.filter_bandwidth_bytes_per_cycle, self.ofmap_bandwidth_bytes_per_cycle)


@dataclass(frozen=True)
class Dram(_Validated):
    """Off-chip memory, the outermost level: one channel of ``bandwidth_gb_per_s`` (10^9
    bytes/s), a latency, and the ``burst_bytes`` every transfer out of it is rounded up to
    (default :data:`DRAM_BURST_BYTES`). A ``schema_version: 1`` file's ``memory.dram`` is the
    level named ``dram``."""

    kind: ClassVar[str] = "dram"
    bandwidth_gb_per_s: float = key(float, **_BANDWIDTH)
    latency_ns: float = key(float, default=0.0, minimum=0, maximum=MAX_LATENCY_NS)
    name: str = key(str, default="dram", since=2)
    burst_bytes: int = key(int, **{**_BURST, "default": DRAM_BURST_BYTES})

    def place(self) -> KeyPath:
        return _place("memory", self.name)


MemoryLevel = LocalMemory | Sram | Dram
LEVEL_KINDS: dict[str, type] = {cls.kind: cls for cls in (LocalMemory, Sram, Dram)}


def _energy_per_byte(values: Mapping[str, Any]) -> Iterator[Problem]:
    """``per_byte`` is (level name, pJ per byte) pairs, each energy obeying
    :data:`ENERGY_PER_BYTE`."""
    pairs = values["per_byte"]
    if not all(len(pair) == 2 and isinstance(pair[0], str) for pair in pairs):
        yield Problem(("per_byte",), f"expected (level name, pJ per byte) pairs, got {pairs!r}")
        return
    for name, pj in pairs:
        for text in value_problems(ENERGY_PER_BYTE, pj):
            yield Problem((f"{name}_byte",), text)


@dataclass(frozen=True)
class Energy(_Validated):
    """Energy per MAC and per byte moved at each memory level, in picojoules. ``per_byte``
    pairs each level's name with its energy, in the order of the levels (innermost first, DRAM
    last); a mapping is accepted. A file writes them as ``energy_pj: {mac: ..., <level>_byte:
    ...}``: in ``schema_version: 1``, ``sram_byte`` and ``dram_byte``."""

    mac: float = key(float, minimum=0, maximum=MAX_ENERGY_PJ)
    per_byte: tuple[tuple[str, float], ...] = field()

    RULES = (_energy_per_byte,)

    def place(self) -> KeyPath:
        return ("energy_pj",)

    def __post_init__(self) -> None:
        if isinstance(self.per_byte, Mapping):
            object.__setattr__(self, "per_byte", tuple(self.per_byte.items()))
        else:
            object.__setattr__(self, "per_byte", tuple(tuple(p) for p in self.per_byte))
        super().__post_init__()

    @property
    def sram_byte(self) -> float:
        """pJ per byte at the on-chip level of a config with one (the ones the cost model
        costs)."""
        if len(self.per_byte) != 2:
            raise ConfigError("energy_pj: sram_byte is the energy of the one on-chip level of a "
                              f"config with one; this one has levels "
                              f"{', '.join(n for n, _ in self.per_byte)}")
        return self.per_byte[0][1]

    @property
    def dram_byte(self) -> float:
        """pJ per byte at DRAM (the last level)."""
        return self.per_byte[-1][1]


# --- rules between the parts of a config ------------------------------------------------------

class Outline(NamedTuple):
    """What the rules between the parts of a config read, by position in ``engines`` and
    ``memory``: plain values, so the loader runs them on a file's values and
    :class:`HwConfig` on its parts. A problem's path names an entry by position
    (``("engines", 1, "name")``); each user names it in its own terms."""

    engine_names: tuple[str, ...]
    reads_from: tuple[str | None, ...]
    level_names: tuple[str, ...]
    level_kinds: tuple[str, ...]
    energy_levels: tuple[str, ...] | None
    """The level names ``energy_pj`` gives, in order; None: the config gives no energies."""


def _unique(names: Sequence[str], section: str, what: str) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            yield Problem((section, i, "name"), f"duplicate {what} '{name}'",
                          first=(section, first[name], "name"))
        else:
            first[name] = i


def engines_given(o: Outline) -> Iterator[Problem]:
    """An accelerator has at least one engine."""
    if not o.engine_names:
        yield Problem(("engines",), "expected a non-empty list of engines")


def engine_names_unique(o: Outline) -> Iterator[Problem]:
    """Engine names are unique (a sweep and ``reads_from`` address engines by name)."""
    yield from _unique(o.engine_names, "engines", "engine name")


def levels_given(o: Outline) -> Iterator[Problem]:
    """A config has memory levels."""
    if not o.level_names:
        yield Problem(("memory",), "expected a non-empty list of memory levels, innermost "
                                   "first, DRAM last")


def level_names_unique(o: Outline) -> Iterator[Problem]:
    """Memory level names are unique (engines and energies address levels by name)."""
    yield from _unique(o.level_names, "memory", "memory level name")


def dram_last(o: Outline) -> Iterator[Problem]:
    """Exactly one DRAM level, and it is the last (outermost)."""
    kinds = o.level_kinds
    for i, kind in enumerate(kinds[:-1]):
        if kind == "dram":
            yield Problem(("memory", i, "kind"), "only the last (outermost) level may be DRAM")
    if kinds and kinds[-1] != "dram":
        yield Problem(("memory", len(kinds) - 1, "kind"),
                      f"the last (outermost) level must be DRAM, got {kinds[-1]!r}")


def shared_level_given(o: Outline) -> Iterator[Problem]:
    """A shared on-chip level (kind sram) stages data between DRAM and the engines."""
    if o.level_kinds and "sram" not in o.level_kinds:
        yield Problem(("memory",), "needs a shared on-chip level (kind sram) between the "
                                   "engines and DRAM")


def local_levels_innermost(o: Outline) -> Iterator[Problem]:
    """Local levels come before (inside) every shared level."""
    shared = [i for i, kind in enumerate(o.level_kinds) if kind == "sram"]
    for i, kind in enumerate(o.level_kinds):
        if kind == "local" and shared and i > shared[0]:
            yield Problem(("memory", i, "kind"), "a local level must come before (inside) "
                                                 "every shared (sram) level")


def reads_from_on_chip(o: Outline) -> Iterator[Problem]:
    """An engine's ``reads_from`` names an on-chip level of the config."""
    on_chip = [n for n, kind in zip(o.level_names, o.level_kinds) if kind != "dram"]
    for i, name in enumerate(o.reads_from):
        if name is not None and name not in on_chip:
            yield Problem(("engines", i, "reads_from"),
                          f"no on-chip memory level '{name}'{suggest(name, on_chip)} "
                          f"(on-chip levels: {', '.join(on_chip)})")


def local_levels_read(o: Outline) -> Iterator[Problem]:
    """Every local level is read by some engine (one that names it in ``reads_from``)."""
    for i, (name, kind) in enumerate(zip(o.level_names, o.level_kinds)):
        if kind == "local" and name not in o.reads_from:
            yield Problem(("memory", i), f"no engine reads from local level '{name}' (name it "
                                         f"in an engine's reads_from)")


def energy_for_every_level(o: Outline) -> Iterator[Problem]:
    """``energy_pj`` gives the energy per byte of every memory level and of no other, in the
    levels' order. (A file's ``energy_pj`` keys are derived from its level names, so the
    loader meets this rule as its missing and unknown keys, in the same words.)"""
    if o.energy_levels is None:
        return
    keys = [f"{name}_byte" for name in o.level_names]
    for name in o.level_names:
        if name not in o.energy_levels:
            yield Problem(("energy_pj", f"{name}_byte"), "required key is missing")
    for name in o.energy_levels:
        if name not in o.level_names:
            yield Problem(("energy_pj", f"{name}_byte"),
                          f"unknown key{suggest(f'{name}_byte', keys)}")
    if set(o.energy_levels) == set(o.level_names) and o.energy_levels != o.level_names:
        yield Problem(("energy_pj",), f"give the levels' energies in the order of the levels "
                                      f"({', '.join(o.level_names)})")


CONFIG_RULES: tuple = (engines_given, engine_names_unique, levels_given, level_names_unique,
                       dram_last, shared_level_given, local_levels_innermost,
                       reads_from_on_chip, local_levels_read, energy_for_every_level)
"""The rules between the parts of a config, in the order their problems are listed."""


def outline_problems(outline: Outline) -> list[Problem]:
    return [problem for rule in CONFIG_RULES for problem in rule(outline)]


def _parts_problems(precision: object, engines: Sequence, levels: Sequence,
                    energy: object) -> list[Problem]:
    """Parts of the wrong class (a Python user's slip; a file cannot make one)."""
    out = []
    if not isinstance(precision, Precision):
        out.append(Problem(("precision",), f"expected a Precision, got "
                                           f"{type(precision).__name__}"))
    for section, items, classes in (("engines", engines, ENGINE_KINDS),
                                    ("memory", levels, LEVEL_KINDS)):
        wanted = tuple(classes.values())
        out += [Problem((section, i), f"expected one of {', '.join(c.__name__ for c in wanted)}"
                                      f", got {type(item).__name__}")
                for i, item in enumerate(items) if not isinstance(item, wanted)]
    if energy is not None and not isinstance(energy, Energy):
        out.append(Problem(("energy_pj",), f"expected an Energy or None, got "
                                           f"{type(energy).__name__}"))
    return out


@dataclass(frozen=True, init=False)
class HwConfig:
    """One accelerator: engines, an ordered memory hierarchy (innermost level first, DRAM
    last) and one clock.

    ``HwConfig(name, clock_ghz, precision, engines, sram, dram, energy_pj)`` builds the
    two-level machine of a ``schema_version: 1`` file; ``memory_levels=`` gives any hierarchy.
    Given with ``memory_levels``, ``sram`` replaces the one on-chip level and ``dram`` the
    last; so ``dataclasses.replace(hw, sram=...)`` works as it always did (``replace`` passes
    its keywords to this constructor). Equality and hashing are by value."""

    name: str = key(str)
    clock_ghz: float = key(float, positive=True, minimum=MIN_CLOCK_GHZ, maximum=MAX_CLOCK_GHZ)
    precision: Precision = field()
    engines: tuple[Engine, ...] = field()
    memory_levels: tuple[MemoryLevel, ...] = field()
    energy_pj: Energy | None = None

    def __init__(self, name: str, clock_ghz: float, precision: Precision,
                 engines: Sequence[Engine], sram: Sram | None = None, dram: Dram | None = None,
                 energy_pj: Energy | None = None, *,
                 memory_levels: Sequence[MemoryLevel] | None = None):
        levels = _levels(memory_levels, sram, dram)
        for attribute, value in (("name", name), ("clock_ghz", clock_ghz),
                                 ("precision", precision), ("engines", tuple(engines)),
                                 ("memory_levels", levels), ("energy_pj", energy_pj)):
            object.__setattr__(self, attribute, value)
        problems = field_problems(HwConfig, {"name": name, "clock_ghz": clock_ghz})
        parts = _parts_problems(precision, self.engines, levels, energy_pj)
        outline = self.outline()
        if not parts:
            problems += outline_problems(outline)
        if problems or parts:
            raise ConfigProblems([_named(p, outline) for p in problems + parts])

    def outline(self) -> Outline:
        """The plain values the rules between parts read (:data:`CONFIG_RULES`)."""
        return Outline(
            tuple(getattr(e, "name", None) for e in self.engines),
            tuple(getattr(e, "reads_from", None) for e in self.engines),
            tuple(getattr(level, "name", None) for level in self.memory_levels),
            tuple(getattr(level, "kind", None) for level in self.memory_levels),
            None if not isinstance(self.energy_pj, Energy)
            else tuple(n for n, _ in self.energy_pj.per_byte))

    def engine(self, name: str) -> Engine:
        for engine in self.engines:
            if engine.name == name:
                return engine
        raise ConfigError(f"{self.name}: no engine '{name}' (engines: "
                          f"{', '.join(e.name for e in self.engines)})")

    @cached_property
    def sram(self) -> Sram:
        """The one shared on-chip level, for a config with one (the ones the cost model
        costs); a :class:`ConfigError` otherwise."""
        shared = [level for level in self.memory_levels if isinstance(level, Sram)]
        if len(shared) != 1:
            raise ConfigError(_second_shared_reason(self))
        return shared[0]

    def path(self, engine: Engine) -> tuple[MemoryLevel, ...]:
        """The levels ``engine``'s operands pass through, innermost first: the level it reads
        from (by default the shared one), then every shared level above it, then DRAM."""
        start = engine.reads_from or self.sram.name
        found = self._paths.get(start)
        if found is None:
            names = [level.name for level in self.memory_levels]
            found = self._paths[start] = (self.memory_levels[names.index(start)],) + tuple(
                level for level in self.memory_levels[names.index(start) + 1:]
                if not isinstance(level, LocalMemory))
        return found

    @cached_property  # the cost model asks for a path per layer and engine
    def _paths(self) -> dict[str, tuple[MemoryLevel, ...]]:
        """:meth:`path` by the level an engine reads from, as worked out so far."""
        return {}

    @cached_property  # read on every cost-model cache look-up: an attribute, not a call
    def dram(self) -> Dram:
        """The DRAM, the last level."""
        return self.memory_levels[-1]  # type: ignore[return-value]

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
        """The figures a reader needs beside a run (``hw_summary`` in JSON); ``sram_*`` describe
        the innermost shared level."""
        shared = next(level for level in self.memory_levels if isinstance(level, Sram))
        return {
            "name": self.name,
            "clock_ghz": self.clock_ghz,
            "dram_bytes_per_cycle": self.dram_bytes_per_cycle,
            "dram_gb_per_s": self.dram.bandwidth_gb_per_s,
            "sram_bytes": shared.size_bytes,
            "sram_bytes_per_cycle": shared.bandwidth_bytes_per_cycle,
            "engines": [{"name": e.name, "kind": e.kind,
                         "peak_macs_per_cycle": e.peak_macs_per_cycle,
                         **{f: getattr(e, f) for f in e.SHAPE_FIELDS}}
                        for e in self.engines],
        }


def _levels(levels: Sequence[MemoryLevel] | None, sram: Sram | None,
            dram: Dram | None) -> tuple[MemoryLevel, ...]:
    """The hierarchy from ``memory_levels`` with ``sram`` and ``dram`` put in their places, or
    from ``sram`` and ``dram`` alone."""
    if levels is None:
        if sram is None or dram is None:
            raise ConfigProblems([Problem(("memory",), "give sram and dram, or memory_levels")])
        return (sram, dram)
    out = list(levels)
    if sram is not None:
        shared = [i for i, level in enumerate(out) if isinstance(level, Sram)]
        if len(shared) != 1:
            raise ConfigProblems([Problem(("memory",), f"sram replaces the one shared level; "
                                                       f"there are {len(shared)}: give "
                                                       f"memory_levels instead")])
        out[shared[0]] = sram
    if dram is not None:
        out[-1] = dram
    return tuple(out)


def _named(problem: Problem, outline: Outline) -> Problem:
    """A problem with engines and memory levels named as a sweep names them, where the name is
    unique (else by position)."""
    def name(path: KeyPath | None) -> KeyPath | None:
        names = {"engines": outline.engine_names, "memory": outline.level_names}.get(
            path[0]) if path else None
        if names is None or len(path) < 2 or not isinstance(path[1], int):  # type: ignore
            return path
        entry = names[path[1]] if path[1] < len(names) else None  # type: ignore[index]
        if isinstance(entry, str) and names.count(entry) == 1:
            return (path[0], entry) + path[2:]
        return path

    return Problem(name(problem.path), problem.message, name(problem.first))  # type: ignore


def _second_shared_reason(hw: HwConfig) -> str:
    second = [level for level in hw.memory_levels if isinstance(level, Sram)][1]
    return (f"{hw.name}: memory level '{second.name}' (sram): costing a second shared on-chip "
            f"level is not supported yet (activations stay in the one shared level between "
            f"layers)")


def uncostable_reason(hw: HwConfig) -> str | None:
    """Why today's cost model cannot cost ``hw``, in one line, or None if it can. It costs
    local levels replicated per engine, one shared on-chip level and DRAM, and reads no key
    declared ``costed=False`` (:class:`~perfsim.hardware.rules.Key`): a level that sets one to
    other than its default would be costed as if it were not set."""
    if sum(isinstance(level, Sram) for level in hw.memory_levels) > 1:
        return _second_shared_reason(hw)
    if hw.sram.port_bytes_per_cycle is not None and \
            any(isinstance(level, LocalMemory) for level in hw.memory_levels):
        return (f"{hw.name}: {format_path(hw.sram.place() + ('ifmap_bandwidth_bytes_per_cycle',))}"
                f": costing per-buffer SRAM ports under a local level is not supported yet "
                f"(give the SRAM one bandwidth)")
    for level in hw.memory_levels:
        if isinstance(level, LocalMemory) and level.per != "engine":
            return (f"{hw.name}: {format_path(level.place() + ('per',))} = {level.per!r}: "
                    f"costing a level per processing element (which needs a spatial mapping "
                    f"of the array) is not supported yet; per 'engine' is")
    for level in hw.memory_levels:
        for name, spec in keys_of(type(level)).items():
            value = getattr(level, name)
            if not spec.costed and value != spec.default:
                return (f"{hw.name}: {format_path(level.place() + (name,))} = "
                        f"{_plain(value)}: costing {name} is not supported yet (leave it at "
                        f"{_plain(spec.default)})")
    return None


def check_costable(hw: HwConfig) -> None:
    """A :class:`ConfigError` saying why (:func:`uncostable_reason`) unless today's cost model
    can cost every parameter of ``hw``."""
    reason = uncostable_reason(hw)
    if reason is not None:
        raise ConfigError(reason)


def _plain(value: object) -> str:
    return f"[{', '.join(map(str, value))}]" if isinstance(value, tuple) else repr(value)
