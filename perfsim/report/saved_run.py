"""A run on disk: ``layers.csv``, ``layers.parquet`` and ``run.json`` (with provenance); an
event run adds ``timeline.csv``, ``trace.json`` (Chrome trace events, for Perfetto) and
``gantt.png``. Each file is written atomically, after every destination is checked
(:func:`perfsim.storage.check_destination`), so a refused file leaves the directory untouched.

``created_utc`` in the provenance is the only thing that differs between two runs of one
command; ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds convention) pins it."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Callable

from perfsim._version import __version__
from perfsim.hardware.loading import file_sha256, to_document
from perfsim.errors import PerfsimError
from perfsim.report.trace import chrome_trace
from perfsim.results import RunResult
from perfsim.storage import check_destination, created_utc, write_atomic


def provenance(result: RunResult, hw_path: str | Path | None = None,
               source: str | None = None, command: list[str] | None = None) -> dict:
    """Everything needed to reproduce a run. Without ``hw_path`` (a config built in Python)
    the hardware file and its hash are None and the normalised config (``hw_config``) is the
    record; ``source`` defaults to the network's name, ``command`` to this process's."""
    return {
        "perfsim_version": __version__,
        "python": platform.python_version(),
        "created_utc": created_utc(),
        "command": list(command) if command is not None else list(sys.argv),
        "workload_source": source or result.network,
        "hw_file": None if hw_path is None else str(Path(hw_path).resolve()),
        "hw_sha256": None if hw_path is None else file_sha256(hw_path),
        "hw_config": to_document(result.hw),
        "options": result.options,
    }


def save_run(result: RunResult, out_dir: str | Path, *, hw_path: str | Path | None = None,
             source: str | None = None, command: list[str] | None = None) -> Path:
    """Write the run's files into ``out_dir`` (created if needed) and return it; the
    provenance arguments are optional (:func:`provenance`). A directory that cannot be
    written, or a destination that is not a regular file, is a :class:`PerfsimError`."""
    out = Path(out_dir)
    files = _files(result, provenance(result, hw_path, source, command))
    try:
        for name in files:
            check_destination(out / name)
        for name, write in files.items():
            write_atomic(out / name, write)
    except OSError as err:
        raise PerfsimError(f"cannot write the run to {out_dir}: {err.strerror or err}") \
            from None
    return out


def _files(result: RunResult, origin: dict) -> dict[str, Callable[[Path], None]]:
    """File name -> the function writing it, ``run.json`` last (it marks a complete run)."""
    frame = result.to_frame()
    files: dict[str, Callable[[Path], None]] = {
        "layers.csv": lambda tmp: frame.to_csv(tmp, index=False),
        "layers.parquet": lambda tmp: frame.to_parquet(tmp, index=False)}
    document = result.to_dict()
    document["provenance"] = origin
    if result.timeline is not None:
        from perfsim.report.timeline import gantt_figure  # matplotlib is slow to import

        timeline = result.timeline
        trace = json.dumps(chrome_trace(result)) + "\n"
        figure = gantt_figure(timeline, frame, clock_ghz=result.hw.clock_ghz)
        files["timeline.csv"] = lambda tmp: timeline.to_csv(tmp, index=False)
        files["trace.json"] = lambda tmp: tmp.write_text(trace, encoding="utf-8")
        files["gantt.png"] = lambda tmp: figure.savefig(tmp, format="png", dpi=120)
    text = json.dumps(document, indent=1) + "\n"
    files["run.json"] = lambda tmp: tmp.write_text(text, encoding="utf-8")
    return files
