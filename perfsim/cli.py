"""The ``perfsim`` command line: the only place that prints or picks an exit code.

Exit codes: 0 success; 2 a user error (one clean message on stderr, no traceback); 1 a bug
(Python's own traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import pandas as pd
import yaml

from perfsim._version import __version__
from perfsim.io.load import load_hw
from perfsim.hardware.loading import resolve_hw_path, shipped_config_names, to_document
from perfsim.errors import PerfsimError
from perfsim.io.timeloop import export_timeloop
from perfsim.io.scalesim import SCALESIM_PINS, is_scalesim_config
from perfsim.mapping.fusion import GRAPHS
from perfsim.workload.ops import user_attributes
from perfsim.workload.lecture import lecture_table
from perfsim.results import EVENT_COLUMNS
from perfsim.report.saved_run import created_utc, save_run
from perfsim.schedule.event import OVERLAPS
from perfsim.simulate import FIDELITIES, simulate
from perfsim.sweeps.run import MAX_ROWS
from perfsim.workload.stats import layer_table, totals
from perfsim.io.load import load_workload
from perfsim.workload.zoo import workload_family, workload_names

FORMATS = ("table", "csv", "json", "md")
LIST_COLUMNS = ("layer", "inputs", "in_shape", "out_shape", "kernel", "stride",
                "receptive_field", "fused")


def _input_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,224,224, got {text!r}")
    return shape  # type: ignore[return-value]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _shape_text(value) -> str:
    if isinstance(value, list):
        if value and isinstance(value[0], str):
            return ",".join(value)
        return "x".join(str(v) for v in value)
    return "" if value is None else str(value)


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists shown as ``3x224x224`` (shapes) or ``a,b`` (inputs) for text formats."""
    frame = frame.copy()
    for column in LIST_COLUMNS:
        if column in frame:
            frame[column] = frame[column].map(_shape_text)
    return frame


def _render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return _flat(frame).to_csv(index=False)
    if fmt == "md":
        return _flat(frame).to_markdown(index=False, floatfmt="g") + "\n"
    return _flat(frame).to_markdown(index=False, tablefmt="simple", floatfmt="g") + "\n"


def cmd_show(args: argparse.Namespace) -> str:
    network = load_workload(args.network, batch=args.batch, input_shape=args.input_shape,
                            allow_unsupported=args.allow_unsupported)
    if args.view == "lecture":
        frame = lecture_table(network)
        sums = {"MACs": int(frame["MACs"].sum()), "Parameter": int(frame["Parameter"].sum())}
        if args.format == "json":
            return json.dumps({"network": network.name, "batch": network.batch,
                               "view": "lecture", "layers": frame.to_dict("records"),
                               "totals": sums}, indent=1, default=int) + "\n"
        body = _render(frame, args.format)
    else:
        frame = layer_table(network)
        sums = totals(network)
        if args.format == "json":
            layers = frame.rename(columns={"layer": "name"}).to_dict("records")
            for record, layer in zip(layers, network.layers):
                record["attributes"] = user_attributes(layer.op)
            return json.dumps({"network": network.name, "batch": network.batch,
                               "description": network.description, "source": network.source,
                               "layers": layers, "totals": sums}, indent=1, default=int) + "\n"
        body = _render(frame.drop(columns=["category"]), args.format)
    if args.format == "csv":
        return body
    line = ", ".join(f"{k} {v:,}" for k, v in sums.items())
    return f"{body}\n{network.name} at batch {network.batch}: {line}\n"


def cmd_list(args: argparse.Namespace) -> str:
    names, hw = workload_names(), shipped_config_names()
    if args.format == "json":
        return json.dumps({"workloads": names, "hw": hw}, indent=1) + "\n"
    frame = pd.DataFrame({"workload": names, "family": [workload_family(n) for n in names]})
    text = _render(frame, "md" if args.format == "md" else "table")
    return f"{text}\nhardware configs: {', '.join(hw)}\n"


RUN_COLUMNS = ["layer", "op", "engine", "fused", "macs", "compute_cycles", "memory_cycles",
               "total_cycles", "stall_cycles", "utilization", "macs_per_dram_byte", "dram_bytes",
               "bound", "reason"]


