"""perfsim against SCALE-Sim v3.0.0: per-layer systolic compute cycles and wall time.

For each topology (AlexNet's 5 convs, ResNet-50's 53 convs, both as in SCALE-Sim's own
``topologies/conv_nets/`` files), square array size and dataflow (os, ws, is), this runs the real
SCALE-Sim in a virtualenv of its own (created once, with ``scalesim==3.0.0`` and ``numpy<2.4``,
which it needs) and perfsim in this process, and compares their per-layer compute cycles.
DESIGN section 4.1: perfsim's count must be SCALE-Sim's plus one, because SCALE-Sim reports the
index of a layer's last cycle. The exit status is 1 if any layer differs.

SCALE-Sim is given SRAMs of 1 GiB per operand in its bandwidth-estimating mode (no stalls), and
perfsim an SRAM and bandwidths large enough that only compute counts. Each layer becomes a
no-padding conv with an input of its own, pinned to the matrix engine.

SCALE-Sim sizes a layer's output as ``ceil((H - F + s) / s)`` and lets the last window of a row
hang past the edge (it reads nothing there), whereas a no-padding conv has ``(H - F) // s + 1``
outputs; the two differ when ``s`` does not divide ``H - F`` (AlexNet's Conv1, ResNet-50's
stride-2 layers). The table shows both output sizes. By default perfsim's convs get the bottom and
right zero padding that makes their output size SCALE-Sim's (``--pad-like-scalesim``, as
perfsim's own SCALE-Sim topology reader does); ``--no-pad-like-scalesim`` compares plain
no-padding convs, where those layers differ.

Run ``python benchmarks/bench_scalesim.py --help`` for the options; the SCALE-Sim virtualenv
lives in ``$PERFSIM_SCALESIM_VENV`` (default ``~/.cache/perfsim-bench/scalesim-venv``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from perfsim.hardware.model import Dram, HwConfig, MatrixEngine, Precision, Sram, VectorEngine
from perfsim.workload.builder import NetworkBuilder
from perfsim.workload.network import Network
from perfsim.simulate import simulate


@dataclass(frozen=True)
class ConvShape:
    """One row of a SCALE-Sim conv topology: ifmap ``h x w x c``, ``k`` filters of
    ``fy x fx``, the same ``stride`` both ways, no padding."""

    name: str
    h: int
    w: int
    fy: int
    fx: int
    c: int
    k: int
    stride: int


def _shapes(rows: str) -> tuple[ConvShape, ...]:
    """Parse ``name,H,W,FY,FX,C,K,stride`` lines."""
    shapes = []
    for line in rows.split():
        name, *numbers = line.split(",")
        shapes.append(ConvShape(name, *map(int, numbers)))
    return tuple(shapes)


# The conv rows of SCALE-Sim's topologies/conv_nets/alexnet.csv and Resnet50.csv (its FC6 row
# left out). The PyPI wheel ships no topologies, so they are copied here.
TOPOLOGIES = {
    "alexnet": _shapes("""
        Conv1,224,224,11,11,3,96,4 Conv2,27,27,5,5,96,256,1 Conv3,13,13,3,3,256,384,1
        Conv4,13,13,3,3,384,384,1 Conv5,13,13,3,3,384,256,1"""),
    "resnet50": _shapes("""
        Conv1,224,224,7,7,3,64,2
        CB2a_1,56,56,1,1,64,64,1 CB2a_2,56,56,3,3,64,64,1 CB2a_3,56,56,1,1,64,256,1
        CB2s,56,56,1,1,64,256,1
        IB2b_1,56,56,1,1,256,64,1 IB2b_2,56,56,3,3,64,64,1 IB2b_3,56,56,1,1,64,256,1
        IB2c_1,56,56,1,1,256,64,1 IB2c_2,56,56,3,3,64,64,1 IB2c_3,56,56,1,1,64,256,1
        CB3a_1,56,56,1,1,256,128,2 CB3a_2,28,28,3,3,128,128,1 CB3a_3,28,28,1,1,128,512,1
        CB3s,56,56,1,1,256,512,2
        IB3b_1,28,28,1,1,512,128,1 IB3b_2,28,28,3,3,128,128,1 IB3b_3,28,28,1,1,128,512,1
        IB3c_1,28,28,1,1,512,128,1 IB3c_2,28,28,3,3,128,128,1 IB3c_3,28,28,1,1,128,512,1
        IB3d_1,28,28,1,1,512,128,1 IB3d_2,28,28,3,3,128,128,1 IB3d_3,28,28,1,1,128,512,1
        CB4a_1,28,28,1,1,512,256,2 CB4a_2,14,14,3,3,256,256,1 CB4a_3,14,14,1,1,256,1024,1
        CB4s,28,28,1,1,512,1024,2
        IB4b_1,14,14,1,1,1024,256,1 IB4b_2,14,14,3,3,256,256,1 IB4b_3,14,14,1,1,256,1024,1
        IB4c_1,14,14,1,1,1024,256,1 IB4c_2,14,14,3,3,256,256,1 IB4c_3,14,14,1,1,256,1024,1
        IB4d_1,14,14,1,1,1024,256,1 IB4d_2,14,14,3,3,256,256,1 IB4d_3,14,14,1,1,256,1024,1
        IB4e_1,14,14,1,1,1024,256,1 IB4e_2,14,14,3,3,256,256,1 IB4e_3,14,14,1,1,256,1024,1
        IB4f_1,14,14,1,1,1024,256,1 IB4f_2,14,14,3,3,256,256,1 IB4f_3,14,14,1,1,256,1024,1
        CB5a_1,14,14,1,1,1024,512,2 CB5a_2,7,7,3,3,512,512,1 CB5a_3,7,7,1,1,512,2048,1
        CB5s,14,14,1,1,1024,2048,2
        IB5b_1,7,7,1,1,2048,512,1 IB5b_2,7,7,3,3,512,512,1 IB5b_3,7,7,1,1,512,2048,1
        IB5c_1,7,7,1,1,2048,512,1 IB5c_2,7,7,3,3,512,512,1 IB5c_3,7,7,1,1,512,2048,1"""),
}

DATAFLOWS = {"os": "output_stationary", "ws": "weight_stationary", "is": "input_stationary"}

SCALESIM_REQUIREMENTS = ("scalesim==3.0.0", "numpy<2.4")
VENV_ENV_VAR = "PERFSIM_SCALESIM_VENV"
DEFAULT_VENV = Path.home() / ".cache" / "perfsim-bench" / "scalesim-venv"

# perfsim's warm time is the best of this many calls after the first (sub-millisecond calls
# are at the mercy of the garbage collector and the scheduler).
WARM_CALLS = 5

# SCALE-Sim's SRAM sizes are in kB per operand: 1 GiB each holds every layer here whole.
SCALESIM_SRAM_KB = 1 << 20

# Run inside SCALE-Sim's virtualenv: simulate, then record the output size SCALE-Sim gave
# each layer and the process's peak memory (ru_maxrss is in KiB on Linux).
# ``save_disk_space`` skips writing per-cycle traces (its CLI always writes them).
SCALESIM_RUNNER = """\
import json, resource, sys
from scalesim.scale_sim import scalesim
config, topology, layout, out = sys.argv[1:5]
sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology,
               layout=layout)
