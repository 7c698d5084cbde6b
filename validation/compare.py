"""Model against published: what each metric reads from a run, the relative error, and the
rows of the comparison table.

Every error is ``(model - published) / published``, in percent: positive when perfsim
predicts more (more milliseconds, more bytes, more TOPS, more frames/s) than was published.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfsim.results import RunResult

from validation.published import NUMERIC_METRICS, CaseFacts, Reference

UNITS = {"latency_ms": "ms", "dram_mb": "MB", "tops": "TOPS", "fps": "frames/s", "bound": ""}
"""Each metric's unit: MB are 10^6 bytes, TOPS 10^12 operations a second at 2 per MAC."""
COMPUTE_SIDE = ("compute", "utilization")
"""perfsim's bounds that are the roofline's "computation bound": the engine is the limit,
whether or not the layer's shape uses all of it. ``memory`` is the roofline's memory bound."""


@dataclass(frozen=True)
class BoundShare:
    """The roofline bound of most of some layers' cycles (``memory``, or ``compute`` for
    perfsim's compute and utilization bounds), and ``shares``: each perfsim bound's share of
    those cycles, largest first."""

    bound: str
    shares: tuple[tuple[str, float], ...]

    def __str__(self) -> str:
        return f"{self.bound} ({', '.join(f'{b} {s:.0%}' for b, s in self.shares)} of cycles)"


def relative_error_pct(model: float, published: float) -> float:
    """``100 * (model - published) / published``."""
    return 100.0 * (model - published) / published


def measure(run: RunResult, metric: str, layers: tuple[str, ...] = ()) -> float | BoundShare:
    """``metric`` of ``layers`` of ``run`` (every layer when empty), at its clock and batch:
    ``latency_ms`` their cycles in ms, ``dram_mb`` their DRAM bytes read and written / 10^6,
    ``tops`` 2 x their MACs per second / 10^12, ``fps`` the batch per second of their cycles,
    ``bound`` the roofline bound of most of their cycles."""
    rows = [r for r in run.layers if not layers or r.layer in layers]
    missing = set(layers) - {r.layer for r in rows}
    if missing:
        raise KeyError(f"{run.network} has no layer(s) {', '.join(sorted(missing))}")
    cycles = sum(r.total_cycles for r in rows)
    hz = run.hw.clock_ghz * 1e9
    if metric == "latency_ms":
        return cycles / hz * 1e3
    if metric == "dram_mb":
        return sum(r.dram_read_bytes + r.dram_write_bytes for r in rows) / 1e6
    if metric == "tops":
        return 2 * sum(r.macs for r in rows) * hz / cycles / 1e12
    if metric == "fps":
        return run.batch * hz / cycles
    if metric == "bound":
        by_bound: dict[str, int] = {}
        for r in rows:
            by_bound[r.bound] = by_bound.get(r.bound, 0) + r.total_cycles
        compute = sum(by_bound.get(b, 0) for b in COMPUTE_SIDE)
        shares = tuple(sorted(((b, c / cycles) for b, c in by_bound.items() if c),
                              key=lambda bs: -bs[1]))
        return BoundShare("memory" if by_bound.get("memory", 0) > compute else "compute", shares)
    raise KeyError(f"unknown metric {metric!r}")


def detail(run: RunResult, layers: tuple[str, ...] = ()) -> str:
    """What limits ``layers`` of ``run`` in perfsim's words: a single layer's reason; for the
    whole network (``layers`` empty) the share of its cycles in layers that do no MACs
    (normalisation, activations, pooling, adds: the work fusion would absorb); nothing for a
    group of layers."""
    if len(layers) == 1:
        return next(r.reason for r in run.layers if r.layer == layers[0])
    if layers:
        return ""
    cycles = sum(r.total_cycles for r in run.layers)
    idle = sum(r.total_cycles for r in run.layers if r.macs == 0)
    return f"{idle / cycles:.0%} of cycles in layers without MACs"


def compare(facts: CaseFacts, reference: Reference, model: float | BoundShare,
            model_detail: str = "") -> dict:
    """One row of the comparison table; ``model_detail`` is :func:`detail` of the run."""
    numeric = reference.metric in NUMERIC_METRICS
    if numeric:
        error = relative_error_pct(model, reference.value)
        within = None if reference.target_pct is None else abs(error) <= reference.target_pct
    else:
        error, within = None, model.bound == reference.value
    return {"case": reference.case, "source": facts.source.key, "kind": facts.source.kind,
            "metric": reference.metric, "unit": UNITS[reference.metric],
            "layers": reference.layer_label, "published": reference.value,
            "model": model if numeric else str(model), "error_pct": error,
            "target_pct": reference.target_pct, "within_target": within,
            "where": reference.where, "rechecked": reference.rechecked, "note": reference.note,
            "model_detail": model_detail}


def trend(values: list[float]) -> str:
    """The direction of each step from one value to the next: ``up, down, flat``."""
    return ", ".join("up" if b > a else "down" if b < a else "flat"
                     for a, b in zip(values, values[1:]))


def trend_rows(compared: list[tuple[Reference, dict]]) -> list[dict]:
    """For each case and metric published layer by layer (three layers or more), a row
    comparing the direction from layer to layer (the issue asks for the right per-layer trend
    beside each layer's error). ``compared`` pairs each reference with its row of
    :func:`compare`."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for reference, row in compared:
        if reference.metric in NUMERIC_METRICS and len(reference.layers) == 1:
            groups.setdefault((reference.case, reference.metric), []).append(row)
    out = []
    for (_, metric), group in groups.items():
        if len(group) < 3:
            continue
        published = trend([r["published"] for r in group])
        model = trend([r["model"] for r in group])
        out.append({**{k: group[0][k] for k in ("case", "source", "kind", "unit", "where")},
                    "metric": f"{metric} trend",
                    "layers": f"{group[0]['layers']}-{group[-1]['layers']}",
                    "published": published, "model": model, "error_pct": None,
                    "target_pct": None, "within_target": published == model,
                    "rechecked": all(r["rechecked"] for r in group), "note": "",
                    "model_detail": ""})
    return out
