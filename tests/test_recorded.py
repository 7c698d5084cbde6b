"""The refactor guard: today's code reproduces the recorded results exactly.

``tests/refs/recorded/results.parquet`` is what perfsim computed when it was recorded (see
``scripts/record_results.py`` and ``tests/refs/recorded/README.md``): not a reference for the
model's correctness, which the other tests check against hand work and published figures, but
proof that a change meant to move no number moved none. This test runs a subset that covers
every op kind, every engine kind, every dataflow, split and shared SRAM, two and three buffers,
both residencies and both fidelities; ``python scripts/record_results.py check`` runs it all.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "record_results.py"
SUBSET = ("op_cover", "tiny_cnn", "lstm_tagger", "alexnet", "lenet5_lecun1998", "se_resnet50",
          "shufflenet_v1_g2", "shiftnet_a")
"""The smallest networks that together use every op kind (chosen greedily from the record)."""


@pytest.fixture(scope="module")
def recorder():
    spec = importlib.util.spec_from_file_location("record_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def record(recorder):
    return recorder.load_record()


def test_subset_covers_every_op_kind_engine_kind_and_dataflow(recorder, record):
    from perfsim.workload.ops import OPS

    from perfsim import load_workload

    subset = record[record.workload.isin(SUBSET)]
    # every op kind is in the subset's networks (the inference graph folds or fuses many into
    # the rows of others, whose `fused` column names them)
    kinds = {layer.op.kind for name in recorder.networks() if recorder.label_of(name) in SUBSET
             for layer in load_workload(name).layers}
    assert kinds == set(OPS)
    assert (subset.fused != "[]").any()
    hws = recorder.configs()
    assert set(subset.hw) == set(hws)
    engines = [e for hw, _ in hws.values() for e in hw.engines]
    assert {e.kind for e in engines} == {"matrix", "vector"}
    assert {e.dataflow for e in engines if e.kind == "matrix"} == {
        "output_stationary", "weight_stationary", "input_stationary"}
    assert {hw.sram.split_bytes is None for hw, _ in hws.values()} == {True, False}
    assert {hw.sram.buffers for hw, _ in hws.values()} == {2, 3}
    assert set(subset.residency) == {"auto", "dram"}
    assert set(subset.fidelity) == {"analytic", "event"}
    # layers ran on a matrix engine and on a vector engine
    kind_of = {(label, e.name): e.kind for label, (hw, _) in hws.items() for e in hw.engines}
    assert {kind_of[r] for r in zip(subset.hw, subset.engine) if r in kind_of} == {
        "matrix", "vector"}


def test_subset_reproduces_the_record_exactly(recorder, record):
    now = recorder.compute(lambda workload, hw: workload in SUBSET)
    expected = record[record.workload.isin(SUBSET)].reset_index(drop=True)
    problems = recorder.differences(now, expected)
    assert not problems, "\n".join(problems)
