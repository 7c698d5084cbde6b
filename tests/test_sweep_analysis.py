"""Sweep analysis: the Pareto front against a brute-force dominance check, and the sweep
plots as figures with labelled axes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

import perfsim
from perfsim.errors import PerfsimError
from perfsim.sweeps.pareto import pareto_front
from perfsim.sweeps.plots import batch_lines, heatmap, pareto_scatter


def dominated(values: np.ndarray, i: int) -> bool:
    """Whether row ``i`` is beaten by another row: no worse anywhere, better somewhere."""
    return any(np.all(values[j] <= values[i]) and np.any(values[j] < values[i])
               for j in range(len(values)) if j != i)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)),
                min_size=1, max_size=25))
def test_pareto_front_keeps_exactly_the_undominated_rows(rows):
    frame = pd.DataFrame(rows, columns=["cycles", "energy", "peak"])
    front = pareto_front(frame, minimize=["cycles", "energy"], maximize=["peak"])
    values = np.column_stack([frame["cycles"], frame["energy"], -frame["peak"]]).astype(float)
    expected = [i for i in range(len(frame)) if not dominated(values, i)]
    assert list(front.index) == expected


def test_pareto_front_skips_infeasible_rows_and_names_missing_columns():
    frame = pd.DataFrame({"cycles": [5.0, None, 7.0], "peak": [1.0, 9.0, 2.0]})
    assert list(pareto_front(frame, minimize=["cycles"], maximize=["peak"]).index) == [0, 2]
    with pytest.raises(PerfsimError, match="no column energy"):
        pareto_front(frame, minimize=["energy"])


@pytest.fixture(scope="module")
def grid_frame():
    return perfsim.sweep(["alexnet", "squeezenet1_0"], "matrix_engine",
                         grid={"engines.mxu.rows": [32, 128],
                               "memory.dram.bandwidth_gb_per_s": [10, 100]},
                         executor="serial")


def labelled(figure: Figure) -> None:
    assert isinstance(figure, Figure) and figure.axes
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>":  # one axis: its scale's label
            assert ax.get_ylabel().strip() or ax.get_xlabel().strip(), ax
        elif ax.get_visible() and ax.has_data():
            assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), ax


def test_sweep_plots_are_figures_with_labelled_axes(grid_frame):
    alexnet = grid_frame[grid_frame["workload"] == "alexnet"]
    labelled(heatmap(alexnet, "engines.mxu.rows", "memory.dram.bandwidth_gb_per_s",
                     "time_ms"))
    labelled(pareto_scatter(grid_frame, "peak_macs_per_cycle", "time_ms"))
    layers = perfsim.sweep("alexnet", "matrix_engine", batch=[1, 16], executor="serial",
                           per_layer=True)
    fc = layers[layers["op"] == "fc"]
    labelled(batch_lines(fc, "utilization"))
