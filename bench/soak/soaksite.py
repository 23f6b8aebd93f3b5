#!/usr/bin/env python3
"""soaksite.py: the soak's site: many small pages that also link to the misbehaving server.

    python3 bench/soak/soaksite.py --out DIR --pages N --bad-origin http://127.0.0.1:PORT [--seed S]

Writes N pages (DIR/index.html is page 0, page i > 0 is DIR/d<i//1000>/p<i>.html),
~3 KB each, and DIR/robots.txt (allow all). Every page is reachable from the
index through a 4-ary tree (page i links to 4i+1 .. 4i+4); besides it links to
each of its ancestors (duplicates the frontier drops: a crawl in depth-first
order has fetched them already, so its queue stays small and the soak measures
a steady state rather than a growing frontier) in relative, absolute-path and
fragment forms, has 4 `.item` blocks, and about one page in BAD_EVERY (default 50)
links to one URL of tests/lib/badserver.py at --bad-origin, unique per page
(a query names the page), chosen round-robin from BAD_PATHS: resets mid-body,
slow bodies, a gzip bomb, redirect loops and chains, 429/503 with Retry-After,
truncated and broken framing, a redirect to file://, 404/500. Small pages keep
the crawl at ~1000 pages/s on 2 cores, so the soak stays under ~15 minutes
(tests/lib/sitegen.py's 20 KB shop pages run at ~450 pages/s).

Deterministic for a given seed. 200 000 pages: ~40 s, ~800 MB on disk.
"""
import argparse
import os
import random

BAD_PATHS = [
    "/reset-mid-body?p={i}",
    "/drip?bytes=2&p={i}",
    "/gzip-bomb?p={i}",
    "/redirect-loop?p={i}",
    "/retry-after?key=p{i}",
    "/flaky-503?key=p{i}",
    "/cl-short?p={i}",
    "/cl-long?p={i}",
    "/bad-chunked?p={i}",
    "/redirect-chain?n=3&p={i}",
    "/redirect-file?p={i}",
    "/status?code=500&p={i}",
    "/status?code=404&p={i}",
    "/slow-headers?s=2&p={i}",
    "/sleep?ms=300&p={i}",
    "/tree/0?n=1&p={i}",
]

WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud").split()


def path_of(i):
    return "/index.html" if i == 0 else "/d%d/p%d.html" % (i // 1000, i)


def page(i, n, rng, bad_origin, bad_every):
    links = [path_of(c) for c in range(4 * i + 1, min(n, 4 * i + 5))]
    j = i
    while j > 0:
        j = (j - 1) // 4                        # the parent, up to the index
        form = rng.randrange(3)
        p = path_of(j)
        if form == 1 and j > 0 and j // 1000 == i // 1000 and i > 0:
            p = "p%d.html" % j
        elif form == 2:
            p += "#s%d" % rng.randrange(9)
        links.append(p)
    bad = None
    if bad_origin and i % bad_every == bad_every // 2:
        bad = bad_origin + BAD_PATHS[(i // bad_every) % len(BAD_PATHS)].format(i=i)
        links.append(bad)
    rng.shuffle(links)
    items = "".join(
        '<div class="item" data-id="%d-%d"><h2 class="name">%s %d</h2><span class="price">$%d.%02d</span>'
        "<p>%s</p></div>\n" % (i, k, rng.choice(WORDS).title(), k, rng.randrange(1, 500), rng.randrange(100),
                              " ".join(rng.choice(WORDS) for _ in range(40)))
        for k in range(4))
    nav = "".join('<li><a href="%s">link %d</a></li>\n' % (h, k) for k, h in enumerate(links))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>soak page %d</title></head>\n"
            "<body><h1>page %d</h1>\n%s<ul class=\"nav\">\n%s</ul>\n<p>%s</p></body></html>\n"
            % (i, i, items, nav, " ".join(rng.choice(WORDS) for _ in range(60))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--pages", type=int, default=200000)
    ap.add_argument("--bad-origin", default="")
    ap.add_argument("--bad-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "robots.txt"), "w") as f:
        f.write("User-agent: *\nAllow: /\n")
    made = set()
    for i in range(a.pages):
        p = path_of(i)
        d = os.path.dirname(p)
        if d not in made:
            os.makedirs(a.out + d, exist_ok=True)
            made.add(d)
        with open(a.out + p, "w") as f:
            f.write(page(i, a.pages, rng, a.bad_origin, a.bad_every))


if __name__ == "__main__":
    main()
