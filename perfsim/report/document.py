"""A report as a list of blocks (headings, paragraphs, tables, figures, preformatted text),
written as one self-contained HTML file (figures as base64 PNG, CSS inline, no external
references) and as Markdown with the PNGs beside it."""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from perfsim.errors import PerfsimError
from perfsim.results import display_frame
from perfsim.storage import write_atomic, write_text_atomic

PNG_DPI = 110
"""Resolution of the figures' PNGs (dots per inch)."""


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Plain text; `backticked` spans are set as code."""

    text: str


@dataclass(frozen=True, eq=False)
class Table:
    """A table, its cells as :func:`~perfsim.results.display_frame` shows them
    (``*_share`` and ``*utilization`` columns as percentages, ``*_ratio`` as ``1.23x``)."""

    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True, eq=False)
class Plot:
    """A figure, saved as ``{stem}_{name}.png`` beside the Markdown."""

    name: str
    figure: Figure
    caption: str = ""


@dataclass(frozen=True)
class Preformatted:
    text: str


Block = Heading | Paragraph | Table | Plot | Preformatted


@dataclass(frozen=True)
class Document:
    title: str
    blocks: tuple[Block, ...]


def write_document(document: Document, out_dir: str | Path, stem: str) -> list[Path]:
    """Write ``{stem}.html``, ``{stem}.md`` and one ``{stem}_{plot}.png`` per figure into
    ``out_dir`` (created if needed), each atomically; returns the paths written. A directory
    that cannot be written is a :class:`PerfsimError`."""
    out = Path(out_dir)
    pngs = {block.name: _png(block.figure) for block in document.blocks
            if isinstance(block, Plot)}
    written = []
    try:
        for name, data in pngs.items():
            path = out / f"{stem}_{name}.png"
            write_atomic(path, lambda tmp, data=data: tmp.write_bytes(data))
            written.append(path)
        write_text_atomic(out / f"{stem}.md", to_markdown(document, stem))
        write_text_atomic(out / f"{stem}.html", to_html(document, pngs))
    except OSError as err:
        raise PerfsimError(f"cannot write the report to {out}: {err.strerror or err}") \
            from None
    return [out / f"{stem}.html", out / f"{stem}.md", *written]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


def to_markdown(document: Document, stem: str) -> str:
    """The document as Markdown; figures refer to ``{stem}_{name}.png`` beside it."""
    parts = [f"# {document.title}"]
    for block in document.blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Table):
            cells = display_frame(block.frame).replace({r"\|": r"\\|"}, regex=True)
            text = cells.to_markdown(index=False, disable_numparse=True)
            parts.append(f"{block.caption}\n\n{text}" if block.caption else text)
        elif isinstance(block, Plot):
            parts.append(f"![{block.caption or block.name}]({stem}_{block.name}.png)"
                         + (f"\n\n*{block.caption}*" if block.caption else ""))
        else:
            parts.append(f"```text\n{block.text}\n```")
    return "\n\n".join(parts) + "\n"


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto;
       max-width: 110em; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
p, figcaption { max-width: 60em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .92em; }
.table { overflow-x: auto; margin: .5em 0 1em; }
table { border-collapse: collapse; font-size: .8em; line-height: 1.25; }
th, td { border: 1px solid #ddd; padding: .15em .4em; text-align: right; vertical-align: top;
         white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; white-space: normal; min-width: 3em; }
th[data-sort] { cursor: pointer; } th[data-sort]::after { content: " \\2195"; color: #aaa; }
td.text { text-align: left; } td.wrap { white-space: normal; }
td.long { min-width: 24em; max-width: 42em; }
table.pairs td:first-child { text-align: left; font-weight: 600; }
input.filter { font-size: .85em; margin: .2em 0; padding: .15em .4em; width: 20em; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
code { background: #f2f2f2; padding: 0 .2em; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var body = table.tBodies[0];
  table.querySelectorAll("th").forEach(function (th, col) {
    th.dataset.sort = "";
    th.title = "sort by this column (again: reverse)";
    th.addEventListener("click", function () {
      var down = th.dataset.sort !== "down";
      table.querySelectorAll("th").forEach(function (h) { h.dataset.sort = ""; });
      th.dataset.sort = down ? "down" : "up";
      var rows = Array.from(body.rows), key = function (row) {
        var cell = row.cells[col], v = cell.dataset.value;
        return v !== undefined ? parseFloat(v) : cell.textContent; };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), c = typeof x === "number" ? x - y : x.localeCompare(y);
        return down ? -c : c; });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  var filter = table.parentNode.previousElementSibling;
  if (filter && filter.classList.contains("filter")) {
    filter.addEventListener("input", function () {
      var words = filter.value.toLowerCase();
      Array.from(body.rows).forEach(function (row) {
        row.hidden = words && row.textContent.toLowerCase().indexOf(words) < 0; });
    });
  }
});
"""
"""The report's only script, inline: click a column's header to sort by it, type in a table's
box to keep the rows that contain the text. Nothing is fetched."""

