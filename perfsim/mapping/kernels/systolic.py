"""Compute cycles of a systolic array (DESIGN section 4.1, SCALE-Sim's model).

A convolution group is a GEMM by the Toeplitz view: ``Np`` output pixels, ``K`` filters,
reduction ``T_red``. Per dataflow, the dimension mapped on the array rows ``S_R``, on the
columns ``S_C`` and the one streamed in time ``T``:

================== ====== ===== =====
dataflow           S_R    S_C   T
================== ====== ===== =====
output stationary  Np     K     T_red
weight stationary  T_red  K     Np
input stationary   T_red  Np    K
================== ====== ===== =====

``folds = ceil(S_R / rows) * ceil(S_C / cols)``, a partial fold costing a full one. Cycles per
fold: ``T + rows + cols - 2`` (output stationary) or ``2*rows + cols + T - 2`` (weight and
input stationary: the stationary operand is loaded first). Groups and sequential steps (a
recurrent layer's time steps) run back to back.

With a second weight buffer (weight stationary, ``weight_buffers: 2``), the next fold's weights
shift in (``rows`` cycles) while the current fold streams its ``T + rows + cols - 2`` cycles,
which always takes longer: only the first fold's load is exposed, ``rows + folds * (T + rows +
cols - 2)`` in all (TPU v1: "one 64 KiB tile of weights plus one for double-buffering, to hide
the 256 cycles it takes to shift a tile in", Jouppi et al., ISCA 2017).
"""

from __future__ import annotations

OUTPUT_STATIONARY, WEIGHT_STATIONARY, INPUT_STATIONARY = 0, 1, 2
DATAFLOW_CODES = {"output_stationary": OUTPUT_STATIONARY,
                  "weight_stationary": WEIGHT_STATIONARY,
                  "input_stationary": INPUT_STATIONARY}


def systolic_cycles(dataflow: int, rows: int, cols: int, np_: int, k: int, t_red: int,
                    repeats: int, weight_buffers: int = 1) -> int:
    """Cycles of ``repeats`` back-to-back GEMMs (groups x steps) of ``np_ x t_red x k``."""
    if dataflow == OUTPUT_STATIONARY:
        s_r, s_c, t = np_, k, t_red
    elif dataflow == WEIGHT_STATIONARY:
        s_r, s_c, t = t_red, k, np_
    else:
        s_r, s_c, t = t_red, np_, k
    folds = ((s_r + rows - 1) // rows) * ((s_c + cols - 1) // cols)
    if dataflow == OUTPUT_STATIONARY:
        per_fold = t + rows + cols - 2
    elif dataflow == WEIGHT_STATIONARY and weight_buffers == 2:
        return rows + repeats * folds * (t + rows + cols - 2)
    else:
        per_fold = 2 * rows + cols + t - 2
    return repeats * folds * per_fold


def systolic_cycles_ref(dataflow: int, rows: int, cols: int, np_: int, k: int, t_red: int,
                        repeats: int, weight_buffers: int = 1) -> int:
    """The specification: walk the folds one by one, as the array runs them; with two weight
    buffers a fold's load overlaps the fold before it, whose streaming lasts longer."""
    mapping = {OUTPUT_STATIONARY: (np_, k, t_red), WEIGHT_STATIONARY: (t_red, k, np_),
               INPUT_STATIONARY: (t_red, np_, k)}
    s_r, s_c, t = mapping[dataflow]
    cycles = 0
    first = True
    for _ in range(repeats):
        for _row_fold in range(0, s_r, rows):
            for _col_fold in range(0, s_c, cols):
                fill_drain = rows + cols - 2
                preload = 0 if dataflow == OUTPUT_STATIONARY else rows
                hidden = (dataflow == WEIGHT_STATIONARY and weight_buffers == 2 and not first
                          and preload <= t + fill_drain)
                cycles += (0 if hidden else preload) + t + fill_drain
                first = False
    return cycles
