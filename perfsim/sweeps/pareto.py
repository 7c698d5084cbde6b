"""Pareto fronts of sweep results: the points no other point beats on every objective."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from perfsim.errors import PerfsimError


def pareto_front(frame: pd.DataFrame, minimize: Sequence[str] = (),
                 maximize: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of ``frame`` that no other row dominates (at least as good on every column
    of ``minimize`` and ``maximize`` and better on one), in their original order. Rows with a
    missing objective (infeasible points) are never on the front; of identical rows, every
    one is kept. Group first for a front per workload
    (``frame.groupby("workload").apply(pareto_front, ...)``)."""
    columns = [*minimize, *maximize]
    if not columns:
        raise PerfsimError("pareto_front needs at least one column to minimize or maximize")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PerfsimError(f"pareto_front: no column {', '.join(missing)} (columns: "
                           f"{', '.join(map(str, frame.columns))})")
    valid = frame.dropna(subset=columns)
    # Every objective as "smaller is better".
    values = np.column_stack([valid[c].to_numpy(dtype=float) for c in minimize]
                             + [-valid[c].to_numpy(dtype=float) for c in maximize])
    keep = np.ones(len(values), dtype=bool)
    for i in np.argsort(values[:, 0], kind="stable"):
        if not keep[i]:
            continue
        dominated = np.all(values[i] <= values, axis=1) & np.any(values[i] < values, axis=1)
        keep &= ~dominated
    return valid[keep]
