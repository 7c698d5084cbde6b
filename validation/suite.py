"""The suite: simulate each case, compare with its published numbers, run the sensitivity
studies, and write the tables, the parity plot and the summary. No printing (the runner in
``__main__`` prints the summary)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import perfsim
from perfsim.storage import write_atomic, write_text_atomic

from validation.cases import select
from validation.compare import (UNITS, compare, detail, measure, relative_error_pct,
                                trend_rows)
from validation.outputs import (cases_markdown, comparison_markdown, headline, parity_figure,
                                sensitivity_markdown)
from validation.published import NUMERIC_METRICS, CaseFacts, load_published
from validation.sensitivity import STUDIES, is_baseline

REPORT_DIR = Path(__file__).resolve().parent.parent / "reports" / "validation"
"""Where ``python -m validation`` writes by default: ``reports/validation/`` of the checkout."""
PNG_DPI = 120
COMPARISON_COLUMNS = ("case", "source", "kind", "metric", "unit", "layers", "published",
                      "model", "error_pct", "target_pct", "within_target", "where",
                      "rechecked", "note", "model_detail")
SENSITIVITY_COLUMNS = ("case", "parameter", "setting", "baseline", "metric", "layers", "unit",
                       "published", "model", "error_pct")


@dataclass(frozen=True)
class Results:
    """A run of the suite: the comparison (one row per published number, plus the per-layer
    trends), the sensitivity rows (empty when not run), and the published facts it used."""

    comparison: pd.DataFrame
    sensitivity: pd.DataFrame
    published: dict[str, CaseFacts]

    def summary(self) -> str:
        """The Markdown the runner prints, for the validation README: a line per case, then
        the full table."""
        version = perfsim.__version__
        return (f"perfsim {version} against published numbers (`python -m validation`; "
                "error = (model - published) / published; † = value not re-checked against "
                "its source this round):\n\n" + "\n".join(headline(self.comparison)) + "\n\n"
                + comparison_markdown(self.comparison))


def run(names: list[str] | None = None, *, sensitivity: bool = True) -> Results:
    """Run the cases ``names`` (all by default; a prefix such as ``tpu`` selects a group) and,
    unless ``sensitivity`` is False, their sensitivity studies."""
    published = load_published()
    chosen = select(names)
    rows = []
    for case in chosen:
        facts = published[case.name]
        result = case.simulate()
        compared = [(ref, compare(facts, ref, measure(result, ref.metric, ref.layers),
                                  detail(result, ref.layers)))
                    for ref in facts.references]
        rows += [row for _, row in compared] + trend_rows(compared)
    comparison = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    studies = [s for s in STUDIES if any(c.name == s.case for c in chosen)] if sensitivity \
        else []
    by_name = {c.name: c for c in chosen}
    sens_rows = []
    for study in studies:
        case, facts = by_name[study.case], published[study.case]
        for label, setting in study.settings:
            result = case.simulate(setting)
            for ref in facts.references:
                model = measure(result, ref.metric, ref.layers)
                numeric = ref.metric in NUMERIC_METRICS
                sens_rows.append({
                    "case": case.name, "parameter": study.parameter, "setting": label,
                    "baseline": is_baseline(case, setting), "metric": ref.metric,
                    "layers": ref.layer_label, "unit": UNITS[ref.metric],
                    "published": ref.value, "model": model if numeric else str(model),
                    "error_pct": relative_error_pct(model, ref.value) if numeric else None})
    return Results(comparison, pd.DataFrame(sens_rows, columns=SENSITIVITY_COLUMNS), published)


def write(results: Results, out: str | Path = REPORT_DIR) -> list[Path]:
    """Write ``validation.csv`` and ``.md``, ``sensitivity.csv`` and ``.md`` (when the
    sensitivity ran), ``parity.png`` and ``README.md`` (the cases, the plot, the summary and
    the sensitivity) into ``out``, each atomically; returns the paths written."""
    out = Path(out)
    comparison, sens = results.comparison, results.sensitivity
    figure = parity_figure(comparison)
    files = {"validation.csv": lambda tmp: comparison.to_csv(tmp, index=False),
             "validation.md": comparison_markdown(comparison),
             "parity.png": lambda tmp: figure.savefig(tmp, format="png", dpi=PNG_DPI)}
    if len(sens):
        why = {(s.case, s.parameter): s.why for s in STUDIES}
        files["sensitivity.csv"] = lambda tmp: sens.to_csv(tmp, index=False)
        files["sensitivity.md"] = sensitivity_markdown(sens, why)
    tables = ", ".join(f"[{name}]({name})" for name in files if name.endswith((".csv", ".md")))
    cases = [results.published[name] for name in dict.fromkeys(comparison["case"])]
    readme = [f"# Validation against published silicon (and one estimator)\n\n"
              f"Generated by `python -m validation` (validation/README.md explains every case "
              f"and assumption). Tables: {tables}.\n", cases_markdown(cases),
              "![perfsim against published](parity.png)\n", results.summary()]
    if len(sens):
        readme.append("## Sensitivity to the unknowns\n\n" + files["sensitivity.md"])
    files["README.md"] = "\n".join(readme)
    for name, content in files.items():
        if isinstance(content, str):
            write_text_atomic(out / name, content)
        else:
            write_atomic(out / name, content)
    return [out / name for name in files]
