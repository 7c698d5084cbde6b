"""The engines' cycle kernels (closed forms) equal their pure-Python reference twins (walks)
on random arguments. The tiling kernels have theirs in ``tests/test_einsum_tiling.py``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.mapping.kernels.systolic import systolic_cycles, systolic_cycles_ref
from perfsim.mapping.kernels.vector import vector_cycles, vector_cycles_ref


@settings(max_examples=500, deadline=None)
@given(dataflow=st.sampled_from([0, 1, 2]), rows=st.integers(1, 64), cols=st.integers(1, 64),
       np_=st.integers(1, 300), kk=st.integers(1, 300), t_red=st.integers(1, 300),
       repeats=st.integers(1, 4), weight_buffers=st.sampled_from([1, 2]))
def test_systolic_cycles_equals_reference(dataflow, rows, cols, np_, kk, t_red, repeats,
                                          weight_buffers):
    assert systolic_cycles(dataflow, rows, cols, np_, kk, t_red, repeats, weight_buffers) == \
        systolic_cycles_ref(dataflow, rows, cols, np_, kk, t_red, repeats, weight_buffers)


def test_a_second_weight_buffer_hides_every_load_but_the_first():
    # 256x256 weight-stationary array (TPU v1), GEMM of Np = 1000 pixels, T_red = 512,
    # K = 512: 2 x 2 = 4 folds. One buffer: 4 x (2 x 256 + 256 + 1000 - 2) = 7,064 cycles.
    # Two: the first load (256), then 4 x (1000 + 256 + 256 - 2) = 6,040: 6,296 cycles, the
    # three hidden loads (3 x 256 = 768) saved.
    assert systolic_cycles(1, 256, 256, 1000, 512, 512, 1) == 7_064
    assert systolic_cycles(1, 256, 256, 1000, 512, 512, 1, 2) == 6_296
    # it never helps an output-stationary array (no weights stay) nor changes one fold's time
    assert systolic_cycles(0, 256, 256, 1000, 512, 512, 1, 2) == \
        systolic_cycles(0, 256, 256, 1000, 512, 512, 1)
    assert systolic_cycles(1, 256, 256, 100, 256, 256, 1, 2) == \
        systolic_cycles(1, 256, 256, 100, 256, 256, 1)


@settings(max_examples=300, deadline=None)
@given(lanes=st.integers(1, 300), outputs=st.integers(1, 5000), work=st.integers(1, 50),
       steps=st.integers(1, 8), latency=st.integers(0, 20))
def test_vector_cycles_equals_reference(lanes, outputs, work, steps, latency):
    assert vector_cycles(lanes, outputs, work, steps, latency) == \
        vector_cycles_ref(lanes, outputs, work, steps, latency)

