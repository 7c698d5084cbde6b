"""Result types of a simulation: one row per layer, totals, a summary, JSON and DataFrames."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import operator
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import TYPE_CHECKING, Mapping

from perfsim.errors import LimitError
from perfsim.hardware.model import HwConfig
from perfsim.workload.ops import OPS, OTHER_KIND

if TYPE_CHECKING:  # imported where used: `perfsim run` prints its rows without pandas
    import pandas as pd

NOTEBOOK_ROWS = 10
"""Rows a run shows in a notebook (its slowest)."""
BOUNDS = ("compute", "utilization", "memory", "none")
"""A layer's limit; ``none`` only for views, which do no work."""


@dataclass(frozen=True)
class LayerResult:
    """One layer's cost (DESIGN section 6 columns; bytes, cycles, picojoules)."""

    layer: str
    op: str
    engine: str
    out_shape: list
    kernel: list
    groups: int
    macs: int
    ops: int
    params: int
    in_bytes: int
    out_bytes: int
    weight_bytes: int
    in_location: str
    out_location: str
    dram_read_bytes: int
    dram_write_bytes: int
    sram_read_bytes: int
    sram_write_bytes: int
    compute_cycles: int
    memory_cycles: int
    total_cycles: int
    stall_cycles: int
    utilization: float
    macs_per_dram_byte: float | None
    bound: str
    reason: str
    energy_pj: float | None
    tiling: str
    start_cycle: int | None = None
    """Event schedule only (:data:`EVENT_COLUMNS`): the cycle the layer starts (first holds
    SRAM) and ends at, and the cycles of that span it was ready but queued for a resource
    another layer held (its engine, the DRAM channel, SRAM space) and waited for a producer;
    ``end_cycle - start_cycle = total_cycles + queue_cycles + wait_cycles``, where
    ``total_cycles`` is the layer's own busy time (:mod:`perfsim.schedule.event`, *Rows*)."""
    end_cycle: int | None = None
    queue_cycles: int | None = None
    wait_cycles: int | None = None
    local_bytes: tuple[tuple[str, int, int], ...] = ()
    """``(level, read bytes, written bytes)`` of each local level the engine reads through,
    innermost first: the ``<level>_read_bytes`` and ``<level>_write_bytes`` columns."""
    fused: tuple[str, ...] = ()
    """The training graph's layers this row absorbed (a batch norm folded into its weights,
    ops applied in its output path), in graph order; their work is in this row's ``ops``,
    ``params`` and bytes. Empty when it absorbed none (and always for ``--graph raw``)."""

    @classmethod
    def of(cls, *parts: dict) -> LayerResult:
        """``LayerResult(**fields)`` of the fields of ``parts`` (dicts, a later one's value
        winning), made in a fraction of the time: a frozen dataclass's ``__init__`` sets each
        field through ``object.__setattr__`` (3.5 us a row, 8% of costing a sweep point),
        where this merges the parts into one new dict, once, and hands it to the row as its
        attributes. Fields with defaults may be left out; a missing or unknown field is a
        :class:`TypeError`, as it is there."""
        values = dict(_ROW_DEFAULTS)
        for part in parts:
            values.update(part)
        if values.keys() != _ROW_FIELD_SET:
            raise TypeError(f"LayerResult: fields missing "
                            f"{sorted(_ROW_FIELD_SET - values.keys())}, unknown "
                            f"{sorted(values.keys() - _ROW_FIELD_SET)}")
        row = object.__new__(cls)
        object.__setattr__(row, "__dict__", values)
        return row


EVENT_COLUMNS = ("start_cycle", "end_cycle", "queue_cycles", "wait_cycles")
"""Row fields only the event schedule fills (analytic frames do not carry them)."""
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(LayerResult))
_ANALYTIC_ROW_FIELDS = tuple(name for name in _ROW_FIELDS if name not in EVENT_COLUMNS)
_ROW_FIELD_SET = frozenset(_ROW_FIELDS)
_ROW_DEFAULTS = {f.name: f.default for f in dataclasses.fields(LayerResult)
                 if f.default is not dataclasses.MISSING}
