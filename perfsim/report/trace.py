"""An event run's timeline as a Chrome trace-event JSON document (``trace.json``), which
Perfetto (ui.perfetto.dev) and chrome://tracing open.

Format: the "JSON Object Format" of the Trace Event Format. Each resource (the DRAM channel,
each engine) is a thread of one process and each piece of its work a complete event
(``"ph": "X"``) named after its layer, with the kind of work as category; a resource does one
thing at a time, so its events never overlap. Each layer's span, from its start to its end,
is an async slice (``"ph": "b"`` / ``"e"``) on a "layers" track, where overlapping layers
stack. Times are microseconds at the configured clock; every event also carries its cycles.
"""

from __future__ import annotations

from perfsim.results import RunResult

PID = 1


def chrome_trace(result: RunResult) -> dict:
    """The trace-event document of an event run (``result.timeline`` must be set)."""
    if result.timeline is None:
        raise ValueError("only event runs (fidelity 'event') have a timeline")
    per_us = result.hw.clock_ghz * 1e3  # cycles per microsecond
    resources = ["dram"] + [e.name for e in result.hw.engines]
    tids = {name: i + 1 for i, name in enumerate(resources)}
    events: list[dict] = [
        {"ph": "M", "name": "process_name", "pid": PID,
         "args": {"name": f"{result.network} on {result.hw.name}, batch {result.batch}"}}]
    for name, tid in tids.items():
        label = "DRAM channel" if name == "dram" else f"engine {name}"
        events.append({"ph": "M", "name": "thread_name", "pid": PID, "tid": tid,
                       "args": {"name": label}})
        events.append({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": tid,
                       "args": {"sort_index": tid}})
    for row in result.timeline.itertuples(index=False):
        events.append({
            "ph": "X", "name": row.layer, "cat": row.kind, "pid": PID,
            "tid": tids[row.resource], "ts": row.start_cycle / per_us,
            "dur": (row.end_cycle - row.start_cycle) / per_us,
            "args": {"tile": int(row.tile), "tiles": int(row.tiles),
                     "start_cycle": int(row.start_cycle), "end_cycle": int(row.end_cycle)}})
    for i, layer in enumerate(result.layers):
        if layer.engine == "-" or layer.start_cycle is None:
            continue
        common = {"name": layer.layer, "cat": "layer", "id": i, "pid": PID}
        events.append({**common, "ph": "b", "ts": layer.start_cycle / per_us,
                       "args": {"engine": layer.engine, "op": layer.op,
                                "bound": layer.bound, "cycles": layer.total_cycles}})
        events.append({**common, "ph": "e", "ts": layer.end_cycle / per_us})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"network": result.network, "hw": result.hw.name,
                          "batch": result.batch, "overlap": result.options.get("overlap"),
                          "clock_ghz": result.hw.clock_ghz}}
