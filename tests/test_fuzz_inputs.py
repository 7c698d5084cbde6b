"""Property-based fuzzing of the files a user hands perfsim (issue 16): network files, hardware
configs and sweep specs, each a shipped-style document with values replaced by hostile ones
(huge, negative, non-finite, of the wrong type) or with layers added. Whatever the input, the
command ends in exit 2 with a message naming the file (one line per problem), or in exit 0
with a result whose every count is a finite number >= 0 and every utilisation at most 1;
never a traceback (in this process an exception would fail the test).

The CLI runs in this process for speed; the last test runs a few hostile files through the
real command. About 270 examples in all; ``derandomize`` keeps the suite reproducible.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import subprocess
import sys

import pandas as pd
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from perfsim.cli import main
from perfsim.hardware.loading import to_document
from perfsim.io.load import load_hw
from perfsim.sweeps.space import key_paths
from perfsim.workload.ops import FIELD_ALIASES, OPS



def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


EDGES = [0, -1, 1, 2, 3, 16, 17, 64, 65, 2**16, 2**16 + 1, 2**20, 2**20 + 1, 2**31, 2**32 + 1,
         2**44, 2**44 + 1, 2**62, 2**63, 2**64, 10**30]
"""Integers at and around perfsim's limits and the integer widths."""
HOSTILE = st.one_of(
    st.sampled_from(EDGES),
    st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-300, 5e-324, 1e30, 1e300, 0.001, 0.5]),
    st.text(max_size=6), st.sampled_from(["1e30", "5", "x", "", "relu", "conv1"]),
    st.booleans(), st.none(),
    st.lists(st.sampled_from(EDGES), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(-2, 2), max_size=2),
)
PLAUSIBLE = st.one_of(st.integers(1, 8), st.sampled_from([0.5, 1e-5, 32, 64, 128, 1000, 10.0,
                                                          True, False, "max", "nearest"]))
"""Values a valid file might hold, so that a good share of the examples run."""
VALUES = st.one_of(HOSTILE, PLAUSIBLE)

NETWORK = {
    "name": "fuzz",
    "description": "a conv, a batch norm, a relu, a pool and a classifier",
    "input_shape": [3, 16, 16],
    "layers": [
        {"name": "conv1", "op": "conv", "out_channels": 8, "kernel": 3, "padding": 1},
        {"name": "bn1", "op": "batch_norm"},
        {"name": "relu1", "op": "relu"},
        {"name": "pool", "op": "max_pool", "kernel": 2},
        {"name": "fc", "op": "fc", "out_features": 10},
    ],
}
OP_KINDS = sorted(k for k in OPS if k not in ("input", "placeholder"))
HW = to_document(load_hw("matrix_engine"))


def run_cli(capsys, *args) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(err: str, path) -> None:
    """One line, or a header and a line per problem, naming the file; no traceback."""
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("perfsim: error: "), err
    assert "Traceback" not in err
    if len(lines) > 1:
        assert lines[0].endswith(f"problem(s) in {path}:"), err
        assert all(line.startswith(f"{path}:") for line in lines[1:]), err


def assert_physical(document: dict) -> None:
    """Every count of a ``perfsim run --format json`` document is finite and >= 0 (or null),
    every utilisation in [0, 1]."""
    rows = document["layers"] + [document["totals"]]
    for row in rows:
        for name, value in row.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if name == "fusion_saved_cycles":  # a difference, not a count
                continue
            assert math.isfinite(value) and value >= 0, (row.get("layer"), name, value)
        assert 0 <= row["utilization"] <= 1 + 1e-9, row
    assert document["totals"]["cycles"] > 0


def assert_run(capsys, *args) -> None:
    """``perfsim run ARGS --format json`` ends in a physical result or one line of error
    (a layer that fits nowhere, say: the files were valid)."""
    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code in (0, 2), err
    event(f"run: exit {code}")
    if code == 0:
        assert_physical(json.loads(out))
    else:
        assert "Traceback" not in err and err.count("\n") == 1, err


def _set(document, path: tuple, value) -> None:
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _leaves(document, prefix=()) -> list[tuple]:
    if isinstance(document, dict):
        return [p for k, v in document.items() for p in _leaves(v, prefix + (k,))]
    if isinstance(document, list):
        return [p for i, v in enumerate(document) for p in _leaves(v, prefix + (i,))]
    return [prefix]


