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
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .92em; max-width: 60em; }
.scroll { overflow-x: auto; max-height: 40em; overflow-y: auto; }
table { border-collapse: collapse; font-size: .85em; }
th, td { border: 1px solid #ddd; padding: .2em .5em; text-align: right; vertical-align: top; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.text { text-align: left; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
code { background: #f2f2f2; padding: 0 .2em; }
"""


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
            body.append(f"{caption}<div class=\"scroll\">{_html_table(block.frame)}</div>")
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
            "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def _inline(text: str) -> str:
    """Escape, then set `backticked` spans as code and **starred** spans as bold."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def _html_table(frame: pd.DataFrame) -> str:
    cells = display_frame(frame)
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in cells.iterrows():
        rows.append("<tr>" + "".join(
            f"<td>{html.escape(row[c])}</td>" if numeric[c]
            else f"<td class=\"text\">{html.escape(row[c])}</td>" for c in frame.columns)
            + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + \
        "\n</tbody>\n</table>"
