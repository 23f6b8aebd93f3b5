#!/usr/bin/env python3
"""analyze.py: the soak's report from bench/soak/run.sh's output directory.

    python3 bench/soak/analyze.py OUT_DIR

Reads OUT_DIR/samples.csv (the spider's 5 s samples), pauses.csv, stats.json,
silk.err and exit_code; writes OUT_DIR/soak.svg (four panels over time, the
kill -STOP windows shaded) and OUT_DIR/report.md, and prints the report.

The slope is a least-squares line over the last half of the samples (after
warm-up), as growth over that half in percent of the half's mean; the same
over the last quarter, and the first half's maximum beside the last half's
range (a step, such as the seen-set doubling, skews a slope but not a range). RSS is
shown as is and minus the frontier's own heap (its seen-set and queues grow
with the URLs discovered: state, not a leak). Goal: RSS growth < 1 %, fds and
live objects bounded, no task leak at exit.
"""
import csv
import json
import os
import sys
from xml.sax.saxutils import escape


def load(out):
    with open(os.path.join(out, "samples.csv")) as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    pauses = []
    p = os.path.join(out, "pauses.csv")
    if os.path.exists(p):
        with open(p) as f:
            pauses = [(float(r["t"]), r["target"], float(r["seconds"])) for r in csv.DictReader(f)]
    return rows, pauses


def fit(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return slope, my


def growth(rows, key, part=2):
    half = rows[len(rows) - len(rows) // part:]
    xs = [r["t"] for r in half]
    ys = [key(r) for r in half]
    slope, mean = fit(xs, ys)
    span = xs[-1] - xs[0] if len(xs) > 1 else 0
    return slope, mean, (100.0 * slope * span / mean if mean else 0.0), min(ys), max(ys)


def panel(svg, x0, y0, w, h, title, rows, series, pauses, tmax):
    svg.append('<text x="%d" y="%d" font-size="12" font-weight="bold">%s</text>' % (x0, y0 - 6, escape(title)))
    svg.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (x0, y0, w, h))
    for t, _, secs in pauses:
        svg.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f3d9d9"/>'
                   % (x0 + w * t / tmax, y0, max(w * secs / tmax, 1), h))
    ymax = max(max(key(r) for r in rows) for _, key, _ in series) or 1
    ymax *= 1.1
    for k in range(5):
        v = ymax * k / 4
        y = y0 + h - h * k / 4
        svg.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (x0, x0 + w, y, y))
        svg.append('<text x="%d" y="%.1f" font-size="9" text-anchor="end" fill="#555">%s</text>'
                   % (x0 - 4, y + 3, ("%.0f" % v) if ymax >= 10 else ("%.2f" % v)))
    for i, (name, key, color) in enumerate(series):
        pts = " ".join("%.1f,%.1f" % (x0 + w * r["t"] / tmax, y0 + h - h * key(r) / ymax) for r in rows)
        svg.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (color, pts))
        svg.append('<text x="%d" y="%d" font-size="10" fill="%s">%s</text>'
                   % (x0 + w + 8, y0 + 12 + 14 * i, color, escape(name)))