sim.run_scale(top_path=out)
dims = [list(sim.topo.get_layer_ofmap_dims(i)) for i in range(sim.topo.get_num_layers())]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with open(out + "/run.json", "w") as f:
    json.dump({"ofmap_dims": dims, "peak_bytes": peak}, f)
"""


@dataclass(frozen=True)
class Case:
    """One comparison: a topology on a ``size x size`` array with a dataflow (os, ws, is)."""

    topology: str
    size: int
    dataflow: str

    @property
    def label(self) -> str:
        return f"{self.topology}_{self.size}x{self.size}_{self.dataflow}"


@dataclass(frozen=True)
class ScalesimRun:
    """SCALE-Sim's answer for a case: per-layer compute cycles and output sizes ``(OY, OX)``,
    its process's wall time and peak resident memory."""

    cycles: tuple[int, ...]
    ofmaps: tuple[tuple[int, int], ...]
    seconds: float
    peak_bytes: int


@dataclass(frozen=True)
class PerfsimRun:
    """perfsim's answer for a case: per-layer compute cycles and output sizes ``(OY, OX)``,
    the seconds of its first call in this process and of a warm call."""

    cycles: tuple[int, ...]
    ofmaps: tuple[tuple[int, int], ...]
    cold_seconds: float
    warm_seconds: float


def scalesim_python(venv: Path) -> Path:
    """The interpreter of SCALE-Sim's virtualenv, creating the venv and installing SCALE-Sim
    first if either is missing."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating SCALE-Sim's virtualenv in {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run([str(python), "-c", "import scalesim"],
                               capture_output=True).returncode == 0
    if not installed:
        print(f"installing {' '.join(SCALESIM_REQUIREMENTS)} into {venv}", file=sys.stderr)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        *SCALESIM_REQUIREMENTS], check=True)
    return python


def write_topology(shapes: tuple[ConvShape, ...], path: Path) -> None:
    """SCALE-Sim's conv topology CSV (every row ends in a comma, which its parser drops)."""
    lines = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
             "Num Filter, Strides,"]
    lines += [f"{s.name},{s.h},{s.w},{s.fy},{s.fx},{s.c},{s.k},{s.stride}," for s in shapes]
    path.write_text("\n".join(lines) + "\n")