FILTER_ROWS = 12
"""Tables with more rows than this get a filter box."""
LONG_TEXT = 30
"""Text columns with cells longer than this wrap (a layer's kind, its reason), the others
never do; the longest of them (the reason) is given room."""


def to_html(document: Document, pngs: dict[str, bytes]) -> str:
    """The document as one HTML page that needs nothing else: figures are embedded as
    base64 PNG (``pngs`` by plot name), the style sheet is inline."""
    body = [f"<h1>{html.escape(document.title)}</h1>"]
    for block in document.blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            caption = f"<p>{_inline(block.caption)}</p>" if block.caption else ""
            body.append(caption + _html_table(block.frame))
        elif isinstance(block, Plot):
            data = base64.b64encode(pngs[block.name]).decode("ascii")
            alt = html.escape(block.caption or block.name, quote=True)
            body.append(f"<figure><img alt=\"{alt}\" src=\"data:image/png;base64,{data}\">"
                        + (f"<figcaption>{_inline(block.caption)}</figcaption>"
                           if block.caption else "") + "</figure>")
        else:
            body.append(f"<pre>{html.escape(block.text)}</pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(document.title)}</title>\n<style>{STYLE}</style>\n</head>\n"
            "<body>\n" + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n")


def _inline(text: str) -> str:
    """Escape, then set `backticked` spans as code and **starred** spans as bold."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def _html_table(frame: pd.DataFrame) -> str:
    """A table as HTML: one row of many columns (a run's totals) as name-value pairs;
    otherwise sortable by any column (numbers by value, kept in ``data-value``), with a
    filter box when it is long, and the long text columns (reasons) wrapping."""
    cells = display_frame(frame)
    if len(frame) == 1 and len(frame.columns) > 6:
        rows = "\n".join(f"<tr><td>{html.escape(str(c))}</td><td>{html.escape(v)}</td></tr>"
                         for c, v in zip(frame.columns, cells.iloc[0]))
        return (f"<div class=\"table\"><table class=\"pairs\">\n<tbody>\n{rows}\n</tbody>"
                f"\n</table></div>")
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) and not
               pd.api.types.is_bool_dtype(frame[c]) for c in frame.columns}
    widths = {c: cells[c].map(len).max() for c in frame.columns if not numeric[c]}
    wrap = {c for c, width in widths.items() if width > LONG_TEXT}
    longest = max(wrap, key=widths.get, default=None)
    head = "".join(f"<th>{html.escape(str(c)).replace('_', '_<wbr>')}</th>"
                   for c in frame.columns)
    rows = []
    for (_, row), (_, raw) in zip(cells.iterrows(), frame.iterrows()):
        out = []
        for c in frame.columns:
            if numeric[c]:
                value = float(raw[c]) if pd.notna(raw[c]) else float("nan")
                data = f" data-value=\"{value!r}\"" if value == value else ""
                out.append(f"<td{data}>{html.escape(row[c])}</td>")
            else:
                kind = "text" + (" wrap" if c in wrap else "") + (" long" if c == longest
                                                                      else "")
                out.append(f"<td class=\"{kind}\">{html.escape(row[c])}</td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    box = (f"<input class=\"filter\" type=\"search\" placeholder=\"filter these {len(frame)} "
           f"rows\" aria-label=\"filter rows\">" if len(frame) > FILTER_ROWS else "")
    return (f"{box}<div class=\"table\"><table class=\"sortable\">\n<thead><tr>{head}</tr>"
            f"</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>")
