"""Bad input (issue 16): every class of the adversarial corpus ends in exit 2 with one line
naming the file and the place, or in a correct result; never a traceback, a silently accepted
value, an impossible number or a hang.

Each test builds one member of a class by hand from a shipped file and states, in numbers
worked out here, what perfsim must say. The CLI runs in this process (``perfsim.cli.main``)
except where the test is about the real command (a few subprocesses, outside the checkout).
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from importlib import resources

import pytest

from perfsim import yaml_source
from perfsim.cli import main
from perfsim.errors import ConfigError, LimitError, WorkloadError
from perfsim.hardware.loading import load_config
from perfsim.hardware.model import ENGINE_KINDS, LEVEL_KINDS, Energy, HwConfig, Precision
from perfsim.hardware.rules import keys_of
from perfsim.io.load import load_hw, load_workload
from perfsim.io.network_file import load_network_file
from perfsim.mapping.kernels.systolic import INPUT_STATIONARY, systolic_cycles
from perfsim.results import ResultError, check_result
from perfsim.simulate import simulate
from perfsim.workload.loopnest import window_elements, window_elements_ref

HW_TEXT = (resources.files("perfsim.hw_configs") / "matrix_engine.yaml").read_text()
NET_TEXT = """\
name: small
description: a conv, a relu and a classifier
input_shape: [3, 16, 16]
layers:
  - {name: conv1, op: conv, out_channels: 8, kernel: 3, padding: 1}
  - {name: relu1, op: relu}
  - {name: fc, op: fc, out_features: 10}
