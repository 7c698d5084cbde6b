"""Reports of saved runs: ``DataFrame -> DataFrame`` tables, ``DataFrame -> Figure`` plots,
and self-contained HTML and Markdown documents (``perfsim report``, ``perfsim compare``);
also a run's files on disk (:mod:`.saved_run`, :mod:`.run_dir`) and its Chrome trace
(:mod:`.trace`).

The names below load their module on first use (PEP 562), so that saving a run, which needs
no figure, does not import matplotlib.
"""

from importlib import import_module

_HOMES = {
    "compare_layers": "compare", "compare_totals": "compare", "write_compare_report": "compare",
    "cycles_figure": "plots", "engine_figure": "plots", "kind_share_figure": "plots",
    "roofline_figure": "plots", "SavedRun": "run_dir", "as_saved": "run_dir",
    "load_run": "run_dir", "save_run": "saved_run",
    "write_run_report": "run_report", "engine_utilization": "tables", "kind_shares": "tables",
    "layer_kinds": "tables", "layer_table": "tables", "roofline_points": "tables",
    "roofs": "tables",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
