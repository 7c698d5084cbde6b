"""A run on disk: ``layers.csv``, ``layers.parquet`` and ``run.json`` (with provenance), each
written atomically."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

from perfsim import __version__
from perfsim.config import file_sha256, to_document
from perfsim.results import RunResult
from perfsim.storage import write_atomic, write_text_atomic


def provenance(result: RunResult, hw_path: str | Path, source: str, command: list[str]) -> dict:
    """Everything needed to reproduce a run."""
    return {
        "perfsim_version": __version__,
        "python": platform.python_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "workload_source": source,
        "hw_file": str(Path(hw_path).resolve()),
        "hw_sha256": file_sha256(hw_path),
        "hw_config": to_document(result.hw),
        "options": result.options,
    }


def save_run(result: RunResult, out_dir: str | Path, *, hw_path: str | Path, source: str,
             command: list[str]) -> None:
    """Write the run's three files into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    frame = result.to_frame()
    write_atomic(out / "layers.csv", lambda tmp: frame.to_csv(tmp, index=False))
    parquet = frame.copy()
    for column in ("out_shape", "kernel"):
        parquet[column] = parquet[column].map(lambda v: [int(x) for x in v])
    write_atomic(out / "layers.parquet", lambda tmp: parquet.to_parquet(tmp, index=False))
    document = result.to_dict()
    document["provenance"] = provenance(result, hw_path, source, command)
    write_text_atomic(out / "run.json", json.dumps(document, indent=1) + "\n")