MULTI_INPUT = ("add", "mul", "max", "concat")
BY_TYPE = {"int": st.integers(1, 8), "int | None": st.integers(1, 8),
           "float": st.floats(0, 1), "float | None": st.floats(0, 1), "bool": st.booleans(),
           "Pair": st.integers(1, 3), "Pair | None": st.integers(1, 3), "Pads": st.integers(0, 2),
           "str": st.sampled_from(["max", "avg", "nearest", "bilinear"]),
           "tuple[int, ...]": st.lists(st.integers(1, 4), min_size=1, max_size=3),
           "Shape": st.lists(st.integers(1, 4), min_size=3, max_size=3)}
"""Plausible values of an op attribute, by its declared type."""


def attribute_values(kind: str, hostile: bool) -> dict:
    """User-facing attribute name -> a strategy for its values."""
    types = {FIELD_ALIASES.get(f.name, f.name): str(f.type) for f in dataclasses.fields(OPS[kind])}
    return {name: VALUES if hostile else BY_TYPE.get(declared, PLAUSIBLE)
            for name, declared in types.items()}


@st.composite
def network_documents(draw) -> dict:
    """The network above with layers of any op added and attributes set; in half of the
    examples to hostile values, with up to two of the file's values (a shape, a name, a list)
    made hostile too, in the other half to plausible ones, so that many of them run."""
    document = copy.deepcopy(NETWORK)
    layers = document["layers"]
    hostile = draw(st.booleans())
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(OP_KINDS))
        values = attribute_values(kind, hostile)
        chosen = draw(st.lists(st.sampled_from(sorted(values) or ["x"]), max_size=2,
                               unique=True))
        attributes = {name: draw(values.get(name, VALUES)) for name in chosen}
        at = draw(st.integers(0, len(layers)))
        if kind in MULTI_INPUT:
            earlier = ["input"] + [layer["name"] for layer in layers[:at]]
            attributes["inputs"] = draw(st.lists(st.sampled_from(earlier), min_size=2,
                                                 max_size=3))
        layers.insert(at, {"name": f"new{draw(st.integers(0, 9))}", "op": kind, **attributes})
    for _ in range(draw(st.integers(0 if len(layers) > 5 else 1, 2))):
        layer = draw(st.sampled_from(layers))
        values = attribute_values(layer["op"], hostile)
        if values:
            name = draw(st.sampled_from(sorted(values)))
            layer[name] = draw(values[name])
    for _ in range(draw(st.integers(0, 2)) if hostile else 0):
        _set(document, draw(st.sampled_from(_leaves(document))), draw(HOSTILE))
    return document


@fuzz(120)
@given(document=network_documents(), batch=st.sampled_from([1, 1, 1, 3, 2**20, 2**20 + 1]))
def test_fuzzed_network_files(capsys, tmp_path, document, batch):
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    code, out, err = run_cli(capsys, "show", path, "--batch", batch, "--format", "json")
    assert code in (0, 2), err
    event(f"show: exit {code}")
    if code == 2:
        assert_user_error(err, path)
        return
    shown = json.loads(out)
    assert shown["batch"] == batch and all(r["macs"] >= 0 for r in shown["layers"])
    if batch > 1:
        return  # runs of batch 1 below are the ones worth their time
    assert_run(capsys, "run", path, "--hw", "matrix_engine")


@st.composite
def hardware_documents(draw) -> dict:
    """The matrix engine's normalised document with one or two values made hostile: any
    value, or a number scaled by a power of two (toward and past the limits)."""
    document = copy.deepcopy(HW)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_leaves(document)))
        target = document
        for part in path[:-1]:
            target = target[part]
        old = target[path[-1]]
        if isinstance(old, (int, float)) and not isinstance(old, bool) and draw(st.booleans()):
            scaled = old * 2.0 ** draw(st.integers(-80, 80))
            new = int(scaled) if isinstance(old, int) and scaled >= 1 else scaled
        else:
            new = draw(HOSTILE)
        target[path[-1]] = new
    return document


