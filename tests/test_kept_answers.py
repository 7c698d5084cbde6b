"""The tiling search's answers kept on disk (perfsim.mapping.kernels.kept_answers): a run that
finds them all calls no kernel and imports no Numba, and its numbers are the kernels' own.

Each run is a new process, as a user's runs are (from outside the checkout: the installed
package), and what one process kept, the next reads. A process that must not compute is one
where importing the kernels fails, so any kernel it needed would stop it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from cli_runs import perfsim_cli
from perfsim.mapping.kernels import kept_answers
from perfsim.mapping.kernels.nest_search import level_costs
from perfsim.hardware.model import Precision
from perfsim.workload import loopnest as ln

RUN = """
import json, sys
if sys.argv[2] == "no-kernels":
    sys.modules["perfsim.mapping.kernels.nest_kernels"] = None  # any kernel needed fails
import perfsim
from perfsim.mapping.kernels.kept_answers import kept
network, hw, batch, fidelity = json.loads(sys.argv[1])
if sys.argv[3] == "kept":
    with kept():
        result = perfsim.simulate(network, hw, batch=batch, fidelity=fidelity)
else:
    result = perfsim.simulate(network, hw, batch=batch, fidelity=fidelity)
frame = result.to_frame()
assert sys.argv[2] != "no-kernels" or "numba" not in sys.modules
print(json.dumps({"rows": frame.astype(str).to_dict("records"),
                  "timeline": None if result.timeline is None
                  else result.timeline.astype(str).to_dict("records")}))
