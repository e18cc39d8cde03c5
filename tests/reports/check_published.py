#!/usr/bin/python3
"""The committed published reports (reports/published/, made by scripts/publish.sh) are whole: each
of the combined report and the three libraries' reports has index.html and report.md, at least three
plots, every plot the page shows present as SVG (with drawn data) and PNG, its columns naming the
library, and no fail or error left unexplained."""
import os
import re
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "reports", "published")
failures = []


def check(what, ok):
    if not ok:
        failures.append(what)


for sub, library in (("", None), ("pytorch", "pytorch 1.13"), ("onnxruntime", "onnxruntime-node 1.30"), ("tfjs", "tfjs-core+cpu 4.22")):
    folder = os.path.join(root, sub)
    md_path, html_path = os.path.join(folder, "report.md"), os.path.join(folder, "index.html")
    check(f"{folder}: report.md", os.path.isfile(md_path))
    check(f"{folder}: index.html", os.path.isfile(html_path))
    if not os.path.isfile(md_path):
        continue
    md = open(md_path, encoding="utf-8").read()
    plots = re.findall(r"!\[[^\]]*\]\(([^)]+)\.svg\)", md)
    check(f"{folder}: at least 3 plots (has {len(plots)})", len(set(plots)) >= 3)
    for stem in plots:
        svg, png = os.path.join(folder, stem + ".svg"), os.path.join(folder, stem + ".png")
        check(f"{svg} exists", os.path.isfile(svg))
        check(f"{png} exists", os.path.isfile(png))
        if os.path.isfile(svg):
            text = open(svg, encoding="utf-8").read()
            # gnuplot draws data as polygons (bars, bands) or paths (lines, points) inside its plot groups.
            check(f"{svg}: draws data", 'id="gnuplot_plot_1"' in text and ("<polygon" in text or "<path" in text))
        if os.path.isfile(png):
            check(f"{png}: a PNG", open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n")
    m = re.search(r"(\d+) fail or error verdict\(s\) not explained yet", md)
    check(f"{folder}: states its unexplained findings", m is not None)
    check(f"{folder}: every fail and error explained", m is not None and m.group(1) == "0")
    if library:
        check(f"{folder}: shows {library}", library in md)
    check(f"{folder}: provenance", "## Provenance" in md and "- gradspec: " in md)

for f in failures:
    print("FAIL:", f)
print(f"check_published: {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