def write_config(case: Case, path: Path) -> None:
    """SCALE-Sim's config: the array and dataflow, 1 GiB SRAMs, bandwidth-estimating (CALC)
    mode, default memory layout and no sparsity (it reads all four sections)."""
    sram = SCALESIM_SRAM_KB
    path.write_text(f"""\
[general]
run_name = {case.label}

[architecture_presets]
ArrayHeight: {case.size}
ArrayWidth: {case.size}
IfmapSramSzkB: {sram}
FilterSramSzkB: {sram}
OfmapSramSzkB: {sram}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {case.dataflow}
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
""")


def read_compute_report(path: Path) -> tuple[int, ...]:
    """Per-layer compute cycles from SCALE-Sim's COMPUTE_REPORT.csv: its ``Total Cycles``
    column (what it prints as "Compute cycles"), which must have no stall cycles in it."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, skipinitialspace=True))
    for row in rows:
        if int(row["Stall Cycles"]) != 0:
            raise RuntimeError(f"{path}: layer {row['LayerID']} has {row['Stall Cycles']} "
                               "stall cycles: memory got in the way of compute")
    return tuple(int(row["Total Cycles"]) for row in rows)


def run_scalesim(python: Path, case: Case, workdir: Path) -> ScalesimRun:
    """Run SCALE-Sim on ``case`` in its own process; ``seconds`` is that process's wall time,
    interpreter start and imports included."""
    root = workdir / case.label
    root.mkdir()
    topology, config, layout = root / "topology.csv", root / "scale.cfg", root / "layout.csv"
    write_topology(TOPOLOGIES[case.topology], topology)
    write_config(case, config)
    # SCALE-Sim always parses a layout file; with custom layouts off a header suffices.
    layout.write_text("Layer name,\n")
    out = root / "out"
    start = time.perf_counter()
    proc = subprocess.run([str(python), "-c", SCALESIM_RUNNER, str(config), str(topology),
                           str(layout), str(out)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    report = out / case.label / "COMPUTE_REPORT.csv"
    # SCALE-Sim reports some errors on stdout and exits 0: check for its report too.
    if proc.returncode != 0 or not report.exists():
        raise RuntimeError(f"SCALE-Sim failed on {case.label} (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    run = json.loads((out / "run.json").read_text())
    return ScalesimRun(read_compute_report(report),
                       tuple((oy, ox) for oy, ox in run["ofmap_dims"]), seconds,
                       run["peak_bytes"])


def scalesim_padding(shape: ConvShape) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) zero padding that makes a conv's output size SCALE-Sim's
    ``ceil((H - F + s) / s)``: the missing part of its last, overhanging window."""
    s = shape.stride
    return 0, 0, -(shape.h - shape.fy) % s, -(shape.w - shape.fx) % s


def perfsim_network(topology: str, pad_like_scalesim: bool) -> Network:
    """The topology's convs as one perfsim network, each layer reading an input of its own."""
    shapes = TOPOLOGIES[topology]
    first = shapes[0]
    builder = NetworkBuilder(f"scalesim_{topology}", (first.c, first.h, first.w),
                             input_name=f"{first.name}/in")
    for shape in shapes:
        x = builder.input if shape is first else builder.add(
            "input", shape=(shape.c, shape.h, shape.w), name=f"{shape.name}/in")
        padding = scalesim_padding(shape) if pad_like_scalesim else 0
        builder.add("conv", x, out_channels=shape.k, kernel=(shape.fy, shape.fx),
                    stride=shape.stride, padding=padding, bias=False, name=shape.name)
    return builder.build()


def compute_only_hw(case: Case) -> HwConfig:
    """A ``size x size`` array with the case's dataflow, with SRAM and bandwidths so large
    that memory never limits a layer."""
    engine = MatrixEngine("mxu", case.size, case.size, DATAFLOWS[case.dataflow])
    return HwConfig(f"compute_only_{case.size}x{case.size}_{case.dataflow}", 1.0,
                    Precision(1, 1, 4), (engine, VectorEngine("vpu", 128)),
                    Sram(1e12, 1e12), Dram(1e12, 0.0))


def run_perfsim(case: Case, pad_like_scalesim: bool) -> PerfsimRun:
    """Run perfsim on ``case`` in this process: the first call is cold (the JIT cache loads
    on the first case, and the tiling search runs), the best of ``WARM_CALLS`` calls after it
    is warm (the tiling search is memoised)."""
    network = perfsim_network(case.topology, pad_like_scalesim)
    hw = compute_only_hw(case)
    times = []
    for _ in range(1 + WARM_CALLS):
        start = time.perf_counter()
        result = simulate(network, hw, 1, pin={"conv": "mxu", "fc": "mxu"})
        times.append(time.perf_counter() - start)
    convs = [row for row in result.layers if row.op == "conv"]
    return PerfsimRun(tuple(row.compute_cycles for row in convs),
                      tuple((row.out_shape[1], row.out_shape[2]) for row in convs),
                      cold_seconds=times[0], warm_seconds=min(times[1:]))


