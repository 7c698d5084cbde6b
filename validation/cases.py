"""The validation cases: for each setup of ``published.yaml``, the network, the accelerator,
the batch and where activations live between layers, each as the source describes the chip.

A case's network is built from keyword parameters; its ``parameters`` are the values the suite
runs with (the assumptions of :mod:`validation.networks`, or a zoo name). The sensitivity study
calls :meth:`Case.simulate` with other values, or with hardware key paths (``memory.sram.
bandwidth_bytes_per_cycle``, as in ``perfsim sweep``) set on the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Mapping

import perfsim
from perfsim.hardware.model import HwConfig
from perfsim.results import RunResult
from perfsim.sweeps.space import variant
from perfsim.workload.network import Network

from validation import networks

HW_DIR = Path(__file__).with_name("hw")
NVDLA_MACS = (2048, 1024, 512, 256, 128, 64, 32)
"""The rows of the NVDLA primer's ResNet-50 table, by MAC count; ``hw/nvdla_<MACs>.yaml``."""


def zoo(network: str) -> Network:
    """A zoo network by name (the case's ``network`` parameter)."""
    return perfsim.load_workload(network)


@dataclass(frozen=True)
class Case:
    """One setup simulated and compared with its published numbers (``published.yaml``
    ``cases.<name>``).

    ``hw`` is a shipped config name or a YAML path; ``network`` builds the network from the
    keyword ``parameters``; ``batch`` is the batch the source ran; ``residency`` is where the
    chip keeps activations between layers (perfsim's ``auto`` or ``dram``)."""

    name: str
    hw: str | Path
    network: Callable[..., Network]
    parameters: Mapping[str, object]
    batch: int
    residency: str

    def config(self, point: Mapping[str, object] | None = None) -> HwConfig:
        """The case's accelerator, with the hardware key paths of ``point`` set."""
        hw = perfsim.load_hw(self.hw)
        return variant(hw, point) if point else hw

    def simulate(self, settings: Mapping[str, object] | None = None) -> RunResult:
        """The analytic run of the case, with ``settings`` overriding network parameters (keys
        of ``parameters``) and hardware key paths (any other key)."""
        settings = dict(settings or {})
        parameters = {k: settings.pop(k) for k in list(settings) if k in self.parameters}
        network = self.network(**{**self.parameters, **parameters})
        return perfsim.simulate(network, self.config(settings), batch=self.batch,
                                residency=self.residency)


CASES: tuple[Case, ...] = (
    # Eyeriss runs a CNN layer by layer, loading ifmaps and filters from DRAM and writing
    # ofmaps back (JSSC 2017, Section III-B, p. 129): activations through DRAM.
    Case("eyeriss_alexnet", "eyeriss", zoo, {"network": "alexnet_bvlc_grouped"}, batch=4,
         residency="dram"),
    # The TPU holds intermediate results in its 24 MiB Unified Buffer (ISCA 2017, p. 3).
    Case("tpu_mlp0", "tpu_v1", partial(networks.tpu_mlp, "tpu_mlp0"),
         {"width": networks.MLP0_WIDTH, "layers": networks.MLP0_LAYERS}, batch=200,
         residency="auto"),
    Case("tpu_mlp1", "tpu_v1", partial(networks.tpu_mlp, "tpu_mlp1"),
         {"width": networks.MLP1_WIDTH, "layers": networks.MLP1_LAYERS}, batch=168,
         residency="auto"),
    Case("tpu_lstm0", "tpu_v1", partial(networks.tpu_lstm, "tpu_lstm0"),
         {"hidden": networks.LSTM0_HIDDEN, "layers": networks.LSTM0_LAYERS,
          "steps": networks.LSTM0_STEPS}, batch=64, residency="auto"),
    Case("tpu_cnn0", "tpu_v1", networks.tpu_cnn0, {"filters": networks.CNN0_FILTERS},
         batch=8, residency="auto"),
    # The primer's configurations use no on-chip SRAM, and its estimator times a layer by the
    # data it reads and writes and its MACs: activations through DRAM. Batch 1: the primer
    # gives no batch, and nv_small supports none (the manual's scalability table).
    *(Case(f"nvdla_{macs}", HW_DIR / f"nvdla_{macs}.yaml", zoo, {"network": "resnet50"},
           batch=1, residency="dram") for macs in NVDLA_MACS),
)
"""Every case, in the order of ``published.yaml``. The NVDLA cases run ``resnet50`` (the
paper's v1, as Caffe's reference model); the primer does not say which ResNet-50."""


def select(names: list[str] | None = None) -> tuple[Case, ...]:
    """The cases named, or whose names start with a name (``tpu`` selects the four TPU
    cases); all of them for None."""
    if not names:
        return CASES
    chosen = tuple(c for c in CASES if any(c.name == n or c.name.startswith(n) for n in names))
    unknown = [n for n in names if not any(c.name.startswith(n) for c in CASES)]
    if unknown:
        raise perfsim.PerfsimError(f"unknown case(s) {', '.join(unknown)} (cases: "
                                   f"{', '.join(c.name for c in CASES)})")
    return chosen
