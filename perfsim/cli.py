"""The ``perfsim`` command line: the only place that prints or picks an exit code.

Exit codes: 0 success; 2 a user error (one clean message on stderr, no traceback); 1 a bug
(Python's own traceback).
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd
import yaml

from perfsim import __version__
from perfsim.config import load_hw, resolve_hw_path, shipped_config_names, to_document
from perfsim.errors import PerfsimError
from perfsim.exporters.timeloop import export_timeloop
from perfsim.importers.scalesim import SCALESIM_PINS, is_scalesim_config
from perfsim.ir.ops import user_attributes
from perfsim.lecture import lecture_table
from perfsim.run_files import save_run
from perfsim.simulate import simulate
from perfsim.stats import layer_table, totals
from perfsim.workload import load_workload
from perfsim.zoo import workload_family, workload_names

FORMATS = ("table", "csv", "json", "md")
LIST_COLUMNS = ("layer", "inputs", "in_shape", "out_shape", "kernel", "stride",
                "receptive_field")


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


RUN_COLUMNS = ["layer", "op", "engine", "macs", "compute_cycles", "memory_cycles",
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
    result = simulate(network, hw, residency=args.residency, pin=pins)
    if args.out:
        save_run(result, args.out, hw_path=hw_path, source=network.source or network.name,
                 command=args.argv)
    if args.format == "json":
        return result.to_json() + "\n"
    frame = result.to_frame()
    frame["dram_bytes"] = frame["dram_read_bytes"] + frame["dram_write_bytes"]
    if args.format == "csv":
        return _render(frame, "csv")
    view = frame[RUN_COLUMNS].copy()
    view["utilization"] = (100 * view["utilization"]).map("{:.1f}%".format)
    view["macs_per_dram_byte"] = view["macs_per_dram_byte"].map(
        lambda v: "-" if v is None or v != v else f"{v:,.1f}")
    totals = result.totals
    lines = [f"{k}: {v:,.4g}" if isinstance(v, float) else f"{k}: {v:,}" if v is not None
             else f"{k}: -" for k, v in totals.items()]
    body = _render(view, args.format)
    return body + "\ntotals: " + ", ".join(lines) + "\n\n" + "\n".join(result.summary()) + "\n"


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
    from perfsim.exporters.onnx_model import export_onnx  # onnx is slow to import
    export_onnx(network, args.destination)
    return f"wrote {network.name} ({len(network.layers)} layers) to {args.destination}\n"


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
                     help="also write layers.csv, layers.parquet and run.json there")
    run.add_argument("--residency", choices=("auto", "dram"), default="auto",
                     help="keep activations in SRAM between layers when they fit (auto) or "
                          "always spill them to DRAM")
    run.add_argument("--pin", action="append", default=[], metavar="OP=ENGINE",
                     help="run every layer of op kind OP on ENGINE (repeatable)")
    run.set_defaults(run=cmd_run)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    args.argv = ["perfsim", *(sys.argv[1:] if argv is None else argv)]  # for provenance
    try:
        text = args.run(args)
    except PerfsimError as err:
        print(f"perfsim: error: {err}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `perfsim show ... | head` is not an error
        sys.stderr.close()
    return 0