_LIST_FIELDS = ("out_shape", "kernel", "fused")
"""Row fields that a row's dict holds as lists (``fused``, a tuple in the row, too)."""
PER_RUN_FIELDS = ("macs", "ops", "in_bytes", "out_bytes", "dram_read_bytes", "dram_write_bytes",
                  "sram_read_bytes", "sram_write_bytes", "compute_cycles", "memory_cycles",
                  "total_cycles", "stall_cycles", "energy_pj", "queue_cycles")
"""Row fields that add up when a layer runs again (another sub-batch); the others (shapes,
weights, ratios, bound and reason) stay."""


def repeated(row: LayerResult, runs: int) -> LayerResult:
    """``row`` run ``runs`` times one after another (a batch run as sub-batches): every
    :data:`PER_RUN_FIELDS` value and local level's bytes times ``runs``."""
    if runs == 1:
        return row
    changes = {name: getattr(row, name) * runs for name in PER_RUN_FIELDS
               if getattr(row, name) is not None}
    return dataclasses.replace(row, **changes, local_bytes=tuple(
        (name, read * runs, written * runs) for name, read, written in row.local_bytes))


def _level_columns(row: dict, levels: list[str]) -> dict:
    """A row's fields with ``local_bytes`` spread into ``<level>_read_bytes`` and
    ``<level>_write_bytes`` columns (0 for a level the layer's engine does not read through),
    placed before the SRAM's columns."""
    used = {name: (read, written) for name, read, written in row.pop("local_bytes")}
    out = {}
    for key, value in row.items():
        if key == "sram_read_bytes":
            for name in levels:
                read, written = used.get(name, (0, 0))
                out[f"{name}_read_bytes"], out[f"{name}_write_bytes"] = read, written
        out[key] = value
    return out


