#!/usr/bin/env python3
"""Check a contender's crawl output against tests/lib/sitegen.py's truth; print a JSON verdict.

    python3 tests/lib/check.py --truth SITE.truth.jsonl --items OUT.jsonl [--name scrapy]
    python3 tests/lib/check.py --truth SITE.truth.jsonl --urls FETCHED.txt --name wget2

--items: JSON Lines, one item a line with "url" (the page it came from), "title", "price".
--urls:  one fetched URL (or URL path) a line, for fetch-only contenders (wget2):
         pages are checked, items are not. Repeated lines count as duplicate fetches.
Both may be given. Exit status 0 when the verdict is ok, 1 otherwise.

Verdict fields: ok, pages_expected, pages (distinct crawlable pages seen), pages_missing,
pages_extra (seen but not in the truth, e.g. /private/ pages fetched despite robots.txt),
items_expected (10 x pages), items, items_distinct, items_duplicate, items_missing,
items_unexpected, bad_lines, and a few examples of each kind of difference.
"""
import argparse
import json
import sys
from collections import Counter
from urllib.parse import urlsplit


def norm_text(s):
    return " ".join(str(s).split())


def page_key(url, full):
    """Truth keys are URL paths (one host) or full URLs without fragment (several hosts)."""
    u = urlsplit(url.strip())
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    if full:
        return "%s://%s%s" % (u.scheme, u.netloc, path)
    return path


def main():
    ap = argparse.ArgumentParser(description="check a crawl against the site truth")
    ap.add_argument("--truth", required=True)
    ap.add_argument("--items")
    ap.add_argument("--urls")
    ap.add_argument("--name", default="")
    ap.add_argument("--examples", type=int, default=5)
    a = ap.parse_args()
    if not a.items and not a.urls:
        ap.error("give --items and/or --urls")

    truth_pages, truth_items = set(), set()
    full = False
    with open(a.truth, encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)
            full = full or t["page"].startswith("http")
            truth_pages.add(t["page"])
            for it in t["items"]:
                truth_items.add((t["page"], norm_text(it["title"]), norm_text(it["price"])))

    v = {"name": a.name, "pages_expected": len(truth_pages), "items_expected": len(truth_items)}
    ex = {}
    seen_pages = set()
    ok = True
    bad_lines = 0

    if a.items:
        items = Counter()
        with open(a.items, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    it = json.loads(line)
                    key = (page_key(it["url"], full), norm_text(it["title"]), norm_text(it["price"]))
                except (ValueError, KeyError, TypeError):
                    bad_lines += 1
                    continue
                items[key] += 1
                seen_pages.add(key[0])
        got = set(items)
        v["items"] = sum(items.values())
        v["items_distinct"] = len(got)
        v["items_duplicate"] = v["items"] - len(got)
        missing, unexpected = truth_items - got, got - truth_items
        v["items_missing"], v["items_unexpected"] = len(missing), len(unexpected)
        ex["items_missing"] = [list(x) for x in sorted(missing)[:a.examples]]
        ex["items_unexpected"] = [list(x) for x in sorted(unexpected)[:a.examples]]
        ok = ok and not missing and not unexpected and v["items_duplicate"] == 0 and bad_lines == 0

    if a.urls:
        fetched = Counter()
        with open(a.urls, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    k = page_key(line, full)
                    if full or k.startswith("/"):
                        fetched[k] += 1
        pages = {k for k in fetched if k.endswith(".html")}
        v["fetches"] = sum(fetched.values())
        v["fetches_duplicate"] = sum(n - 1 for k, n in fetched.items() if k in pages)
        seen_pages |= pages
        ok = ok and v["fetches_duplicate"] == 0

    missing_p, extra_p = truth_pages - seen_pages, seen_pages - truth_pages
    v["pages"] = len(seen_pages & truth_pages)
    v["pages_missing"], v["pages_extra"] = len(missing_p), len(extra_p)
    ex["pages_missing"] = sorted(missing_p)[:a.examples]
    ex["pages_extra"] = sorted(extra_p)[:a.examples]
    v["bad_lines"] = bad_lines
    ok = ok and not missing_p and not extra_p
    v["ok"] = ok
    v["examples"] = {k: x for k, x in ex.items() if x}
    print(json.dumps(v, ensure_ascii=False))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
