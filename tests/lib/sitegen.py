#!/usr/bin/env python3
"""Deterministic shop-like site generator for silk's benchmark and crawl tests.

    python3 tests/lib/sitegen.py --out DIR --pages N --seed S [--hosts K --origins U1,U2,...]

Writes N crawlable pages (index.html is page 0) of 15-25 KB of HTML each, plus a
robots.txt and a few pages under /private/ that are linked from crawlable pages
but disallowed by robots.txt (a crawler that ignores robots fetches them and
emits items the truth does not contain).

Every page has exactly 10 product blocks in this markup (CSS: `.product`,
`.product .title`, `.product .price`):

    <div class="product" data-sku="..."><h2 class="title">TITLE</h2>
      ... <span class="price">$12.34</span> ...</div>

A sidebar repeats some products as `<div class="product-mini">` (class token
`product-mini`, not `product`) whose `.title`/`.price` must NOT be extracted;
titles contain HTML entities (&amp;) and UTF-8 text, so only a real HTML parser
gets the item set right.

Links (~50 a page): a spanning tree (parent -> children) from index.html makes
every page reachable; plus random extra links, duplicates, relative ("p12.html",
"../c03/p7.html", "./p9.html"), absolute-path ("/c03/p7.html"), fragment
("p12.html#reviews"), external hosts (to be ignored: example.com, ...),
mailto:, and one link a page to /private/ (disallowed). Start URL: /index.html.
No link uses "/" for the index, so "/" and "/index.html" never both appear.

Truth: DIR.truth.jsonl (DIR without trailing slash + ".truth.jsonl"), one line
per crawlable page: {"page": PATH_OR_URL, "items": [{"title":..,"price":..}, x10]}.
Single host: "page" is the URL path ("/c03/p7.html"). With --hosts K, pages are
spread over K hosts written to DIR/h0 .. DIR/h{K-1} (one docroot per host, each
with its robots.txt); cross-host links are absolute URLs built from --origins
(e.g. http://127.0.0.1:PORT, one per host, known before generation) and
"page" is the full URL. tests/lib/check.py compares a crawl's output to this file.

20 000 pages take ~10-20 s on one core (see the --quiet timing line).
"""
import argparse
import json
import os
import random
import sys
import time

ADJ = ["Blue", "Red", "Vintage", "Organic", "Classic", "Smart", "Compact", "Deluxe",
       "Rustic", "Modern", "Crème", "Über", "Nordic", "Handmade", "Portable", "Silent",
       "Golden", "Wireless", "Ergonomic", "Tiny", "Jumbo", "Café", "Señor", "Arctic"]
MAT = ["Cotton", "Steel", "Oak", "Ceramic", "Leather", "Linen", "Bamboo", "Glass",
       "Copper", "Wool", "Silk", "Granite", "Cork", "Titanium", "Felt", "Walnut"]
NOUN = ["Shirt", "Kettle", "Lamp", "Mug", "Backpack", "Chair", "Notebook", "Scarf",
        "Headphones", "Teapot", "Blanket", "Clock", "Vase", "Knife", "Wallet",
        "Umbrella", "Speaker", "Planter", "Jacket", "Bowl", "Tray", "Stool"]
PAIRS = ["Salt &amp; Pepper", "Tom &amp; Jerry", "Bed &amp; Breakfast", "Rock &amp; Roll",
         "Fish &amp; Chips", "Black &amp; White"]
WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud "
         "exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure "
         "in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint "
         "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est "
         "laborum durable soft lightweight sturdy elegant quality warranty shipping free "
         "returns delivery colour size fits perfect gift everyday premium").split()
EXTERNAL = ["https://www.example.com/", "https://example.org/about", "http://cdn.example.net/x.js",
            "https://twitter.example/silkshop", "https://www.example.com/terms?ref=shop",
            "http://partner.example.org/deals", "https://help.example.net/faq#shipping"]
NCAT = 20
STYLE = ("body{font-family:sans-serif;margin:0}header,footer{background:#222;color:#eee;padding:8px}"
         ".product{border:1px solid #ddd;margin:6px;padding:6px}.price{color:#a00;font-weight:bold}"
         ".product-mini{font-size:80%}nav a{margin-right:6px}")


def unescape(s):
    return s.replace("&amp;", "&")


