"""The unknowns: every parameter of a case that its source does not give, and the values the
suite also tries, so the README can say how much each assumption moves the errors.

A setting maps keys to values: a key of the case's network ``parameters`` (``width``,
``steps``, ``network``) or a hardware key path (``memory.sram.bandwidth_bytes_per_cycle``).
The case's own values are the baseline; each study lists it among its settings so the table
shows the assumption beside its alternatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from perfsim.hardware.loading import to_document

from validation.cases import Case


@dataclass(frozen=True)
class Study:
    """One unknown of ``case``: ``settings`` are ``(label, {key: value})`` pairs; ``why`` says
    what the alternatives are and where they come from."""

    case: str
    parameter: str
    settings: tuple[tuple[str, Mapping[str, object]], ...]
    why: str


def values(case: str, key: str, options: tuple, why: str) -> Study:
    """A study of one key over ``options``."""
    return Study(case, key, tuple((str(v), {key: v}) for v in options), why)


def array(case: str, shapes: tuple[tuple[int, int], ...], why: str) -> Study:
    """A study of an NVDLA array's Atomic-C x Atomic-K (rows x columns of ``cmac``)."""
    return Study(case, "cmac rows x cols",
                 tuple((f"{r}x{c}", {"engines.cmac.rows": r, "engines.cmac.cols": c})
                       for r, c in shapes), why)


STUDIES: tuple[Study, ...] = (
    values("eyeriss_alexnet", "memory.sram.bandwidth_bytes_per_cycle", (26, 52, 64, 128, 1024),
           "The global buffer's bandwidth is not published; eyeriss.yaml assumes 64 B/cycle. 26 "
           "is the width of the buses between the GLB and the PE array (filter and psum input "
           "networks 64 b each, ifmap 16 b, output network 64 b: JSSC 2017, p. 134); 52 is what "
           "perfsim's 12x14 weight-stationary array reads and writes a cycle at 2 B; 1024 makes "
           "the buffer never the limit. perfsim has no per-PE scratch pads to cost (eyeriss_rs "
           "cannot be simulated yet), so its GLB traffic stands for spad traffic too."),
    values("eyeriss_alexnet", "memory.dram.latency_ns", (0, 100, 1000),
           "DRAM latency is not published (100 ns assumed in eyeriss.yaml)."),
    values("tpu_mlp0", "width", (2000, 2048),
           "Layer widths are not published: 2000 gives Table 1's 20M weights exactly, 2048 "
           "fills whole 256-wide tiles (Table 3: 0.3% unused)."),
    values("tpu_mlp0", "memory.dram.latency_ns", (0, 100, 1000),
           "DRAM latency is not published (100 ns assumed in tpu_v1.yaml)."),
    values("tpu_mlp1", "width", (1024, 1118, 1280),
           "Layer widths are not published: 1118 gives Table 1's 5M weights exactly; 1024 and "
           "1280 fill whole tiles (4.2M and 6.6M weights)."),
    values("tpu_lstm0", "steps", (1, 8, 32, 128),
           "Time steps per run. Table 1's 64 ops per weight byte at batch 64 says every "
           "weight is fetched once a step, as one step per run does; more steps let perfsim "
           "batch the input projections over them (read once a run), which the TPU did not."),
    values("tpu_lstm0", "hidden", (1024, 1041),
           "1024 is GNMT's LSTM width (50.3M weights); 1041 gives Table 1's 52M."),
    values("tpu_cnn0", "filters", (192, 247, 256),
           "192 is AlphaGo's match network (4.8M weights); 247 gives Table 1's 8M; 256 fills "
           "whole tiles (Table 3: 0.0% unused), 8.57M weights."),
    Study("tpu_cnn0", "memory.sram.ofmap_bandwidth_bytes_per_cycle",
          tuple((str(port), {"memory.sram.ofmap_bandwidth_bytes_per_cycle": port,
                             "memory.sram.bandwidth_bytes_per_cycle": 512 + port})
                for port in (1024, 2048)),
          "tpu_v1.yaml gives the accumulators 2048 B/cycle: one 256 x 32-bit vector read and "
          "one written a cycle, as accumulating needs (the matrix unit \"instantly update[s] "
          "one location of each of 256 accumulators\", Figure 4); 1024 would write it only. "
          "The SRAM's bandwidth follows, as the ports' sum."),
    values("nvdla_2048", "network", ("resnet50", "resnet50_v1_5"),
           "The primer does not say which ResNet-50: the paper's v1 (stride in the first 1x1 "
           "of a block) or torchvision's v1.5 (stride in the 3x3)."),
    values("nvdla_2048", "memory.dram.latency_ns", (0, 100, 1200),
           "1200 ns is nv_large's memory-interface latency (1200 cycles at 1 GHz); NVDLA is "
           "built to hide it, perfsim exposes one latency per layer."),
    values("nvdla_2048", "memory.sram.bandwidth_bytes_per_cycle", (256, 1024),
           "The convolution buffer's bandwidth is assumed (16 banks x 64 B)."),
    array("nvdla_512", ((64, 8), (32, 16)),
          "No NVDLA document describes 512 MACs: 64x8 keeps the large family's Atomic-C."),
    array("nvdla_128", ((16, 8), (32, 4)),
          "No NVDLA document describes 128 MACs: 16x8 keeps the small family's Atomic-K."),
    array("nvdla_32", ((8, 4), (4, 8)),
          "No NVDLA document describes 32 MACs: 8x4 keeps nv_small's Atomic-C."),
)


def current_value(case: Case, key: str):
    """The value ``key`` has in ``case`` as it runs: a network parameter, or the config's
    value at a hardware key path (``memory.sram.bandwidth_bytes_per_cycle``; engines and
    memory levels by name, as sweeps address them)."""
    if key in case.parameters:
        return case.parameters[key]
    node = to_document(case.config())
    parts = key.split(".")
    while parts:
        part = parts.pop(0)
        if isinstance(node, list):  # engines or memory levels, addressed by name
            node = next(entry for entry in node if entry["name"] == part)
        else:
            node = node[part]
    return node


def is_baseline(case: Case, setting: Mapping[str, object]) -> bool:
    """Whether ``setting`` is what the case runs with."""
    return all(current_value(case, key) == value for key, value in setting.items())
