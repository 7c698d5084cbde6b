"""The Numba kernels equal their pure-Python reference twins: on every tiling of small layers,
on random arguments, and (see the last test) with JIT disabled too."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.mapping.kernels import tiling as k
from perfsim.mapping.kernels.systolic import systolic_cycles, systolic_cycles_ref
from perfsim.mapping.kernels.vector import vector_cycles, vector_cycles_ref

# Small conv nests (lowering.CONV_FIELDS): B G K C OY OX IY IX FY FX SY SX DY DX PT PL BIAS STEPS
SMALL_LAYERS = {
    "3x3 pad 1": (1, 1, 4, 3, 6, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
    "5x5 stride 2 asymmetric pad": (2, 1, 3, 2, 4, 3, 9, 7, 5, 5, 2, 2, 1, 1, 1, 2, 0, 1),
    "dilated 3x3": (1, 1, 2, 2, 4, 4, 8, 8, 3, 3, 1, 1, 2, 2, 0, 0, 1, 1),
    "depthwise": (1, 4, 1, 1, 5, 5, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1),
    "grouped 1x1 batch 3": (3, 2, 3, 2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1),
    "fc": (4, 1, 5, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1),
    "pool 3x3/2": (1, 3, 1, 1, 3, 3, 7, 7, 3, 3, 2, 2, 1, 1, 0, 0, 0, 1),
}
PRECISIONS = [(1, 1, 4, 1, 1), (2, 2, 4, 0, 1), (1, 2, 3, 1, 0)]


def all_tilings(dims):
    sizes = [range(1, dims[i] + 1) for i in (k.B, k.G, k.K, k.C, k.OY, k.OX)]
    return itertools.product(*sizes)


@pytest.mark.parametrize("name", sorted(SMALL_LAYERS))
def test_conv_traffic_equals_reference_on_every_tiling(name):
    dims = np.array(SMALL_LAYERS[name], dtype=np.int64)
    checked = 0
    for prec in PRECISIONS:
        p = np.array(prec, dtype=np.int64)
        for tiles in all_tilings(dims):
            for order in range(6):
                fast = k.conv_traffic(dims, np.array(tiles, dtype=np.int64), order, p)
                ref = k.conv_traffic_ref(dims, tiles, order, p)
                assert tuple(int(v) for v in fast) == tuple(int(v) for v in ref), \
                    (tiles, order, prec)
                checked += 1
    assert checked > 100


def search_conv(dims, prec, caps, machine):
    """The conv tiling search as perfsim.mapping.tiling runs it: the table, then its ranking."""
    return k.rank_conv(k.conv_table(dims, prec), dims, prec, caps, machine)


@pytest.mark.parametrize("name", sorted(SMALL_LAYERS))
@pytest.mark.parametrize("capacity", [200.0, 1000.0, 1e9])
def test_conv_search_equals_reference(name, capacity):
    dims = np.array(SMALL_LAYERS[name], dtype=np.int64)
    prec = np.array((1, 1, 4, 1, 1), dtype=np.int64)
    caps = np.array([capacity, -1, -1, -1])
    machine = np.array([300.0, 5000.0, 64.0, 4.0, 20.0])
    fast = search_conv(dims, prec, caps, machine)
    ref = k.search_conv_ref(dims, prec, caps, machine)
    assert list(fast) == list(ref)


@pytest.mark.parametrize("name", sorted(SMALL_LAYERS))
@pytest.mark.parametrize("prec", PRECISIONS)
def test_conv_table_equals_reference_and_its_ranking_equals_the_search(name, prec):
    """The split search (table once, ranking per machine) is the search's specification, for
    shared and split buffers, every capacity from nothing fits to everything fits."""
    dims = np.array(SMALL_LAYERS[name], dtype=np.int64)
    p = np.array(prec, dtype=np.int64)
    table = k.conv_table(dims, p)
    assert table.tolist() == k.conv_table_ref(dims, p).tolist()
    for caps in ([10.0, -1, -1, -1], [200.0, -1, -1, -1], [1000.0, -1, -1, -1],
                 [1e9, -1, -1, -1], [-1, 60.0, 40.0, 100.0]):
        for machine in ([300.0, 5000.0, 64.0, 4.0, 20.0], [10.0, 0.0, 1024.0, 0.5, 0.0]):
            args = (dims, p, np.array(caps), np.array(machine))
            fast = k.rank_conv(table, *args)
            assert list(fast) == list(k.search_conv_ref(*args)), (caps, machine)
            assert list(fast) == list(k.rank_conv_ref(table, *args)), (caps, machine)


def test_split_buffers_constrain_each_operand():
    dims = np.array(SMALL_LAYERS["3x3 pad 1"], dtype=np.int64)
    prec = np.array((1, 1, 4, 1, 1), dtype=np.int64)
    machine = np.array([300.0, 5000.0, 64.0, 4.0, 20.0])
    caps = np.array([-1, 60.0, 40.0, 100.0])
    fast = search_conv(dims, prec, caps, machine)
    assert list(fast) == list(k.search_conv_ref(dims, prec, caps, machine))
    tiles = fast[k.R_T0:k.R_T5 + 1].astype(np.int64)
    *_, ws_i, ws_w, ws_o, _ = k.conv_traffic(dims, tiles, int(fast[k.R_ORDER]), prec)
    assert ws_i <= 60 and ws_w <= 40 and ws_o <= 100


def test_nothing_fits_is_reported_as_no_tiles():
    dims = np.array(SMALL_LAYERS["3x3 pad 1"], dtype=np.int64)
    result = search_conv(dims, np.array((1, 1, 4, 1, 1)), np.array([10.0, -1, -1, -1]),
                         np.array([300.0, 0.0, 64.0, 4.0, 0.0]))
    assert result[k.R_TILES] == 0 and math.isinf(result[k.R_CYCLES])


@settings(max_examples=300, deadline=None)
@given(read=st.integers(0, 10**7), write=st.integers(0, 10**7), n=st.integers(1, 500),
       compute=st.integers(0, 10**6), engine_sram=st.integers(0, 10**7),
       sram_bw=st.sampled_from([16.0, 64.0, 1024.0]), dram_bw=st.sampled_from([1.5, 30.0]),
       latency=st.integers(0, 200))
def test_pipeline_cycles_equals_reference(read, write, n, compute, engine_sram, sram_bw,
                                          dram_bw, latency):
    machine = np.array([compute, engine_sram, sram_bw, dram_bw, latency], dtype=np.float64)
    fast = k.pipeline_cycles(float(read), float(write), n, machine)
    assert fast == pytest.approx(k.pipeline_cycles_ref(read, write, n, machine), rel=1e-9,
                                 abs=1e-5)
    # never faster than either resource alone
    assert fast >= (read + write) / dram_bw - 1e-6 and fast >= compute - 1e-6


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


@pytest.mark.parametrize("dims", [(1, 4, 9, 9, 2), (2, 3, 10, 1, 0), (3, 5, 7, 28, 1)])
def test_stream_traffic_equals_reference_on_every_tiling(dims):
    d = np.array(dims, dtype=np.int64)
    for prec in PRECISIONS:
        p = np.array(prec, dtype=np.int64)
        for t_g in range(1, dims[1] + 1):
            for n_s in range(1, max(dims[2], dims[3]) + 1):
                assert tuple(int(v) for v in k.stream_traffic(d, t_g, n_s, p)) == \
                    tuple(int(v) for v in k.stream_traffic_ref(d, t_g, n_s, p))


@pytest.mark.parametrize("dims", [(1, 16, 196, 196, 2), (2, 100, 1, 1, 0), (1, 3, 49, 1, 0)])
@pytest.mark.parametrize("capacity", [64.0, 5000.0, 1e9])
def test_stream_search_equals_reference(dims, capacity):
    d = np.array(dims, dtype=np.int64)
    prec = np.array((1, 1, 4, 1, 0), dtype=np.int64)
    caps = np.array([capacity, -1, -1, -1])
    machine = np.array([500.0, 8000.0, 128.0, 30.0, 100.0])
    assert list(k.search_stream(d, prec, caps, machine)) == \
        list(k.search_stream_ref(d, prec, caps, machine))


def test_candidates_are_balanced_splits():
    assert list(k.candidates(13)) == [1, 2, 4, 7, 13]
    assert list(k.candidates(1)) == [1]
    assert list(k.candidates(64)) == [1, 2, 4, 8, 16, 32, 64]


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="already running without JIT")
def test_kernel_equivalence_holds_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    here = Path(__file__)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here),
         "-k", "not without_jit and (fc or depthwise or systolic or vector or pipeline)"],
        cwd=here.parent.parent, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
