"""SCALE-Sim interop: its topology CSVs and ``.cfg`` files run through perfsim.

The expected cycles come from the DESIGN section 4.1 formula written out here for each layer's
shape (SCALE-Sim's ``S_R``, ``S_C``, ``T`` per dataflow), the expected output sizes from
SCALE-Sim's own ``ceil((H - F + s) / s)``; and for AlexNet, also from what SCALE-Sim v3.0.0
itself reported (``benchmarks/bench_scalesim.py``). Malformed files must give one error naming
the file, the line and the field.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from perfsim import ConfigError, WorkloadError, simulate
from perfsim.io.scalesim import (SCALESIM_PINS, is_scalesim_config, is_scalesim_topology,
                                 load_scalesim_config, load_scalesim_topology)

# SCALE-Sim's topologies/conv_nets/alexnet.csv, its padding and trailing commas included.
ALEXNET_CSV = """\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1     ,224         ,224        ,11           ,11          ,3       ,96        ,4      ,
Conv2     ,27         ,27        ,5            ,5           ,96      ,256       ,1      ,
Conv3     ,13          ,13         ,3            ,3           ,256     ,384       ,1      ,
Conv4     ,13          ,13         ,3            ,3           ,384     ,384       ,1      ,
Conv5     ,13          ,13         ,3            ,3           ,384     ,256       ,1      ,
"""
ALEXNET = [("Conv1", 224, 224, 11, 11, 3, 96, 4), ("Conv2", 27, 27, 5, 5, 96, 256, 1),
           ("Conv3", 13, 13, 3, 3, 256, 384, 1), ("Conv4", 13, 13, 3, 3, 384, 384, 1),
           ("Conv5", 13, 13, 3, 3, 384, 256, 1)]

# A GEMM topology in the styles SCALE-Sim's files mix: with and without the trailing comma, a
# sparsity ratio, a blank line. M = 1 is a fully connected layer at batch 1.
GEMM_CSV = """\
Layer, M, N, K,
QKT,1024,1024,64
QKTV, 1024, 64, 1024,

