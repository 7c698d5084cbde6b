"""Every shipped config has per-access energies, each sourced in its file's comment from
published figures (Horowitz's ISSCC 2014 45 nm table, Eyeriss's normalized costs)."""

from __future__ import annotations

from importlib import resources

import pytest

import perfsim
from perfsim.hardware.loading import shipped_config_names

SOURCES = ("Horowitz", "Eyeriss's normalized energy costs")


@pytest.mark.parametrize("name", shipped_config_names())
def test_every_shipped_config_has_sourced_energies(name):
    hw = perfsim.load_hw(name)
    assert hw.energy_pj is not None and hw.energy_pj.mac > 0
    assert {level.name for level in hw.memory_levels} == {n for n, _ in hw.energy_pj.per_byte}
    text = (resources.files("perfsim.hw_configs") / f"{name}.yaml").read_text()
    comment = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert any(source in comment for source in SOURCES), name
    # every figure of the energy_pj line is worked out in the comment
    for value in (hw.energy_pj.mac, *(v for _, v in hw.energy_pj.per_byte)):
        assert f"{value:g} pJ" in comment or f"= {value:g}" in comment, (name, value)
