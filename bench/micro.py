"""bench/micro.py: silk's own primitives, for bench/run's report.

  fetch      bench/fetch/run.sh: fetch-only requests/s against wrk on the same
             nginx (64 and 1 024 connections), the engine overhead (completion
             to task running) at 1/64/1 024/10 000 in flight, 10 000 concurrent
             fetches and the RSS each costs
  parse      bench/parse/bench_parse.c: silk_html_parse and select against a
             raw gumbo_parse loop, the worker pool, the hand-off cost; and
             bench/parse/cheerio_select.js: the same pages and selectors in
             cheerio (Crawlee's parser)
  frontier   bench/frontier/bench_frontier.c: cost per URL at 1 M URLs, memory
             and sqlite backends

Each tool prints one line per measurement; the lines are kept as printed (they
name their units) and a few figures are pulled out for the ratios. Every
function returns {"available": False, "reason": ...} rather than raising, so
one broken piece does not lose the rest of a 20-minute run.
"""
import json
import os
import re
import subprocess

BENCH = os.path.dirname(os.path.abspath(__file__))


def _run(argv, timeout, env=None, cwd=None):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout, env=env, cwd=cwd, start_new_session=True)
        return r.returncode, r.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return -1, out + "\n(timed out after %d s)" % timeout
    except OSError as e:
        return -1, str(e)


def build(bdir, target, log):
    """A bench target of the CMake build that made the silk binary in bdir."""
    if not os.path.exists(os.path.join(bdir, "CMakeCache.txt")):
        return None
    rc, out = _run(["cmake", "--build", bdir, "-j2", "--target", target], 900)
    binp = os.path.join(bdir, target)
    if rc != 0 or not os.access(binp, os.X_OK):
        log("%s build failed: %s" % (target, out[-400:]))
        return None
    return binp