Linear1,1024,4800,1600,1:1,
fc,1,1000,4096,
"""
GEMMS = [("QKT", 1024, 1024, 64), ("QKTV", 1024, 64, 1024), ("Linear1", 1024, 4800, 1600),
         ("fc", 1, 1000, 4096)]

# SCALE-Sim v3.0.0's "Total Cycles" per AlexNet layer (topologies/conv_nets/alexnet.csv, CALC
# mode, no stalls), from benchmarks/bench_scalesim.py: SCALE-Sim reports the index of the last
# cycle, one less than the count (DESIGN section 4.1).
SCALESIM_V3_ALEXNET = {
    (32, "os"): (121124, 334831, 113567, 168863, 112575),
    (32, "ws"): (112283, 373799, 185759, 278639, 185759),
    (32, "is"): (216599, 446249, 137663, 206495, 151199),
    (128, "os"): (14807, 26539, 7673, 11129, 7419),
    (128, "ws"): (10220, 34617, 27161, 40742, 27161),
    (128, "is"): (34415, 60609, 13787, 20681, 17225),
}


def section_41_cycles(dataflow: str, rows: int, cols: int, np_: int, k: int, t_red: int,
                      repeats: int = 1) -> int:
    """DESIGN section 4.1: folds of the array times cycles per fold, per dataflow."""
    s_r, s_c, t = {"os": (np_, k, t_red), "ws": (t_red, k, np_), "is": (t_red, np_, k)}[dataflow]
    folds = math.ceil(s_r / rows) * math.ceil(s_c / cols)
    per_fold = t + rows + cols - 2 if dataflow == "os" else 2 * rows + cols + t - 2
    return repeats * folds * per_fold


def scalesim_ofmap(size: int, f: int, s: int) -> int:
    """SCALE-Sim's output size (topology_utils.topo_calc_hyperparams)."""
    return math.ceil((size - f + s) / s)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_text(rows: int = 16, cols: int = 8, dataflow: str = "ws", mode: str = "CALC",
                bandwidth: str = "10") -> str:
    """A SCALE-Sim v3 config, with the sections and keys perfsim ignores."""
    return f"""\
[general]
run_name = test_{rows}x{cols}_{dataflow}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:   64
FilterSramSzkB:  32
OfmapSramSzkB:   16
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

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
SparsitySupport : false
SparseRep : ellpack_block

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


# --- running SCALE-Sim's inputs ------------------------------------------------------------

@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_alexnet_topology_runs_with_section_41_cycles_and_scalesim_output_sizes(
        tmp_path, dataflow):
    rows, cols = 16, 8  # not square: ArrayHeight must be the rows
    network = load_scalesim_topology(write(tmp_path, "alexnet.csv", ALEXNET_CSV))
    hw = load_scalesim_config(write(tmp_path, "scale.cfg", config_text(rows, cols, dataflow)))
    result = simulate(network, hw)
    convs = [row for row in result.layers if row.op == "conv"]
    assert [row.layer for row in convs] == [shape[0] for shape in ALEXNET]
    for row, (name, h, w, fy, fx, c, k, s) in zip(convs, ALEXNET):
        oy, ox = scalesim_ofmap(h, fy, s), scalesim_ofmap(w, fx, s)
        assert row.out_shape == [k, oy, ox], name
        assert row.macs == oy * ox * fy * fx * c * k, name  # SCALE-Sim's num_mac
        assert row.engine == "array", name
        assert row.compute_cycles == section_41_cycles(dataflow, rows, cols, oy * ox, k,
                                                       fy * fx * c), name
        # CALC mode is stall-free: nothing but compute counts.
        assert row.total_cycles == row.compute_cycles and row.stall_cycles == 0, name
    # Conv1's last window overhangs: SCALE-Sim's 55 outputs, not a no-padding conv's 54.
    assert convs[0].out_shape[1:] == [55, 55] and (224 - 11) // 4 + 1 == 54


@pytest.mark.parametrize("size,dataflow", sorted(SCALESIM_V3_ALEXNET))
def test_alexnet_cycles_are_scalesim_v3s_plus_one(tmp_path, size, dataflow):
    network = load_scalesim_topology(write(tmp_path, "alexnet.csv", ALEXNET_CSV))
    hw = load_scalesim_config(write(tmp_path, "scale.cfg", config_text(size, size, dataflow)))
    cycles = tuple(row.compute_cycles for row in simulate(network, hw).layers
                   if row.op == "conv")
    assert cycles == tuple(c + 1 for c in SCALESIM_V3_ALEXNET[size, dataflow])


def test_rows_are_independent_layers_named_after_the_file(tmp_path):
    network = load_scalesim_topology(write(tmp_path, "alexnet.csv", ALEXNET_CSV))
    assert network.name == "alexnet" and network.source == str(tmp_path / "alexnet.csv")
    assert len(network.inputs) == 5
    for name, h, w, _, _, c, _, _ in ALEXNET:
        assert network.layer(name).inputs == (f"{name}/ifmap",)
        assert network.shape_of(f"{name}/ifmap") == (c, h, w)
        assert network.layer(name).op.bias is False


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_gemm_topology_is_m_pixels_n_filters_k_reduction(tmp_path, dataflow):
    rows, cols = 32, 16
    network = load_scalesim_topology(write(tmp_path, "gpt.csv", GEMM_CSV))
    hw = load_scalesim_config(write(tmp_path, "scale.cfg", config_text(rows, cols, dataflow)))
    result = simulate(network, hw, pin=SCALESIM_PINS)
    convs = {row.layer: row for row in result.layers if row.op == "conv"}
    assert list(convs) == [g[0] for g in GEMMS]
    for name, m, n, k in GEMMS:
        row = convs[name]
        assert network.shape_of(f"{name}/ifmap") == (k, m, 1)
        assert row.out_shape == [n, m, 1] and row.macs == m * n * k, name
        assert row.engine == "array"
        assert row.compute_cycles == section_41_cycles(dataflow, rows, cols, m, n, k), name
        assert row.total_cycles == row.compute_cycles, name


def test_without_pins_a_one_row_gemm_may_leave_the_array(tmp_path):
    # Why SCALESIM_PINS exists: perfsim runs a layer on the engine that finishes first, and
    # the vector engine finishes M = 1 sooner than a weight-stationary 32x16 array.
    network = load_scalesim_topology(write(tmp_path, "gpt.csv", GEMM_CSV))
    hw = load_scalesim_config(write(tmp_path, "scale.cfg", config_text(32, 16, "ws")))
    fc = next(row for row in simulate(network, hw).layers if row.layer == "fc")
    assert fc.engine == "vector"
    assert fc.compute_cycles < section_41_cycles("ws", 32, 16, 1, 1000, 4096)


def test_dp_rows_are_depthwise_one_gemm_per_channel(tmp_path):
    text = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides,\nConv2_DP, 112, 112, 3, 3, 32, 1, 2,#dw\n"
            "Conv3, 56, 56, 1, 1, 32, 64, 1,\n")
    network = load_scalesim_topology(write(tmp_path, "mobilenet.csv", text))
    hw = load_scalesim_config(write(tmp_path, "scale.cfg", config_text(8, 8, "os")))
    dw = network.layer("Conv2_DP").op
    assert dw.groups == 32 and dw.out_channels == 32 and network.layer("Conv3").op.groups == 1
    row = next(r for r in simulate(network, hw, pin=SCALESIM_PINS).layers
               if r.layer == "Conv2_DP")
    side = scalesim_ofmap(112, 3, 2)
    assert side == 56 and row.out_shape == [32, side, side]
    # SCALE-Sim runs 32 one-channel layers of one filter each.
    assert row.compute_cycles == section_41_cycles("os", 8, 8, side * side, 1, 9, repeats=32)


def test_two_stride_header_of_scalesims_own_writer(tmp_path):
    text = ("Layer name,IFMAP height,IFMAP width,Filter height,Filter width,Channels,"
            "Num filter,Stride height,Stride width,\nc,20,31,3,4,5,6,2,3,\n")
    network = load_scalesim_topology(write(tmp_path, "two.csv", text))
    op = network.layer("c").op
    assert op.stride == (2, 3)
    assert network.shape_of("c") == (6, scalesim_ofmap(20, 3, 2), scalesim_ofmap(31, 4, 3))


# --- configs -------------------------------------------------------------------------------

def test_config_maps_the_array_srams_and_bandwidth(tmp_path):
    hw = load_scalesim_config(write(tmp_path, "a.cfg", config_text(16, 8, "is", "USER", "24")))
    array, vector = hw.engines
    assert (hw.name, array.name, array.rows, array.cols) == ("test_16x8_is", "array", 16, 8)
    assert array.dataflow == "input_stationary"
    assert vector.kind == "vector" and vector.lanes == 8  # one lane per array column
    assert hw.sram.split_bytes == (64 * 1024, 32 * 1024, 16 * 1024)
    assert hw.sram.size_kib == 64 + 32 + 16
    assert hw.dram_bytes_per_cycle == 24 and hw.clock_ghz == 1.0
    assert (hw.precision.activation_bytes, hw.precision.weight_bytes) == (1, 1)
    calc = load_scalesim_config(write(tmp_path, "b.cfg", config_text(mode="CALC")))
    assert calc.dram_bytes_per_cycle > 1e15  # stall-free: effectively unlimited


def test_user_bandwidth_list_takes_the_first_entry_and_calc_ignores_it(tmp_path):
    hw = load_scalesim_config(write(tmp_path, "a.cfg", config_text(mode="USER",
                                                                   bandwidth="50, 10, 10")))
    assert hw.dram_bytes_per_cycle == 50
    # SCALE-Sim reads Bandwidth only in USER mode.
    load_scalesim_config(write(tmp_path, "b.cfg", config_text(mode="CALC", bandwidth="n/a")))


def test_a_v2_style_config_without_v3_sections_loads(tmp_path):
    text = ("[general]\nrun_name = tpu_like_ws\n\n[architecture_presets]\narrayheight: 256\n"
            "ARRAYWIDTH: 256\nIfmapSramSzkB: 6144\nFilterSramSzkB: 6144\nOfmapSramSzkB: 2048\n"
            "Dataflow : ws\nBandwidth : 10\nMemoryBanks: 1\n\n[run_presets]\n"
            "InterfaceBandwidth: CALC\nSRAM_row_size: 2\n")
    hw = load_scalesim_config(write(tmp_path, "v2.cfg", text))
    assert hw.engines[0].rows == hw.engines[0].cols == 256


def test_format_helpers(tmp_path):
    assert is_scalesim_topology(write(tmp_path, "alexnet.csv", ALEXNET_CSV))
    assert is_scalesim_topology(write(tmp_path, "GPT.CSV", GEMM_CSV))
    assert not is_scalesim_topology(write(tmp_path, "other.csv", "a,b,c\n1,2,3\n"))
    assert not is_scalesim_topology(write(tmp_path, "net.yaml", ALEXNET_CSV))
    assert not is_scalesim_topology(tmp_path / "missing.csv")
    assert is_scalesim_config("scale.cfg") and is_scalesim_config(Path("x/Y.CFG"))
    assert not is_scalesim_config("matrix_engine.yaml")


# --- malformed files -----------------------------------------------------------------------

HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
          "Num Filter, Strides,\n")


@pytest.mark.parametrize("text,line,needle", [
    (HEADER + "Conv1,224,224,11,11,3,96,4,\nConv2,27,2x7,5,5,96,256,1,\n", 3,
     "layer 'Conv2': IFMAP Width: expected a positive integer, got '2x7'"),
    (HEADER + "Conv1,224,224,11,11,3,0,4,\n", 2, "Num Filter: expected a positive integer"),
    (HEADER + "\nConv1,224,224,11,11,3,96,\n", 3, "expected 8 fields"),
    (HEADER + "Conv1,224,224,11,11,3,96,4,1:4,extra,\n", 2, "got 10"),
    (HEADER + "Conv1,224,224,11,11,3,96,4,4:1,\n", 2, "sparsity ratio"),
    (HEADER + "Conv1,5,224,11,11,3,96,4,\n", 2, "Filter Height 11 exceeds IFMAP Height 5"),
    (HEADER + "Conv1,224,224,11,11,3,96,4,\nConv1,27,27,5,5,96,256,1,\n", 3,
     "the name 'Conv1' is taken by the row at line 2"),
    (HEADER + " ,224,224,11,11,3,96,4,\n", 2, "layer name (first field) is empty"),
    ("Layer, M, N, K,\nfc,1,1000\n", 2, "expected 4 fields (name, M, N, K)"),
    ("", 1, "empty file"),
    ("\n  \n", 1, "empty file"),
    (HEADER, 1, "no layers"),
    ("name, h, w\nConv1,1,2\n", 1, "not a SCALE-Sim topology header"),
])
def test_malformed_topology_is_one_error_with_file_and_line(tmp_path, text, line, needle):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(WorkloadError) as err:
        load_scalesim_topology(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ") and "\n" not in message
    assert needle in message


def test_unreadable_topology(tmp_path):
    with pytest.raises(WorkloadError, match="no such file"):
        load_scalesim_topology(tmp_path / "missing.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(WorkloadError, match="not a text file"):
        load_scalesim_topology(binary)


def _edit(old: str, new: str, **kwargs) -> str:
    text = config_text(**kwargs)
    assert old in text
    return text.replace(old, new, 1)


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize("old,new,anchor,needle", [
    ("Dataflow : ws", "Dataflow : xs", "Dataflow", "architecture_presets.Dataflow: must be one "
                                                   "of os, ws, is, got 'xs'"),
    ("Dataflow : ws", "Dataflow : WS", "Dataflow",
     "architecture_presets.Dataflow: must be one of os, ws, is, got 'WS'; did you mean: ws?"),
    ("IfmapSramSzkB:   64", "IfmapSramSzkB:   64.5", "IfmapSramSzkB",
     "architecture_presets.IfmapSramSzkB: expected a positive integer, got '64.5'"),
    ("ArrayWidth:     8", "ArrayWidth:     0", "ArrayWidth",
     "architecture_presets.ArrayWidth: expected a positive integer, got '0'"),
    ("ArrayHeight:    16\n", "", "[architecture_presets]",
     "architecture_presets.ArrayHeight: required key is missing"),
    ("ArrayHeight:    16", "ArrayHieght:    16", "[architecture_presets]",
     "architecture_presets.ArrayHeight: required key is missing; did you mean: ArrayHieght"),
    ("InterfaceBandwidth: CALC", "InterfaceBandwidth: calc", "InterfaceBandwidth",
     "run_presets.InterfaceBandwidth: must be one of CALC, USER, got 'calc'; did you mean: CALC?"),
    ("SparsitySupport : false", "SparsitySupport : true", "SparsitySupport",
     "sparsity.SparsitySupport: perfsim models dense compute only"),
    ("run_name = test_16x8_ws", "run_name =", "run_name", "general.run_name: must not be empty"),
    ("[general]", "[generl]", None,
     "general.run_name: required key is missing: there is no [general] section; did you mean: "
     "generl?"),
])
def test_malformed_config_names_file_line_and_key(tmp_path, old, new, anchor, needle):
    text = _edit(old, new)
    path = write(tmp_path, "bad.cfg", text)
    with pytest.raises(ConfigError) as err:
        load_scalesim_config(path)
    message = str(err.value)
    expected_line = 1 if anchor is None else _line_of(text, anchor)  # no section: line 1
    assert message.startswith(f"{path}:{expected_line}: {needle}") and "\n" not in message


def test_user_mode_needs_a_bandwidth(tmp_path):
    text = _edit("Bandwidth : 10\n", "", mode="USER")
    path = write(tmp_path, "user.cfg", text)
    with pytest.raises(ConfigError, match=rf"{path}:{_line_of(text, '[architecture_presets]')}: "
                                          r"architecture_presets.Bandwidth: required key"):
        load_scalesim_config(path)
    bad = write(tmp_path, "bad.cfg", config_text(mode="USER", bandwidth="10 words"))
    with pytest.raises(ConfigError, match=r"architecture_presets.Bandwidth: expected words per "
                                          r"cycle"):
        load_scalesim_config(bad)


def test_every_problem_is_listed_in_line_order(tmp_path):
    text = _edit("Dataflow : ws", "Dataflow : xs").replace("ArrayWidth:     8",
                                                           "ArrayWidth:     eight")
    path = write(tmp_path, "two.cfg", text)
    with pytest.raises(ConfigError) as err:
        load_scalesim_config(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"2 problem(s) in {path}:"
    assert lines[1].startswith(f"{path}:{_line_of(text, 'ArrayWidth')}: "
                               f"architecture_presets.ArrayWidth:")
    assert lines[2].startswith(f"{path}:{_line_of(text, 'Dataflow')}: "
                               f"architecture_presets.Dataflow:")


@pytest.mark.parametrize("text,line,needle", [
    ("run_name = x\n[general]\n", 1, "a key before any [section] header"),
    ("[general]\nrun_name = x\nrun_name = y\n", 3, "general.run_name: duplicate key"),
    ("[general]\nrun_name = x\n[general]\n", 3, "[general]: duplicate section"),
    ("[general]\nrun_name = x\njust words\n", 3, "neither 'Key: value' nor '[section]'"),
])
def test_config_syntax_errors_name_the_line(tmp_path, text, line, needle):
    path = write(tmp_path, "syntax.cfg", text)
    with pytest.raises(ConfigError) as err:
        load_scalesim_config(path)
    assert str(err.value).startswith(f"{path}:{line}: {needle}")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_scalesim_config(tmp_path / "missing.cfg")
