"""Record, or check against the record, every result the refactor of the core must keep.

    python scripts/record_results.py record   # writes tests/refs/recorded/results.parquet
    python scripts/record_results.py check    # recomputes everything, lists what differs

The record is a **refactor guard**, not a reference: it holds what perfsim computed when it
was written (its ``README.md`` says from which commit), so a change meant to move no number
can prove it moved none. A change that moves numbers on purpose regenerates it and says in
its note what changed and why.

The cases are every zoo network, example network and ``op_cover.yaml`` (the op kinds no
other network uses) x every shipped config (plus variants
that reach what no shipped config does: the input-stationary dataflow, three buffers per
operand, activations always spilled to DRAM) x batch 1 and 8 x the analytic and the event
(overlap ``graph``) fidelity. Each case keeps every column of ``RunResult.to_frame()``.
``tests/test_recorded.py`` checks a subset that covers every op kind, engine kind, dataflow
and both fidelities; ``check`` here runs the whole set.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from importlib import resources
from pathlib import Path

import pandas as pd

from perfsim import load_hw, load_workload, simulate
from perfsim.results import EVENT_COLUMNS
from perfsim.workload.zoo import workload_names

RECORDED = Path(__file__).resolve().parent.parent / "tests" / "refs" / "recorded"
RECORD = RECORDED / "results.parquet"
OP_COVER = RECORDED / "op_cover.yaml"
"""A small network of every op kind that no zoo or example network uses."""
SHIPPED = ("edge_npu", "eyeriss", "hetero", "matrix_engine", "tpu_v1", "vector_engine")
"""The shipped configs the record holds: those shipped when it was made (a config shipped
since joins it when the record is made again)."""
BATCHES = (1, 8)
FIDELITIES = ("analytic", "event")
KEY = ["workload", "hw", "residency", "batch", "fidelity", "layer"]
KEY_ORDER = ["workload", "layer", "hw", "residency", "batch", "fidelity"]


def networks() -> list[str]:
    """Zoo names, then the example network files (they hold the recurrent layers), then
    :data:`OP_COVER`."""
    examples = resources.files("perfsim.workloads") / "examples"
    files = sorted(str(p) for p in examples.iterdir() if p.name.endswith(".yaml"))
    return workload_names() + files + [str(OP_COVER)]


def configs() -> dict:
    """Label -> (config, residency): the shipped configs of :data:`SHIPPED`, then variants for
    the dataflow, buffer count and residency no shipped config exercises."""
    out = {name: (load_hw(name), "auto") for name in SHIPPED}
    me = load_hw("matrix_engine")
    mxu = dataclasses.replace(me.engines[0], dataflow="input_stationary")
    out["matrix_engine+input_stationary"] = (
        dataclasses.replace(me, engines=(mxu, *me.engines[1:])), "auto")
    edge = load_hw("edge_npu")
    out["edge_npu+buffers3"] = (
        dataclasses.replace(edge, sram=dataclasses.replace(edge.sram, buffers=3)), "auto")
    out["matrix_engine+dram"] = (me, "dram")
    return out


def label_of(network: str) -> str:
    return Path(network).stem if network.endswith(".yaml") else network


def run_case(network, workload: str, label: str, hw, residency: str, batch: int,
             fidelity: str) -> pd.DataFrame:
    """One case's rows, keyed as the record is."""
    frame = simulate(network, hw, batch, fidelity=fidelity, residency=residency).to_frame()
    frame["workload"] = workload
    frame["hw"] = label
    frame.insert(2, "residency", residency)
    for name in EVENT_COLUMNS:
        if name not in frame:
            frame[name] = pd.NA
    return frame


def compute(select=None) -> pd.DataFrame:
    """Every case (or those ``select(workload, hw_label)`` keeps), as one frame."""
    frames = []
    hws = configs()
    for name in networks():
        labels = [h for h in hws if select is None or select(label_of(name), h)]
        network = load_workload(name) if labels else None
        for label in labels:
            hw, residency = hws[label]
            for batch in BATCHES:
                for fidelity in FIDELITIES:
                    try:
                        frames.append(run_case(network, label_of(name), label, hw, residency,
                                               batch, fidelity))
                    except Exception as err:  # an infeasible case is recorded as such
                        frames.append(pd.DataFrame([{
                            "workload": label_of(name), "hw": label, "residency": residency,
                            "batch": batch, "fidelity": fidelity, "layer": "<error>",
                            "reason": f"{type(err).__name__}: {err}"}]))
    return pd.concat(frames, ignore_index=True)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as the text the record stores (floats by their shortest exact repr)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=str, keep_default_na=False)


def store(frame: pd.DataFrame, path: Path) -> None:
    """The record's text, sorted so that a layer's cases sit together (they compress well)."""
    text = as_text(frame).sort_values(KEY_ORDER, kind="stable", ignore_index=True)
    text.to_parquet(path, compression="zstd", compression_level=19, index=False)


def load_record() -> pd.DataFrame:
    return pd.read_parquet(RECORD)


def differences(now: pd.DataFrame, record: pd.DataFrame, limit: int = 20) -> list[str]:
    """Human-readable differences between two frames of record text (empty when equal)."""
    now = as_text(now).sort_values(KEY_ORDER, kind="stable", ignore_index=True)
    if list(now.columns) != list(record.columns):
        return [f"columns differ: now {list(now.columns)}, recorded {list(record.columns)}"]
    if len(now) != len(record):
        return [f"{len(now)} rows now, {len(record)} recorded"]
    out = []
    unequal = (now != record).any(axis=1)
    for i in unequal[unequal].index[:limit]:
        cols = [c for c in now.columns if now.at[i, c] != record.at[i, c]]
        where = ", ".join(f"{k}={record.at[i, k]}" for k in KEY)
        out.append(f"{where}: " + "; ".join(
            f"{c} {record.at[i, c]!r} -> {now.at[i, c]!r}" for c in cols))
    if unequal.sum() > limit:
        out.append(f"... {int(unequal.sum()) - limit} more rows differ")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("record", "check"))
    args = parser.parse_args()
    frame = compute()
    if args.action == "record":
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        store(frame, RECORD)
        print(f"recorded {len(frame):,} rows to {RECORD}")
        return 0
    problems = differences(frame, load_record())
    print("\n".join(problems) or f"all {len(frame):,} recorded rows reproduced exactly")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
