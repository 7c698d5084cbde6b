"""A run on disk: ``layers.csv``, ``layers.parquet`` and ``run.json`` (with provenance); an
event run adds ``timeline.csv``, ``trace.json`` (Chrome trace events, for Perfetto) and
``gantt.png``. Each file is written atomically."""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from perfsim._version import __version__
from perfsim.hardware.loading import file_sha256, to_document
from perfsim.errors import PerfsimError
from perfsim.report.trace import chrome_trace
from perfsim.results import RunResult
from perfsim.storage import write_atomic, write_text_atomic


def provenance(result: RunResult, hw_path: str | Path | None = None,
               source: str | None = None, command: list[str] | None = None) -> dict:
    """Everything needed to reproduce a run. Without ``hw_path`` (a config built in Python)
    the hardware file and its hash are None and the normalised config (``hw_config``) is the
    record; ``source`` defaults to the network's name, ``command`` to this process's."""
    return {
        "perfsim_version": __version__,
        "python": platform.python_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
    written is a :class:`PerfsimError`."""
    try:
        _write(result, Path(out_dir), provenance(result, hw_path, source, command))
    except OSError as err:
        raise PerfsimError(f"cannot write the run to {out_dir}: {err.strerror or err}") \
            from None
    return Path(out_dir)


def _write(result: RunResult, out: Path, origin: dict) -> None:
    frame = result.to_frame()
    write_atomic(out / "layers.csv", lambda tmp: frame.to_csv(tmp, index=False))
    write_atomic(out / "layers.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    document = result.to_dict()
    document["provenance"] = origin
    if result.timeline is not None:
        from perfsim.report.timeline import gantt_figure  # matplotlib is slow to import

        timeline = result.timeline
        write_atomic(out / "timeline.csv", lambda tmp: timeline.to_csv(tmp, index=False))
        write_text_atomic(out / "trace.json", json.dumps(chrome_trace(result)) + "\n")
        figure = gantt_figure(timeline, frame, clock_ghz=result.hw.clock_ghz)
        write_atomic(out / "gantt.png",
                     lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    write_text_atomic(out / "run.json", json.dumps(document, indent=1) + "\n")