def _duration(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.1f} ms"


def report(case: Case, scalesim: ScalesimRun, perfsim: PerfsimRun) -> int:
    """Print the case's table and timings; return how many layers differ."""
    shapes = TOPOLOGIES[case.topology]
    header = ("layer", "ofmap scalesim", "ofmap perfsim", "scalesim cycles", "perfsim cycles",
              "equal (+1)")
    rows, differ = [], 0
    for i, shape in enumerate(shapes):
        equal = perfsim.cycles[i] == scalesim.cycles[i] + 1
        differ += not equal
        verdict = ("yes" if equal else "NO" if scalesim.ofmaps[i] == perfsim.ofmaps[i]
                   else "NO (ofmap)")
        rows.append((shape.name, "x".join(map(str, scalesim.ofmaps[i])),
                     "x".join(map(str, perfsim.ofmaps[i])), str(scalesim.cycles[i]),
                     str(perfsim.cycles[i]), verdict))
    widths = [max(len(r[j]) for r in (header, *rows)) for j in range(len(header))]
    print(f"\n{case.topology}, {case.size}x{case.size} array, {DATAFLOWS[case.dataflow]}: "
          f"{len(shapes) - differ}/{len(shapes)} layers equal")
    for r in (header, *rows):
        print("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                        for j, (cell, w) in enumerate(zip(r, widths))))
    print(f"wall time: SCALE-Sim {_duration(scalesim.seconds)} (own process, end to end, "
          f"peak memory {scalesim.peak_bytes / 2**30:.1f} GiB); perfsim "
          f"{_duration(perfsim.warm_seconds)} warm, {_duration(perfsim.cold_seconds)} cold; "
          f"SCALE-Sim / perfsim = {scalesim.seconds / perfsim.warm_seconds:,.0f}x warm, "
          f"{scalesim.seconds / perfsim.cold_seconds:,.0f}x cold", flush=True)
    return differ


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare perfsim's per-layer systolic compute cycles and wall time with "
                    "SCALE-Sim v3.0.0's (DESIGN section 4.1: perfsim = SCALE-Sim + 1). "
                    "Exit status 1 if any layer differs.")
    parser.add_argument("--topology", nargs="+", choices=sorted(TOPOLOGIES),
                        default=sorted(TOPOLOGIES), help="topologies (default: all)")
    parser.add_argument("--array", nargs="+", type=int, default=[32, 128], metavar="N",
                        help="square array sizes (default: 32 128)")
    parser.add_argument("--dataflow", nargs="+", choices=list(DATAFLOWS),
                        default=list(DATAFLOWS), help="dataflows (default: os ws is)")
    parser.add_argument("--venv", type=Path,
                        default=Path(os.environ.get(VENV_ENV_VAR, DEFAULT_VENV)),
                        help=f"SCALE-Sim's virtualenv, created if missing (default: "
                             f"${VENV_ENV_VAR} or {DEFAULT_VENV})")
    parser.add_argument("--jobs", type=int, default=1, metavar="J",
                        help="SCALE-Sim processes at once (default 1). More shorten the run "
                             "but slow each process and add up their memory (SCALE-Sim keeps "
                             "every layer's traces until its reports, 21 GiB for ResNet-50 "
                             "on 32x32)")
    parser.add_argument("--pad-like-scalesim", action=argparse.BooleanOptionalAction,
                        default=True,
                        help="pad perfsim's convs at the bottom and right so their output "
                             "size is SCALE-Sim's ceil((H - F + s) / s), as perfsim's SCALE-Sim "
                             "topology reader does (default); --no-pad-like-scalesim compares "
                             "plain no-padding convs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = [Case(t, n, d) for t in args.topology for n in args.array for d in args.dataflow]
    python = scalesim_python(args.venv.expanduser())
    # perfsim first, alone, so SCALE-Sim's processes do not disturb its timings.
    perfsim_runs = {case: run_perfsim(case, args.pad_like_scalesim) for case in cases}
    with tempfile.TemporaryDirectory(prefix="bench_scalesim_") as tmp, \
            ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {case: pool.submit(run_scalesim, python, case, Path(tmp)) for case in cases}
        differ = sum(report(case, futures[case].result(), perfsim_runs[case])
                     for case in cases)
    total = sum(len(TOPOLOGIES[case.topology]) for case in cases)
    print(f"\n{total - differ}/{total} layers equal (perfsim = SCALE-Sim + 1); "
          "NO (ofmap): the two output sizes differ (--pad-like-scalesim aligns them)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
