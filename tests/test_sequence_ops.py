"""Transformer ops (perfsim.workload.ops.sequence and the element, reduction and slicing ops
added with them): shapes, parameters, MACs and ops of a hand-worked encoder block, their
lowering to GEMMs, and a KV cache that stays in memory while a decode step appends to it."""

from __future__ import annotations

import pytest

import perfsim
from perfsim import WorkloadError
from perfsim.mapping.lowering import gemm, lower
from perfsim.workload import Network, NetworkBuilder

T, D, HEADS = 16, 64, 4
DH = D // HEADS


def encoder_block(tokens: int = T) -> Network:
    """One pre-LN encoder block on ``tokens`` tokens of D features, HEADS heads."""
    b = NetworkBuilder("block", (tokens, 1, D))
    x = b.input
    n = b.add("layer_norm", x, name="ln1")
    q, k, v = (b.add("linear", n, out_features=D, name=name) for name in "qkv")
    qh = b.add("reshape", q, shape=(HEADS, tokens, DH), name="qh")
    kt = b.add("reshape", k, shape=(HEADS, DH, tokens), name="kt")
    vh = b.add("reshape", v, shape=(HEADS, tokens, DH), name="vh")
    s = b.add("matmul", qh, kt, name="scores")
    p = b.add("softmax", s, axis=2, name="probs")
    o = b.add("matmul", p, vh, name="attend")
    o = b.add("reshape", o, shape=(tokens, 1, D), name="merge")
    o = b.add("linear", o, out_features=D, name="proj")
    x = b.add("add", x, o, name="res1")
    n = b.add("layer_norm", x, name="ln2")
    h = b.add("linear", n, out_features=4 * D, name="fc1")
    h = b.add("gelu", h, name="gelu")
    h = b.add("linear", h, out_features=D, name="fc2")
    b.add("add", x, h, name="res2")
    return b.build()


def counts(net, name):
    layer = net.layer(name)
    shapes = net.in_shapes(layer)
    return layer.op.params(shapes), layer.op.macs(shapes), layer.op.ops(shapes)


def test_encoder_block_by_hand():
    net = encoder_block()
    assert net.out_shapes["scores"] == ((HEADS, T, T),)
    assert net.out_shapes["attend"] == ((HEADS, T, DH),)
    assert net.out_shapes["fc1"] == ((T, 1, 4 * D),)
    # a D -> D projection: D*D weights + D biases; T*D*D MACs; a bias add per output
    assert counts(net, "q") == (64 * 64 + 64, 16 * 64 * 64, 16 * 64)
    # scores: per head a (T x DH) @ (DH x T) product: 4 * 16 * 16 * 16 MACs, no parameters
    assert counts(net, "scores") == (0, 4 * 16 * 16 * 16, 0)
    assert counts(net, "attend") == (0, 4 * 16 * 16 * 16, 0)
    # layer norm: scale and shift per feature, 7 ops per element
    assert counts(net, "ln1") == (2 * 64, 0, 7 * 16 * 64)
    # softmax: 3 ops per score; exact GELU: 5 ops per element
    assert counts(net, "probs") == (0, 0, 3 * 4 * 16 * 16)
    assert counts(net, "gelu") == (0, 0, 5 * 16 * 256)
    assert counts(net, "fc1") == (64 * 256 + 256, 16 * 64 * 256, 16 * 256)
    total_params = 2 * 128 + 4 * 4160 + 16640 + 16448
    total_macs = 4 * 65536 + 2 * 16384 + 2 * 262144
    layers = net.layers
    assert sum(layer.op.params(net.in_shapes(layer)) for layer in layers) == total_params
    assert sum(layer.op.macs(net.in_shapes(layer)) for layer in layers) == total_macs == 819_200


def test_linear_and_matmul_lower_to_the_gemms_a_matrix_engine_runs():
    net = Network("block", encoder_block().layers, 2)
    # a linear layer is one GEMM over batch x tokens rows
    g = gemm(lower(net, net.layer("fc1")))
    assert (g.np_, g.k, g.t_red, g.repeats) == (2 * 16, 256, 64, 1)
    # attention: one (T x DH) @ (DH x T) product per sample and head
    g = gemm(lower(net, net.layer("scores")))
    assert (g.np_, g.k, g.t_red, g.repeats) == (16, 16, 16, 2 * 4)


def test_a_matmul_operand_shared_by_every_head_is_one_gemm_per_sample():
    b = NetworkBuilder("shared", (HEADS, T, DH))
    right = b.add("parameter", shape=(1, DH, 8), name="right")
    b.add("matmul", b.input, right, name="mm")
    net = Network("shared", b.build().layers, 3)
    assert net.out_shapes["mm"] == ((HEADS, T, 8),)
    g = gemm(lower(net, net.layer("mm")))
    # the heads' rows stack into one GEMM per sample against the shared matrix
    assert (g.np_, g.k, g.t_red, g.repeats) == (HEADS * T, 8, DH, 3)


