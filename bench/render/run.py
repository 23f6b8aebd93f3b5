#!/usr/bin/env python3
"""bench/render/run.py: rendering JavaScript pages -- silk.render against
Crawlee's PuppeteerCrawler and puppeteer-core with page reuse, all driving
the same Debian chromium-headless-shell.

    bench/render/run.py [--pages N] [--conc 4,16,64] [--only silk,silk-block,silk-2browsers,puppeteer,crawlee] [--pss 16,64]

Generates the site (site.py: half the pages static, half filled by a script
after a fetch()), serves it with nginx (tests/lib/nginx.sh), and runs each
contender at each concurrency over the same URL list, measuring wall time
and CPU of its whole process tree (the browser included; wait4, as
bench/run does) and, from the contender itself, its own CPU (the
controller's share; for silk also its parse threads' part of it, the
rendered HTML parsed for res:select, where the node peers count products
inside the page). Every contender must find 20 products on every page.
Node peers live in bench/render/peers (npm install there; no browser is
downloaded: executablePath points at Debian's binary). Writes
bench/results/<date>-<host>-render.json and prints a Markdown table.
"""
import argparse
import datetime
import importlib.machinery
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
loader = importlib.machinery.SourceFileLoader("benchrun", os.path.join(BENCH, "run"))
spec = importlib.util.spec_from_loader("benchrun", loader)
benchrun = importlib.util.module_from_spec(spec)
loader.exec_module(benchrun)
log, run_measured, Nginx = benchrun.log, benchrun.run_measured, benchrun.Nginx


class Site:
    def __init__(self, d, pages):
        self.dir, self.pages, self.port = d, pages, None


# what silk_render.lua is told besides the site and concurrency
EXTRA = {"silk-block": ["block"], "silk-2browsers": ["browsers=2"]}


def contenders(silk):
    peers = os.path.join(HERE, "peers")
    return {
        "silk": [silk, "eval", os.path.join(HERE, "silk_render.lua")],
        "silk-block": [silk, "eval", os.path.join(HERE, "silk_render.lua")],
        "silk-2browsers": [silk, "eval", os.path.join(HERE, "silk_render.lua")],
        "puppeteer": ["node", os.path.join(peers, "puppeteer.mjs")],
        "crawlee": ["node", os.path.join(peers, "crawlee.mjs")],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--conc", default="4,16,64")
    ap.add_argument("--only", default="silk,silk-block,puppeteer,crawlee")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--pss", default="", help="also hold K open pages (e.g. 16,64) and measure the browser's PSS")
    a = ap.parse_args()
    silk = os.environ.get("SILK") or os.path.join(ROOT, "build", "silk")
    site = Site(os.path.join(BENCH, "work", "render-site-%d" % a.pages), a.pages)
    if not os.path.exists(os.path.join(site.dir, "urls.txt")):
        subprocess.run([sys.executable, os.path.join(HERE, "site.py"), site.dir, str(a.pages)], check=True)
    os.makedirs(os.path.join(BENCH, "work"), exist_ok=True)
    Nginx.start([site], a.timeout * 8)
    base = "http://127.0.0.1:%d" % site.port
    urls = os.path.join(site.dir, "urls.txt")
    cmds = contenders(silk)
    results, pss = [], []
    try:
        for name in a.only.split(","):
            for conc in [int(c) for c in a.conc.split(",")]:
                argv = cmds[name] + [urls, base, str(conc)] + EXTRA.get(name, [])
                out = os.path.join(BENCH, "work", "render-%s-%d.out" % (name, conc))
                err = out[:-4] + ".err"
                log("%s at concurrency %d" % (name, conc))
                m = run_measured(argv, a.timeout, stdout_path=out, stderr_path=err)
                try:
                    with open(out) as f:
                        r = json.loads(f.read().strip().splitlines()[-1])
                except (OSError, ValueError, IndexError):
                    r = {}
                ok = r.get("pages") == a.pages and r.get("products") == 20 * a.pages
                row = dict(m, name=name, conc=conc, **r, ok=ok)
                row["pages_per_s"] = a.pages / m["wall_s"]
                row["cpu_s_per_1000"] = m["cpu_s"] * 1000 / a.pages
                if r.get("controller_cpu_s") is not None:
                    row["controller_ms_per_page"] = r["controller_cpu_s"] * 1000 / a.pages
                    row["controller_share"] = r["controller_cpu_s"] / m["cpu_s"] if m["cpu_s"] else None
                if r.get("parse_cpu_s") is not None:
                    row["parse_ms_per_page"] = r["parse_cpu_s"] * 1000 / a.pages
                results.append(row)
                log("  %.1f pages/s, %.0f CPU-s/1000, controller %.2f ms/page%s" % (
                    row["pages_per_s"], row["cpu_s_per_1000"], row.get("controller_ms_per_page", -1),
                    "" if ok else "  (INCOMPLETE: %s; see %s)" % (r, err)))
        for k in [int(x) for x in a.pss.split(",") if x]:
            for name, argv in (("silk", [silk, "eval", os.path.join(HERE, "silk_pss.lua")]),
                               ("puppeteer", ["node", os.path.join(HERE, "peers", "puppeteer_pss.mjs")])):
                out = os.path.join(BENCH, "work", "render-pss-%s-%d.out" % (name, k))
                log("%s holding %d open pages" % (name, k))
                run_measured(argv + [urls, base, str(k)], a.timeout, stdout_path=out, stderr_path=out + ".err")
                try:
                    with open(out) as f:
                        pss.append(dict(json.loads(f.read().strip().splitlines()[-1]), name=name))
                except (OSError, ValueError, IndexError):
                    log("  no result: see " + out + ".err")
    finally:
        Nginx.stop_all()
    stem = "%s-%s-render" % (datetime.date.today().isoformat(), platform.node())
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    with open(os.path.join(BENCH, "results", stem + ".json"), "w") as f:
        json.dump({"pages": a.pages, "nproc": os.cpu_count(), "results": results, "pss": pss}, f, indent=1)
    print("| contender | conc | pages/s | CPU-s / 1000 pages | controller ms/page | of which parse | controller share | complete |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print("| %s | %d | %.1f | %.0f | %s | %s | %s | %s |" % (
            r["name"], r["conc"], r["pages_per_s"], r["cpu_s_per_1000"],
            "%.2f" % r["controller_ms_per_page"] if "controller_ms_per_page" in r else "-",
            "%.2f" % r["parse_ms_per_page"] if "parse_ms_per_page" in r else "-",
            "%.1f %%" % (100 * r["controller_share"]) if r.get("controller_share") else "-",
            "yes" if r["ok"] else "no"))
    if pss:
        print("\n| contender | open pages | browser PSS MB | PSS per page MB | controller RSS MB |")
        print("|---|---|---|---|---|")
        for r in pss:
            print("| %s | %d | %.0f | %.1f | %.0f |" % (r["name"], r["pages"], r["browser_pss_mb"],
                                                     r["pss_per_page_mb"], r["controller_rss_mb"]))
    shutil.rmtree(os.path.join(BENCH, "work", "render-site-%d" % a.pages), ignore_errors=True)


if __name__ == "__main__":
    main()
