"""The inference graph (README, "The inference graph"): batch norm folded into the conv before
it, activations and residual adds in the output path of the engine that produces their input,
every absorbed layer accounted for in the row it joined; ``--graph raw`` costs the training
graph layer for layer. Byte and cycle counts are worked by hand in the comments."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from perfsim import InfeasibleError, NetworkBuilder, load_hw
from perfsim.hardware.model import Dram, HwConfig, MatrixEngine, Precision, Sram, VectorEngine
from perfsim.mapping.fusion import inference_graph
from perfsim.simulate import simulate
from perfsim.workload.ops import OPS
from perfsim.workload.passes import Fused, fold_affine
from perfsim.workload.zoo import build_workload, workload_names


def accelerator(output_elems_per_cycle=None, vector=True, dram_gb_per_s=0.1) -> HwConfig:
    """A 4x4 weight-stationary array beside a 4-lane vector unit, 64 KiB of SRAM (every tensor
    below fits whole) and DRAM at 0.1 byte per cycle, no latency: every layer waits for DRAM,
    so the fastest tiling fetches each tensor once."""
    engines = (MatrixEngine("mxu", 4, 4, "weight_stationary",
                            output_elems_per_cycle=output_elems_per_cycle),)
    if vector:
        engines += (VectorEngine("vpu", 4),)
    return HwConfig("test", 1.0, Precision(1, 1, 4), engines, Sram(64.0, 64.0), Dram(dram_gb_per_s, 0.0))


def conv_bn_relu(bias_only: bool = False):
    """conv 3x3, C=4 -> K=8 on an 8x8 map, pad 1, no bias; then BN and ReLU (or, with
    ``bias_only``, the conv alone with a bias)."""
    b = NetworkBuilder("cbr", (4, 8, 8))
    if bias_only:
        b.add("conv", b.input, out_channels=8, kernel=3, padding=1, bias=True, name="c")
    else:
        b.conv_bn(b.input, 8, 3, name="c")
    return b.build()


def rows(run) -> dict:
    return {r.layer: r for r in run.layers}


def test_conv_bn_relu_is_one_row_moving_the_conv_bytes_alone():
    run = simulate(conv_bn_relu(), accelerator())
    assert [r.layer for r in run.layers] == ["input", "c"]
    c = rows(run)["c"]
    assert c.fused == ("c/bn", "c/relu") and c.engine == "mxu"
    # DRAM: input 4*8*8 = 256 B, weights 8*4*3*3 = 288 B, the bias BN's shift became
    # 8 B; the output 8*8*8 = 512 B is the network's, written once: 256 + 288 + 8 + 512.
    assert (c.dram_read_bytes, c.dram_write_bytes) == (552, 512)
    # Counts: the bias add and the ReLU, one op per output each: 2 * 512; parameters 288
    # weights + 8 biases (BN's 16 scale and shift are folded away).
    assert (c.ops, c.params, c.weight_bytes) == (1024, 296, 296)
    # WS on 4x4: T_red = 4*9 = 36 -> 9 row folds, K = 8 -> 2 column folds, 18 folds of
    # 2*4 + 4 + 64 - 2 = 74 cycles = 1332; the ReLU's 512 ops at one per column per cycle
    # (4) take 128 cycles in the output path, hidden behind the array: SCALE-Sim's cycles.
    assert c.compute_cycles == 1332
    alone = rows(simulate(conv_bn_relu(bias_only=True), accelerator()))["c"]
    assert (alone.dram_read_bytes, alone.dram_write_bytes) == (552, 512)
    assert alone.compute_cycles == c.compute_cycles


def test_raw_graph_costs_every_layer_on_its_own():
    run = simulate(conv_bn_relu(), accelerator(), fuse=False)
    assert run.options["graph"] == "raw"
    r = rows(run)
    assert list(r) == ["input", "c", "c/bn", "c/relu"]
    assert all(row.fused == () for row in run.layers)
    # conv: input 256 + weights 288 B from DRAM; its output stays in SRAM for the BN.
    assert (r["c"].dram_read_bytes, r["c"].dram_write_bytes) == (544, 0)
    # BN on the 4-lane vector unit: 512 outputs, 2 ops each: 512 / 4 * 2 = 256 cycles,
    # reading its 8 scales and 8 shifts; ReLU 512 / 4 = 128 cycles, writing the 512 B out.
    assert (r["c/bn"].engine, r["c/bn"].compute_cycles, r["c/bn"].dram_read_bytes) == \
        ("vpu", 256, 16)
    assert (r["c/relu"].compute_cycles, r["c/relu"].dram_write_bytes) == (128, 512)
    assert run.totals["raw_graph_cycles"] is None and run.totals["fused_layers"] == 0


def test_totals_say_what_folding_and_fusing_saved():
    hw = accelerator()
    raw = simulate(conv_bn_relu(), hw, fuse=False).totals["cycles"]
    run = simulate(conv_bn_relu(), hw)
    t = run.totals
    assert run.options["graph"] == "inference"
    assert t["fused_layers"] == 2 and t["raw_graph_cycles"] == raw
    assert t["fusion_saved_cycles"] == raw - t["cycles"] > 0
    skipped = simulate(conv_bn_relu(), hw, compare_raw=False).totals
    assert skipped["cycles"] == t["cycles"] and skipped["raw_graph_cycles"] is None
    assert run.summary()[0].endswith(f"inference graph: 2 layers folded or fused, "
                                     f"{raw - t['cycles']:,} cycles saved "
                                     f"({(raw - t['cycles']) / raw:.0%} of the raw graph's "
                                     f"{raw:,})")


def residual_block():
    """a = ReLU(BN(conv 1x1, 8 -> 8)) on an 8x8 map; b = BN(conv 1x1 of a); out =
    ReLU(b + a): a is read by conv b and, as the skip, by the add."""
    bld = NetworkBuilder("res", (8, 8, 8))
    a = bld.conv_bn(bld.input, 8, 1, name="a")
    b = bld.conv_bn(a, 8, 1, name="b", act=None)
    bld.add("relu", bld.add("add", b, a, name="add"), name="out")
    return bld.build()


def test_residual_add_joins_the_conv_and_its_skip_read_is_counted():
    run = simulate(residual_block(), accelerator(), residency="dram")
    assert [r.layer for r in run.layers] == ["input", "a", "b"]
    b = rows(run)["b"]
    assert b.fused == ("b/bn", "add", "out")
    # Every activation through DRAM: conv b reads a (8*8*8 = 512 B) and its output path
    # reads a again as the skip (512 B); weights 8*8 = 64 B and the folded bias 8 B; it
    # writes the 512 B result: 512 + 512 + 64 + 8 read, 512 written.
    assert (b.in_bytes, b.dram_read_bytes, b.dram_write_bytes) == (1024, 1096, 512)
    # Array: T_red = 8 -> 2 row folds, K = 8 -> 2 column folds: 4 folds of 8 + 4 + 64 - 2 =
    # 74 = 296 cycles; output path: add and ReLU, 2 ops on each of 512 outputs at 4 per
    # cycle = 256 cycles, hidden behind the array.
    assert b.compute_cycles == 296
    # With activations kept on chip, the skip is one of the layer's sources in SRAM: only
    # the weights and bias (72 B) come from DRAM, and the network's output goes there.
    kept = rows(simulate(residual_block(), accelerator()))["b"]
    assert kept.in_location == "sram"
    assert (kept.dram_read_bytes, kept.dram_write_bytes) == (72, 512)


def test_an_output_path_slower_than_the_array_sets_the_compute_cycles():
    # 2 elements per cycle: the residual block's 1024 epilogue ops take 512 cycles, more
    # than the array's 296; with DRAM fast enough not to be the limit, the reason says so.
    # The array does 4096 MACs in 512 cycles of 16 MACs: 50% used, compute-bound.
    hw = accelerator(output_elems_per_cycle=2, dram_gb_per_s=64.0)
    b = rows(simulate(residual_block(), hw))["b"]
    assert (b.engine, b.compute_cycles, b.bound) == ("mxu", 512, "compute")
    assert "output path takes 512 cycles against the array's 296" in b.reason
    # 1 element per cycle: 1024 cycles of compute, 25% of the array used while computing:
    # utilisation-bound, and why. The reason quotes the row's utilisation, of its 1,034 busy
    # cycles (the exposed first load and last store included): 4096 / (1034 x 16) = 24.8%.
    hw = accelerator(output_elems_per_cycle=1, dram_gb_per_s=64.0)
    b = rows(simulate(residual_block(), hw))["b"]
    assert (b.engine, b.compute_cycles, b.total_cycles, b.bound) == (
        "mxu", 1024, 1034, "utilization")
    assert b.reason.startswith("utilization: 24.8% of the 4x4 array used: its output path "
                               "takes 1,024 cycles against the array's 296")
    assert f"{b.utilization:.1%}" == "24.8%"


def test_no_output_path_keeps_the_element_wise_layers():
    hw = accelerator(output_elems_per_cycle=0)
    run = simulate(conv_bn_relu(), hw)
    r = rows(run)
    # BN still folds (that needs no hardware); the ReLU stays a layer, on the vector unit.
    assert list(r) == ["input", "c", "c/relu"]
    assert r["c"].fused == ("c/bn",) and r["c/relu"].engine == "vpu"
    # ... and with no vector unit either, nothing can run it: a clear error.
    with pytest.raises(InfeasibleError, match="no engine that can run op relu"):
        simulate(conv_bn_relu(), accelerator(output_elems_per_cycle=0, vector=False))
    # With an output path, an array alone runs the whole network.
    assert len(simulate(conv_bn_relu(), accelerator(vector=False)).layers) == 2


def test_a_pinned_op_kind_stays_a_layer():
    r = rows(simulate(conv_bn_relu(), accelerator(), pin={"relu": "vpu"}))
    assert list(r) == ["input", "c", "c/relu"] and r["c/relu"].engine == "vpu"


def test_batch_norm_folds_only_into_a_conv_it_alone_reads():
    # conv -> BN and conv -> ReLU side by side: the conv's output has two consumers, so the
    # BN cannot change the weights under the ReLU's feet.
    b = NetworkBuilder("two", (4, 8, 8))
    c = b.add("conv", b.input, out_channels=4, kernel=1, bias=False, name="c")
    b.add("batch_norm", c, name="bn")
    b.add("relu", c, name="r")
    net = b.build()
    assert fold_affine(net) is net
    assert [layer.name for layer in inference_graph(net, accelerator()).layers] == \
        ["input", "c", "bn", "r"]


def test_a_folded_scale_without_shift_gives_the_conv_no_bias():
    b = NetworkBuilder("s", (4, 8, 8))
    b.add("scale", b.add("conv", b.input, out_channels=4, kernel=1, bias=False, name="c"),
          factor=0.5, name="s")
    (_, c) = fold_affine(b.build()).layers
    assert c.fused == ("s",) and c.op.bias is False


ZOO_HW = "matrix_engine"
PRE_ACTIVATION = {"densenet121", "densenet161", "densenet169", "densenet201", "densenet264",
                  "dpn92", "dpn98", "shiftnet_a", "xception"}
"""Networks with batch norms or activations whose input is also read elsewhere (a
pre-activation after a dense concat, a shift, or an add that is also the skip; DPN's adds of
split outputs): those stay layers."""


@pytest.mark.parametrize("name", workload_names())
def test_zoo_on_matrix_engine_keeps_no_bn_or_activation_that_can_fuse(name):
    raw = build_workload(name)
    graph = inference_graph(raw, load_hw(ZOO_HW))
    # every layer of the training graph is a row, or is named by the one row it joined
    absorbed = [n for layer in graph.layers for n in layer.fused]
    assert sorted([layer.name for layer in graph.layers] + absorbed) == \
        sorted(layer.name for layer in raw.layers)
    consumers: dict[str, int] = {}
    for layer in graph.layers:
        for source in layer.sources:
            consumers[source] = consumers.get(source, 0) + 1
    by_name = {layer.name: layer for layer in graph.layers}
    left = [layer for layer in graph.layers if OPS[layer.op.kind].fuses_as_epilogue]
    for layer in left:  # each input is also read elsewhere, or comes from no single-output
        for source in layer.sources:  # layer that does work
            producer = by_name[source]
            assert (consumers[source] > 1 or producer.op.view
                    or len(graph.out_shapes[source]) > 1), (layer.name, source)
    if name not in PRE_ACTIVATION:
        assert left == []
    assert not any(layer.op.kind == "batch_norm" and not isinstance(layer.op, Fused)
                   and by_name[layer.sources[0]].op.takes_folded_affine
                   and consumers[layer.sources[0]] == 1 for layer in graph.layers)


def test_run_cli_graph_flag(tmp_path):
    net = tmp_path / "cbr.yaml"
    net.write_text("version: 1\nname: cbr\ninput_shape: [4, 8, 8]\nlayers:\n"
                   "  - {name: c, op: conv, out_channels: 8, kernel: 3, padding: 1, "
                   "bias: false}\n  - {name: c/bn, op: batch_norm}\n"
                   "  - {name: c/relu, op: relu}\n")

    def run(*extra):
        result = subprocess.run([sys.executable, "-m", "perfsim", "run", str(net), "--hw",
                                 "edge_npu", "--format", "json", *extra], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    fused, raw = run(), run("--graph", "raw")
    assert fused["options"]["graph"] == "inference" and raw["options"]["graph"] == "raw"
    assert [r["fused"] for r in fused["layers"]] == [[], ["c/bn", "c/relu"]]
    expected = simulate(str(net), "edge_npu", fuse=False).to_dict()["layers"]
    assert raw["layers"] == json.loads(json.dumps(expected))
    assert fused["totals"]["raw_graph_cycles"] == raw["totals"]["cycles"]


def test_output_elems_per_cycle_is_a_version_2_key(tmp_path):
    from perfsim import ConfigError
    from perfsim.hardware.loading import load_config, to_document

    engine = ("  - {name: mxu, kind: matrix, rows: 8, cols: 8, dataflow: weight_stationary, "
              "output_elems_per_cycle: 4}\n")
    v2 = tmp_path / "v2.yaml"
    v2.write_text("schema_version: 2\nname: t\nclock_ghz: 1.0\nprecision: {activation_bytes: "
                  "1, weight_bytes: 1, accumulator_bytes: 4}\nengines:\n" + engine +
                  "memory:\n  - {kind: sram, size_kib: 64, bandwidth_bytes_per_cycle: 64}\n"
                  "  - {kind: dram, bandwidth_gb_per_s: 8}\n")
    hw = load_config(v2)
    assert hw.engines[0].output_path_elems_per_cycle == 4
    assert to_document(hw)["engines"][0]["output_elems_per_cycle"] == 4
    v1 = tmp_path / "v1.yaml"
    v1.write_text("schema_version: 1\nname: t\nclock_ghz: 1.0\nprecision: {activation_bytes: "
                  "1, weight_bytes: 1, accumulator_bytes: 4}\nengines:\n" + engine +
                  "memory:\n  sram: {size_kib: 64, bandwidth_bytes_per_cycle: 64}\n"
                  "  dram: {bandwidth_gb_per_s: 8}\n")
    with pytest.raises(ConfigError, match=r"v1.yaml:6: engines\[0\]\.output_elems_per_cycle: "
                                          r"unknown key"):
        load_config(v1)
    # a version 1 file gets the default: one element per column per cycle
    me = load_hw("matrix_engine").engines[0]
    assert me.output_elems_per_cycle is None and me.output_path_elems_per_cycle == me.cols
    assert dataclasses.replace(me, cols=64).output_path_elems_per_cycle == 64
    with pytest.raises(ConfigError, match=r"engines\.mxu\.output_elems_per_cycle: must be >= 0"):
        dataclasses.replace(me, output_elems_per_cycle=-1)


def test_epilogue_constants_travel_with_the_weights():
    # conv 1x1, C=4 -> K=4 with a bias, on a 2x2 map, then a PReLU: one learnt slope per
    # channel, read with the bias. Parameters and constant bytes: 16 weights + 4 biases +
    # 4 slopes = 24; DRAM reads: input 4*2*2 = 16 B and those 24 B; the 16 B output is written.
    b = NetworkBuilder("p", (4, 2, 2))
    b.add("prelu", b.add("conv", b.input, out_channels=4, kernel=1, name="c"), name="p")
    c = rows(simulate(b.build(), accelerator()))["c"]
    assert c.fused == ("p",)
    assert (c.params, c.weight_bytes, c.dram_read_bytes, c.dram_write_bytes) == (24, 24, 40, 16)
    # ops: the bias add and the PReLU's 2 (a multiply and a max) on each of 16 outputs
    assert c.ops == 16 + 2 * 16


def test_a_vector_layer_takes_an_epilogue_on_its_own_lanes():
    # Two network inputs of [4, 2, 2] added, then BN and ReLU: the add reads network inputs
    # (no layer to join), so BN and ReLU join the add, on the vector unit.
    b = NetworkBuilder("v", (4, 2, 2), input_name="x")
    y = b.add("input", shape=(4, 2, 2), name="y")
    b.add("relu", b.add("batch_norm", b.add("add", b.input, y, name="s"), name="bn"), name="r")
    s = rows(simulate(b.build(), accelerator()))["s"]
    assert s.fused == ("bn", "r") and s.engine == "vpu"
    # 16 outputs; ops: the add 1, BN 2, ReLU 1 per output = 64, 4 per output on 4 lanes:
    # 16 / 4 * 4 = 16 cycles. DRAM: both inputs 2 * 16 B, BN's 4 scales and 4 shifts 8 B,
    # the 16 B output.
    assert (s.ops, s.params, s.compute_cycles) == (64, 8, 16)
    assert (s.dram_read_bytes, s.dram_write_bytes) == (40, 16)


def test_with_epilogue_adds_skip_inputs_and_constants_to_a_nest():
    from perfsim.workload import loopnest

    conv = loopnest.convolution(in_channels=4, out_channels=6, in_size=(2, 2), out_size=(2, 2))
    nest = loopnest.with_epilogue(conv, residuals=2, constants=6)
    # two skip inputs indexed as the output (6 * 2 * 2 = 24 elements each); 6 constants on a
    # new bias beside the weights, one per output channel; MACs' operands untouched
    assert [o.name for o in nest.operands] == ["input", "weights", "bias", "residual0",
                                               "residual1", "output"]
    assert nest.elements("residual0") == nest.elements("output") == 24
    assert (nest.operand("bias").travels_with, nest.elements("bias")) == ("weights", 6)
    assert nest.operand("input") == conv.operand("input")
    # a bias already there carries them: 6 biases + 12 constants = 3 per channel
    biased = loopnest.convolution(in_channels=4, out_channels=6, in_size=(2, 2),
                                  out_size=(2, 2), biases_per_output=1)
    assert loopnest.with_epilogue(biased, constants=12).elements("bias") == 18
    # stream work (4 channel groups of 8 elements) keeps them as per-group constants: 8
    # constants = 2 per group
    stream = loopnest.with_epilogue(loopnest.stream(groups=4, in_per_group=8,
                                                    out_per_group=8), constants=8)
    assert stream.elements("constants") == 8 and stream.operand("constants").dims == ("G",)