@pytest.mark.parametrize("left, right, message", [
    ((4, 16, 8), (4, 9, 16), "8 columns do not match the right operand's 9 rows"),
    ((4, 16, 8), (3, 8, 16), "4 and 3 products do not broadcast"),
])
def test_matmul_shape_errors_name_both_operands(left, right, message):
    b = NetworkBuilder("bad", left)
    other = b.add("parameter", shape=right, name="other")
    with pytest.raises(WorkloadError, match=message):
        b.add("matmul", b.input, other, name="mm")


def test_element_ops_count_by_hand():
    b = NetworkBuilder("elem", (T, 1, D))
    for kind, attrs in [("gelu", {"approximate": "tanh"}), ("silu", {}), ("hard_swish", {}),
                        ("hard_sigmoid", {}), ("rms_norm", {}),
                        ("layer_norm", {"bias": False})]:
        b.add(kind, b.input, name=kind, **attrs)
    net = b.build()
    n = T * D
    assert counts(net, "gelu") == (0, 0, 11 * n)
    assert counts(net, "silu") == (0, 0, 4 * n)
    assert counts(net, "hard_swish") == (0, 0, 5 * n)
    assert counts(net, "hard_sigmoid") == (0, 0, 4 * n)
    assert counts(net, "rms_norm") == (D, 0, 4 * n)
    assert counts(net, "layer_norm") == (D, 0, 6 * n)


def test_reductions_slices_and_embeddings():
    b = NetworkBuilder("misc", (T, 1, 1), input_name="ids")
    e = b.add("embedding", b.input, num_embeddings=1000, dim=D, name="emb")
    p = b.add("positional_embedding", e, max_positions=64, offset=8, name="pos")
    m = b.add("reduce", p, mode="mean", axes=[2], name="mean")
    c = b.add("slice", p, axis=0, start=0, stop=1, name="cls")
    net = b.build()
    assert net.out_shapes["emb"] == ((T, 1, D),)
    layer = net.layer("emb")
    # the table is the parameters; a layer reads only its tokens' rows
    assert layer.op.params(net.in_shapes(layer)) == 1000 * D
    assert layer.op.weight_elems(net.in_shapes(layer)) == T * D
    assert counts(net, "pos") == (64 * D, 0, T * D)
    # a mean: an add per element and a divide per output
    assert net.out_shapes[m] == ((T, 1, 1),)
    assert counts(net, "mean") == (0, 0, T * D + T)
    assert net.out_shapes[c] == ((1, 1, D),)
    # a slice reads only the elements it keeps
    nest = lower(net, net.layer("cls")).nest
    assert nest.elements("input") == nest.elements("output") == D
    with pytest.raises(WorkloadError, match="positions 60 to 75 are beyond the table's 64"):
        b.add("positional_embedding", e, max_positions=64, offset=60, name="late")


def decode_step(cache_tokens: int, batch: int) -> Network:
    """One token's attention over a cache of ``cache_tokens`` earlier tokens."""
    b = NetworkBuilder("decode", (1, 1, D))
    past_k = b.add("input", shape=(HEADS, cache_tokens, DH), name="past_k")
    past_v = b.add("input", shape=(HEADS, cache_tokens, DH), name="past_v")
    q, k, v = (b.add("linear", b.input, out_features=D, name=name) for name in "qkv")
    qh = b.add("reshape", q, shape=(HEADS, 1, DH), name="qh")
    kn = b.add("reshape", k, shape=(HEADS, 1, DH), name="kn")
    vn = b.add("reshape", v, shape=(HEADS, 1, DH), name="vn")
    keys = b.add("kv_append", past_k, kn, name="keys")
    values = b.add("kv_append", past_v, vn, name="values")
    kt = b.add("reshape", keys, shape=(HEADS, DH, cache_tokens + 1), name="kt")
    s = b.add("matmul", qh, kt, name="scores")
    p = b.add("softmax", s, axis=2, name="probs")
    b.add("matmul", p, values, name="attend")
    return Network("decode", b.build().layers, batch)


def test_a_decode_step_appends_to_its_cache_in_place_and_reads_it_from_dram():
    cache, batch = 256, 2
    act = 1  # matrix_engine's int8 activations
    result = perfsim.simulate(decode_step(cache, batch), "matrix_engine")
    rows = result.to_frame().set_index("layer")
    assert result.hw.precision.activation_bytes == act
    # the append writes the new token's keys, in DRAM where the cache is: no copy of the cache
    keys = rows.loc["keys"]
    assert keys.out_location == "dram"
    assert keys.dram_write_bytes == batch * D * act
    # the scores read every cached key once at least (the cache was never on chip)
    assert rows.loc["scores"].dram_read_bytes >= batch * (cache + 1) * D * act
    assert rows.loc["attend"].dram_read_bytes >= batch * (cache + 1) * D * act
    # and nothing beats the physics
    assert (rows.utilization <= 1).all()


def test_every_shipped_config_runs_the_block_within_its_peaks():
    net = encoder_block()
    for hw in ("matrix_engine", "vector_engine", "eyeriss", "tpu_v1", "hetero",
               "edge_npu"):
        for fidelity in ("analytic", "event"):
            rows = perfsim.simulate(net, hw, fidelity=fidelity).to_frame()
            assert (rows.utilization <= 1 + 1e-9).all(), (hw, fidelity)
            assert rows.macs.sum() == 819_200
