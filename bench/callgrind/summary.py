#!/usr/bin/env python3
"""Summarises bench/callgrind/crawl.sh's callgrind files as markdown.

    bench/callgrind/summary.py DIR CONCURRENCY CEILING_PAGES

DIR holds ceiling.out (gumbo_ceiling, one thread, the crawl's pages),
crawl.PID-TT (one file a thread of the crawl) and stats.json (the crawl's
--stats). A function is gumbo's when gumbo_ceiling's own binary has it (the
ceiling links the same static libgumbo.a as silk) and it is not the
ceiling's harness. Thread roles: 01 is the loop thread; a thread that runs
gumbo is a parse thread; any other (curl's resolver) is "other".
"""
import collections
import glob
import json
import os
import re
import subprocess
import sys

HARNESS = {"main", "worker", "arena_alloc", "arena_free", "arena_reset", "load", "clock_s"}
LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?):(\S+)(?: \[(.*)\])?\s*$")


def functions(path):
    """{(function, object): self Ir} of one callgrind file."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    res = collections.Counter()
    for line in out.splitlines():
        m = LINE.match(line)
        if m and m.group(3) != "TOTALS":
            res[(m.group(3), os.path.basename(m.group(4) or "?"))] += int(m.group(1).replace(",", ""))
    return res


def main():
    d = sys.argv[1]
    conc, ceil_pages = sys.argv[2], int(sys.argv[3])
    stats = json.load(open(os.path.join(d, "stats.json")))
    pages = stats["pages"]
    ceil = functions(os.path.join(d, "ceiling.out"))
    gumbo = {f for (f, obj) in ceil if obj == "gumbo_ceiling" and f not in HARNESS}
    ceil_gumbo = sum(v for (f, obj), v in ceil.items() if f in gumbo)
    roles = collections.defaultdict(collections.Counter)
    for path in sorted(glob.glob(os.path.join(d, "crawl.*-*"))):
        fs = functions(path)
        if not fs:
            continue
        tid = path.rsplit("-", 1)[-1]
        runs_gumbo = any(f in gumbo for (f, _) in fs)
        role = "loop" if tid == "01" else "parse" if runs_gumbo else "other"
        roles[role].update(fs)
    total = sum(sum(c.values()) for c in roles.values())
    in_gumbo = sum(v for c in roles.values() for (f, _), v in c.items() if f in gumbo)
    w = print
    w("pages %d (concurrency %s); instructions a page (callgrind Ir / pages):\n" % (pages, conc))
    w("| part | M Ir a page | share |")
    w("|---|---:|---:|")
    w("| **crawl, all threads** | **%.2f** | 100 %% |" % (total / pages / 1e6))
    for role in ("loop", "parse", "other"):
        c = roles.get(role)
        if not c:
            continue
        t = sum(c.values())
        g = sum(v for (f, _), v in c.items() if f in gumbo)
        w("| %s thread(s) | %.2f | %.1f %% |" % (role, t / pages / 1e6, 100.0 * t / total))
        if g:
            w("| ... of which gumbo | %.2f | %.1f %% |" % (g / pages / 1e6, 100.0 * g / total))
            w("| ... of which not gumbo | %.2f | %.1f %% |" % ((t - g) / pages / 1e6, 100.0 * (t - g) / total))
    w("| gumbo alone (gumbo_ceiling, same pages) | %.2f | |" % (ceil_gumbo / ceil_pages / 1e6))
    w("| crawl / gumbo alone | %.2fx | |" % (total / pages / (ceil_gumbo / ceil_pages)))
    w("| outside gumbo, all threads | %.2f | %.1f %% |\n" % ((total - in_gumbo) / pages / 1e6,
                                                           100.0 * (total - in_gumbo) / total))
    for role in ("loop", "parse"):
        c = roles.get(role)
        if not c:
            continue
        w("Top functions outside gumbo, %s thread(s) (self Ir a page):\n" % role)
        w("| Ir a page | function | object |")
        w("|---:|---|---|")
        rest = [(v, f, obj) for (f, obj), v in c.items() if f not in gumbo]
        for v, f, obj in sorted(rest, reverse=True)[:25]:
            w("| %.0f | %s | %s |" % (v / pages, f, obj))
        w("")


if __name__ == "__main__":
    main()
