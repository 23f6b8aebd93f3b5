#!/usr/bin/env python3
"""Prints the A/B table from gcbench result lines (key=value), median run by throughput."""
import sys

rows = {}
for path in sys.argv[1:]:
    for line in open(path):
        kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if "mode" in kv:
            rows.setdefault((int(kv["tasks"]), kv["mode"]), []).append(kv)

def med(runs):
    runs = sorted(runs, key=lambda r: float(r["pages_per_s"]))
    return runs[len(runs) // 2]

print("| tasks | collector | pages/s | heap peak MB | RSS MB | iter p99 / p99.9 / max ms | GC slice p50 / p99 / p99.9 / max ms | over budget | GC CPU % |")
print("|---|---|---|---|---|---|---|---|---|")
for (tasks, mode) in sorted(rows):
    r = med(rows[(tasks, mode)])
    gcs = "-" if "gc_p99" not in r else f'{r["gc_p50"]} / {r["gc_p99"]} / {r["gc_p999"]} / {r["gc_max"]}'
    print(f'| {tasks} | {mode} | {r["pages_per_s"]} | {r["heap_peak_mb"]} | {r["maxrss_mb"]} | '
          f'{r["iter_p99"]} / {r["iter_p999"]} / {r["iter_max"]} | {gcs} | {r.get("over", "-")} | {r.get("gc_cpu", "-")} |')
for tasks in sorted({t for t, _ in rows}):
    if (tasks, "pacer") in rows and (tasks, "default") in rows:
        p, d = med(rows[(tasks, "pacer")]), med(rows[(tasks, "default")])
        print(f"{tasks} tasks: throughput pacer/default = {float(p['pages_per_s']) / float(d['pages_per_s']):.3f}, "
              f"heap peak pacer/default = {float(p['heap_peak_mb']) / float(d['heap_peak_mb']):.2f}")
