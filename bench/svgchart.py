#!/usr/bin/env python3
"""A small SVG chart writer for bench/run's report: horizontal bars (with
min-max whiskers, optional log scale), lines (series over categories) and
histograms. Standard library only.

Why not gnuplot: it would be one more apt dependency for a few charts, its SVG
output (fonts, sizes, ids) changes between versions, and styling bars with
whiskers, value labels and a log axis in gnuplot script is no shorter than this
file. Writing the SVG ourselves gives deterministic, diffable files that render
the same in a browser, on GitHub and through rsvg-convert, and the charts read
the harness's Python data directly.

    import svgchart
    svg = svgchart.hbar("Pages/s", [("silk", 2500, 2400, 2600), ("scrapy", 60, 58, 62)],
                        unit="pages/s", log=True, ref_lines=[("parse ceiling", 2300)])
    open("chart.svg", "w").write(svg)
"""
import math
from xml.sax.saxutils import escape

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


def fmt(v):
    """Short human number: 1234 -> '1 234', 0.0123 -> '0.0123', 25000 -> '25 000'."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 100:
        return "{:,.0f}".format(v).replace(",", "\u2009")
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    if a == 0:
        return "0"
    return "%.3g" % v


def fmt_tick(v):
    """Axis label: like fmt but without a trailing .0 on whole numbers."""
    if v == int(v):
        return fmt(int(v)) if abs(v) >= 100 else str(int(v))
    return fmt(v)


def _nice_ticks(lo, hi, n=5):
    span = hi - lo
    if span <= 0:
        return [lo]
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 2.5, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    t = math.ceil(lo / step) * step
    out = []
    while t <= hi + step * 1e-9:
        out.append(round(t, 10))
        t += step
    return out


def _log_ticks(lo, hi):
    out = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo * 0.9999 <= v <= hi * 1.0001:
                out.append(v)
        e += 1
    return out


class _Svg:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", fill="#222", extra=""):
        self.add('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" font-weight="%s" fill="%s" %s %s>%s</text>'
                 % (x, y, size, anchor, weight, fill, FONT, extra, escape(str(s))))

    def line(self, x1, y1, x2, y2, stroke="#888", width=1, dash=None):
        d = ' stroke-dasharray="%s"' % dash if dash else ""
        self.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%s"%s/>'
                 % (x1, y1, x2, y2, stroke, width, d))

    def rect(self, x, y, w, h, fill, title=None):
        t = "<title>%s</title>" % escape(title) if title else ""
        self.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">%s</rect>'
                 % (x, y, max(w, 0.5), h, fill, t))

    def render(self):
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n'
                '<rect width="100%%" height="100%%" fill="white"/>\n%s\n</svg>\n'
                % (self.w, self.h, self.w, self.h, "\n".join(self.parts)))


class _Axis:
    """Maps values to pixels on [p0, p1], linear or log10."""

    def __init__(self, lo, hi, p0, p1, log=False):
        self.log = log
        if log:
            lo = max(lo, 1e-9)
            self.lo, self.hi = math.log10(lo), math.log10(max(hi, lo * 10))
        else:
            self.lo, self.hi = lo, hi if hi > lo else lo + 1
        self.p0, self.p1 = p0, p1
        self.vlo, self.vhi = lo, hi

    def __call__(self, v):
        if self.log:
            v = math.log10(max(v, 10 ** self.lo))
        return self.p0 + (v - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)

    def ticks(self):
        if self.log:
            return _log_ticks(10 ** self.lo, 10 ** self.hi)
        return _nice_ticks(self.lo, self.hi)


def hbar(title, rows, unit="", log=False, ref_lines=(), width=760, subtitle=None, colors=None):
    """Horizontal bars. rows: (label, value, lo, hi) with lo/hi the whisker
    (None for none); value None draws 'n/a'. ref_lines: (label, value)
    vertical dashed lines (e.g. a ceiling). colors: optional per-row colors."""
    bar_h, gap = 22, 8
    left, right, top = 170, 90, 52 if subtitle else 36
    height = top + len(rows) * (bar_h + gap) + 48
    svg = _Svg(width, height)
    svg.text(12, 22, title, size=15, weight="bold")
    if subtitle:
        svg.text(12, 40, subtitle, size=11, fill="#555")
    vals = [v for r in rows for v in (r[1], r[3]) if v is not None]
    vals += [v for _, v in ref_lines if v is not None]
    if not vals:
        vals = [1]
    hi = max(vals) * 1.08
    lo = min(v for v in vals if v > 0) / 2 if log else 0
    lo = 10 ** math.floor(math.log10(lo)) if log else 0
    ax = _Axis(lo, hi, left, width - right, log)
    plot_bottom = top + len(rows) * (bar_h + gap)
    for t in ax.ticks():
        x = ax(t)
        svg.line(x, top - 4, x, plot_bottom, stroke="#e4e4e4")
        svg.text(x, plot_bottom + 16, fmt_tick(t), size=10, anchor="middle", fill="#555")
    if unit:
        svg.text((left + width - right) / 2, plot_bottom + 34, unit + (" (log scale)" if log else ""),
                 size=11, anchor="middle", fill="#555")
    for i, (label, v, wlo, whi) in enumerate(rows):
        y = top + i * (bar_h + gap)
        svg.text(left - 8, y + bar_h * 0.7, label, size=12, anchor="end")
        color = (colors[i] if colors and i < len(colors) else None) or PALETTE[i % len(PALETTE)]
        if v is None:
            svg.text(left + 4, y + bar_h * 0.7, "n/a", size=11, fill="#999")
            continue
        x0 = ax(lo) if log else ax(0)
        svg.rect(x0, y, ax(v) - x0, bar_h, color, "%s: %s %s" % (label, fmt(v), unit))
        if wlo is not None and whi is not None and whi > wlo:
            cy = y + bar_h / 2
            svg.line(ax(wlo), cy, ax(whi), cy, stroke="#222", width=1.2)
            svg.line(ax(wlo), cy - 5, ax(wlo), cy + 5, stroke="#222", width=1.2)
            svg.line(ax(whi), cy - 5, ax(whi), cy + 5, stroke="#222", width=1.2)
        xe = max(ax(v), ax(whi) if whi is not None else 0)
        svg.text(xe + 5, y + bar_h * 0.7, fmt(v), size=11, fill="#222")
    for j, (label, v) in enumerate(ref_lines):
        if v is None:
            continue
        x = ax(v)
        svg.line(x, top - 6, x, plot_bottom, stroke="#c00", width=1.3, dash="5,3")
        svg.text(x - 3, top - 8 - 11 * (j % 2), "%s %s" % (label, fmt(v)), size=10, anchor="end", fill="#c00")
    return svg.render()


def lines(title, categories, series, unit="", log=False, xlabel="", width=760, height=360, subtitle=None):
    """Series over categorical x values. series: [(name, [y or None per category])]."""
    left, right, top, bottom = 70, 230, 52 if subtitle else 36, 56
    svg = _Svg(width, height)
    svg.text(12, 22, title, size=15, weight="bold")
    if subtitle:
        svg.text(12, 40, subtitle, size=11, fill="#555")
    ys = [y for _, s in series for y in s if y is not None] or [1]
    lo = (10 ** math.floor(math.log10(min(ys)))) if log else 0
    ay = _Axis(lo, max(ys) * (1.5 if log else 1.08), height - bottom, top, log)
    n = len(categories)
    xs = [left + (i + 0.5) * (width - left - right) / n for i in range(n)]
    for t in ay.ticks():
        y = ay(t)
        svg.line(left, y, width - right, y, stroke="#e4e4e4")
        svg.text(left - 6, y + 4, fmt_tick(t), size=10, anchor="end", fill="#555")
    svg.line(left, height - bottom, width - right, height - bottom, stroke="#888")
    for x, c in zip(xs, categories):
        svg.text(x, height - bottom + 16, str(c), size=11, anchor="middle")
    if xlabel:
        svg.text((left + width - right) / 2, height - 12, xlabel, size=11, anchor="middle", fill="#555")
    if unit:
        svg.add('<text x="16" y="%d" font-size="11" fill="#555" %s transform="rotate(-90 16 %d)" '
                'text-anchor="middle">%s</text>' % ((top + height - bottom) / 2, FONT,
                                                      (top + height - bottom) / 2,
                                                      escape(unit + (" (log)" if log else ""))))
    for k, (name, s) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        pts = [(xs[i], ay(v)) for i, v in enumerate(s) if v is not None]
        if len(pts) > 1:
            svg.add('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>'
                    % (color, " ".join("%.1f,%.1f" % p for p in pts)))
        for p in pts:
            svg.add('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (p[0], p[1], color))
        ly = top + 8 + k * 18
        svg.line(width - right + 12, ly - 4, width - right + 32, ly - 4, stroke=color, width=2)
        svg.text(width - right + 38, ly, name, size=11)
    return svg.render()


def histogram(title, edges, counts, unit="", width=760, height=320, subtitle=None, series_name=None,
              counts2=None, series2_name=None, log=False):
    """Bars over bins [edges[i], edges[i+1]); counts2 (optional) is drawn beside
    counts for an A/B comparison. log: a log10 count axis, so that a tail of a
    few long pauses stays visible next to thousands of short ones (empty bins
    draw nothing)."""
    left, right, top, bottom = 70, 30, 52 if subtitle else 36, 64
    svg = _Svg(width, height)
    svg.text(12, 22, title, size=15, weight="bold")
    if subtitle:
        svg.text(12, 40, subtitle, size=11, fill="#555")
    allc = list(counts) + list(counts2 or [])
    if log:
        ay = _Axis(0.8, max(allc + [1]) * 1.5, height - bottom, top, log=True)
    else:
        ay = _Axis(0, max(allc + [1]) * 1.1, height - bottom, top)
    base = ay(0.8 if log else 0)
    n = len(counts)
    bw = (width - left - right) / max(n, 1)
    for t in ay.ticks():
        y = ay(t)
        svg.line(left, y, width - right, y, stroke="#e4e4e4")
        svg.text(left - 6, y + 4, fmt_tick(t), size=10, anchor="end", fill="#555")
    for i, c in enumerate(counts):
        x = left + i * bw
        w = bw * (0.45 if counts2 else 0.85)
        if c > 0 or not log:
            svg.rect(x + bw * 0.05, ay(c), w, base - ay(c), PALETTE[0], title="%s: %s" % (fmt(edges[i]), fmt(c)))
        if counts2 and (counts2[i] > 0 or not log):
            c2 = counts2[i]
            svg.rect(x + bw * 0.5, ay(c2), w, base - ay(c2), PALETTE[1], title="%s: %s" % (fmt(edges[i]), fmt(c2)))
        svg.text(x + bw / 2, height - bottom + 14, fmt(edges[i]), size=9, anchor="middle", fill="#555")
    svg.line(left, height - bottom, width - right, height - bottom, stroke="#888")
    if unit:
        svg.text((left + width - right) / 2, height - 28, unit + " (bin lower edge)", size=11,
                 anchor="middle", fill="#555")
    if series_name:
        svg.rect(width - 220, top, 12, 10, PALETTE[0])
        svg.text(width - 202, top + 10, series_name, size=11)
    if counts2 and series2_name:
        svg.rect(width - 220, top + 16, 12, 10, PALETTE[1])
        svg.text(width - 202, top + 26, series2_name, size=11)
    return svg.render()


if __name__ == "__main__":
    import sys
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/svgchart-demo.svg"
    with open(out, "w") as f:
        f.write(hbar("Pages per second (demo)", [("silk", 2400, 2300, 2500), ("scrapy", 60, 55, 64),
                                                  ("crawlee", 90, 80, 95), ("wget2", 3000, None, None),
                                                  ("none", None, None, None)],
                     unit="pages/s", log=True, ref_lines=[("parse ceiling", 2300), ("wrk", 25000)]))
    print(out)