@dataclass(frozen=True)
class RunResult:
    """A whole network on one accelerator: per-layer rows, totals and the run's options.

    Event runs also carry the ``timeline`` (:data:`perfsim.schedule.event.TIMELINE_COLUMNS`)
    and ``overlap_cycles``: the network's cycles layer by layer (``none``, the analytic sum of
    layers), at the overlap level run and, when asked for (``simulate``'s
    ``overlap_levels``), at each level between, from which the summary reads the speed-ups.
    Runs of the inference graph (``options["graph"]``) carry ``raw_graph_cycles``, the raw
    training graph's analytic cycles on the same hardware, against which the totals and
    summary say what folding and fusing saved (None when it was not costed, or cannot run
    there)."""

    network: str
    hw: HwConfig
    batch: int
    fidelity: str
    layers: tuple[LayerResult, ...]
    options: dict = field(default_factory=dict)
    timeline: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    overlap_cycles: dict = field(default_factory=dict)
    raw_graph_cycles: int | None = None
    uncosted_macs: int = 0
    """The MACs of the placeholder rows (ONNX ops perfsim could not map) by their ONNX
    shapes: what the totals lack."""

    def _rows(self) -> list[dict]:
        levels = self.local_levels
        names = _ROW_FIELDS if self.fidelity != "analytic" else _ANALYTIC_ROW_FIELDS
        rows = []
        for r in self.layers:
            row = {name: getattr(r, name) for name in names}
            # lists of numbers of the row's own (what dataclasses.asdict's recursion made, at
            # a fraction of its cost: it took most of a per-layer sweep's time)
            for name in _LIST_FIELDS:
                row[name] = list(row[name])
            rows.append(_level_columns(row, levels))
        return rows

    def records(self, head: bool = True) -> list[dict]:
        """The rows of :meth:`to_frame` as dicts (its columns, in its order), without making
        the frame: what a per-layer sweep collects from each of its points. ``head=False``
        leaves out the run's own columns (``workload, hw, batch, fidelity``)."""
        if not head:
            return self._rows()
        head = {"workload": self.network, "hw": self.hw.name, "batch": self.batch,
                "fidelity": self.fidelity}
        return [{**head, **row} for row in self._rows()]

    @property
    def local_levels(self) -> list[str]:
        """The local levels (per engine) some layer read through, innermost first."""
        names = {name for r in self.layers for name, _, _ in r.local_bytes}
        return [level.name for level in self.hw.memory_levels if level.name in names]

    def to_frame(self) -> pd.DataFrame:
        """One tidy row per layer, with ``workload, hw, batch, fidelity`` columns (and
        :data:`EVENT_COLUMNS` in event runs)."""
        import pandas as pd

        frame = pd.DataFrame(self._rows())
        frame.insert(0, "workload", self.network)
        frame.insert(1, "hw", self.hw.name)
        frame.insert(2, "batch", self.batch)
        frame.insert(3, "fidelity", self.fidelity)
        return frame

    @property
    def totals(self) -> dict:
        """Network totals: cycles (the sum of layers; in event runs the last layer's end),
        time_ms at the clock, MACs, MACs per cycle, utilisation of all engines' peak, DRAM
        bytes, bytes at each local level (``<level>_bytes``) and at the SRAM, energy (None
        without energy figures); the training-graph layers the rows absorbed
        (``fused_layers``), the raw graph's cycles layer by layer (``raw_graph_cycles``) and
        the cycles folding and fusing saved against them (``fusion_saved_cycles``, layer by
        layer in event runs too), both None when not known; the rows not costed (placeholders
        for unsupported ONNX ops, ``uncosted_layers``) and the MACs they stand for
        (``uncosted_macs``, from their ONNX shapes)."""
        return dict(self._totals)

    @cached_property
    def _totals(self) -> dict:
        """:attr:`totals`, worked out once (a run never changes; a sweep point reads them
        twice, to check them and to write them)."""
        if self.fidelity == "event":
            cycles = max((r.end_cycle or 0 for r in self.layers), default=0)
        else:
            cycles = sum(r.total_cycles for r in self.layers)
        macs = sum(r.macs for r in self.layers)
        dram = sum(r.dram_read_bytes + r.dram_write_bytes for r in self.layers)
        energy = (sum(r.energy_pj for r in self.layers)  # type: ignore[misc]
                  if self.hw.energy_pj is not None else None)
        return {
            "cycles": cycles,
            "time_ms": cycles / (self.hw.clock_ghz * 1e9) * 1e3,
            "macs": macs,
            "ops": sum(r.ops for r in self.layers),
            "params": sum(r.params for r in self.layers),
            "macs_per_cycle": macs / cycles if cycles else 0.0,
            "utilization": macs / (cycles * self.hw.peak_macs_per_cycle) if cycles else 0.0,
            "dram_bytes": dram,
            "dram_read_bytes": sum(r.dram_read_bytes for r in self.layers),
            "dram_write_bytes": sum(r.dram_write_bytes for r in self.layers),
            **{f"{name}_bytes": sum(read + written for r in self.layers
                                    for n, read, written in r.local_bytes if n == name)
               for name in self.local_levels},
            "sram_bytes": sum(r.sram_read_bytes + r.sram_write_bytes for r in self.layers),
            "energy_pj": energy,
            "layers": len(self.layers),
            "fused_layers": sum(len(r.fused) for r in self.layers),
            "raw_graph_cycles": self.raw_graph_cycles,
            "fusion_saved_cycles": (None if self.raw_graph_cycles is None else
                                    self.raw_graph_cycles - self.layer_by_layer_cycles),
            "uncosted_layers": sum(r.op == "placeholder" for r in self.layers),
            "uncosted_macs": self.uncosted_macs,
        }

    @property
    def layer_by_layer_cycles(self) -> int:
        """The cycles of the rows run one after another (the analytic schedule's)."""
        if self.fidelity == "event":
            return self.overlap_cycles["none"]
        return sum(r.total_cycles for r in self.layers)

    def summary(self) -> list[str]:
        """Three lines for a reader: the totals and where the cycles go by bound; MACs against
        cycles by kind of layer; the layers that dominate time, with their reasons. Event runs
        add a fourth: what overlapping layers and running branches in parallel saved, and the
        layer that queued longest for a busy resource. When the rows absorbed layers of the
        training graph, the first line ends with how many and the cycles that saved against
        the raw graph.

        Shares of cycles are of the layers' ``total_cycles`` added up, and the slowest layers
        are those with the most: in event runs that is each layer's own busy time, never the
        cycles it was queued or waiting (layers overlap, so the sum is not the network's
        cycles)."""
        t = self.totals
        cycles = sum(r.total_cycles for r in self.layers) or 1
        macs = t["macs"] or 1
        shares = []
        for bound in ("compute", "utilization", "memory"):
            rows = [r for r in self.layers if r.bound == bound]
            if rows:
                shares.append(f"{bound}-bound {sum(r.total_cycles for r in rows) / cycles:.0%}")
        sub = self.options.get("sub_batch", self.batch)
        split = f" (as {self.batch // sub} sub-batches of {sub})" if sub < self.batch else ""
        missing = ("; " + uncosted_text(t["uncosted_layers"], len(self.layers), t["macs"],
                                        t["uncosted_macs"]) if t["uncosted_layers"] else "")
        line1 = (f"{self.network} on {self.hw.name}, batch {self.batch}{split}: "
                 f"{t['time_ms']:.3f} ms "
                 f"({t['cycles']:,} cycles at {self.hw.clock_ghz:g} GHz), "
                 f"{t['macs_per_cycle']:,.0f} MAC/cycle = {t['utilization']:.1%} of peak, "
                 f"DRAM {t['dram_bytes'] / 1e6:,.2f} MB; cycles: {', '.join(shares)}"
                 + (f"; {self._graph_text()}" if t["fused_layers"] else "")
                 + missing)
        kinds: dict[str, list[LayerResult]] = {}
        for r in self.layers:
            if r.engine != "-":
                kinds.setdefault(layer_kind(r), []).append(r)
        parts = []
        for kind, rows in sorted(kinds.items(), key=lambda kv: -sum(r.total_cycles
                                                                     for r in kv[1])):
            engines = "/".join(sorted({r.engine for r in rows}))
            bounds = {}
            for r in rows:
                bounds[r.bound] = bounds.get(r.bound, 0) + r.total_cycles
            parts.append(f"{kind} {sum(r.macs for r in rows) / macs:.0%} of MACs in "
                         f"{sum(r.total_cycles for r in rows) / cycles:.0%} of cycles "
                         f"({engines}, mostly {max(bounds, key=bounds.get)}-bound)")
        line2 = "by kind: " + "; ".join(parts)
        top = sorted(self.layers, key=lambda r: -r.total_cycles)[:3]
        line3 = "slowest: " + "; ".join(
            f"{r.layer} {r.total_cycles / cycles:.0%} ({r.reason})" for r in top)
        if self.fidelity != "event":
            return [line1, line2, line3]
        return [line1, line2, line3, self._overlap_line()]

    def _graph_text(self) -> str:
        """What the inference graph saved: the layers it absorbed, and its cycles layer by
        layer against the raw graph's."""
        t = self.totals
        text = f"inference graph: {t['fused_layers']:,} layers folded or fused"
        raw = t["raw_graph_cycles"]
        if raw is None:
            return text
        # an event run's cycles overlap layers: what the graph saved is read layer by layer
        where = " layer by layer" if self.fidelity == "event" else ""
        return (f"{text}, {t['fusion_saved_cycles']:,} cycles saved{where} "
                f"({t['fusion_saved_cycles'] / raw:.0%} of the raw graph's {raw:,})")

    def _overlap_line(self) -> str:
        levels = self.overlap_cycles
        none = levels["none"]
        parts = [f"event schedule, overlap {self.options.get('overlap')}: "
                 f"{self.totals['cycles']:,} cycles against {none:,} layer by layer"]
        if "layer" in levels:
            parts.append(f"overlapping neighbouring layers (prefetch, vector work beside the "
                         f"matrix engine) {none / levels['layer']:.2f}x "
                         f"({levels['layer']:,} cycles)")
        if "graph" in levels and "layer" in levels:
            parts.append(f"then parallel branches {levels['layer'] / levels['graph']:.2f}x "
                         f"({levels['graph']:,} cycles)")
        queued = max(self.layers, key=lambda r: r.queue_cycles or 0, default=None)
        if queued is not None and queued.queue_cycles:
            parts.append(f"longest queue: {queued.layer}, ready but queued "
                         f"{queued.queue_cycles:,} cycles while other layers held its engine "
                         f"({queued.engine}), the DRAM channel or SRAM (busy "
                         f"{queued.total_cycles:,} cycles itself)")
        return "; ".join(parts)

    def __repr__(self) -> str:
        t = self.totals
        return (f"<RunResult {self.network} on {self.hw.name}, batch {self.batch}, "
                f"{self.fidelity}: {t['cycles']:,} cycles ({t['time_ms']:.3f} ms), "
                f"{t['utilization']:.1%} of peak, {len(self.layers)} rows>")

    def _repr_html_(self) -> str:
        """A notebook's view: the summary, and the slowest layers (``to_frame()`` has all)."""
        import pandas as pd

        rows = sorted(self.layers, key=lambda r: -r.total_cycles)[:NOTEBOOK_ROWS]
        frame = pd.DataFrame([{"layer": r.layer, "op": r.op, "engine": r.engine,
                               "total_cycles": r.total_cycles,
                               "utilization": r.utilization, "bound": r.bound,
                               "reason": r.reason} for r in rows])
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in self.summary())
        return (f"<div><strong>{html.escape(repr(self)[1:-1])}</strong><ul>{lines}</ul>"
                f"<p>The {len(rows)} slowest of {len(self.layers)} rows "
                f"(<code>.to_frame()</code> has every row and column):</p>"
                f"{display_frame(frame).to_html(index=False)}</div>")

    def to_dict(self) -> dict:
        """The JSON document of ``perfsim run --format json``."""
        return {
            "network": self.network,
            "hw": self.hw.name,
            "batch": self.batch,
            "fidelity": self.fidelity,
            "hw_summary": self.hw.summary(),
            "options": self.options,
            "layers": [_finite(r) for r in self._rows()],
            "totals": self.totals,
            **({"overlap_cycles": self.overlap_cycles} if self.fidelity == "event" else {}),
            "summary": self.summary(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def uncosted_text(layers: int, of: int, macs: int, missing: int) -> str:
    """What a network with placeholders lacks, in words: ``2 of 9 layers not costed
    (unsupported ONNX ops), 93% of the MACs by their ONNX shapes``."""
    share = missing / (macs + missing) if macs + missing else 0.0
    return (f"{layers:,} of {of:,} layers not costed (unsupported ONNX ops), {share:.0%} of "
            f"the MACs by their ONNX shapes")


def per_dram_byte_text(macs: int, ops: int, dram_bytes: int) -> str:
    """A layer's arithmetic per DRAM byte as a reader sees it, in the reasons and the tables
    alike: MACs for layers that do MACs (``71.6 MAC/B``), other operations for the rest
    (``3.0 ops/B``), ``no DRAM traffic`` when it moves none."""
    if not dram_bytes:
        return "no DRAM traffic"
    if macs:
        return f"{macs / dram_bytes:,.1f} MAC/B"
    return f"{ops / dram_bytes:,.1f} ops/B"


def layer_kind(row: LayerResult) -> str:
    """A reader's name for a layer's kind (depthwise, grouped, 1x1 or spatial conv, fc, ...),
    as its op class names it (:meth:`perfsim.workload.ops.Op.reader_kind`); an op kind this
    version does not know (a run saved by another) is among the "other" layers."""
    cls = OPS.get(row.op)
    if cls is None:
        return OTHER_KIND
    return cls.reader_kind(groups=row.groups, kernel=tuple(row.kernel),
                           out_channels=row.out_shape[0])


def row_kind(row: Mapping) -> str:
    """:func:`layer_kind` of a table's row (:meth:`RunResult.records`, or a saved run's,
    whose numbers and lists may be numpy's)."""
    return layer_kind(SimpleNamespace(op=row["op"], groups=int(row["groups"]),
                                      out_shape=list(row["out_shape"]),
                                      kernel=[int(v) for v in row["kernel"]]))


def view_rows(rows: list[Mapping]) -> list[dict]:
    """A run's rows with what a reader looks for beside the stored columns: ``kind`` (after
    ``op``: the kind reports group the layer under), ``dram_bytes`` (read + written),
    ``cycle_share`` (of the layers' busy cycles added up, as the summary's shares are) and
    ``intensity`` (:func:`per_dram_byte_text`: MACs per DRAM byte, or other operations per
    DRAM byte for layers without MACs, the same text the reasons quote; ``-`` without DRAM
    traffic). Plain dicts: ``perfsim run`` prints them without importing pandas."""
    total = sum(row["total_cycles"] for row in rows) or 1
    out = []
    for row in rows:
        view = {}
        for key, value in row.items():
            view[key] = value
            if key == "op":
                view["kind"] = row_kind(row)
        dram = view["dram_bytes"] = row["dram_read_bytes"] + row["dram_write_bytes"]
        view["cycle_share"] = row["total_cycles"] / total
        view["intensity"] = per_dram_byte_text(row["macs"], row["ops"], dram) if dram else "-"
        out.append(view)
    return out


def intensity_value(row: Mapping) -> float:
    """The number behind a :func:`view_rows` row's ``intensity`` text, to sort by: MACs (or
    other operations, without MACs) per DRAM byte, infinite without DRAM traffic."""
    work = row["macs"] if row["macs"] > 0 else row["ops"]
    return work / row["dram_bytes"] if row["dram_bytes"] > 0 else math.inf


PERCENT_SUFFIXES = ("_share", "utilization")
"""Columns ending so are fractions in [0, 1], shown as percentages."""


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame's cells as text: counts with thousands separators, fractions as percentages
    (:data:`PERCENT_SUFFIXES`), ratios as ``1.23x``, an infinite intensity as ``inf``, a
    missing value as ``-``, shapes as ``3x224x224``."""
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        out[column] = [cell_text(column, value) for value in frame[column]]
    return out


def cell_text(column: str, value) -> str:
    """One cell of :func:`display_frame`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return f"{int(value):,}"
    if isinstance(value, float) or (hasattr(value, "dtype") and value.dtype.kind == "f"):
        value = float(value)
        if math.isinf(value):
            return "inf"
        if column.endswith("_ratio"):
            return f"{value:.3g}x"
        if column.endswith(PERCENT_SUFFIXES):
            return f"{value:.1%}"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return "x".join(str(v) for v in list(value))
    return str(value)


MAX_COUNT = 2**63 - 1
"""The largest count (cycles, bytes, MACs) a result may hold: what a 64-bit integer column of
a saved run or a sweep holds."""
UTILIZATION_SLACK = 1e-9
"""How far above 1 a utilisation may seem: float rounding of MACs over cycles times peak."""
COUNT_FIELDS = ("macs", "ops", "params", "in_bytes", "out_bytes", "weight_bytes",
                "dram_read_bytes", "dram_write_bytes", "sram_read_bytes", "sram_write_bytes",
                "compute_cycles", "memory_cycles", "total_cycles", "stall_cycles", "energy_pj",
                *EVENT_COLUMNS)
"""Row fields that are counts: non-negative, finite and at most :data:`MAX_COUNT` (None where
a row has none)."""
TOTAL_COUNTS = ("cycles", "time_ms", "macs", "ops", "params", "macs_per_cycle", "dram_bytes",
                "sram_bytes", "energy_pj")
"""The totals held to the same rule."""


CHECKED_ROWS_KEPT = 4_096
"""Rows :func:`check_result` remembers having found within the rules (a sweep's runs share
rows: :func:`perfsim.schedule.analytic._layer_plan`), before it starts over."""
_checked_rows: dict[tuple[int, bool, bool], LayerResult] = {}
"""(id of a row, an event run's, with energy figures) -> the row, found within the rules (it
is kept: its id stands for it only while it lives)."""


class ResultError(RuntimeError):
    """A result that breaks physics (a negative or undefined count, a utilisation above 1):
    a bug in perfsim, never the user's doing (the CLI exits 1 with a traceback)."""


def check_result(run: RunResult) -> None:
    """The final check on a result before it is printed or written.

    A count beyond :data:`MAX_COUNT` (or infinite) comes from inputs that are each within
    perfsim's limits but together extreme (a huge layer on a very slow memory): a
    :class:`~perfsim.errors.LimitError` naming the layer, the count and what bounds the layer.
    A negative or undefined (NaN) count, or a utilisation outside ``[0, 1]``, is a bug: a
    :class:`ResultError`. A row found within the rules before, for a run of the same kind,
    is not checked again (rows are frozen)."""
    where = f"{run.network} on {run.hw.name} at batch {run.batch}"
    kind = (run.fidelity == "event", run.hw.energy_pj is not None)
    # the fields that may hold a count here: analytic rows have no event columns, and a
    # config without energy figures no energy
    names = tuple(name for name in COUNT_FIELDS
                  if (kind[0] or name not in EVENT_COLUMNS)
                  and (kind[1] or name != "energy_pj"))
    counts_of = operator.attrgetter(*names)
    for row in run.layers:
        key = (id(row), *kind)
        if _checked_rows.get(key) is row:
            continue
        counts = counts_of(row)
        if row.local_bytes:
            counts += tuple(count for _, read, written in row.local_bytes
                            for count in (read, written))
        present = (tuple(value for value in counts if value is not None) if None in counts
                   else counts)
        # names and a message only for a bad count; a NaN makes the sum NaN (min and max
        # may pass over it), and the test runs in C, as a sweep checks every point's rows
        total = sum(present)
        if not (total == total and min(present) >= 0 and max(present) <= MAX_COUNT):
            for name, value in zip(names + tuple(f"{level}_{what}_bytes"
                                                 for level, _, _ in row.local_bytes
                                                 for what in ("read", "write")), counts):
                if value is not None and not 0 <= value <= MAX_COUNT:
                    _check_count(f"{where}: layer '{row.layer}'", name, value,
                                 f" (the layer is {row.bound}-bound: {row.reason})")
        if not 0 <= row.utilization <= 1 + UTILIZATION_SLACK:
            raise ResultError(f"{where}: layer '{row.layer}': utilization {row.utilization!r} "
                              f"is outside [0, 1]")
        if len(_checked_rows) >= CHECKED_ROWS_KEPT:
            _checked_rows.clear()
        _checked_rows[key] = row
    totals = run.totals
    for name in TOTAL_COUNTS:
        _check_count(where, name, totals[name], "")
    if not 0 <= totals["utilization"] <= 1 + UTILIZATION_SLACK:
        raise ResultError(f"{where}: utilization {totals['utilization']!r} is outside [0, 1]")


def _check_count(where: str, name: str, value: float | None, why: str) -> None:
    if value is None:
        return
    if value != value or value < 0:
        raise ResultError(f"{where}: {name} = {value!r}: a count must be a number >= 0")
    if value > MAX_COUNT:
        raise LimitError(f"{where}: {name} = {value:.3g} is beyond what perfsim can count "
                         f"(2^63 - 1 = {MAX_COUNT:.3g}): the accelerator is too slow or too "
                         f"small for this network{why}")


def _finite(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()}