class Site:
    def __init__(self, pages, seed, hosts, origins):
        self.n = pages
        self.seed = seed
        self.hosts = hosts
        self.origins = origins
        self.nprivate = max(5, pages // 50)
        rng = random.Random(seed)
        # a pool of sentences and paragraphs, reused by index (fast, deterministic)
        self.sent = []
        for _ in range(600):
            w = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
            self.sent.append(w[0].capitalize() + " " + " ".join(w[1:]) + ".")
        self.para = [" ".join(rng.choice(self.sent) for _ in range(rng.randint(3, 7)))
                     for _ in range(400)]

    # page i (0 = index) -> (host index, path)
    def host_of(self, i):
        return i % self.hosts if i else 0

    def path_of(self, i):
        return "/index.html" if i == 0 else "/c%02d/p%d.html" % (i % NCAT, i)

    def priv_path(self, j):
        return "/private/p%d.html" % j

    def url_of(self, i):
        return self.origins[self.host_of(i)] + self.path_of(i)

    def truth_key(self, i):
        return self.url_of(i) if self.hosts > 1 else self.path_of(i)

    def href(self, rng, from_path, from_host, to_path, to_host):
        """A link to to_path written in one of several equivalent forms."""
        if to_host != from_host:
            return self.origins[to_host] + to_path
        r = rng.random()
        if r < 0.35:
            return to_path                                  # absolute path
        fdir = from_path.rsplit("/", 1)[0]
        tdir, tname = to_path.rsplit("/", 1)
        if r < 0.45 and self.origins:
            return self.origins[to_host] + to_path          # absolute URL, same host
        if fdir == tdir:
            rel = tname if r < 0.8 else "./" + tname
        elif fdir == "":
            rel = tdir.lstrip("/") + "/" + tname
        elif tdir == "":
            rel = "../" + tname
        else:
            rel = "../" + tdir.lstrip("/") + "/" + tname
        if r > 0.95:
            rel += "#reviews"
        return rel

    def items(self, key_rng, i):
        out = []
        for k in range(10):
            r = key_rng.random()
            if r < 0.06:
                name = "%s %s" % (key_rng.choice(PAIRS), key_rng.choice(NOUN))
            else:
                name = "%s %s %s" % (key_rng.choice(ADJ), key_rng.choice(MAT), key_rng.choice(NOUN))
            title = "%s SKU-%d-%d" % (name, i, k)
            price = "$%d.%02d" % (key_rng.randint(1, 999), key_rng.randint(0, 99))
            out.append((title, price))
        return out

    def page(self, i, private=False):
        """Return (host, path, html, items) for crawlable page i or private page i."""
        rng = random.Random("%d:%s%d" % (self.seed, "x" if private else "p", i))
        if private:
            host, path = i % self.hosts, self.priv_path(i)
            items = self.items(rng, 900000000 + i)
        else:
            host, path = self.host_of(i), self.path_of(i)
            items = self.items(rng, i)
        n = self.n
        links = []  # (text, href)
        # spanning tree: children of i are i*B+1 .. i*B+B
        B = 8
        if not private:
            for c in range(i * B + 1, min(n, i * B + B + 1)):
                links.append(("Item page %d" % c, c))
            if i:
                links.append(("Up", (i - 1) // B))
        # random extra links, some duplicated
        for _ in range(rng.randint(22, 30)):
            links.append(("More %d" % _, rng.randrange(n)))
        for _ in range(rng.randint(2, 6)):
            links.append(links[rng.randrange(len(links))])
        rng.shuffle(links)
        out = []
        w = out.append
        pid = "private %d" % i if private else "page %d" % i
        w('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n')
        w('<title>Silk Shop &mdash; %s</title>\n' % pid)
        w('<meta name="viewport" content="width=device-width, initial-scale=1">\n')
        w('<link rel="stylesheet" href="/static/site.css">\n<style>%s</style>\n</head>\n' % STYLE)
        w('<body>\n<header id="top"><a class="logo" href="%s">Silk Shop</a>\n'
          % self.href(rng, path, host, "/index.html", 0) if host == 0 else
          '<body>\n<header id="top"><a class="logo" href="%s">Silk Shop</a>\n'
          % (self.origins[0] + "/index.html"))
        w('<form action="/search" method="get"><input name="q"><button>Search</button></form>\n')
        w('<nav class="categories">\n')
        for c in range(0, NCAT, 2):   # category landing = first page of category c
            tgt = c if c else NCAT
            if tgt < n:
                th, tp = self.host_of(tgt), self.path_of(tgt)
                w('<a href="%s">Category %d</a>\n' % (self.href(rng, path, host, tp, th), c))
        w('</nav>\n</header>\n<main>\n<h1>Products &mdash; %s</h1>\n' % pid)
        w('<section class="listing">\n')
        for k, (title, price) in enumerate(items):
            d = " ".join(self.sent[rng.randrange(len(self.sent))] for _ in range(rng.randint(4, 9)))
            stock = rng.choice(["In stock", "Only 2 left", "Ships in 3&ndash;5 days", "Pre-order"])
            w('<div class="product" data-sku="%d-%d">\n  <h2 class="title">%s</h2>\n'
              '  <img src="/img/%d-%d.jpg" alt="">\n  <p class="desc">%s</p>\n'
              '  <div class="buy"><span class="price">%s</span> <span class="stock">%s</span>'
              ' <button>Add to cart</button></div>\n</div>\n' % (i, k, title, i, k, d, price, stock))
        w('</section>\n<section class="links">\n<h3>You may also like</h3>\n<ul>\n')
        for text, tgt in links:
            th, tp = self.host_of(tgt), self.path_of(tgt)
            w('<li><a href="%s">%s</a></li>\n' % (self.href(rng, path, host, tp, th), text))
        w('</ul>\n</section>\n')
        # sidebar decoys: not .product
        w('<aside class="recent">\n')
        for _ in range(3):
            t, p = items[rng.randrange(10)]
            w('<div class="product-mini"><span class="title">Seen: %s</span>'
              '<span class="price">%s</span></div>\n' % (t, p))
        w('</aside>\n')
        # footer first, so the filler can make the whole page 15-25 KB
        foot = ['</section>\n</main>\n<footer>\n']
        if not private and rng.random() < 0.5 or i % 7 == 0:
            j = rng.randrange(self.nprivate)
            foot.append('<a href="%s">Members only</a>\n' % self.href(rng, path, host, self.priv_path(j), j % self.hosts))
        for e in rng.sample(EXTERNAL, 3):
            foot.append('<a href="%s" rel="nofollow">Partner</a>\n' % e)
        foot.append('<a href="mailto:shop@example.com">Contact</a> <a href="#top">Top</a>\n'
                    '<p>&copy; 2024 Silk Shop &middot; Prices incl. VAT &middot; Währung: USD</p>\n'
                    '</footer>\n</body>\n</html>\n')
        foot = "".join(foot)
        w('<section class="about">\n')
        target = rng.randint(15000, 24000) - len(foot)
        size = sum(len(s) for s in out)
        while size < target:
            p = self.para[rng.randrange(len(self.para))]
            w('<p>%s</p>\n' % p)
            size += len(p) + 8
        w(foot)
        return host, path, "".join(out), items


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--pages", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hosts", type=int, default=1)
    ap.add_argument("--origins", default="",
                    help="comma-separated origins, one per host (required with --hosts > 1)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    origins = [o.rstrip("/") for o in a.origins.split(",") if o]
    if a.hosts > 1 and len(origins) != a.hosts:
        ap.error("--hosts %d needs --origins with %d comma-separated origins" % (a.hosts, a.hosts))
    if a.pages < 1:
        ap.error("--pages must be >= 1")
    t0 = time.time()
    out = a.out.rstrip("/")
    site = Site(a.pages, a.seed, a.hosts, origins)
    roots = [out] if a.hosts == 1 else [os.path.join(out, "h%d" % h) for h in range(a.hosts)]
    made = set()

    def write(host, path, text):
        fn = roots[host] + path
        d = os.path.dirname(fn)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        with open(fn, "w", encoding="utf-8") as f:
            f.write(text)

    nbytes = 0
    with open(out + ".truth.jsonl", "w", encoding="utf-8") as tf:
        for i in range(a.pages):
            host, path, html, items = site.page(i)
            write(host, path, html)
            nbytes += len(html)
            tf.write(json.dumps({"page": site.truth_key(i),
                                 "items": [{"title": unescape(t), "price": p} for t, p in items]},
                                ensure_ascii=False) + "\n")
    for j in range(site.nprivate):
        host, path, html, _ = site.page(j, private=True)
        write(host, path, html)
    for h in range(a.hosts):
        write(h, "/robots.txt", "# silk bench site\nUser-agent: *\nDisallow: /private/\n"
              "Disallow: /search\n\nUser-agent: BadBot\nDisallow: /\n")
        write(h, "/static/site.css", STYLE + "\n")
    meta = {"pages": a.pages, "private": site.nprivate, "seed": a.seed, "hosts": a.hosts,
            "origins": origins, "items_per_page": 10, "bytes": nbytes,
            "start": (origins[0] if origins else "") + "/index.html",
            "truth": os.path.abspath(out + ".truth.jsonl")}
    with open(out + ".meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    if not a.quiet:
        print("sitegen: %d pages (+%d private), %.1f MB, %d host(s), %.1fs -> %s"
              % (a.pages, site.nprivate, nbytes / 1e6, a.hosts, time.time() - t0, out), file=sys.stderr)


if __name__ == "__main__":
    main()
