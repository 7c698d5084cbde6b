"""The ``perfsim`` command line: the only place that prints or picks an exit code.

Exit codes: 0 success; 2 a user error (one clean message on stderr, no traceback); 1 a bug
(Python's own traceback).
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import os
import shutil
import sys
import textwrap
import warnings
from collections import Counter
from importlib import resources
from pathlib import Path

from typing import TYPE_CHECKING

from perfsim._version import __version__
from perfsim.errors import PerfsimError, PerfsimWarning, suggest
from perfsim.mapping import GRAPHS, RESIDENCY_MODES
from perfsim.schedule import FIDELITIES, OVERLAPS
from perfsim.sweeps import MAX_ROWS
from perfsim.workload import PHASES, limits

if TYPE_CHECKING:  # imported where used: a command loads only what it needs
    import pandas as pd

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


def _sequence(args: argparse.Namespace) -> dict:
    """``--seq-len`` and ``--phase`` as :func:`~perfsim.io.load.load_workload` takes them (a
    length that is not a whole number is a one-line error; the rest is checked there)."""
    seq_len = args.seq_len
    if seq_len is not None:
        try:
            seq_len = int(seq_len)
        except ValueError:
            raise PerfsimError(f"--seq-len must be a positive integer (tokens), got "
                               f"{args.seq_len!r}") from None
    return {"seq_len": seq_len, "phase": args.phase}


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


def _flat_row(row: dict) -> dict:
    """A row's lists as :func:`_flat` shows a frame's."""
    return {key: _shape_text(value) if key in LIST_COLUMNS else value
            for key, value in row.items()}


def _csv_text(rows: list[dict]) -> str:
    """Rows as CSV, as :func:`_render` writes a frame of them (:func:`_flat_row`, a missing
    value empty), without pandas."""
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(map(_flat_row, rows))
    return out.getvalue()


def _render(frame: pd.DataFrame, fmt: str, numbers: bool = True) -> str:
    """``frame`` as CSV, Markdown or a plain-text table; ``numbers=False`` keeps cells that
    are already text (``1.14G``, ``5.0%``) as they are."""
    if fmt == "csv":
        return _flat(frame).to_csv(index=False)
    frame = _flat(frame)
    return _cells(list(frame.columns), list(frame.itertuples(index=False, name=None)), fmt,
                  numbers)


def _cells(columns: list[str], rows: list[tuple], fmt: str, numbers: bool = True) -> str:
    """Rows of cells as Markdown or a plain-text table (tabulate's ``pipe`` and ``simple``)."""
    from tabulate import tabulate  # what pandas' to_markdown uses, without pandas

    return tabulate(rows, headers=columns, tablefmt="simple" if fmt == "table" else "pipe",
                    floatfmt="g", disable_numparse=not numbers) + "\n"


def _text_table(columns: list[str], rows: list[tuple[str, ...]], right: set[str]) -> str:
    """Rows of text cells as a plain table: a header, a rule, columns two spaces apart, the
    ``right`` ones right-aligned (numbers)."""
    widths = [max([len(str(c)), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]

    def line(values) -> str:
        return "  ".join(str(v).rjust(w) if c in right else str(v).ljust(w)
                         for c, v, w in zip(columns, values, widths)).rstrip()

    lines = [line(columns), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in rows]
    return "\n".join(lines) + "\n"


TABLE_COLUMNS = 120
"""The width text tables fit by default (or the terminal's, when it is wider)."""


def _width() -> int:
    if sys.stdout.isatty():
        return max(TABLE_COLUMNS, shutil.get_terminal_size((TABLE_COLUMNS, 24)).columns)
    return TABLE_COLUMNS


def _table(frame: pd.DataFrame, fmt: str, squeeze: str | None = None,
           numbers: bool = True) -> str:
    """:func:`_render`, where a plain-text table fits :func:`_width` columns (:func:`_fit`)."""
    if fmt == "csv":
        return _render(frame, fmt, numbers)
    frame = _flat(frame)
    return _fit(list(frame.columns), list(frame.itertuples(index=False, name=None)), fmt,
                squeeze, numbers)


def _fit(columns: list[str], rows: list[tuple], fmt: str, squeeze: str | None,
         numbers: bool = True) -> str:
    """:func:`_cells`, where a plain-text table fits :func:`_width` columns by cutting the
    cells of the text column ``squeeze`` (ending them in ``…``); the full text is in the
    other formats."""
    text = _cells(columns, rows, fmt, numbers)
    excess = max(map(len, text.splitlines()), default=0) - _width()
    if fmt != "table" or squeeze not in columns or excess <= 0:
        return text
    i = columns.index(squeeze)
    cut = [str(row[i]) for row in rows]
    room = max(max(map(len, cut)) - excess, len(squeeze), 8)
    rows = [row[:i] + (_cut(c, room),) + row[i + 1:] for row, c in zip(rows, cut)]
    return _cells(columns, rows, fmt, numbers)


def _cut(text: str, room: int) -> str:
    """``text`` in ``room`` characters, ending in ``…`` where it was cut."""
    return text if len(text) <= room else text[:room - 1].rstrip() + "…"


def _count(value) -> str:
    """A count in three significant digits: 950, 12.5k, 3.41M, 2.1G."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:,}"


def cmd_show(args: argparse.Namespace) -> str:
    from perfsim.io.load import load_workload
    from perfsim.workload.ops import user_attributes
    from perfsim.workload.stats import layer_rows, totals

    network = load_workload(args.network, batch=args.batch, input_shape=args.input_shape,
                            allow_unsupported=args.allow_unsupported, **_sequence(args))
    _warn_uncosted(network)
    if args.view == "lecture":
        from perfsim.workload.lecture import lecture_table  # pandas

        frame = lecture_table(network)
        sums = {"MACs": int(frame["MACs"].sum()), "Parameter": int(frame["Parameter"].sum())}
        if args.format == "json":
            return json.dumps({"network": network.name, "batch": network.batch,
                               "view": "lecture", "layers": frame.to_dict("records"),
                               "totals": sums}, indent=1, default=int) + "\n"
        body = _render(frame, args.format)
    else:  # the layers' rows as plain dicts: printed without pandas
        rows = layer_rows(network)
        sums = totals(network)
        if args.format == "json":
            layers = [{("name" if key == "layer" else key): value for key, value in row.items()}
                      | {"attributes": user_attributes(layer.op)}
                      for row, layer in zip(rows, network.layers)]
            return json.dumps({"network": network.name, "batch": network.batch,
                               "description": network.description, "source": network.source,
                               "layers": layers, "totals": sums}, indent=1, default=int) + "\n"
        shown = [{key: value for key, value in row.items() if key != "category"}
                 for row in rows]
        body = _csv_text(shown) if args.format == "csv" else _cells(
            list(shown[0]), [tuple(_flat_row(row).values()) for row in shown], args.format)
    if args.format == "csv":
        return body
    line = ", ".join(f"{k} {v:,}" for k, v in sums.items())
    return f"{body}\n{network.name} at batch {network.batch}: {line}\n"


def _catalogue() -> tuple[list[dict], list[dict], list[dict]]:
    """Every network (zoo and installed examples) with its family, input, MACs, parameters
    and description (:mod:`perfsim.io.catalogue`); every shipped config and every example
    sweep spec with a one-liner."""
    from perfsim.io import catalogue
    from perfsim.io.examples import example_sweeps, first_comment

    kept = catalogue.load()
    configs = [{**row, "file": str(catalogue.config_path(row["name"]))} for row in kept["hw"]]
    sweeps = [{"name": name, "description": first_comment(path), "file": str(path)}
              for name, path in example_sweeps().items()]
    return kept["networks"], configs, sweeps


def cmd_list(args: argparse.Namespace) -> str:
    networks, configs, sweeps = _catalogue()
    if args.format == "json":
        return json.dumps({"workloads": networks, "hw": configs, "sweeps": sweeps},
                          indent=1) + "\n"
    if args.format == "csv":
        columns = ["type", "name", "family", "input", "macs", "params", "description", "file"]
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        for kind, rows in (("network", networks), ("hw", configs), ("sweep", sweeps)):
            writer.writerows({"type": kind, **row} for row in rows)
        return out.getvalue()
    fmt = "md" if args.format == "md" else "table"

    def table(rows: list[dict], columns: list[str]) -> str:
        return _fit(columns, [tuple(row[c] for c in columns) for row in rows], fmt,
                    "description", numbers=False)

    shown = [{**row, "macs": _count(row["macs"]), "params": _count(row["params"])}
             for row in networks]
    return (f"networks ({len(networks)}; `perfsim show NAME` for their layers):\n\n"
            f"{table(shown, ['name', 'input', 'macs', 'params', 'description'])}\n"
            f"hardware configs (`--hw NAME`; `perfsim validate NAME` prints one):\n\n"
            f"{table(configs, ['name', 'description'])}\n"
            f"example sweep specs (`perfsim sweep NAME --out DIR`):\n\n"
            f"{table(sweeps, ['name', 'description'])}")


RUN_COLUMNS = ("layer", "kind", "engine", "total_cycles", "cycle_share", "utilization",
               "intensity", "reason")
"""The run table's columns by default (``--columns``): what fits 120 columns, the reason cut
to the room left (it begins with the bound)."""


def _pins(items: list[str]) -> dict[str, str]:
    """``--pin`` values as a pin mapping: each ``KIND=ENGINE`` or ``KIND:VARIANT=ENGINE`` with
    a known op kind and variant, each key once."""
    from perfsim.workload.ops import pin_problem

    pins: dict[str, str] = {}
    for item in items:
        key, sep, engine = item.partition("=")
        if not sep or not key or not engine:
            raise PerfsimError(f"--pin takes OP=ENGINE or OP:VARIANT=ENGINE (e.g. conv=mxu, "
                               f"conv:depthwise=vpu), got {item!r}")
        problem = pin_problem(key)
        if problem:
            raise PerfsimError(f"--pin {item}: {problem}")
        if key in pins:
            raise PerfsimError(f"--pin {key} is given twice ({key}={pins[key]} and {item}): "
                               f"pin each op kind or variant once")
        pins[key] = engine
    return pins


def _show_notices() -> None:
    """Print the library's notices (logger ``perfsim``, level INFO: Numba about to compile the
    cost model's kernels) on stderr, each as one ``perfsim:`` line, as they come (once, however
    often a process runs the command)."""
    import logging

    class Notices(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:  # to sys.stderr as it is now
            print(f"perfsim: {record.getMessage()}", file=sys.stderr, flush=True)

    logger = logging.getLogger("perfsim")
    if not any(type(handler).__name__ == "Notices" for handler in logger.handlers):
        logger.addHandler(Notices())
    logger.setLevel(logging.INFO)


def _check_out_dir(path: str, network: str, hw: str, args: argparse.Namespace) -> None:
    """Refuse to write a run into a directory holding another run (another network, config,
    batch or option) unless ``--force``."""
    from perfsim.storage import check_destination

    from perfsim.report.run_dir import run_identity  # no matplotlib: run_dir is plain

    try:  # a link or a device is not read as a run
        check_destination(Path(path) / "run.json")
    except OSError as err:  # a parent that is a file, no permission
        raise PerfsimError(f"cannot write the run to {path}: {err.strerror or err}") from None
    held = run_identity(path)
    if held is None or args.force:
        return
    wanted = {"network": network, "hw": hw, "batch": args.batch, "fidelity": args.fidelity,
              "graph": args.graph, "residency": args.residency}
    differ = [f"{key} {held.get(key)!r}" for key, value in wanted.items()
              if held.get(key) != value]
    if differ:
        raise PerfsimError(f"{path} holds another run ({', '.join(differ)}): choose another "
                           f"directory, or add --force to replace it")


def cmd_run(args: argparse.Namespace) -> str:
    from perfsim.hardware.loading import resolve_hw_path
    from perfsim.io.load import load_hw, load_workload
    from perfsim.io.scalesim import SCALESIM_PINS, is_scalesim_config
    from perfsim.mapping.kernels.kept_answers import kept
    from perfsim.results import check_result, view_rows
    from perfsim.simulate import simulate
    from perfsim.workload.ops import OTHER_KIND

    network = load_workload(args.network, batch=args.batch, input_shape=args.input_shape,
                            allow_unsupported=args.allow_unsupported, **_sequence(args))
    _warn_uncosted(network)
    hw_path = resolve_hw_path(args.hw)
    hw = load_hw(hw_path)
    pins = _pins(args.pin)
    if is_scalesim_config(hw_path):  # SCALE-Sim runs every GEMM on its array
        pins = {**SCALESIM_PINS, **pins}
    if args.overlap is not None and args.fidelity != "event":
        raise PerfsimError("--overlap applies to the event schedule: add --fidelity event")
    run_dir = args.out or args.report  # --report alone saves the run beside its report
    if run_dir:
        _check_out_dir(run_dir, network.name, hw.name, args)
    columns = _run_columns(args.columns)
    if args.sort:
        _check_column("--sort", args.sort, RUN_VIEW_NAMES)
    _show_notices()  # Numba compiling its kernels on a first run: a few seconds, said so
    gc.freeze()  # what was imported lives on: the cyclic collector need not walk it again
    try:  # and again as the run allocates (0.1 s of a warm run; the sweeps do the same)
        with kept():  # a run of layers seen before calls no kernel (and starts no Numba)
            result = simulate(network, hw, residency=args.residency, pin=pins,
                              fidelity=args.fidelity, overlap=args.overlap or "graph",
                              overlap_levels=True, fuse=args.graph == "inference")
    finally:
        gc.unfreeze()
    check_result(result)
    if run_dir:
        from perfsim.report.saved_run import save_run  # hashlib, platform: only for --out

        save_run(result, run_dir, hw_path=hw_path, source=network.source or network.name,
                 command=args.argv)
    if args.report:
        from perfsim.report import load_run, write_run_report  # matplotlib is slow to import
        write_run_report(load_run(run_dir), args.report)
    shipped = Path(hw_path).parent == Path(str(resources.files("perfsim.hw_configs")))
    hw_line = f"hardware: {Path(hw_path).resolve()}" + (" (shipped)" if shipped else "")
    if args.format in ("json", "csv"):
        print(f"perfsim: {hw_line}", file=sys.stderr)
        if args.format == "json":
            return result.to_json() + "\n"
        return _csv_text(result.records())
    parts = []
    if not args.quiet:
        rows = view_rows(result.records(head=False))  # the run's own columns: in the summary
        for row in rows:  # in a terminal, the "other" layers by their op: softmax, ...
            if row["kind"] == OTHER_KIND:
                row["kind"] = row["op"]
            row["fused"] = _fused_text(row["layer"], row["fused"])
        names = list(rows[0])
        _check_columns(names, [*(columns or ()), *([args.sort] if args.sort else [])])
        if args.sort or args.top:
            rows = _sorted_rows(rows, args.sort or "total_cycles")
        if args.top:
            rows = rows[:args.top]
        parts.append(_run_table(rows, list(columns) if columns else names, args.format,
                                fit=columns == RUN_COLUMNS))
    parts.append(_totals_text(result.totals, hw.clock_ghz))
    parts.append(hw_line)
    parts.append("\n".join(_wrapped(line) for line in result.summary()))
    if args.report:
        parts.append(f"report: {args.report}/report.html, {args.report}/report.md")
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


def _run_columns(text: str | None) -> tuple[str, ...] | None:
    """``--columns``: the default set, None for all, or the named ones (checked against
    :data:`RUN_VIEW_NAMES` and local levels' byte columns; :func:`_check_columns` checks them
    against the run's own)."""
    if text is None:
        return RUN_COLUMNS
    if text == "all":
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        _check_column("--columns", name, RUN_VIEW_NAMES)
    return names


def _check_column(option: str, name: str, valid) -> None:
    if name not in valid and not name.endswith(("_read_bytes", "_write_bytes")):
        raise PerfsimError(f"{option}: unknown column '{name}'{suggest(name, list(valid))} "
                           f"(columns: {', '.join(valid)}" +
                           ("; or all)" if option == "--columns" else ")"))


def _check_columns(columns: list[str], names) -> None:
    """Every named column is one this run has (event columns only in event runs)."""
    for name in names:
        if name not in columns:
            raise PerfsimError(f"column '{name}' is not in this run's rows (it has: "
                               f"{', '.join(columns)})")


def _sorted_rows(rows: list[dict], key: str) -> list[dict]:
    """``--sort``: numbers largest first, anything else in order (``intensity`` by
    :func:`~perfsim.results.intensity_value`, not its text), missing values last, ties in
    network order."""
    from perfsim.results import intensity_value

    values = [intensity_value(row) if key == "intensity" else row[key] for row in rows]
    present = [i for i, value in enumerate(values) if value is not None]
    numeric = key != "layer" and _numbers(values)
    present.sort(key=values.__getitem__, reverse=numeric)  # stable either way
    return [rows[i] for i in present] + [rows[i] for i, v in enumerate(values) if v is None]


def _numbers(values: list) -> bool:
    """Whether a column holds numbers (some, and nothing else but missing values)."""
    present = [value for value in values if value is not None]
    return bool(present) and all(isinstance(value, (int, float)) for value in present)


RUN_VIEW_NAMES = (
    "layer", "op", "kind", "engine", "out_shape", "kernel", "groups", "macs", "ops", "params",
    "in_bytes", "out_bytes", "weight_bytes", "in_location", "out_location", "dram_read_bytes",
    "dram_write_bytes", "sram_read_bytes", "sram_write_bytes", "compute_cycles",
    "memory_cycles", "total_cycles", "stall_cycles", "utilization", "macs_per_dram_byte",
    "bound", "reason", "energy_pj", "tiling", "fused", "dram_bytes", "cycle_share",
    "intensity", "start_cycle", "end_cycle", "queue_cycles", "wait_cycles")
"""The columns ``--columns`` and ``--sort`` name: a run's (RunResult.to_frame(), event
columns in event runs; local levels' ``<level>_*_bytes`` come with ``all``) and
:func:`~perfsim.report.tables.run_view`'s."""


def _run_table(rows: list[dict], columns: list[str], fmt: str, fit: bool) -> str:
    """The run's rows as Markdown, or as a text table: cells as a reader reads them
    (:func:`~perfsim.results.cell_text`: percentages, counts with separators), MACs per DRAM
    byte only where the layer does MACs (the others' intensity is in ops/B). With ``fit``
    (the default columns) the table fits :func:`_width` columns, the ``reason`` cut to the
    room the other columns leave (ending in ``…``): columns named with ``--columns`` are
    printed whole."""
    from perfsim.results import cell_text

    cells = [tuple(cell_text(c, None if c == "macs_per_dram_byte" and row["macs"] <= 0
                             else row[c]) for c in columns) for row in rows]
    if fmt == "md":
        return _cells(columns, [tuple(c.replace("|", r"\|") for c in row) for row in cells],
                      "md", numbers=False)
    right = {c for c in columns if _numbers([row[c] for row in rows])} | {"intensity"}
    text = _text_table(columns, cells, right)
    excess = max(map(len, text.splitlines())) - _width()
    if fit and excess > 0 and "reason" in columns:
        i = columns.index("reason")
        room = max(max(len(row[i]) for row in cells) - excess, len("reason"))
        cells = [row[:i] + (_cut(row[i], room),) + row[i + 1:] for row in cells]
        text = _text_table(columns, cells, right)
    return text


def _totals_text(t: dict, clock_ghz: float) -> str:
    """The totals in one human line: time, cycles, work, utilisation in percent, bytes."""
    parts = [f"{t['time_ms']:.3f} ms", f"{t['cycles']:,} cycles at {clock_ghz:g} GHz",
             f"{_count(t['macs'])} MACs", f"{_count(t['ops'])} other ops",
             f"{t['macs_per_cycle']:,.0f} MAC/cycle",
             f"utilization {t['utilization']:.1%} of all engines' peak",
             f"DRAM {t['dram_bytes'] / 1e6:,.2f} MB", f"SRAM {t['sram_bytes'] / 1e6:,.2f} MB"]
    parts += [f"{key.removesuffix('_bytes')} {value / 1e6:,.2f} MB" for key, value in t.items()
              if key.endswith("_bytes") and key not in (
                  "dram_bytes", "sram_bytes", "dram_read_bytes", "dram_write_bytes")]
    if t["energy_pj"] is not None:
        parts.append(f"energy {t['energy_pj'] / 1e6:,.1f} µJ")
    parts.append(f"{t['layers']} rows ({t['fused_layers']} layers folded or fused)")
    return _wrapped("totals: " + ", ".join(parts))


def _wrapped(line: str) -> str:
    """A long line wrapped to :func:`_width`, continuation lines indented."""
    return textwrap.fill(line, width=_width(), subsequent_indent="  ",
                         break_on_hyphens=False, break_long_words=False)


def _fused_text(layer: str, fused: list[str]) -> str:
    """The layers a row absorbed, named after the row's own name where they extend it
    (``conv1`` absorbed ``bn, relu`` for ``conv1/bn``, ``conv1/relu``)."""
    return ", ".join(name.removeprefix(f"{layer}/") for name in fused)


def cmd_validate(args: argparse.Namespace) -> str:
    import yaml

    from perfsim.hardware.loading import resolve_hw_path, to_document
    from perfsim.io.load import load_hw

    path = resolve_hw_path(args.hw)
    hw = load_hw(path)
    if args.format == "json":
        return json.dumps({"file": str(path), "config": to_document(hw),
                           "summary": hw.summary()}, indent=1) + "\n"
    return f"# {path}: valid\n" + yaml.safe_dump(to_document(hw), sort_keys=False)


def cmd_export(args: argparse.Namespace) -> str:
    from perfsim.io.load import load_workload
    from perfsim.io.timeloop import export_timeloop

    network = load_workload(args.network, batch=args.batch, input_shape=args.input_shape,
                            **_sequence(args))
    if args.format == "timeloop":
        paths = export_timeloop(network, args.destination)
        return f"wrote {len(paths)} Timeloop problem file(s) to {args.destination}\n"
    from perfsim.io.onnx_export import export_onnx  # onnx is slow to import
    export_onnx(network, args.destination)
    return f"wrote {network.name} ({len(network.layers)} layers) to {args.destination}\n"


def cmd_sweep(args: argparse.Namespace) -> str:
    import pandas as pd

    from perfsim.io.examples import sweep_spec_path

    import logging

    from tqdm import tqdm

    from perfsim.sweeps import Progress, sweep
    from perfsim.sweeps.executors import SERIAL_SECONDS, Dask, Processes
    from perfsim.sweeps.spec import load_spec

    spec = load_spec(sweep_spec_path(args.spec))
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
        # asked for workers: at once; else after a serial start (perfsim.sweeps.executors)
        executor = Processes(min(args.workers or cores, cores),
                             serial_seconds=0.0 if args.workers else SERIAL_SECONDS)
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
                      batch=list(spec.batch), seq_len=spec.sequence.get("seq_len"),
                      phase=spec.sequence.get("phase"), residency=spec.residency,
                      executor=executor,
                      out=args.out, per_layer=args.per_layer, part_rows=args.part_rows,
                      max_rows=None if args.yes else MAX_ROWS, progress=progress)
    totals = pd.read_parquet(f"{args.out}/sweep.parquet", columns=["status"])
    ok = int((totals["status"] == "ok").sum())
    files = "sweep.parquet, sweep.csv"
    if args.per_layer:
        files += f", layers.parquet, layers.csv ({len(frame)} layer rows)"
    return (f"{spec.path}: {len(spec.points)} point(s) x {len(spec.workloads)} workload(s) x "
            f"{len(spec.batch)} batch(es)"
            + "".join(f" x {len(v)} {k} value(s)" for k, v in spec.sequence.items())
            + f" = {len(totals)} rows ({ok} ok, "
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
    from perfsim.results import display_frame

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
    if args.format == "csv":
        return _render(table, "csv") + written
    # one column per run, one row per figure: fits a terminal for a handful of runs
    cells = display_frame(table.drop(columns=["run"])).T
    cells.columns = list(table["run"])
    cells.insert(0, "", cells.index)
    if args.format == "md":
        return cells.to_markdown(index=False, disable_numparse=True) + "\n" + written
    return _text_table(list(cells.columns), list(cells.itertuples(index=False, name=None)),
                       set(table["run"])) + written


def _warn_uncosted(network) -> None:
    """On stderr: how much of a network imported with --allow-unsupported is not costed."""
    from perfsim.results import uncosted_text
    from perfsim.workload.stats import totals

    t = totals(network)
    if t.get("uncosted_layers"):
        holders = Counter(layer.op.onnx_op for layer in network.layers
                          if layer.op.kind == "placeholder")
        ops = ", ".join(f"{op} x{n}" for op, n in holders.most_common())
        text = uncosted_text(t["uncosted_layers"], t["layers"], t["macs"], t["uncosted_macs"])
        print(f"perfsim: {network.name}: {text} ({t['uncosted_macs']:,} of "
              f"{t['macs'] + t['uncosted_macs']:,}): {ops}", file=sys.stderr)


def _network_arguments(parser: argparse.ArgumentParser, allow_unsupported: bool = True) -> None:
    """The arguments every command that loads a network takes."""
    parser.add_argument("network", help="zoo name (see `perfsim list`), network YAML file, "
                                        "ONNX model or SCALE-Sim topology CSV")
    parser.add_argument("--batch", type=_positive_int, default=1, help="batch size (default 1)")
    parser.add_argument("--input-shape", type=_input_shape, metavar="C,H,W",
                        help="rebuild a zoo network at another input size, or set an ONNX "
                             "model's dynamic input dimensions")
    # --seq-len and --phase are checked where the network is built (a one-line error that
    # names the networks taking them), not by argparse
    parser.add_argument("--seq-len", metavar="L",
                        help="a zoo sequence model's tokens: the sequence (bert_base), the "
                             "prompt (gpt2 prefill) or the context a decode step's new token "
                             "attends to, itself included (gpt2 decode); default: the model's "
                             "own (`perfsim list`)")
    parser.add_argument("--phase", metavar="|".join(PHASES),
                        help=f"a zoo decoder's phase (gpt2): {PHASES[0]}, the prompt's forward "
                             f"pass (default), or {PHASES[1]}, one new token reading a KV cache "
                             f"of --seq-len tokens")
    if allow_unsupported:
        parser.add_argument("--allow-unsupported", action="store_true",
                            help="import ONNX ops perfsim cannot map as flagged zero-cost "
                                 "placeholders")


def _limits_text() -> str:
    """perfsim's limits (``perfsim validate --help``), from their declarations."""
    from perfsim.hardware import limits as hw
    return (f"Limits (larger values are refused, naming them): matrix engines up to "
            f"{hw.MAX_ARRAY_SIDE:,} x {hw.MAX_ARRAY_SIDE:,}; vector engines up to "
            f"{hw.MAX_LANES:,} lanes; elements up to {hw.MAX_ELEMENT_BYTES} bytes; a shared "
            f"SRAM up to {hw.MAX_SRAM_KIB:,} KiB, a local level up to "
            f"{hw.MAX_LOCAL_BYTES:,} bytes; up to {hw.MAX_BUFFERS} buffers per operand; "
            f"bandwidths from {hw.MIN_BANDWIDTH:g} to {hw.MAX_BANDWIDTH:g} bytes per cycle "
            f"(GB/s for DRAM); clocks from {hw.MIN_CLOCK_GHZ:g} to {hw.MAX_CLOCK_GHZ:g} GHz; "
            f"latencies up to {hw.MAX_COUNT_CYCLES:,} cycles or {hw.MAX_LATENCY_NS:g} ns; "
            f"energies up to {hw.MAX_ENERGY_PJ:g} pJ. Networks: every size (channels, rows, "
            f"columns, kernel, ...) up to {limits.MAX_DIM:,}, a batch up to "
            f"{limits.MAX_BATCH:,}, and per layer at its batch up to "
            f"{limits.MAX_LAYER_WORK:,} MACs, operations or elements of a tensor.")


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

    lst = sub.add_parser("list", help="the networks, hardware configs and sweep specs perfsim "
                                      "ships",
                         description="List the zoo's networks and the installed example "
                                     "networks (input, MACs and parameters at batch 1, "
                                     "description), the shipped hardware configs (one line "
                                     "each) and the example sweep specs. Every name works "
                                     "from any directory.")
    lst.add_argument("--format", choices=FORMATS, default="table",
                     help="output format (csv: one table, a `type` column per row)")
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
    run.add_argument("--residency", choices=RESIDENCY_MODES, default="auto",
                     help="keep activations in SRAM between layers where that makes the "
                          "network fastest (auto) or always spill them to DRAM")
    run.add_argument("--pin", action="append", default=[], metavar="OP=ENGINE",
                     help="run every layer of op kind OP on ENGINE (repeatable; a pinned "
                          "op kind is never fused into another layer)")
    run.add_argument("--graph", choices=GRAPHS, default="inference",
                     help="inference: batch norm folded into the conv/fc before it, "
                          "activations, per-channel scale/offset and residual adds run in "
                          "the producing engine's output path when it has one (default); "
                          "raw: the training graph, every layer on its own")
    run.add_argument("--columns", metavar="all|LIST",
                     help="the table's columns: all, or a comma-separated list of "
                          f"{', '.join(RUN_VIEW_NAMES)} (default: {','.join(RUN_COLUMNS)})")
    run.add_argument("--sort", metavar="COLUMN",
                     help="sort the table's rows by COLUMN (numbers largest first, text A-Z; "
                          "default: network order)")
    run.add_argument("--top", type=_positive_int, metavar="N",
                     help="only the first N rows (by --sort, default the most cycles)")
    run.add_argument("--quiet", action="store_true",
                     help="no per-layer table: the totals and the summary only")
    run.add_argument("--force", action="store_true",
                     help="let --out/--report replace a directory holding another run")
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
                    "problem as file:line: key.path: problem.", epilog=_limits_text())
    validate.add_argument("hw", help="a hardware YAML file or a shipped config name")
    validate.add_argument("--format", choices=("yaml", "json"), default="yaml")
    validate.set_defaults(run=cmd_validate)

    sweep = sub.add_parser(
        "sweep", help="evaluate a grid of hardware variants on workloads",
        description="Run a sweep spec (YAML: workloads, hw, grid or points, optional mode, "
                    "batch, seq_len, phase, residency) in parallel. Rows stream to Parquet "
                    "parts in --out as they finish; running the same command again resumes "
                    "where a killed run stopped. The final table is DIR/sweep.parquet and "
                    "DIR/sweep.csv.")
    sweep.add_argument("spec", help="the sweep spec: a YAML file, or an installed example by "
                                    "name (see `perfsim list`)")
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


def _one_line(show):
    """``warnings.showwarning`` printing perfsim's warnings as one line each, ``perfsim:
    warning: ...``, and others as ``show`` does."""
    def showwarning(message, category, *rest) -> None:
        if issubclass(category, PerfsimWarning):
            print(f"perfsim: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *rest)
    return showwarning


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    from perfsim.storage import created_utc

    try:
        args = build_parser().parse_args(argv)
        args.argv = ["perfsim", *(sys.argv[1:] if argv is None else argv)]  # for provenance
        created_utc()  # a bad SOURCE_DATE_EPOCH is refused here, before numpy's f2py reads it
        with warnings.catch_warnings():
            warnings.showwarning = _one_line(warnings.showwarning)
            warnings.simplefilter("always", PerfsimWarning)
            text = args.run(args)
    except PerfsimError as err:
        print(f"perfsim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what was written is whole (writes are atomic); a
        # sweep keeps the rows finished and resumes when run again
        print("perfsim: interrupted", file=sys.stderr)
        return 130
    if argv is None:  # the process's own command, which exits next: the collector's last
        gc.freeze()  # walk over every module imported is spared (0.1 s with pandas and numba)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `perfsim show ... | head` is not an error
        sys.stderr.close()
    return 0
