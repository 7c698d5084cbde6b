"""Machines the tests build in code rather than ship as configs."""

from __future__ import annotations

import dataclasses

from perfsim.hardware.model import Energy, HwConfig, LocalMemory


def with_local_buffer(hw: HwConfig, size_bytes: int = 64 * 1024, bytes_per_cycle: float = 512,
                      buffers: int = 2) -> HwConfig:
    """``hw`` with a local buffer ``lb`` per engine under its matrix engine; every other part
    is unchanged."""
    lb = LocalMemory("lb", "engine", size_bytes, bytes_per_cycle, buffers=buffers)
    engines = tuple(dataclasses.replace(e, reads_from="lb") if e.kind == "matrix" else e
                    for e in hw.engines)
    energy = None if hw.energy_pj is None else Energy(
        hw.energy_pj.mac, (("lb", 0.05),) + hw.energy_pj.per_byte)
    return HwConfig(f"{hw.name}+lb", hw.clock_ghz, hw.precision, engines, energy_pj=energy,
                    memory_levels=(lb,) + hw.memory_levels)