def _pins(items: list[str]) -> dict[str, str]:
    pins = {}
    for item in items:
        op, sep, engine = item.partition("=")
        if not sep or not op or not engine:
            raise PerfsimError(f"--pin takes OP=ENGINE (e.g. conv=mxu), got {item!r}")
        pins[op] = engine
    return pins


def cmd_run(args: argparse.Namespace) -> str:
    network = load_workload(args.network, batch=args.batch, input_shape=args.input_shape,
                            allow_unsupported=args.allow_unsupported)
    hw_path = resolve_hw_path(args.hw)
    hw = load_hw(hw_path)
    pins = _pins(args.pin)
    if is_scalesim_config(hw_path):  # SCALE-Sim runs every GEMM on its array
        pins = {**SCALESIM_PINS, **pins}
    if args.overlap is not None and args.fidelity != "event":
        raise PerfsimError("--overlap applies to the event schedule: add --fidelity event")
    result = simulate(network, hw, residency=args.residency, pin=pins,
                      fidelity=args.fidelity, overlap=args.overlap or "graph",
                      fuse=args.graph == "inference")
    run_dir = args.out or args.report  # --report alone saves the run beside its report
    if run_dir:
        save_run(result, run_dir, hw_path=hw_path, source=network.source or network.name,
                 command=args.argv)
    if args.report:
        from perfsim.report import load_run, write_run_report  # matplotlib is slow to import
        write_run_report(load_run(run_dir), args.report)
    if args.format == "json":
        return result.to_json() + "\n"
    frame = result.to_frame()
    frame["dram_bytes"] = frame["dram_read_bytes"] + frame["dram_write_bytes"]
    if args.format == "csv":
        return _render(frame, "csv")
    columns = RUN_COLUMNS[:4] + [c for c in EVENT_COLUMNS if c in frame] + RUN_COLUMNS[4:]
    view = frame[columns].copy()
    view["fused"] = [_fused_text(layer, fused) for layer, fused in zip(view["layer"],
                                                                        view["fused"])]
    view["utilization"] = (100 * view["utilization"]).map("{:.1f}%".format)
    view["macs_per_dram_byte"] = view["macs_per_dram_byte"].map(
        lambda v: "-" if v is None or v != v else f"{v:,.1f}")
    totals = result.totals
    lines = [f"{k}: {v:,.4g}" if isinstance(v, float) else f"{k}: {v:,}" if v is not None
             else f"{k}: -" for k, v in totals.items()]
    body = _render(view, args.format)
    written = f"\nreport: {args.report}/report.html, {args.report}/report.md\n" \
        if args.report else ""
    return (body + "\ntotals: " + ", ".join(lines) + "\n\n" + "\n".join(result.summary())
            + "\n" + written)


def _fused_text(layer: str, fused: list[str]) -> str:
    """The layers a row absorbed, named after the row's own name where they extend it
    (``conv1`` absorbed ``bn, relu`` for ``conv1/bn``, ``conv1/relu``)."""
    return ", ".join(name.removeprefix(f"{layer}/") for name in fused)


def cmd_validate(args: argparse.Namespace) -> str:
    path = resolve_hw_path(args.hw)
    hw = load_hw(path)
    if args.format == "json":
        return json.dumps({"file": str(path), "config": to_document(hw),
                           "summary": hw.summary()}, indent=1) + "\n"
    return f"# {path}: valid\n" + yaml.safe_dump(to_document(hw), sort_keys=False)


def cmd_export(args: argparse.Namespace) -> str:
    network = load_workload(args.network, batch=args.batch, input_shape=args.input_shape)
    if args.format == "timeloop":
        paths = export_timeloop(network, args.destination)
        return f"wrote {len(paths)} Timeloop problem file(s) to {args.destination}\n"
    from perfsim.io.onnx_export import export_onnx  # onnx is slow to import
    export_onnx(network, args.destination)
    return f"wrote {network.name} ({len(network.layers)} layers) to {args.destination}\n"


