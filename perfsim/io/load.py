"""Loading a workload or an accelerator by name or from a file in any format perfsim reads:
the one entry point the CLI and the API share. The network readers load when a workload is
loaded: loading a config (``perfsim validate``) builds no op registry."""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

from perfsim.errors import WorkloadError
from perfsim.io.examples import example_networks
from perfsim.hardware.loading import load_config, resolve_hw_path
from perfsim.hardware.model import HwConfig
from perfsim.io.scalesim import is_scalesim_config, load_scalesim_config, load_scalesim_topology
from perfsim.text_files import is_file

if TYPE_CHECKING:
    from perfsim.workload.network import Network
    from perfsim.workload.ops import Shape

ONNX_SUFFIX = ".onnx"
"""ONNX models, read by :mod:`perfsim.io.onnx_import` (imported on use: onnx is slow to
load)."""


def is_network_file(name_or_path: str | Path) -> bool:
    """Whether the argument names a file rather than a zoo network."""
    from perfsim.io.network_file import SUFFIXES

    text = str(name_or_path)
    return (text.endswith((*SUFFIXES, ONNX_SUFFIX, ".csv")) or "/" in text
            or is_file(text))


def load_workload(name_or_path: str | Path, batch: int = 1,
                  input_shape: Shape | None = None, allow_unsupported: bool = False, *,
                  seq_len: int | None = None, phase: str | None = None) -> Network:
    """A network by zoo name (``"mobilenet_v1"``), installed example name (``"tiny_cnn"``,
    :mod:`perfsim.io.examples`), network-file path, ONNX model (``.onnx``)
    or SCALE-Sim topology (``.csv``), at ``batch``.

    ``input_shape`` ``(C, H, W)`` rebuilds a zoo network at another input size, or sets the
    dynamic dimensions of an ONNX model's input; ``seq_len`` (tokens) and ``phase``
    (``prefill`` or ``decode``) set a zoo sequence model's (``load_workload("gpt2",
    seq_len=512, phase="decode")``: one token after a cache of 512); ``allow_unsupported``
    imports ONNX ops perfsim cannot map as zero-cost placeholders. Raises
    :class:`~perfsim.errors.WorkloadError` for an unknown name, a malformed file, or an option
    the network does not take."""
    from perfsim.io.network_file import load_network_file
    from perfsim.workload.zoo import OPTIONS, build_workload, networks_taking

    for option, value in (("seq_len", seq_len), ("phase", phase)):
        if value is not None and (is_network_file(name_or_path)
                                  or str(name_or_path) in example_networks()):
            raise WorkloadError(f"{OPTIONS[option]} applies to the zoo's "
                                f"{', '.join(networks_taking(option))}, not to {name_or_path} "
                                f"(a network file or an installed example)")
    if str(name_or_path).endswith(ONNX_SUFFIX):
        from perfsim.io.onnx_import import load_onnx
        return load_onnx(name_or_path, input_shape, allow_unsupported).with_batch(batch)
    if allow_unsupported:
        raise WorkloadError("--allow-unsupported applies to ONNX models (.onnx files)")
    if is_network_file(name_or_path):
        if input_shape is not None:
            raise WorkloadError("--input-shape applies to zoo networks and ONNX models; a "
                                "network file sets its own input shape")
        is_topology = str(name_or_path).lower().endswith(".csv")
        network = (load_scalesim_topology(name_or_path) if is_topology
                   else load_network_file(name_or_path))
    elif str(name_or_path) in example_networks():  # an installed example, by name
        if input_shape is not None:
            raise WorkloadError(f"--input-shape applies to zoo networks and ONNX models; the "
                                f"example '{name_or_path}' is a network file, which sets its "
                                f"own input shape")
        network = load_network_file(example_networks()[str(name_or_path)])
    else:
        network = build_workload(str(name_or_path), input_shape, seq_len=seq_len,
                                 phase=phase, also_known=list(example_networks()))
    return network.with_batch(batch)


def load_hw(name_or_path: str | Path) -> HwConfig:
    """Load and validate a hardware config by path or shipped name; a SCALE-Sim ``.cfg``
    file is read as one (:mod:`perfsim.io.scalesim`)."""
    path = resolve_hw_path(name_or_path)
    if is_scalesim_config(path):
        return load_scalesim_config(path)
    return load_config(path)
