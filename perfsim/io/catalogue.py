"""What perfsim ships, a line each, as ``perfsim list`` shows it: the networks (the zoo's and
the installed examples', with family, input, MACs, parameters and description) and the
hardware configs (clock, precision, engines and memories in one line).

:func:`compute` builds every network to count them and loads every config (most of a second);
``catalogue.json``, installed beside the examples, keeps its result so that listing builds
nothing and imports neither the workload nor the hardware model. ``tests/test_catalogue.py``
holds the file equal to :func:`compute`; after adding or changing a network or a shipped
config, write it again with ``python -m perfsim.io.catalogue``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perfsim.hardware.model import HwConfig

CATALOGUE = "catalogue.json"
FIELDS = ("name", "family", "input", "macs", "params", "description")
DATAFLOW_SHORT = {"weight_stationary": "WS", "output_stationary": "OS",
                  "input_stationary": "IS"}


def compute() -> dict[str, list[dict]]:
    """``networks``: every zoo network and installed example, built and counted (at batch
    1); ``hw``: every shipped config's name and one-line description (:func:`hw_line`)."""
    return {"networks": _networks(), "hw": _configs()}


def _networks() -> list[dict]:
    from perfsim.io.examples import example_networks
    from perfsim.io.load import load_workload
    from perfsim.workload.stats import shape_label, totals
    from perfsim.workload.zoo import workload_family, workload_names

    sources = [(name, workload_family(name)) for name in workload_names()]
    sources += [(name, "example") for name in example_networks()]
    rows = []
    for name, family in sources:
        network = load_workload(name)
        sums = totals(network)
        shapes = " + ".join("x".join(map(str, shape_label(network, layer.name)))
                            for layer in network.inputs)
        rows.append(dict(zip(FIELDS, (name, family, shapes, int(sums["macs"]),
                                      int(sums["params"]), network.description))))
    return rows


def _configs() -> list[dict]:
    from perfsim.hardware.loading import load_config, resolve_hw_path, shipped_config_names

    return [{"name": name, "description": hw_line(load_config(resolve_hw_path(name)))}
            for name in shipped_config_names()]


def hw_line(hw: HwConfig) -> str:
    """A config in one line: clock and precision, engines, SRAM, DRAM, whether it has
    energies."""
    engines = ", ".join(
        f"{e.name} {e.rows}x{e.cols} {DATAFLOW_SHORT[e.dataflow]} array" if e.kind == "matrix"
        else f"{e.name} {e.lanes}-lane vector" for e in hw.engines)
    bits = {1: "int8", 2: "16-bit", 4: "32-bit"}.get(hw.precision.weight_bytes, "")
    sram = hw.summary()["sram_bytes"]
    sram_text = f"{sram / 2**20:g} MiB" if sram >= 2**20 else f"{sram / 2**10:g} KiB"
    levels = len(hw.memory_levels)
    return (f"{hw.clock_ghz:g} GHz {bits}: {engines}; SRAM {sram_text}, DRAM "
            f"{hw.dram.bandwidth_gb_per_s:g} GB/s" + (f" ({levels} memory levels)"
                                                      if levels > 2 else "")
            + ("; energies" if hw.energy_pj is not None else ""))


def config_path(name: str) -> Path:
    """Where a shipped config (a name :func:`load` lists) is installed."""
    return Path(str(resources.files("perfsim.hw_configs") / f"{name}.yaml"))


def load() -> dict[str, list[dict]]:
    """The catalogue as installed."""
    text = (resources.files("perfsim.workloads") / CATALOGUE).read_text(encoding="utf-8")
    return json.loads(text)


def write(path: str | Path | None = None) -> Path:
    """Write :func:`compute`'s catalogue (by default into the package's ``workloads``)."""
    from perfsim.storage import write_text_atomic

    target = Path(path) if path else Path(str(resources.files("perfsim.workloads"))) / CATALOGUE
    write_text_atomic(target, json.dumps(compute(), indent=1) + "\n")
    return target


if __name__ == "__main__":
    print(f"wrote {write()}")