def _num(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def _lines(text):
    return [l.rstrip() for l in text.splitlines() if l.strip()]


def parse_select(bdir, quick, log):
    binp = build(bdir, "bench_parse", log)
    if not binp:
        return {"available": False, "reason": "bench_parse not built"}
    pages, rounds = (200, 1) if quick else (500, 3)
    rc, out = _run([binp, str(pages), str(rounds)], 600)
    if rc != 0:
        log("bench_parse failed: " + out[-300:])
        return {"available": False, "reason": "bench_parse failed"}
    res = {"available": True, "lines": _lines(out),
           "raw_pages_per_s": _num(r"raw gumbo_parse.*?MB/s\s+([\d.]+) pages/s", out),
           "silk_parse_pages_per_s": _num(r"silk_html_parse:.*?MB/s\s+([\d.]+) pages/s", out),
           "select_pages_per_s": _num(r"select \(10 selectors/page\):\s+([\d.]+) pages/s", out)}
    node_path = os.path.join(BENCH, "peers", "crawlee", "node_modules")
    if os.path.isdir(os.path.join(node_path, "cheerio")):
        env = dict(os.environ, NODE_PATH=node_path)
        rc, cout = _run(["node", os.path.join(BENCH, "parse", "cheerio_select.js"), str(pages), str(rounds)],
                        600, env=env)
        if rc == 0:
            res["cheerio_lines"] = _lines(cout)
            res["cheerio_select_pages_per_s"] = _num(r"cheerio select.*?:\s+([\d.]+) pages/s", cout)
            res["cheerio_parse_pages_per_s"] = _num(r"cheerio parse:.*?([\d.]+) pages/s", cout)
        else:
            log("cheerio_select.js failed: " + cout[-300:])
    if res.get("select_pages_per_s") and res.get("cheerio_select_pages_per_s"):
        res["select_vs_cheerio"] = res["select_pages_per_s"] / res["cheerio_select_pages_per_s"]
    log("parse/select: silk parse %s pages/s (raw gumbo %s), select %s pages/s (cheerio %s)" % (
        res.get("silk_parse_pages_per_s"), res.get("raw_pages_per_s"), res.get("select_pages_per_s"),
        res.get("cheerio_select_pages_per_s")))
    return res


def frontier(bdir, quick, log):
    binp = build(bdir, "bench_frontier", log)
    if not binp:
        return {"available": False, "reason": "bench_frontier not built"}
    n = 100000 if quick else 1000000
    rc, out = _run([binp, str(n), "1000"], 900)
    if rc != 0:
        log("bench_frontier failed: " + out[-300:])
        return {"available": False, "reason": "bench_frontier failed"}
    res = {"available": True, "urls": n, "lines": _lines(out),
           "push_given_ns": _num(r"canonical given\s*: push (\d+) ns", out),
           "bytes_per_url": _num(r"canonical given.*?frontier ([\d.]+) B/URL", out)}
    log("frontier: %d URLs, push %s ns/URL, %s B/URL" % (n, res["push_given_ns"], res["bytes_per_url"]))
    return res


def fetch(silk, quick, log):
    """bench/fetch/run.sh's sections: '## wrk -t2 -cN' (wrk's lines) and
    '## silk ...' (one JSON line from bench/fetch/bench.lua)."""
    secs = 2 if quick else 5
    rc, out = _run(["sh", os.path.join(BENCH, "fetch", "run.sh"), silk, str(secs)], 600)
    if rc != 0:
        log("bench/fetch/run.sh failed: " + out[-300:])
        return {"available": False, "reason": "bench/fetch/run.sh failed"}
    sections, name = {}, None
    for line in out.splitlines():
        if line.startswith("## "):
            name = line[3:].strip()
            sections[name] = {}
        elif name and line.startswith("{"):
            try:
                sections[name].update(json.loads(line))
            except ValueError:
                pass
        elif name and "Requests/sec:" in line:
            sections[name]["rps"] = float(line.split(":")[1])
    res = {"available": True, "seconds": secs, "sections": sections}
    for c in (64, 1024):
        wrk, silk_c = sections.get("wrk -t2 -c%d" % c, {}), sections.get("silk %d" % c, {})
        if wrk.get("rps") and silk_c.get("rps"):
            res["vs_wrk_%d" % c] = silk_c["rps"] / wrk["rps"]
    log("fetch: silk/wrk %s at 64, %s at 1024" % (
        "%.2f" % res["vs_wrk_64"] if "vs_wrk_64" in res else "-",
        "%.2f" % res["vs_wrk_1024"] if "vs_wrk_1024" in res else "-"))
    return res


def _fmt(v, digits=3):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return "{:,.0f}".format(v).replace(",", " ")
    return ("%%.%dg" % digits) % v


def markdown(M, w):
    """Writes the micro-benchmark section of the report through w(line)."""
    w("## Micro-benchmarks: fetch, parse and select, frontier")
    w("")
    f = M.get("fetch") or {}
    if f.get("available"):
        w("Fetch only (`bench/fetch/run.sh`, a 4 KiB page from one nginx, %d s a run; "
          "overhead = from curl reporting the transfer done to the task running again):" % f["seconds"])
        w("")
        w("| run | requests/s | vs wrk | overhead p50 / p99 / max (µs) | errors |")
        w("|---|---:|---:|---:|---|")
        for name, s in f["sections"].items():
            ov = s.get("overhead_us") or {}
            vs = ""
            m = re.match(r"silk (\d+)$", name)
            if m and "vs_wrk_%s" % m.group(1) in f:
                vs = "%.2f ×" % f["vs_wrk_%s" % m.group(1)]
            over = " / ".join(_fmt(ov.get(k)) for k in ("p50", "p99", "max")) if ov else ""
            errs = ", ".join("%s %s" % kv for kv in (s.get("errors") or {}).items()) if "errors" in s else ""
            extra = ""
            if s.get("peak_kb_per_fetch"):
                extra = " (peak RSS %s KB a fetch)" % _fmt(s["peak_kb_per_fetch"])
            w("| %s%s | %s | %s | %s | %s |" % (name, extra, _fmt(s.get("rps")), vs, over,
                                               errs or ("0" if "errors" in s else "")))
        w("")
    else:
        w("Fetch: not run (%s)." % f.get("reason", "skipped"))
        w("")
    p = M.get("parse") or {}
    if p.get("available"):
        w("Parse and select (`bench/parse`: generated ~20 KB shop pages, ten selectors a page; "
          "cheerio runs the same pages and selectors):")
        w("")
        w("```")
        for line in p["lines"] + p.get("cheerio_lines", []):
            w(line)
        w("```")
        if p.get("select_vs_cheerio"):
            w("")
            w("silk's select is **%.1f ×** cheerio's on the same pages and selectors." % p["select_vs_cheerio"])
        w("")
    else:
        w("Parse and select: not run (%s)." % p.get("reason", "skipped"))
        w("")
    fr = M.get("frontier") or {}
    if fr.get("available"):
        w("Frontier (`bench/frontier`, %s crawl-like URLs on 1 000 hosts):" % _fmt(fr["urls"]))
        w("")
        w("```")
        for line in fr["lines"]:
            w(re.sub(r"\t/tmp/\S+", "", line))
        w("```")
        w("")
    else:
        w("Frontier: not run (%s)." % fr.get("reason", "skipped"))
        w("")