"""

CASES = [("mobilenet_v1", "matrix_engine", 1, "analytic"),  # two engines, depthwise on the vpu
         ("resnet50", "tpu_v1", 4, "analytic"),  # SCALE-Sim's split SRAM, a batch
         ("mobilenet_v1", "edge_npu", 1, "analytic"),  # a local level inside the SRAM
         ("googlenet", "hetero", 1, "event")]  # the event schedule on two engines


def _run(case, numba: str, answers: str, cache) -> dict:
    result = subprocess.run([sys.executable, "-c", RUN, json.dumps(case), numba, answers],
                            capture_output=True, text=True, timeout=600, cwd=cache,
                            env={**os.environ, "PERFSIM_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def test_a_run_with_every_answer_kept_needs_no_kernel_and_gives_the_kernels_numbers(
        case, tmp_path):
    """A first run keeps its answers; a second, in a process where the kernels cannot be
    imported, finds them all (and imports no Numba), and every row and timeline row is what a
    run without kept answers gives (the kernels computing everything)."""
    fresh = _run(case, "kernels", "none", tmp_path)
    first = _run(case, "kernels", "kept", tmp_path)
    assert len(list(tmp_path.glob("searches-*.sqlite"))) == 1
    again = _run(case, "no-kernels", "kept", tmp_path)
    assert first == fresh and again == fresh


def test_without_kept_answers_a_run_computes_and_writes_nothing(tmp_path):
    """The library keeps no answers unless asked: no file, and no kernels is no run."""
    case = ("tiny_cnn", "matrix_engine", 1, "analytic")
    result = subprocess.run([sys.executable, "-c", RUN, json.dumps(case), "no-kernels", "none"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "PERFSIM_CACHE_DIR": str(tmp_path)})
    assert result.returncode != 0 and "nest_kernels" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_perfsim_run_again_imports_no_numba_and_prints_the_same(tmp_path):
    """``perfsim run`` keeps its answers: the same command again prints the same bytes and
    imports no Numba (``python -X importtime`` lists every module imported)."""
    env = {**os.environ, "PERFSIM_CACHE_DIR": str(tmp_path / "cache")}
    args = ("run", "mobilenet_v1", "--hw", "matrix_engine")
    first = perfsim_cli(*args, cwd=tmp_path, env=env)
    again = subprocess.run([sys.executable, "-X", "importtime", "-m", "perfsim", *args],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == again.returncode == 0
    assert again.stdout == first.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in again.stderr.splitlines()
                if line.startswith("import time:")]
    assert "perfsim.schedule.analytic" in imported  # the listing is read right
    assert not [name for name in imported if name.split(".")[0] == "numba"]


def test_a_file_that_is_not_answers_is_ignored_and_replaced(tmp_path):
    """A truncated or foreign file costs nothing but the answers: the run computes them,
    prints what it prints without the file, and writes a file of answers in its place."""
    env = {**os.environ, "PERFSIM_CACHE_DIR": str(tmp_path / "cache")}
    args = ("run", "tiny_cnn", "--hw", "matrix_engine", "--format", "json")
    first = perfsim_cli(*args, cwd=tmp_path, env=env)
    [path] = (tmp_path / "cache").glob("searches-*.sqlite")
    whole = path.read_bytes()
    for junk in (whole[:len(whole) // 2], b"not a database " * 100, b""):
        path.write_bytes(junk)
        again = perfsim_cli(*args, cwd=tmp_path, env=env)
        assert again.returncode == 0 and again.stdout == first.stdout, again.stderr
        with sqlite3.connect(path) as file:
            assert file.execute("SELECT count(*) FROM answers").fetchone()[0] > 0


def test_the_file_keeps_the_latest_answers_up_to_its_limit(tmp_path, monkeypatch):
    """Past :data:`MAX_KEPT_ANSWERS` the answers written longest ago go; a run that finds
    an answer reads it, and one that makes none writes nothing."""
    monkeypatch.setattr(kept_answers, "MAX_KEPT_ANSWERS", 5)
    path = tmp_path / "searches-x.sqlite"
    for run in range(4):  # three answers a run
        answers = kept_answers.KeptAnswers(path)
        for i in range(3):
            assert answers.answer(("q", run, i), pow, run, i) == run ** i
        answers.save()
    answers = kept_answers.KeptAnswers(path)
    kept_now = [(run, i) for run in range(4) for i in range(3)
                if answers.get(("q", run, i)) is not kept_answers.MISSING]
    # the last run's three, and two of the run before's (written at one time: either two)
    assert len(kept_now) == 5 and kept_now[-3:] == [(3, 0), (3, 1), (3, 2)]
    assert [run for run, _ in kept_now[:2]] == [2, 2]
    assert answers.answer(("q", 3, 2), pow, 0, 0) == 9  # found: pow(0, 0) is not called
    written = path.stat().st_mtime_ns
    answers.save()
    assert path.stat().st_mtime_ns == written


def test_a_directory_keeps_the_latest_files(tmp_path, monkeypatch):
    """Each installation (or edit) of perfsim writes a file of its own; a directory keeps the
    :data:`KEPT_FILES` most recently written, its own always."""
    for age in range(6):
        old = tmp_path / f"searches-old{age}.sqlite"
        old.write_bytes(b"")
        os.utime(old, ns=(10 ** 18 - age * 10 ** 9,) * 2)
    answers = kept_answers.KeptAnswers(tmp_path / "searches-new.sqlite")
    answers.answer(("q",), int, 1)
    answers.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "searches-new.sqlite", "searches-old0.sqlite", "searches-old1.sqlite",
        "searches-old2.sqlite"]


DIGEST = """
from perfsim.io.load import load_hw, load_workload
from perfsim.mapping.kernels.kept_answers import digest
from perfsim.mapping.kernels.nest_search import level_costs
from perfsim.mapping.lowering import lower
hw = load_hw("edge_npu")
network = load_workload("mobilenet_v1")
nest = lower(network, network.layers[1]).nest
costs = level_costs(nest, hw.precision, 0, frozenset({"input", "weight", "output"}), {})
print(digest((nest, hw, frozenset({"a", "b", "c", "d"}), costs.tobytes())).hex())
"""


def test_a_question_has_one_digest_whatever_the_processs_hash_seed(tmp_path):
    """The questions' digests (nests, configs, sets, the costs' bytes) are the same in
    processes whose string hashes differ (sets iterate in another order) and whose memory
    differs: a record array's padding, which copying leaves unset, is zeroed."""
    digests = {subprocess.run([sys.executable, "-c", DIGEST], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}
                              ).stdout for seed in (0, 1, 2, 3)}
    assert len(digests) == 1 and len(digests.pop().strip()) == 32


def test_the_costs_bytes_have_no_unset_padding():
    """Level costs are copied field by field into zeros: their bytes, a table's key, hold
    their fields and zeros only, however often they are made."""
    nest = ln.convolution(in_channels=8, out_channels=16, in_size=(8, 8), out_size=(8, 8),
                          kernel=(3, 3), pad_before=(1, 1), biases_per_output=1)
    precision = Precision(1, 2, 4)
    for _ in range(50):
        _ = [np.random.bytes(4096) for _ in range(20)]  # memory a copy could land in
        costs = level_costs(nest, precision, 0, frozenset({"input", "weight", "output"}), {})
        raw = np.frombuffer(costs.tobytes(), np.uint8).reshape(len(costs), -1)
        used = np.zeros(raw.shape[1], bool)
        for name in costs.dtype.names:
            offset = costs.dtype.fields[name][1]
            used[offset:offset + costs.dtype.fields[name][0].itemsize] = True
        assert not raw[:, ~used].any()


def test_the_fingerprint_changes_with_the_source(tmp_path, monkeypatch):
    """An edit of any source file of the package names a new file of answers."""
    package = tmp_path / "perfsim"
    (package / "mapping").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "mapping" / "b.py").write_text("y = 2\n")
    before = kept_answers.fingerprint_of(package)
    assert kept_answers.fingerprint_of(package) == before
    (package / "mapping" / "b.py").write_text("y = 3\n")
    assert kept_answers.fingerprint_of(package) != before
