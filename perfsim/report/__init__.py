"""Reports of saved runs: ``DataFrame -> DataFrame`` tables, ``DataFrame -> Figure`` plots,
and self-contained HTML and Markdown documents (``perfsim report``, ``perfsim compare``)."""

from perfsim.report.compare import compare_layers, compare_totals, write_compare_report
from perfsim.report.plots import cycles_figure, engine_figure, kind_share_figure, roofline_figure
from perfsim.report.run_dir import SavedRun, load_run
from perfsim.report.run_report import write_run_report
from perfsim.report.tables import (engine_utilization, kind_shares, layer_kinds, layer_table,
                                   roofline_points, roofs)

__all__ = ["SavedRun", "compare_layers", "compare_totals", "cycles_figure", "engine_figure",
           "engine_utilization", "kind_share_figure", "kind_shares", "layer_kinds",
           "layer_table", "load_run", "roofline_figure", "roofline_points", "roofs",
           "write_compare_report", "write_run_report"]
