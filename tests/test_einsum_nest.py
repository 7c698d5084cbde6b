"""The einsum form of a layer (:mod:`perfsim.workload.loopnest`): validated on construction, its
constructors give the operands and element counts worked out by hand, and every zoo layer
lowers to one."""

from __future__ import annotations

import pytest

import perfsim
from perfsim.errors import WorkloadError
from perfsim.workload import loopnest as ln
from perfsim.workload.ops import elems
from perfsim.workload.loopnest import Dim, LoopNest, Operand, Plain, Spread, Window


def gemm(**changes) -> dict:
    parts = dict(
        dims=(Dim("M", 4), Dim("N", 3), Dim("K", 5)),
        operands=(Operand("a", "input", (Plain("M"), Plain("K"))),
                  Operand("b", "weights", (Plain("K"), Plain("N"))),
                  Operand("out", "output", (Plain("M"), Plain("N")))))
    parts.update(changes)
    return parts


def test_a_gemm_is_valid_and_reduces_over_k():
    nest = LoopNest(**gemm())
    assert nest.reduction_dims == ("K",)
    assert nest.tiled_dims == ("M", "N", "K")
    assert nest.elements("a") == 20 and nest.elements("out") == 12
    with pytest.raises(WorkloadError, match="no dimension 'Q' \\(the nest has M, N, K\\)"):
        nest.size("Q")
    with pytest.raises(WorkloadError, match="no operand 'w'"):
        nest.operand("w")


@pytest.mark.parametrize("change, message", [
    (dict(operands=(Operand("a", "input", (Plain("M"), Plain("Q"))),
                    Operand("out", "output", (Plain("M"),)))), "unknown dimension 'Q'"),
    (dict(dims=(Dim("M", 4), Dim("M", 3), Dim("K", 5))), "duplicate dimension"),
    (dict(operands=(Operand("a", "input", (Plain("M"), Plain("K"))),
                    Operand("a", "weights", (Plain("K"), Plain("N"))),
                    Operand("out", "output", (Plain("M"), Plain("N"))))), "duplicate operand"),
    (dict(operands=(Operand("a", "input", (Plain("M"), Plain("K"))),
                    Operand("b", "output", (Plain("K"), Plain("N"))),
                    Operand("out", "output", (Plain("M"), Plain("N"))))), "exactly one output"),
    (dict(operands=(Operand("a", "input", (Plain("M"), Plain("K"))),
                    Operand("out", "output", (Plain("M"),)))), "dimension N indexes no operand"),
    (dict(sequential="T"), "sequential dimension 'T'"),
])
def test_inconsistent_nests_are_rejected(change, message):
    with pytest.raises(WorkloadError, match=message):
        LoopNest(**gemm(**change))


def test_operand_and_dim_rules():
    with pytest.raises(WorkloadError, match="more than one of its axes"):
        Operand("a", "input", (Plain("M"), Plain("M")))
    with pytest.raises(WorkloadError, match="plain or spread axes only"):
        Operand("o", "output", (Window("OY", "FY", 5),))
    with pytest.raises(WorkloadError, match="names the weights it travels with"):
        Operand("bias", "bias", (Plain("K"),))
    with pytest.raises(WorkloadError, match="role must be one of"):
        Operand("x", "state", (Plain("K"),))
    with pytest.raises(WorkloadError, match="size must be an integer >= 1"):
        Dim("K", 0)
    with pytest.raises(WorkloadError, match="split must be one of"):
        Dim("K", 3, "quarters")
    with pytest.raises(WorkloadError, match="stride must be an integer >= 1"):
        Window("OY", "FY", 5, stride=0)


def test_windows_slide_over_whole_filters_and_spreads_lie_along_parts():
    dims = (Dim("OY", 3), Dim("FY", 3), Dim("K", 2))
    out = Operand("o", "output", (Plain("K"), Plain("OY")))
    with pytest.raises(WorkloadError, match="filter dimension FY must be split 'whole'"):
        LoopNest(dims, (Operand("i", "input", (Window("OY", "FY", 5),)),
                        Operand("w", "weights", (Plain("K"), Plain("FY"))), out))
    with pytest.raises(WorkloadError, match="spread axis lies along a dimension split 'parts'"):
        LoopNest((Dim("S", 4), Dim("K", 2)), (Operand("i", "input", (Spread("S", 4),)),
                                              Operand("o", "output", (Plain("K"), Plain("S")))))


def test_a_bias_travels_with_weights_that_have_its_dims():
    parts = gemm()
    with pytest.raises(WorkloadError, match="not a weights operand"):
        LoopNest(**gemm(operands=parts["operands"] + (
            Operand("bias", "bias", (Plain("N"),), travels_with="a"),)))
    with pytest.raises(WorkloadError, match="are not all dimensions"):
        LoopNest(**gemm(operands=parts["operands"] + (
            Operand("bias", "bias", (Plain("M"),), travels_with="b"),)))
    nest = LoopNest(**gemm(operands=parts["operands"] + (
        Operand("bias", "bias", (Plain("N"),), 2, travels_with="b"),)))
    assert nest.elements("bias") == 6