"""


def cli(capsys, *args) -> tuple[int, str, str]:
    """``perfsim ARGS`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """The one line of a user error, without its ``perfsim: error: `` prefix."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perfsim: error: "), err
    return lines[0].removeprefix("perfsim: error: ")


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def perfsim_process(*args, cwd):
    return subprocess.run([sys.executable, "-m", "perfsim", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


# --- tracebacks: numbers too large for the kernels -----------------------------------------

@pytest.mark.parametrize("old,new,key,says", [
    ("rows: 128", f"rows: {10**30}", "engines[0].rows", "must be at most 65,536 (2^16)"),
    ("lanes: 128", f"lanes: {10**30}", "engines[1].lanes", "must be at most 1,048,576 (2^20)"),
    ("activation_bytes: 1", f"activation_bytes: {10**30}", "precision.activation_bytes",
     "must be at most 16"),
    ("size_kib: 8192", f"size_kib: {10**30}", "memory.sram.size_kib",
     "must be at most 4,294,967,296 (2^32)"),
    ("pipeline_latency_cycles: 8", f"pipeline_latency_cycles: {2**62}",
     "engines[1].pipeline_latency_cycles", "must be at most 1,048,576 (2^20)"),
    ("rows: 128", "rows: 1.0e+30", "engines[0].rows", "expected int, got 1e+30"),
    ("bandwidth_gb_per_s: 30", "bandwidth_gb_per_s: 5.0e-324", "memory.dram.bandwidth_gb_per_s",
     "must be >= 0.001"),
])
def test_huge_hardware_numbers_are_refused_at_their_line(capsys, tmp_path, old, new, key, says):
    text = HW_TEXT.replace(old, new)
    path = write(tmp_path, "hw.yaml", text)
    code, _, err = cli(capsys, "run", "lenet5", "--hw", path)
    assert code == 2
    assert one_error_line(err).startswith(f"{path}:{line_of(text, new)}: {key}: {says}")


def test_huge_batch_and_input_shape_are_refused(capsys, tmp_path):
    code, _, err = cli(capsys, "run", "lenet5", "--hw", "matrix_engine", "--batch", 10**30)
    assert code == 2 and "batch 1,000,000,000,000,000,000,000,000,000,000 is beyond " \
                          "1,048,576 (2^20)" in one_error_line(err)
    text = NET_TEXT.replace("[3, 16, 16]", f"[3, {10**30}, 16]")
    path = write(tmp_path, "net.yaml", text)
    code, _, err = cli(capsys, "run", path, "--hw", "matrix_engine")
    assert code == 2
    assert one_error_line(err).startswith(f"{path}:3: input_shape: {10**30:,} is beyond "
                                          f"1,048,576 (2^20)")
    # within every size limit, but 2^20 x 2^20 x 3 x 3 x 8 = 7.9e13 MACs > 2^44 in one layer
    text = NET_TEXT.replace("[3, 16, 16]", "[1, 1048576, 1048576]")
    path = write(tmp_path, "net.yaml", text)
    code, _, err = cli(capsys, "show", path)
    assert code == 2
    message = one_error_line(err)
    assert message.startswith(f"{path}:5: ") and "layer 'conv1' (conv) has 7.92e+13 MACs" \
        in message


def test_the_kernels_do_not_overflow_at_the_limits():
    # The largest systolic count the limits allow (perfsim.workload.limits): input stationary
    # on a 65,536 x 1 array, T_red = K = 1 and 2^44 output pixels (2^44 MACs): 2^44 folds of
    # 2 * 65,536 + 1 + 1 - 2 = 2^17 cycles = 2^61, exact and positive in int64.
    assert systolic_cycles(INPUT_STATIONARY, 2**16, 1, 2**44, 1, 1, 1) == 2**61


# --- tracebacks: YAML bombs, deep nesting, cycles ------------------------------------------

def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """``levels`` lists of ``width`` aliases to the one below: ``width ** levels`` values."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_under_an_unknown_key_is_refused_before_it_is_expanded(
        capsys, tmp_path, monkeypatch):
    text = HW_TEXT + "bomb:\n" + "".join(f"  {line}\n" for line in alias_bomb().splitlines())
    path = write(tmp_path, "hw.yaml", text)

    def never(*args, **kwargs):
        raise AssertionError("the document was converted: its aliases were expanded")

    monkeypatch.setattr(yaml_source, "_convert", never)
    code, _, err = cli(capsys, "validate", path)
    assert code == 2
    # a0 holds 10 values (the list and its 9 items), a1 1 + 9 x 10 = 91, a2 820, a3 7,381;
    # a1's aliases repeat 90 values, a2's 819, a3's 7,380 (8,289 in all), and a4's first
    # alias, to a3's 7,381, passes 10,000: refused on a4's line, 9^9 values never built.
    assert one_error_line(err) == (f"{path}:{line_of(text, 'a4: &a4')}: aliases repeat more "
                                   f"than 10,000 values (an alias bomb?): perfsim refuses "
                                   f"such files")


def test_aliases_within_the_budget_still_work(tmp_path):
    text = HW_TEXT.replace("memory:\n", "x-vpu: &vpu {name: vpu, kind: vector, lanes: 128}\n"
                                        "memory:\n", 1)
    path = write(tmp_path, "hw.yaml", text)
    with pytest.raises(ConfigError, match="x-vpu: unknown key"):  # the alias itself is fine
        load_config(path)
    doc = yaml_source.load_yaml(write(tmp_path, "a.yaml", "a: &x {p: 1}\nb: *x\n"
                                                           "c: {<<: *x, q: 2}\n"), ConfigError)
    assert doc.data == {"a": {"p": 1}, "b": {"p": 1}, "c": {"p": 1, "q": 2}}


@pytest.mark.parametrize("text,line,says", [
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", 1, "nested more than 32 levels deep"),
    # mapping i + 1 starts on line i + 1; the key on line 32 is the 33rd value deep
    ("".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v\n", 32,
     "nested more than 32 levels deep"),
    ("a: &a [1, *a]\n", 1, "an alias inside the value it names (a cycle)"),
    ("".join(f"k{i}: &k{i} 1\n" for i in range(101)) + "l: [" + ", ".join(
        f"*k{i}" for i in range(101)) + "]\n", 102, "more than 100 aliases"),
])
def test_deep_nesting_cycles_and_too_many_aliases_name_their_line(tmp_path, text, line, says):
    path = write(tmp_path, "x.yaml", text)
    with pytest.raises(WorkloadError) as err:
        load_network_file(path)
    assert str(err.value).startswith(f"{path}:{line}: {says}")


def test_an_alias_bomb_is_one_line_from_the_real_command(tmp_path):
    path = write(tmp_path, "net.yaml", NET_TEXT + "x:\n" + "".join(
        f"  {line}\n" for line in alias_bomb().splitlines()))
    result = perfsim_process("show", path, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "an alias bomb?" in result.stderr


# --- tracebacks: bytes that are not text, names that are not files ---------------------------

def test_nul_bytes_name_their_line_in_yaml_and_csv(capsys, tmp_path):
    path = write(tmp_path, "hw.yaml", HW_TEXT.replace("lanes: 128", "lanes: 12\x008"))
    code, _, err = cli(capsys, "validate", path)
    assert code == 2 and one_error_line(err) == (
        f"{path}:{line_of(HW_TEXT, 'lanes: 128')}: a NUL byte: this is not a text file")
    # a SCALE-Sim topology with a NUL in a layer name was accepted as a layer called "g\0"
    path = write(tmp_path, "t.csv", "Layer, M, N, K,\ng1, 4, 4, 4,\ng\x002, 4, 4, 4,\n")
    code, _, err = cli(capsys, "show", path)
    assert code == 2 and one_error_line(err) == f"{path}:3: a NUL byte: this is not a text file"


def test_other_control_characters_name_their_line(tmp_path):
    path = write(tmp_path, "net.yaml", NET_TEXT.replace("relu1, op", "relu\x011, op"))
    with pytest.raises(WorkloadError) as err:
        load_network_file(path)
    assert str(err.value).startswith(f"{path}:6: character U+0001 is not allowed")


def test_bytes_that_are_not_utf8_name_their_line(capsys, tmp_path):
    data = NET_TEXT.encode().replace(b"a classifier", b"a classifi\xe9r")  # Latin-1 e-acute
    path = write(tmp_path, "net.yaml", data)
    code, _, err = cli(capsys, "show", path)
    assert code == 2 and one_error_line(err) == (
        f"{path}:2: byte 0xe9 is not UTF-8 text; perfsim reads text files as UTF-8: save the "
        f"file as UTF-8")


def test_an_overlong_name_is_not_a_file(capsys, tmp_path):
    name = "x" * 5000  # longer than any file name may be (ENAMETOOLONG)
    code, _, err = cli(capsys, "run", "lenet5", "--hw", name)
    assert code == 2 and one_error_line(err).startswith(f"no hardware config '{name}': not a "
                                                        f"file and not a shipped config")
    code, _, err = cli(capsys, "show", name + ".yaml")
    assert code == 2 and one_error_line(err).startswith(f"{name}.yaml: cannot read it")


@pytest.mark.parametrize("command", [["show", "{d}"], ["run", "{d}", "--hw", "matrix_engine"],
                                     ["sweep", "{d}", "--out", "{out}"]])
@pytest.mark.parametrize("suffix", [".yaml", ".csv"])
def test_a_directory_where_a_file_belongs(capsys, tmp_path, command, suffix):
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    args = [a.format(d=folder, out=tmp_path / "out") for a in command]
    code, _, err = cli(capsys, *args)
    assert code == 2 and one_error_line(err) == f"{folder}: is a directory, not a file"


# --- silently accepted: values of the wrong type --------------------------------------------

@pytest.mark.parametrize("layer,says", [
    ("{name: d, op: dropout, p: '5'}", "layer 'd' (dropout): p must be a finite number, got '5'"),
    ("{name: d, op: dropout, p: 5}", "layer 'd' (dropout): p is a probability, from 0 to 1"),
    ("{name: d, op: leaky_relu, negative_slope: x}",
     "layer 'd' (leaky_relu): negative_slope must be a finite number, got 'x'"),
    ("{name: d, op: lrn, alpha: [1]}", "layer 'd' (lrn): alpha must be a finite number"),
    ("{name: d, op: batch_norm, eps: a}", "layer 'd' (batch_norm): eps must be a finite number"),
    ("{name: d, op: scale, factor: '2'}", "layer 'd' (scale): factor must be a finite number"),
    ("{name: d, op: scale, factor: .nan}", "layer 'd' (scale): factor must be a finite number"),
    ("{name: d, op: scale, bias: 'yes'}", "layer 'd' (scale): bias must be true or false"),
])
def test_attributes_of_the_wrong_type_are_refused(capsys, tmp_path, layer, says):
    text = NET_TEXT.replace("  - {name: fc,", f"  - {layer}\n  - {{name: fc,")
    path = write(tmp_path, "net.yaml", text)
    code, _, err = cli(capsys, "show", path)
    assert code == 2 and one_error_line(err).startswith(f"{path}:7: layers[2]: {says}")


@pytest.mark.parametrize("value", ["[a, b]", "{a: b}", "3"])
def test_a_description_that_is_not_text(capsys, tmp_path, value):
    path = write(tmp_path, "net.yaml", NET_TEXT.replace("a conv, a relu and a classifier", value))
    code, _, err = cli(capsys, "run", path, "--hw", "matrix_engine")
    assert code == 2 and one_error_line(err).startswith(f"{path}:2: description: must be text")


@pytest.mark.parametrize("grid,says", [
    ("engines.mxu.rows: [64, 1000000]", "grid.engines.mxu.rows[1]: engines.mxu.rows: must be "
                                        "at most 65,536 (2^16)"),
    ("memory.dram.bandwidth_gb_per_s: [30, 1.0e-300]",
     "grid.memory.dram.bandwidth_gb_per_s[1]: memory.dram.bandwidth_gb_per_s: must be >= 0.001"),
])
def test_an_out_of_range_sweep_value_names_its_line(capsys, tmp_path, grid, says):
    path = write(tmp_path, "spec.yaml", f"workloads: [lenet5]\nhw: matrix_engine\ngrid:\n"
                                        f"  {grid}\n")
    code, _, err = cli(capsys, "sweep", path, "--out", tmp_path / "out", "--workers", 1)
    assert code == 2 and one_error_line(err).startswith(f"{path}:4: {says}")
    assert not (tmp_path / "out").exists()


def test_a_sweep_batch_beyond_a_layers_limit_names_the_batch(capsys, tmp_path):
    # alexnet's conv1: 55 x 55 x 96 outputs of 11 x 11 x 3 MACs = 105,415,200 MACs per image;
    # 2^44 / 105,415,200 = 166,884.2: batch 166,885 is one too many.
    path = write(tmp_path, "spec.yaml", "workloads: [alexnet]\nhw: matrix_engine\n"
                                        "batch: [1, 166885]\n")
    code, _, err = cli(capsys, "sweep", path, "--out", tmp_path / "out", "--workers", 1)
    assert code == 2
    assert one_error_line(err).startswith(f"{path}:3: batch[1]: network 'alexnet': layer "
                                          f"'conv1' (conv) has 1.76e+13 MACs at batch 166,885")
    assert "it fits at batch 166,884 or less" in err


# --- wrong outputs: impossible numbers never printed ----------------------------------------

@pytest.fixture(scope="module")
def lenet_run():
    return simulate("lenet5", load_hw("matrix_engine"))


@pytest.mark.parametrize("change,error,says", [
    ({"total_cycles": -5}, ResultError, "total_cycles = -5: a count must be a number >= 0"),
    ({"energy_pj": math.nan}, ResultError, "energy_pj = nan"),
    ({"utilization": 1.5}, ResultError, "utilization 1.5 is outside [0, 1]"),
    ({"dram_read_bytes": 2**63}, LimitError, "dram_read_bytes = 9.22e+18 is beyond what "
                                            "perfsim can count"),
    ({"memory_cycles": math.inf}, LimitError, "memory_cycles = inf is beyond"),
    ({"local_bytes": (("lb", 10, 0), ("rf", 5, -1))}, ResultError,
     "rf_write_bytes = -1: a count must be a number >= 0"),
])
def test_the_final_check_refuses_impossible_rows(lenet_run, change, error, says):
    check_result(lenet_run)  # the run as computed is fine
    first = dataclasses.replace(lenet_run.layers[1], **change)
    broken = dataclasses.replace(lenet_run, layers=(lenet_run.layers[0], first,
                                                    *lenet_run.layers[2:]))
    with pytest.raises(error) as err:
        check_result(broken)
    assert f"layer '{first.layer}': {says}" in str(err.value)


def test_the_final_check_checks_a_row_once_and_a_refused_row_every_time():
    """A sweep's runs share rows, so a row found within the rules is not checked again (rows
    are frozen: changing one behind its back, as here, shows it is skipped); a row refused is
    refused every time, and so is another row with the same values."""
    run = simulate("lenet5", load_hw("matrix_engine"))
    check_result(run)
    bad = dataclasses.replace(run.layers[1], total_cycles=-5)
    broken = dataclasses.replace(run, layers=(run.layers[0], bad, *run.layers[2:]))
    for again in (broken, broken, dataclasses.replace(
            broken, layers=(run.layers[0], dataclasses.replace(bad), *run.layers[2:]))):
        with pytest.raises(ResultError, match="total_cycles = -5"):
            check_result(again)
    vars(run.layers[1])["utilization"] = 1.5
    check_result(dataclasses.replace(run, layers=run.layers[:2]))  # found fine before


def test_extreme_but_accepted_hardware_ends_in_one_line_not_a_huge_number(capsys, tmp_path):
    # One ReLU over [1024, 1024, 1024] at batch 8,192: 2^43 elements of 16 bytes in and out,
    # 2^48 bytes through DRAM at 0.001 GB/s and 100 GHz = 1e-5 bytes per cycle: 2.8e19
    # cycles, beyond 2^63 - 1 = 9.2e18. (Before, such runs printed numbers of 300 digits.)
    net = write(tmp_path, "net.yaml", "name: big\ninput_shape: [1024, 1024, 1024]\nlayers:\n"
                                      "  - {name: r, op: relu}\n")
    hw = write(tmp_path, "slow.yaml", HW_TEXT.replace("clock_ghz: 1.0", "clock_ghz: 100")
               .replace("bandwidth_gb_per_s: 30", "bandwidth_gb_per_s: 0.001")
               .replace("activation_bytes: 1", "activation_bytes: 16"))
    code, out, err = cli(capsys, "run", net, "--hw", hw, "--batch", 8192,
                         "--out", tmp_path / "run")
    assert code == 2 and out == "" and not (tmp_path / "run").exists()
    assert one_error_line(err).startswith("big on matrix_engine at batch 8192: layer 'r': "
                                          "memory_cycles = 2.81e+19 is beyond what perfsim "
                                          "can count")


def test_every_hardware_number_has_a_limit():
    classes = [HwConfig, Precision, Energy, *ENGINE_KINDS.values(), *LEVEL_KINDS.values()]
    for cls in classes:
        for name, spec in keys_of(cls).items():
            if spec.type in (int, float) and not spec.choices:
                assert spec.maximum is not None, f"{cls.__name__}.{name} has no maximum"
            if spec.type is float:
                assert spec.positive or spec.minimum is not None, f"{cls.__name__}.{name}"


# --- resource blow-ups and hangs ----------------------------------------------------------

def test_a_scalesim_topology_of_huge_products_is_refused_at_its_row(capsys, tmp_path):
    # every dimension is within 2^20, but M x N x K = 2^60 MACs in one layer
    path = write(tmp_path, "t.csv", "Layer, M, N, K,\ng1, 8, 8, 8,\ng2, 1048576, 1048576, "
                                    "1048576,\n")
    code, _, err = cli(capsys, "run", path, "--hw", "matrix_engine")
    assert code == 2 and one_error_line(err).startswith(
        f"{path}:3: network 't': layer 'g2' (conv) has 1.15e+18 MACs, beyond 17,592,186,044,416 "
        f"(2^44)")


def test_a_window_count_is_the_definition_and_needs_no_set_of_reads():
    for args in [(8, 4, 3, 2, 1, 1), (10, 3, 3, 1, 3, 2), (7, 5, 2, 3, 2, 4), (5, 2, 4, 5, 1, 0),
                 (9, 6, 3, 2, 3, 3), (1, 1, 1, 1, 1, 0), (4, 3, 5, 1, 2, 6)]:
        assert window_elements(*args) == window_elements_ref(*args), args
    # 2^20 rows read by a 3-tap window, stride 1, one row of padding each side: every row;
    # stride 4 and 2 taps, no padding: rows 4o and 4o + 1 of 2^18 outputs, half the rows.
    assert window_elements(2**20, 2**20, 3, 1, 1, 1) == 2**20
    assert window_elements(2**20, 2**18, 2, 4, 1, 0) == 2**19


# --- network files: every problem at once, did-you-mean, channels-last ------------------------

def test_a_network_file_reports_every_problem_at_once(tmp_path):
    text = """\
name: x
input_shape: [3, 16, 16]
layres: []
layers:
  - {name: conv1, op: conv, out_channels: 8, kernal: 3}
  - {name: relu1, op: relu, inputs: [conv1]}
  - {name: pool, op: max_pool, kernel: 2, inputs: [inptu]}
  - {name: fc, op: fc, out_features: x}
"""
    path = write(tmp_path, "net.yaml", text)
    with pytest.raises(WorkloadError) as err:
        load_network_file(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"4 problem(s) in {path}:"
    assert lines[1].startswith(f"{path}:3: layres: unknown key 'layres'; did you mean: layers?")
    assert lines[2].startswith(f"{path}:5: layers[0].kernal: layer 'conv1': op conv has no "
                               f"attribute 'kernal'; did you mean: kernel?")
    assert lines[3].startswith(f"{path}:7: network 'x': layer 'pool' (max_pool): input 'inptu' "
                               f"is not a layer defined before it; did you mean: input?")
    assert lines[4].startswith(f"{path}:8: layers[3]: layer 'fc' (fc): out_features must be "
                               f"an integer, got 'x'")
    # relu1 reads conv1, which has a problem of its own: nothing more is said about relu1
    assert not any("relu1" in line for line in lines)


def test_a_channels_last_input_shape_warns_once_in_one_line(capsys, tmp_path):
    path = write(tmp_path, "net.yaml", NET_TEXT.replace("[3, 16, 16]", "[32, 32, 3]"))
    code, out, err = cli(capsys, "show", path)
    assert code == 0 and "conv1" in out
    assert err == (f"perfsim: warning: {path}:3: input_shape: [32, 32, 3] is read as [C, H, W]: "
                   f"32 channels of 32x3; if it is [H, W, C], write [3, 32, 32]\n")
    path = write(tmp_path, "seq.yaml", NET_TEXT.replace("[3, 16, 16]", "[64, 1, 3]"))
    assert cli(capsys, "show", path)[2] == ""  # a sequence [features, 1, T]: no warning


def test_a_good_network_still_loads(tmp_path):
    net = load_workload(write(tmp_path, "net.yaml", NET_TEXT))
    # conv1: 16 x 16 x 8 outputs of 3 x 3 x 3 MACs; fc: 8 x 16 x 16 = 2,048 inputs x 10
    assert [layer.name for layer in net.layers] == ["input", "conv1", "relu1", "fc"]
    assert net.description == "a conv, a relu and a classifier"
