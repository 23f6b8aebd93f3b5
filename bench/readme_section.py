#!/usr/bin/env python3
"""Print the README's "Performance" section (Markdown) from the latest bench report.

    python3 bench/readme_section.py [RESULTS.json]

Without an argument: the newest full run in bench/results/ (a quick run only
when no full run exists). The lead pastes the output into README.md.
"""
import glob
import json
import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from svgchart import fmt  # noqa: E402


def latest():
    # bench/run's reports; other benches (bench/render) write JSON of their own
    files = [p for p in glob.glob(os.path.join(BENCH, "results", "*.json"))
             if "meta" in json.load(open(p))]
    files.sort(key=lambda p: (json.load(open(p))["meta"].get("started", ""), p))
    full = [p for p in files if not json.load(open(p))["meta"].get("quick")
            and not json.load(open(p))["meta"].get("only")]
    pick = (full or files)
    if not pick:
        sys.exit("readme_section.py: no report in bench/results/ (run bench/run first)")
    return pick[-1]


def med(s):
    return s["median"] if s else None


def rng(s):
    if not s:
        return "–"
    if s["n"] > 1 and s["min"] != s["max"]:
        return "%s (%s–%s)" % (fmt(s["median"]), fmt(s["min"]), fmt(s["max"]))
    return fmt(s["median"])


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else latest()
    with open(path) as f:
        R = json.load(f)
    m, c, ce = R["meta"], R["contenders"], R["ceilings"]
    mi = m["machine"]
    stem = os.path.splitext(os.path.basename(path))[0]
    rel = "bench/results/" + stem
    out = []
    w = out.append
    w("## Performance")
    w("")
    w("Measured by `bench/run%s` on %s: %s, %d cores, %d GB RAM, %s (a shared machine; "
      "medians, ranges over repeats in parentheses). The site: %s generated shop pages of ~%.0f KB "
      "with 10 products and ~50 links each, served by nginx on loopback; every crawler does the same "
      "job (follow every in-site link once, parse the HTML, extract the 10 products a page, obey "
      "robots.txt) and its output is checked against the generator's truth. Full report: "
      "[%s.md](%s.md)." % (" --quick" if m["quick"] else "", m["date"], mi["cpu"], mi["cores"],
                           round(mi["mem_mb"] / 1024), mi["os"], "{:,}".format(m["pages"]),
                           m["site_bytes"] / m["pages"] / 1e3, stem, rel))
    w("")
    w("| crawler | pages/s | CPU-s per 1 000 pages | peak RSS (MB) | output |")
    w("|---|---:|---:|---:|---|")
    for name, r in c.items():
        if not r.get("available"):
            w("| %s | – | – | – | not run (%s) |" % (r["label"], r.get("reason", "")))
            continue
        w("| %s | %s | %s | %s | %s |" % (r["label"], rng(r.get("pages_per_s")), rng(r.get("cpu_s_per_1000")),
                                         rng(r.get("peak_rss_mb")),
                                         ("correct" if r["kind"] == "items" else "pages only, no extraction")
                                         if r.get("ok") else "**failed the check**"))
    wrk = ce.get("wrk", {}).get("requests_per_s")
    g1 = (ce.get("gumbo", {}).get("threads_1") or {}).get("pages_per_s")
    g2 = (ce.get("gumbo", {}).get("threads_2") or {}).get("pages_per_s")
    g = ce.get("gumbo", {})
    w("")
    w("The machine's limits for this job, measured in the same run: nginx serves %s pages/s to `wrk`; "
      "gumbo alone parses the crawl's pages at %s pages/s on one thread and %s on two%s. The lower of the "
      "two, %s pages/s, is the ceiling for any crawler that parses every page here." % (
          fmt(med(wrk)), fmt(med(g1)), fmt(med(g2)),
          " (%s, %s CPU-ms a page)" % (g["options"], fmt(med(g["threads_2"].get("cpu_ms_per_page"))))
          if g.get("options") and g.get("threads_2") else "",
          fmt(ce.get("machine_limit_pages_per_s"))))
    sp = (R.get("cpu_split") or {}).get("silk")
    if sp and sp.get("parse_extras") is not None:
        w("")
        w("Where silk's CPU goes, per page: %s CPU-ms in all; the loop thread %s, the parse threads %s "
          "(gumbo's %s and silk's own %s), other threads %s: gumbo alone costs %.2f × what the crawl does." % (
              fmt(sp["cpu_ms_per_page"]), fmt(sp["loop"]), fmt(sp["parse_threads"]), fmt(sp["gumbo"]),
              fmt(sp["parse_extras"]), fmt(sp["other"]), sp["gumbo"] / sp["cpu_ms_per_page"]))
    rat = R.get("ratios", {})
    got = [(k, v) for k, v in rat.items() if v.get("ratio") and k.startswith("silk/")]
    if got:
        w("")
        w("silk relative to the others in that run: " + "; ".join(
            "%.1f × %s" % (v["ratio"], k.split("/", 1)[1].replace("machine_limit", "the machine's limit"))
            for k, v in got) + ".")
    t = R.get("tasks", {})
    if t.get("available"):
        mem, yr, sj, ch = t.get("memory", {}), t.get("yield_resume", {}), t.get("spawn_join", {}), t.get("channel", {})
        en, la = t.get("enforcement", {}), t.get("lateness", {})
        w("")
        w("Task runtime (`bench/tasks/`): %s bytes per suspended task (100 000 sleeping at once); "
          "%s spawn+join/s; %s yield/resume round trips/s through C; %s channel send/recv pairs/s "
          "(rendezvous); deadline enforcement costs %s on a CPU-bound script; a 50 ms sleep wakes "
          "%s ms late (p99) while a runaway loop spins until its deadline." % (
              fmt(med(mem.get("bytes_per_task"))), fmt(med(sj.get("per_s"))), fmt(med(yr.get("per_s"))),
              fmt(med(ch.get("rendezvous_per_s"))),
              "%+.1f %%" % en["overhead_median_pct"] if en.get("overhead_median_pct") is not None else "–",
              fmt(med(la.get("p99_ms")))))
    mi_ = R.get("micro") or {}
    parts = []
    f = mi_.get("fetch") or {}
    if f.get("available") and f.get("vs_wrk_64"):
        s64, s1k = f["sections"].get("silk 64", {}), f["sections"].get("silk 1024", {})
        parts.append("fetch only, a 4 KiB page: %s requests/s at 64 connections (%.2f × wrk's), %s at 1 024 "
                     "(%.2f ×); a finished transfer's task runs %s µs later at p99 with 64 in flight" % (
                         fmt(s64.get("rps")), f["vs_wrk_64"], fmt(s1k.get("rps")), f.get("vs_wrk_1024") or 0,
                         fmt((s64.get("overhead_us") or {}).get("p99"))))
    p = mi_.get("parse") or {}
    if p.get("available") and p.get("select_vs_cheerio"):
        parts.append("ten selectors a page run %.1f × faster than cheerio's on the same pages, and "
                     "silk_html_parse parses %s pages/s against raw gumbo's %s" % (
                         p["select_vs_cheerio"], fmt(p.get("silk_parse_pages_per_s")), fmt(p.get("raw_pages_per_s"))))
    fr = mi_.get("frontier") or {}
    if fr.get("available") and fr.get("push_given_ns"):
        parts.append("the frontier takes %s ns and %s bytes per URL at %s URLs" % (
            fmt(fr["push_given_ns"]), fmt(fr.get("bytes_per_url")), fmt(fr["urls"])))
    if parts:
        w("")
        w("Primitives (`bench/micro.py`, same run): " + "; ".join(parts) + ".")
    w("")
    w("Reproduce: `bench/run` (about 15–20 minutes; `bench/run --quick`: 2 000 pages, under 3 minutes).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
