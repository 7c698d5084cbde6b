"""The report of one saved run: summary, machine, roofline, cycles per layer, MACs against
cycles by kind, engine use, the timeline of event runs, the per-layer table, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from perfsim.report.document import (Document, Heading, Paragraph, Plot, Preformatted, Table,
                                     write_document)
from perfsim.report.plots import cycles_figure, engine_figure, kind_share_figure, roofline_figure
from perfsim.errors import PerfsimError
from perfsim.report.run_dir import SavedRun, as_saved, load_run
from perfsim.results import RunResult
from perfsim.report.tables import (engine_utilization, has_event_columns, kind_shares,
                                   layer_table, roofline_points, roofs, working_layers)


def run_document(run: SavedRun) -> Document:
    """The report of ``run`` as a :class:`Document`."""
    frame = run.layers
    hw = run.hw_summary
    points = roofline_points(frame)
    no_macs = len(working_layers(frame)) - len(points)
    no_dram = int(points["no_dram"].sum())
    blocks = [
        Paragraph(f"Fidelity: {run.document['fidelity']}. "
                  + (f"Run directory: `{run.path}`." if run.path else "A run in memory.")),
        *[Paragraph(line) for line in run.document.get("summary", [])],
        Table(pd.DataFrame([{k: v for k, v in run.totals.items() if v is not None}]),
              "Totals (cycles at the clock; bytes; picojoules):"),
        Heading("The machine"),
        Paragraph(f"{hw['name']}: {hw['clock_ghz']:g} GHz, DRAM {hw['dram_gb_per_s']:g} GB/s "
                  f"= {hw['dram_bytes_per_cycle']:g} bytes per cycle, SRAM "
                  f"{hw['sram_bytes'] / 2**20:g} MiB at {hw['sram_bytes_per_cycle']:,} bytes "
                  "per cycle. Each engine's ridge point is its peak divided by the DRAM bytes "
                  "per cycle: a layer needs at least that many MACs per DRAM byte to keep the "
                  "engine busy."),
        Table(roofs(hw)),
        Heading("Roofline"),
        Plot("roofline", roofline_figure(frame, hw),
             "Each layer that does MACs is a point at its arithmetic intensity (MACs per DRAM "
             "byte, read and written) and its achieved MACs per cycle. A point on the slanted "
             "roof is limited by DRAM bandwidth, on the flat roof by its engine's peak; a "
             "point well below both wastes its engine (utilisation) or waits on SRAM. "
             + (f"{no_dram} layer(s) move no DRAM bytes (their data stays in SRAM); they sit "
                "in the shaded band at the right edge. " if no_dram else "")
             + (f"{no_macs} layer(s) without MACs (element-wise, pooling, normalisation) are "
                "not on this plot; the cycle breakdown below has them." if no_macs else "")),
        Heading("Where the cycles go"),
        Plot("cycles", cycles_figure(frame),
             "Cycles per layer in network order: compute cycles coloured by the layer's "
             "bound, then the cycles it stalls on its own memory (transfers and latency its "
             "compute does not hide); the two make its busy time, `total_cycles`. "
             + ("In this event run a layer may also be ready but queued while another layer "
                "holds its engine, the DRAM channel or SRAM (`queue_cycles`), and wait for "
                "its producers' tiles (`wait_cycles`): the whole bar is its span from start "
                "to end. Queued and waiting cycles are not memory stalls, and the busiest "
                "layers are those with the most busy time." if has_event_columns(frame)
                else "")),
        Plot("kinds", kind_share_figure(frame),
             "Share of the MACs against share of the cycles per kind of layer. A kind whose "
             "cycle bar is taller than its MAC bar takes more time than its share of the "
             "work (depthwise layers on a big array, fully connected layers at small batch)."),
        Table(kind_shares(frame)),
        Heading("Engines"),
        Plot("engines", engine_figure(frame, hw),
             "Busy: the share of the run's cycles an engine computes. MAC-weighted "
             "utilisation: how much of its peak the MACs it runs use (sum of utilisation "
             "times MACs over MACs)."),
        Table(engine_utilization(frame, hw)),
        *_timeline_blocks(run),
        Heading("Layers"),
        Table(layer_table(frame), "One row per layer that runs on an engine; cycle_share is "
                                  "of the whole run."),
        Heading("Provenance"),
        Preformatted(json.dumps(run.document.get("provenance", {}), indent=1)),
    ]
    return Document(f"perfsim report: {run.title}", tuple(blocks))


def _timeline_blocks(run: SavedRun) -> list:
    """The Gantt chart of an event run (one with ``timeline.csv``)."""
    if run.timeline is None:
        return []
    try:
        from perfsim.report.timeline import gantt_figure  # only event runs need it
    except ModuleNotFoundError as err:
        if err.name != "perfsim.report.timeline":
            raise
        return [Heading("Timeline"),
                Paragraph("This run has a timeline (`timeline.csv`), but this version of "
                          "perfsim cannot draw it.")]
    return [Heading("Timeline"),
            Plot("timeline", gantt_figure(run.timeline, layers=run.layers),
                 "What each engine and the DRAM channel do over time (cycles): loads, "
                 "computes, stores and prefetches, coalesced over runs of tiles.")]


def write_run_report(run: SavedRun | RunResult | str | Path,
                     out_dir: str | Path | None = None) -> list[Path]:
    """Write ``report.html`` (self-contained), ``report.md`` and its PNGs into ``out_dir``;
    returns the paths written. ``run`` is a saved run, its directory, or ``simulate``'s result
    in memory; ``out_dir`` defaults to the run's directory (required for a run in memory)."""
    if isinstance(run, RunResult):
        run = as_saved(run)
    elif not isinstance(run, SavedRun):
        run = load_run(run)
    if out_dir is None:
        if run.path is None:
            raise PerfsimError("write_run_report: give out_dir for a run in memory")
        out_dir = run.path
    return write_document(run_document(run), out_dir, "report")
