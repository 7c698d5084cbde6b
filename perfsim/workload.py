"""Loading a workload by zoo name or from a file: the one entry point the CLI and API share."""

from __future__ import annotations

from pathlib import Path

from perfsim.errors import WorkloadError
from perfsim.importers.network_file import SUFFIXES, load_network_file
from perfsim.ir.network import Network
from perfsim.ir.ops import Shape
from perfsim.zoo import build_workload


def is_network_file(name_or_path: str | Path) -> bool:
    """Whether the argument names a file rather than a zoo network."""
    text = str(name_or_path)
    return text.endswith(SUFFIXES) or "/" in text or Path(text).is_file()


def load_workload(name_or_path: str | Path, batch: int = 1,
                  input_shape: Shape | None = None) -> Network:
    """A network by zoo name (``"mobilenet_v1"``) or network-file path, at ``batch``.

    ``input_shape`` ``(C, H, W)`` rebuilds a zoo network at another input size. Raises
    :class:`~perfsim.errors.WorkloadError` for an unknown name or a malformed file."""
    if is_network_file(name_or_path):
        if input_shape is not None:
            raise WorkloadError("--input-shape applies to zoo networks; a network file sets "
                                "its own input shape")
        network = load_network_file(name_or_path)
    else:
        network = build_workload(str(name_or_path), input_shape)
    return network.with_batch(batch)