def test_convolution_operands_and_exact_halo_elements():
    # 5x5 stride 2 dilation 1, input 9x7, output 4x3, padding top 1 left 2 (bottom and right
    # whatever the output implies): rows read are 2*oy + fy - 1 for oy < 4, fy < 5, i.e.
    # -1..10 clipped to 0..8 (9 rows); columns 2*ox + fx - 2 for ox < 3: -2..6 -> 0..6 (7).
    nest = ln.convolution(batch=2, in_channels=4, out_channels=6, in_size=(9, 7),
                          out_size=(4, 3), kernel=(5, 5), stride=(2, 2), pad_before=(1, 2),
                          groups=2, biases_per_output=1)
    assert [d.name for d in nest.dims] == ["G", "K", "C", "B", "OY", "OX", "FY", "FX"]
    assert (nest.size("G"), nest.size("K"), nest.size("C")) == (2, 3, 2)
    assert nest.reduction_dims == ("C", "FY", "FX")
    assert nest.elements("input") == 2 * 2 * 2 * 9 * 7
    assert nest.elements("weights") == 2 * 3 * 2 * 5 * 5
    assert nest.elements("bias") == 2 * 3
    assert nest.elements("output") == 2 * 2 * 3 * 4 * 3
    assert nest.operand("bias").travels_with == "weights"


def test_a_strided_one_by_one_convolution_reads_only_the_rows_it_lands_on():
    # 1x1 stride 2 over 8 rows: rows 0, 2, 4, 6 are read; 1, 3, 5, 7 never are.
    nest = ln.convolution(in_channels=1, out_channels=1, in_size=(8, 8), out_size=(4, 4),
                          stride=(2, 2))
    assert nest.elements("input") == 16
    dilated = ln.convolution(in_channels=1, out_channels=1, in_size=(9, 1), out_size=(1, 1),
                             kernel=(3, 1), dilation=(4, 1))
    assert dilated.elements("input") == 3  # rows 0, 4, 8


def test_depthwise_fc_matrix_product_pooling_recurrent_and_stream():
    dw = ln.depthwise_convolution(channels=8, in_size=(6, 6), out_size=(6, 6), kernel=(3, 3),
                                  pad_before=(1, 1))
    assert (dw.size("G"), dw.size("K"), dw.size("C")) == (8, 1, 1)
    fc = ln.fully_connected(batch=4, in_features=10, out_features=3)
    assert [d.name for d in fc.dims] == ["K", "C", "B"] and fc.elements("bias") == 3
    mm = ln.matrix_product(batch=2, heads=4, m=5, n=6, k=7)
    assert [o.role for o in mm.operands] == ["input", "input", "output"]
    assert mm.reduction_dims == ("K",) and mm.elements("right") == 2 * 4 * 7 * 6
    pool = ln.pooling(channels=3, in_size=(7, 7), out_size=(3, 3), kernel=(3, 3),
                      stride=(2, 2))
    assert [o.name for o in pool.operands] == ["input", "output"]
    assert pool.reduction_dims == ("FY", "FX")
    rnn = ln.recurrent(batch=2, steps=5, hidden=8, gates=4)
    assert rnn.sequential == "T" and rnn.dim("T").split == "single"
    assert rnn.elements("weights") == 32 * 8 and rnn.elements("projection") == 2 * 32 * 5
    up = ln.stream(batch=2, groups=4, in_per_group=9, out_per_group=36, constants_per_group=2)
    assert up.dim("S").split == "parts" and up.size("S") == 36
    assert (up.elements("input"), up.elements("output"), up.elements("constants")) == \
        (2 * 4 * 9, 2 * 4 * 36, 4 * 2)
    assert up.reduction_dims == ()
    assert [o.name for o in ln.stream(groups=4, in_per_group=9, out_per_group=9).operands] \
        == ["input", "output"]


@pytest.mark.parametrize("name", ["mobilenet_v1", "resnet50", "googlenet", "alexnet"])
def test_every_zoo_layer_lowers_to_a_nest_with_its_output_elements(name):
    batch = 2
    network = perfsim.load_workload(name)
    for layer in network.layers:
        out_shapes = network.out_shapes[layer.name]
        nest = layer.op.loop_nest(batch, network.in_shapes(layer), out_shapes)
        if nest is None:
            assert layer.op.view, layer.name
            continue
        exact = batch * sum(elems(s) for s in out_shapes)
        written = nest.elements("output")
        if nest.reduction_dims:  # convolution-like: one output element per output pixel
            assert written == exact, layer.name
        else:  # stream work: channel groups of ceil(elements / groups)
            assert 0 <= written - exact < batch * nest.size("G"), layer.name