def cmd_sweep(args: argparse.Namespace) -> str:
    import logging

    from tqdm import tqdm

    from perfsim.sweeps import Progress, sweep
    from perfsim.sweeps.executors import Dask, Processes
    from perfsim.sweeps.spec import load_spec

    spec = load_spec(args.spec)
    if args.scheduler is not None:
        executor = Dask(args.scheduler, no_worker_timeout_s=args.worker_timeout)
        # Dask's client logs a lost scheduler or worker as errors (and asyncio its unawaited
        # tasks): the one line of a failed sweep says it all
        logging.disable(logging.ERROR)
    elif args.workers == 1:
        executor = "serial"
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
        if args.workers is not None and args.workers > cores:
            print(f"perfsim: sweep: --workers {args.workers} is more than the {cores} CPU(s) "
                  f"here; using {cores}", file=sys.stderr)
        executor = Processes(min(args.workers or cores, cores))
    bar = tqdm(unit="point", disable=not sys.stderr.isatty(), dynamic_ncols=True)
    parts = [0]

    def progress(event: Progress) -> None:
        bar.total = event.total
        bar.update(event.done - bar.n)
        while args.verbose and event.parts > parts[0]:
            parts[0] += 1
            print(f"perfsim: sweep: part {parts[0]} written, {event.done} of "
                  f"{event.total} rows done", file=sys.stderr, flush=True)

    with bar:
        frame = sweep(list(spec.workloads), spec.hw, points=spec.points,
                      batch=list(spec.batch), residency=spec.residency, executor=executor,
                      out=args.out, per_layer=args.per_layer, part_rows=args.part_rows,
                      max_rows=None if args.yes else MAX_ROWS, progress=progress)
    totals = pd.read_parquet(f"{args.out}/sweep.parquet", columns=["status"])
    ok = int((totals["status"] == "ok").sum())
    files = "sweep.parquet, sweep.csv"
    if args.per_layer:
        files += f", layers.parquet, layers.csv ({len(frame)} layer rows)"
    return (f"{spec.path}: {len(spec.points)} point(s) x {len(spec.workloads)} workload(s) x "
            f"{len(spec.batch)} batch(es) = {len(totals)} rows ({ok} ok, "
            f"{len(totals) - ok} infeasible); wrote {files} to {args.out}\n")


def cmd_report(args: argparse.Namespace) -> str:
    from perfsim.report import load_run, write_run_report  # matplotlib is slow to import

    run = load_run(args.run_dir)
    out = args.out or args.run_dir
    paths = write_run_report(run, out)
    summary = "\n".join(run.document.get("summary", []))
    return (f"{summary}\n\nwrote {paths[0]} (self-contained) and {paths[1]} "
            f"with {len(paths) - 2} PNG figure(s)\n")


def cmd_compare(args: argparse.Namespace) -> str:
    from perfsim.report import load_run  # matplotlib is slow to import
    from perfsim.report.compare import (compare_layers, compare_totals, run_labels,
                                        write_compare_report)

    if len(args.run_dirs) < 2:
        raise PerfsimError("compare needs at least two run directories")
    runs = [load_run(path) for path in args.run_dirs]
    labels = run_labels(runs)
    frames = dict(zip(labels, (run.layers for run in runs)))
    table = compare_totals(frames, dict(zip(labels, (run.hw_summary for run in runs))))
    written = ""
    if args.out:
        paths = write_compare_report(runs, args.out)
        written = (f"\nwrote {paths[0]} (self-contained) and {paths[1]} with "
                   f"{len(paths) - 2} PNG figure(s)\n")
    if args.format == "json":
        layers = compare_layers(frames)
        return json.dumps({"runs": json.loads(table.to_json(orient="records")),
                           "layers": json.loads(layers.to_json(orient="records"))},
                          indent=1) + "\n"
    return _render(table, args.format) + written


