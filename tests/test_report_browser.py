"""A run's ``report.html`` as a reader sees it: rendered by headless Chromium (Debian's
``chromium``, installed by ``.ci/run``) at 1400 px, with no table clipped, compact rows, every
figure loaded, and the embedded script sorting and filtering; a screenshot goes to
``reports/html/``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import perfsim
from perfsim.report import write_run_report

ROOT = Path(__file__).parent.parent
SCREENSHOT = ROOT / "reports" / "html" / "mobilenet_v1_matrix_engine_1400px.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1400

# Appended to a copy of the page: measures it once loaded and leaves the figures in the DOM
# (as JSON in <pre id="measured">) for --dump-dom to print. It also exercises the page's own
# script: sorts the layers table by its cycles and filters it.
MEASURE = """
<script>
window.addEventListener("load", function () {
  var out = {width: document.documentElement.clientWidth, tables: [], images: []};
  document.querySelectorAll("div.table").forEach(function (box) {
    var table = box.querySelector("table"), rows = table.tBodies[0].rows;
    var heights = Array.from(rows).map(function (r) { return r.getBoundingClientRect().height; });
    out.tables.push({clipped: box.scrollWidth > box.clientWidth,
                     right: table.getBoundingClientRect().right, rows: rows.length,
                     tallest: Math.max.apply(null, heights),
                     columns: table.rows[0].cells.length});
  });
  document.querySelectorAll("img").forEach(function (img) {
    out.images.push({loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
                     shown: img.getBoundingClientRect().width});
  });
  var layers = Array.from(document.querySelectorAll("table.sortable")).pop();
  var head = Array.from(layers.tHead.rows[0].cells);
  var col = head.findIndex(function (th) { return th.textContent === "total_cycles"; });
  head[col].click();
  out.sorted = Array.from(layers.tBodies[0].rows).slice(0, 3).map(function (r) {
    return parseFloat(r.cells[col].dataset.value); });
  out.sorted_first = layers.tBodies[0].rows[0].cells[0].textContent;
  var box = layers.parentNode.previousElementSibling;
  box.value = "depthwise";
  box.dispatchEvent(new Event("input"));
  out.filtered = Array.from(layers.tBodies[0].rows).filter(function (r) {
    return !r.hidden; }).length;
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    run = perfsim.simulate("mobilenet_v1", "matrix_engine")
    out = tmp_path_factory.mktemp("report")
    write_run_report(run, out)
    return out / "report.html"


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--no-first-run", f"--window-size={WIDTH},900",
                           "--virtual-time-budget=5000", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(.ci/run installs it)")
def test_report_renders_in_chromium_unclipped_with_every_figure(report):
    html = report.read_text()
    assert "http://" not in html and "https://" not in html  # nothing fetched
    figures = len(re.findall(r"<img ", html))
    assert figures == 4  # roofline, cycles, kinds, engines
    probe = report.with_name("probe.html")
    probe.write_text(html.replace("</body>", MEASURE + "</body>"))
    result = chromium("--dump-dom", probe.as_uri(), cwd=report.parent)
    measured = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, flags=re.S)
    assert measured, result.stderr[-2000:]
    page = json.loads(measured.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert page["width"] <= WIDTH
    # every table fits the page: no horizontal scrolling, nothing past the right edge
    assert page["tables"] and not [t for t in page["tables"] if t["clipped"]]
    assert max(t["right"] for t in page["tables"]) <= page["width"]
    # rows stay compact: the longest reason wraps to four lines at most (was ~200 px)
    layers = page["tables"][-1]
    assert layers["rows"] == 30 and layers["columns"] >= 12
    assert layers["tallest"] <= 80
    # every figure is there, decoded, and drawn at a readable width
    assert len(page["images"]) == figures
    assert all(i["loaded"] and i["shown"] >= 600 for i in page["images"])
    # the page's script sorts by a column (largest first) and filters rows
    assert page["sorted"] == sorted(page["sorted"], reverse=True)
    assert page["sorted_first"] == "block13/pw"
    assert page["filtered"] == 13  # the depthwise layers

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shot = chromium(f"--screenshot={SCREENSHOT}", "--window-size=1400,2600", report.as_uri(),
                    cwd=report.parent)
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 50_000, shot.stderr[-2000:]
