"""The cost-model Numba kernels of the engines equal their pure-Python reference twins: on
random arguments, and (see the last test) with JIT disabled too. The tiling kernels have
theirs in ``tests/test_einsum_tiling.py``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nojit import passes_without_jit, skip_without_jit
from perfsim.mapping.kernels.systolic import systolic_cycles, systolic_cycles_ref
from perfsim.mapping.kernels.vector import vector_cycles, vector_cycles_ref


@settings(max_examples=500, deadline=None)
@given(dataflow=st.sampled_from([0, 1, 2]), rows=st.integers(1, 64), cols=st.integers(1, 64),
       np_=st.integers(1, 300), kk=st.integers(1, 300), t_red=st.integers(1, 300),
       repeats=st.integers(1, 4))
def test_systolic_cycles_equals_reference(dataflow, rows, cols, np_, kk, t_red, repeats):
    assert systolic_cycles(dataflow, rows, cols, np_, kk, t_red, repeats) == \
        systolic_cycles_ref(dataflow, rows, cols, np_, kk, t_red, repeats)


@settings(max_examples=300, deadline=None)
@given(lanes=st.integers(1, 300), outputs=st.integers(1, 5000), work=st.integers(1, 50),
       steps=st.integers(1, 8), latency=st.integers(0, 20))
def test_vector_cycles_equals_reference(lanes, outputs, work, steps, latency):
    assert vector_cycles(lanes, outputs, work, steps, latency) == \
        vector_cycles_ref(lanes, outputs, work, steps, latency)


@skip_without_jit
def test_kernel_equivalence_holds_without_jit():
    passes_without_jit(__file__, "not without_jit")