def chart(rows, pauses, path):
    tmax = rows[-1]["t"] or 1
    W, x0, w, h, gap = 900, 60, 680, 130, 40
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="DejaVu Sans, sans-serif">'
           % (W, 40 + 4 * (h + gap)),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="14" font-weight="bold">silk soak: %d pages in %.0f s '
           '(shaded: kill -STOP of a server)</text>' % (rows[-1]["pages"], tmax)]
    y = 50
    panel(svg, x0, y, w, h, "RSS (MB)", rows,
          [("RSS", lambda r: r["rss_kb"] / 1024, "#1f77b4"),
           ("RSS - frontier", lambda r: (r["rss_kb"] - r["frontier_kb"]) / 1024, "#2ca02c"),
           ("Lua heap", lambda r: r["lua_kb"] / 1024, "#ff7f0e")], pauses, tmax)
    y += h + gap
    panel(svg, x0, y, w, h, "open file descriptors", rows,
          [("all fds", lambda r: r["fds"], "#1f77b4"), ("sockets", lambda r: r["socket_fds"], "#ff7f0e")],
          pauses, tmax)
    y += h + gap
    panel(svg, x0, y, w, h, "live objects", rows,
          [("tasks", lambda r: r["tasks"], "#1f77b4"), ("documents", lambda r: r["documents"], "#ff7f0e"),
           ("curl handles", lambda r: r["curl_easy"], "#2ca02c"), ("transfers", lambda r: r["transfers"], "#d62728"),
           ("pooled handles", lambda r: r["easy_pooled"], "#9467bd")], pauses, tmax)
    y += h + gap
    rate = []
    for a, b in zip(rows, rows[1:]):
        rate.append(dict(b, rate=(b["pages"] - a["pages"]) / max(b["t"] - a["t"], 1e-9)))
    panel(svg, x0, y, w, h, "pages/s and frontier queue (thousands)", rate or rows,
          [("pages/s", lambda r: r.get("rate", 0), "#1f77b4"),
           ("queued/1000", lambda r: r["frontier_queued"] / 1000, "#ff7f0e")], pauses, tmax)
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def main():
    out = sys.argv[1]
    rows, pauses = load(out)
    if len(rows) < 4:
        sys.exit("analyze.py: fewer than 4 samples in %s" % out)
    chart(rows, pauses, os.path.join(out, "soak.svg"))
    stats = {}
    if os.path.exists(os.path.join(out, "stats.json")):
        with open(os.path.join(out, "stats.json")) as f:
            stats = json.load(f) if os.path.getsize(os.path.join(out, "stats.json")) else {}
    err = open(os.path.join(out, "silk.err"), errors="replace").read() if os.path.exists(
        os.path.join(out, "silk.err")) else ""
    rc = open(os.path.join(out, "exit_code")).read().strip() if os.path.exists(
        os.path.join(out, "exit_code")) else "?"
    leaks = [l for l in err.splitlines() if "leak" in l or "still live" in l]
    half = rows[len(rows) // 2:]
    lines = ["# silk soak", "",
             "%d pages, %d errors, %d samples over %.0f s; %d server pauses (kill -STOP); silk exit code %s."
             % (stats.get("pages", rows[-1]["pages"]), stats.get("errors", rows[-1]["errors"]), len(rows),
                rows[-1]["t"], len(pauses), rc), ""]
    if stats:
        lines.append("Status counts: %s. Errors by kind: %s. Retries: %s."
                     % (json.dumps(stats.get("by_status", {}), sort_keys=True),
                        json.dumps(stats.get("errors_by_kind", {}), sort_keys=True), stats.get("retries")))
        lines.append("")
    lines += ["Last half (t >= %.0f s):" % half[0]["t"], "",
              "| series | first-half max | last-half min | last-half max | slope /s | growth over last half | over last quarter |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    first = rows[:len(rows) // 2]
    for name, key in [("RSS (MB)", lambda r: r["rss_kb"] / 1024),
                      ("RSS - frontier (MB)", lambda r: (r["rss_kb"] - r["frontier_kb"]) / 1024),
                      ("Lua heap (MB)", lambda r: r["lua_kb"] / 1024),
                      ("frontier heap (MB)", lambda r: r["frontier_kb"] / 1024),
                      ("open fds", lambda r: r["fds"]), ("socket fds", lambda r: r["socket_fds"]),
                      ("live tasks", lambda r: r["tasks"]), ("live documents", lambda r: r["documents"]),
                      ("curl handles in flight", lambda r: r["curl_easy"]),
                      ("pooled curl handles", lambda r: r["easy_pooled"]),
                      ("transfers", lambda r: r["transfers"])]:
        slope, mean, pct, lo, hi = growth(rows, key)
        pct4 = growth(rows, key, 4)[2]
        lines.append("| %s | %.1f | %.1f | %.1f | %+.4f | %+.2f %% | %+.2f %% |"
                     % (name, max(key(r) for r in first), lo, hi, slope, pct, pct4))
    lines += ["", "Leak report at exit: %s" % ("; ".join(leaks) if leaks else "none (no task or C resource live)"),
              "", "![soak](soak.svg)", ""]
    text = "\n".join(lines)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
