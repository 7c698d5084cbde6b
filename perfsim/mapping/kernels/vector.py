"""Compute cycles of a vector engine (DESIGN section 4).

A vector engine applies one operation to ``lanes`` elements per cycle. A layer's outputs are
processed ``lanes`` at a time (a partial pass costs a full one), each output needing
``work_per_output`` operations (its MACs and other arithmetic); sequential steps (a recurrent
layer's time steps) run one after another; the pipeline latency is paid once per layer.
"""

from __future__ import annotations


def vector_cycles(lanes: int, outputs: int, work_per_output: int, steps: int,
                  latency: int) -> int:
    """Cycles for ``outputs`` results of ``work_per_output`` operations each."""
    per_step = -(-outputs // steps)
    passes = -(-per_step // lanes)
    return steps * passes * work_per_output + latency


def vector_cycles_ref(lanes: int, outputs: int, work_per_output: int, steps: int,
                      latency: int) -> int:
    """The specification: count the passes of each step one by one."""
    cycles = latency
    per_step = -(-outputs // steps)
    for _ in range(steps):
        remaining = per_step
        while remaining > 0:
            cycles += work_per_output  # one pass over up to `lanes` outputs
            remaining -= lanes
    return cycles