@fuzz(120)
@given(document=hardware_documents())
def test_fuzzed_hardware_files(capsys, tmp_path, document):
    path = tmp_path / "hw.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    code, _, err = run_cli(capsys, "validate", path)
    assert code in (0, 2), err
    event(f"validate: exit {code}")
    if code == 2:
        assert_user_error(err, path)
        return
    assert_run(capsys, "run", "lenet5", "--hw", path)


PATHS = key_paths(load_hw("matrix_engine"))


def _value_at(document: dict, path: str):
    """The value of a sweep key path in a normalised document (engines and levels by name;
    None for an optional key left unset)."""
    section, *rest = path.split(".")
    value = document.get(section)
    if section in ("engines", "memory"):
        value = next(e for e in value if e["name"] == rest[0])
        rest = rest[1:]
    for key in rest:
        value = value.get(key) if isinstance(value, dict) else None
    return value


NUMERIC_PATHS = {path: value for path in PATHS
                 for value in [_value_at(HW, path)] if isinstance(value, (int, float))}


@st.composite
def sweep_specs(draw) -> dict:
    """A spec on lenet5 and the matrix engine: in half of the examples a grid of a numeric
    key path's shipped value scaled by powers of two (most run), in the other half a grid,
    batch or mode of hostile values. At most three points, so that valid specs run quickly."""
    if draw(st.booleans()):
        path = draw(st.sampled_from(sorted(NUMERIC_PATHS)))
        old = NUMERIC_PATHS[path]
        scaled = [old * 2.0 ** k for k in draw(st.lists(st.integers(-4, 4), min_size=1,
                                                        max_size=3, unique=True))]
        values = [int(v) if isinstance(old, int) and v >= 1 else v for v in scaled]
        return {"workloads": ["lenet5"], "hw": "matrix_engine", "grid": {path: values}}
    values = st.lists(st.one_of(HOSTILE, PLAUSIBLE), min_size=1, max_size=3)
    grid = draw(st.dictionaries(st.one_of(st.sampled_from(PATHS), st.text(max_size=8)),
                                values, min_size=1, max_size=1))
    spec = {"workloads": ["lenet5"], "hw": "matrix_engine", "grid": grid}
    if draw(st.integers(0, 3)) == 0:
        spec["batch"] = draw(st.one_of(HOSTILE, st.sampled_from([1, 2, [1, 2]])))
    if draw(st.integers(0, 3)) == 0:
        spec["mode"] = draw(st.one_of(HOSTILE, st.sampled_from(["product", "zip"])))
    return spec


@fuzz(30)
@given(spec=sweep_specs())
def test_fuzzed_sweep_specs(capsys, tmp_path_factory, spec):
    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    code, _, err = run_cli(capsys, "sweep", path, "--out", folder / "out", "--workers", 1)
    assert code in (0, 2), err
    event(f"sweep: exit {code}")
    if code == 2:
        assert_user_error(err, path)
        return
    rows = pd.read_parquet(folder / "out" / "sweep.parquet")
    ok = rows[rows["status"] == "ok"]
    assert ((ok["cycles"] > 0) & (ok["utilization"] <= 1) & (ok["dram_bytes"] >= 0)).all()
    assert (rows.loc[rows["status"] != "ok", "reason"].str.len() > 0).all()


def test_hostile_files_through_the_real_command(tmp_path):
    hw_text = yaml.safe_dump(HW, sort_keys=False)
    cases = {
        "nul.yaml": hw_text.encode().replace(b"lanes: 128", b"lanes: 1\x0028"),
        "deep.yaml": ("name: x\nlayers: " + "[" * 3000 + "]" * 3000 + "\n").encode(),
        "latin1.yaml": b"workloads: [lenet5]\nhw: matrix_engine\n# caf\xe9\n",
    }
    commands = {"nul.yaml": ["validate"], "deep.yaml": ["show"], "latin1.yaml": ["sweep"]}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        extra = ["--out", tmp_path / "out"] if name == "latin1.yaml" else []
        result = subprocess.run([sys.executable, "-m", "perfsim", *commands[name], str(path),
                                 *map(str, extra)], cwd=tmp_path, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"perfsim: error: {path}:"), lines