def _network_arguments(parser: argparse.ArgumentParser, allow_unsupported: bool = True) -> None:
    """The arguments every command that loads a network takes."""
    parser.add_argument("network", help="zoo name (see `perfsim list`), network YAML file, "
                                        "ONNX model or SCALE-Sim topology CSV")
    parser.add_argument("--batch", type=_positive_int, default=1, help="batch size (default 1)")
    parser.add_argument("--input-shape", type=_input_shape, metavar="C,H,W",
                        help="rebuild a zoo network at another input size, or set an ONNX "
                             "model's dynamic input dimensions")
    if allow_unsupported:
        parser.add_argument("--allow-unsupported", action="store_true",
                            help="import ONNX ops perfsim cannot map as flagged zero-cost "
                                 "placeholders")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perfsim", description="Performance simulator for neural-network accelerators.")
    parser.add_argument("--version", action="version", version=f"perfsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    show = sub.add_parser(
        "show", help="per-layer statistics of a network",
        description="Per-layer statistics of a zoo network or a network file: MACs, params, "
                    "element counts, receptive field (canonical view), or the lecture's table.")
    _network_arguments(show)
    show.add_argument("--format", choices=FORMATS, default="table", help="output format")
    show.add_argument("--view", choices=("canonical", "lecture"), default="canonical",
                      help="canonical statistics or the lecture's table conventions")
    show.set_defaults(run=cmd_show)

    lst = sub.add_parser("list", help="the workloads and hardware configs perfsim ships",
                         description="List the zoo's workloads and the shipped hardware configs.")
    lst.add_argument("--format", choices=("table", "json", "md"), default="table")
    lst.set_defaults(run=cmd_list)

    run = sub.add_parser(
        "run", help="simulate a network on an accelerator",
        description="Cost every layer of a network on a hardware config: cycles, traffic per "
                    "memory level, utilisation, and what bounds each layer.")
    _network_arguments(run)
    run.add_argument("--hw", required=True,
                     help="hardware config: a YAML path, a shipped name (see `perfsim list`) "
                          "or a SCALE-Sim .cfg file")
    run.add_argument("--format", choices=FORMATS, default="table", help="output format")
    run.add_argument("--out", metavar="DIR",
                     help="also write layers.csv, layers.parquet and run.json there (event "
                          "runs add timeline.csv, trace.json for Perfetto and gantt.png)")
    run.add_argument("--fidelity", choices=FIDELITIES, default="analytic",
                     help="analytic: every layer costed alone (default, fast); event: a simpy "
                          "schedule of tiles on the DRAM channel, engines and SRAM, with a "
                          "timeline")
    run.add_argument("--overlap", choices=OVERLAPS, default=None,
                     help="event schedule only: none (layer after layer), layer (prefetch "
                          "the next layer's weights, stream vector work behind its producer) "
                          "or graph (also run independent branches in parallel; default)")
    run.add_argument("--residency", choices=("auto", "dram"), default="auto",
                     help="keep activations in SRAM between layers when they fit (auto) or "
                          "always spill them to DRAM")
    run.add_argument("--pin", action="append", default=[], metavar="OP=ENGINE",
                     help="run every layer of op kind OP on ENGINE (repeatable; a pinned "
                          "op kind is never fused into another layer)")
    run.add_argument("--graph", choices=GRAPHS, default="inference",
                     help="inference: batch norm folded into the conv/fc before it, "
                          "activations, per-channel scale/offset and residual adds run in "
                          "the producing engine's output path when it has one (default); "
                          "raw: the training graph, every layer on its own")
    run.add_argument("--report", metavar="DIR",
                     help="also write a report there (report.html, self-contained, and "
                          "report.md with PNGs); the run's files go there too unless --out "
                          "is given")
    run.set_defaults(run=cmd_run)

    report = sub.add_parser(
        "report", help="write the HTML and Markdown report of a saved run",
        description="Read a run saved with `perfsim run ... --out RUN_DIR` and write "
                    "report.html (self-contained: figures embedded, no external files) and "
                    "report.md with its PNG figures: summary, roofline, cycles per layer, "
                    "MACs against cycles by kind of layer, engine use, the timeline of event "
                    "runs, the per-layer table and the run's provenance.")
    report.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by "
                                                            "`perfsim run ... --out`")
    report.add_argument("--out", metavar="DIR", help="where to write the report "
                                                     "(default: RUN_DIR)")
    report.set_defaults(run=cmd_report)

    compare = sub.add_parser(
        "compare", help="compare saved runs side by side",
        description="Compare runs saved with `perfsim run ... --out` (two accelerators, two "
                    "batch sizes, two networks): totals with ratios to the first run, and "
                    "cycles per layer when the runs share layer names. Prints the totals; "
                    "with --out also writes compare.html (self-contained) and compare.md "
                    "with PNG figures.")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                         help="two or more run directories; ratios are to the first")
    compare.add_argument("--out", metavar="DIR", help="write compare.html, compare.md and "
                                                      "PNGs there")
    compare.add_argument("--format", choices=FORMATS, default="table", help="output format")
    compare.set_defaults(run=cmd_compare)

    export = sub.add_parser(
        "export", help="write a network as ONNX or as Timeloop problems",
        description="Write a network for another tool: a shape-only ONNX model (--format onnx, "
                    "DESTINATION a .onnx file; valid under onnx.checker, weights as shapes), "
                    "or one Timeloop v0.4 problem file per conv and fc layer (--format "
                    "timeloop, DESTINATION a directory).")
    _network_arguments(export, allow_unsupported=False)
    export.add_argument("destination", help="the .onnx file, or the Timeloop directory")
    export.add_argument("--format", choices=("onnx", "timeloop"), default="onnx")
    export.set_defaults(run=cmd_export)

    validate = sub.add_parser(
        "validate", help="check a hardware config and print it normalised",
        description="Load a hardware config strictly; print the normalised config, or every "
                    "problem as file:line: key.path: problem.")
    validate.add_argument("hw", help="a hardware YAML file or a shipped config name")
    validate.add_argument("--format", choices=("yaml", "json"), default="yaml")
    validate.set_defaults(run=cmd_validate)

    sweep = sub.add_parser(
        "sweep", help="evaluate a grid of hardware variants on workloads",
        description="Run a sweep spec (YAML: workloads, hw, grid or points, optional mode, "
                    "batch, residency) in parallel. Rows stream to Parquet parts in --out as "
                    "they finish; running the same command again resumes where a killed run "
                    "stopped. The final table is DIR/sweep.parquet and DIR/sweep.csv.")
    sweep.add_argument("spec", help="the sweep spec, a YAML file")
    sweep.add_argument("--out", required=True, metavar="DIR",
                       help="directory for the parts, the manifest and the final table")
    sweep.add_argument("--workers", type=_positive_int, metavar="N",
                       help="local worker processes (default: every core; 1: in this process)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a Dask cluster instead, by its scheduler's address "
                            "(tcp://host:8786)")
    sweep.add_argument("--worker-timeout", type=_positive_float, default=60.0, metavar="S",
                       help="with --scheduler: stop (exit 2, resumable) once the cluster has "
                            "had no worker for S seconds (default 60)")
    sweep.add_argument("--yes", action="store_true",
                       help=f"run a sweep of more than {MAX_ROWS:,} rows (refused without it)")
    sweep.add_argument("--per-layer", action="store_true",
                       help="also write per-layer rows (DIR/layers.parquet, DIR/layers.csv)")
    sweep.add_argument("--part-rows", type=_positive_int, default=2000, metavar="N",
                       help="rows per Parquet part at most (default 2000; a part is also "
                            "written every 10 s)")
    sweep.add_argument("--verbose", action="store_true",
                       help="print a line on stderr per Parquet part written (for logs, "
                            "where the progress bar is off)")
    sweep.set_defaults(run=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    args.argv = ["perfsim", *(sys.argv[1:] if argv is None else argv)]  # for provenance
    try:
        created_utc()  # a bad SOURCE_DATE_EPOCH is refused here, before numpy's f2py reads it
        text = args.run(args)
    except PerfsimError as err:
        print(f"perfsim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a sweep keeps the rows finished: it resumes when run again
        print("perfsim: interrupted", file=sys.stderr)
        return 130
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `perfsim show ... | head` is not an error
        sys.stderr.close()
    return 0
