#!/usr/bin/env python3
"""Generate silk's demo site: a small, deterministic bookshop catalogue.

    python3 demo/gen.py OUT_DIR [--base-url http://127.0.0.1:8080] [--seed 7] [--books 240]

Writes (about 300 pages for the default 240 books):
  index.html                                   home: categories + 8 featured books
  catalogue/page-N.html                        all books, 20 a page, "next"/"previous" links
  catalogue/category/<slug>/index.html         category listing, page 1
  catalogue/category/<slug>/page-N.html        further pages of a category
  catalogue/<slug>_<id>/index.html             book detail page
  admin/index.html                             linked, but disallowed by robots.txt
  robots.txt                                   Disallow: /admin/ + Sitemap: line
  sitemap.xml                                  sitemap index -> sitemap-books.xml, sitemap-categories.xml.gz
  OUT_DIR.truth.jsonl (beside OUT_DIR)         one line a book: url, title, price, availability, rating

Markup of a detail page (what the example spider extracts):
  <article class="product_page">
    <h1>TITLE</h1>
    <p class="price_color">£12.34</p>
    <p class="instock availability">In stock (7 available)</p>   (or "outofstock": "Out of stock")
    <p class="star-rating Three"></p>                               (One .. Five)
    <table class="product_info"><tr><th>UPC</th><td>..</td></tr> ...</table>
  </article>
Listing pages: <article class="product_pod"> ... <h3><a href=".." title="TITLE">..</a></h3>,
pagination: <li class="next"><a href="page-2.html">next</a></li>.
Sitemaps and robots.txt carry absolute URLs, hence --base-url (where nginx will serve OUT_DIR).
"""
import argparse
import gzip
import html
import json
import os
import random

CATEGORIES = ["Travel", "Mystery", "Historical Fiction", "Poetry", "Science", "Fantasy",
              "Philosophy", "Cookbooks", "Romance", "Science Fiction", "Humor", "Art"]
W1 = ["The", "A", "Our", "Their", "Every", "No", "One", "Last", "First", "Silent", "Hidden"]
W2 = ["Forgotten", "Crimson", "Quiet", "Endless", "Broken", "Golden", "Secret", "Distant",
      "Little", "Wild", "Paper", "Midnight", "Salt & Iron", "Northern", "Glass", "Émigré"]
W3 = ["Garden", "River", "Library", "Kingdom", "Voyage", "Recipe", "Theorem", "Island",
      "Letters", "Orchard", "Lighthouse", "Atlas", "Cathedral", "Winter", "Machine", "Café"]
W4 = ["", "", "", ": A Novel", " (Revised Edition)", ", Volume II", " and Other Stories",
      " in Ten Lessons"]
RATINGS = ["One", "Two", "Three", "Four", "Five"]
LOREM = ("books travel far quietly across seasons while readers wander through pages of "
         "memory light and shadow every chapter opens another door to somewhere new").split()
PER_PAGE = 20


def slug(s):
    out = "".join(c.lower() if c.isalnum() and c.isascii() else "-" for c in s)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


def page(title, body, depth):
    up = "../" * depth
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>%s | Silk Books</title>\n</head>\n<body>\n"
            "<header><a class=\"brand\" href=\"%sindex.html\">Silk Books</a> "
            "<a href=\"%scatalogue/page-1.html\">All books</a></header>\n"
            "<div class=\"page\">\n%s\n</div>\n"
            "<footer><a href=\"%sadmin/index.html\">Staff</a> &middot; "
            "<a href=\"https://www.example.com/\">Partner</a> &middot; demo shop, all data invented</footer>\n"
            "</body>\n</html>\n") % (html.escape(title), up, up, body, up)


def main():
    ap = argparse.ArgumentParser(description="generate silk's demo bookshop")
    ap.add_argument("out")
    ap.add_argument("--base-url", default="http://127.0.0.1:8080")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--books", type=int, default=240)
    a = ap.parse_args()
    out = a.out.rstrip("/")
    base = a.base_url.rstrip("/")
    rng = random.Random(a.seed)

    def write(rel, text, mode="w"):
        fn = os.path.join(out, rel)
        os.makedirs(os.path.dirname(fn), exist_ok=True)
        with open(fn, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            f.write(text)

    books, titles = [], set()
    for i in range(a.books):
        for _ in range(50):
            t = "%s %s %s%s" % (rng.choice(W1), rng.choice(W2), rng.choice(W3), rng.choice(W4))
            if t not in titles:
                break
        else:
            t = "%s %s %s No. %d" % (rng.choice(W1), rng.choice(W2), rng.choice(W3), i)
        titles.add(t)
        stock = rng.choice([0, 1, 2, 3, 5, 7, 12, 19, 22]) if rng.random() > 0.1 else 0
        b = {"id": i + 1, "title": t, "category": CATEGORIES[rng.randrange(len(CATEGORIES))],
             "price": "£%d.%02d" % (rng.randint(8, 60), rng.randint(0, 99)),
             "stock": stock, "rating": RATINGS[rng.randrange(5)],
             "upc": "%016x" % rng.getrandbits(64),
             "desc": " ".join(rng.choice(LOREM) for _ in range(rng.randint(40, 90))).capitalize() + "."}
        b["dir"] = "catalogue/%s_%d" % (slug(t), b["id"])
        books.append(b)

    def availability(b):
        if b["stock"]:
            return '<p class="instock availability">In stock (%d available)</p>' % b["stock"]
        return '<p class="outofstock availability">Out of stock</p>'

    def pod(b, prefix):
        return ('<article class="product_pod">\n<a href="%s%s/index.html"><img src="%smedia/%d.jpg" alt="%s"></a>\n'
                '<p class="star-rating %s"></p>\n<h3><a href="%s%s/index.html" title="%s">%s</a></h3>\n'
                '<div class="product_price"><p class="price_color">%s</p>%s</div>\n</article>'
                % (prefix, b["dir"], prefix, b["id"], html.escape(b["title"]), b["rating"], prefix, b["dir"],
                   html.escape(b["title"]), html.escape(b["title"][:40]), b["price"], availability(b)))

    def listing(items, title, rel_dir, depth, first_name, prefix):
        """Paginated listing: page 1 is first_name, then page-2.html ..."""
        pages = [items[k:k + PER_PAGE] for k in range(0, len(items), PER_PAGE)] or [[]]
        names = [first_name] + ["page-%d.html" % n for n in range(2, len(pages) + 1)]
        for n, chunk in enumerate(pages):
            pager = ['<ul class="pager"><li class="current">Page %d of %d</li>' % (n + 1, len(pages))]
            if n > 0:
                pager.append('<li class="previous"><a href="%s">previous</a></li>' % names[n - 1])
            if n + 1 < len(pages):
                pager.append('<li class="next"><a href="%s">next</a></li>' % names[n + 1])
            pager.append("</ul>")
            body = ('<h1>%s</h1>\n<p class="count"><strong>%d</strong> results</p>\n<section class="products">\n%s\n'
                    '</section>\n%s' % (html.escape(title), len(items), "\n".join(pod(b, prefix) for b in chunk),
                                        "".join(pager)))
            write(os.path.join(rel_dir, names[n]), page(title, body, depth))
        return len(pages)

    npages = listing(books, "All books", "catalogue", 1, "page-1.html", "../")
    cats = sorted({b["category"] for b in books})
    catlinks = []
    for c in cats:
        d = "catalogue/category/%s" % slug(c)
        npages += listing([b for b in books if b["category"] == c], c, d, 3, "index.html", "../../../")
        catlinks.append('<li><a href="%s/index.html">%s</a></li>' % (d, html.escape(c)))
    for b in books:
        body = ('<ul class="breadcrumb"><li><a href="../../index.html">Home</a></li>'
                '<li><a href="../category/%s/index.html">%s</a></li></ul>\n'
                '<article class="product_page">\n<h1>%s</h1>\n<p class="price_color">%s</p>\n%s\n'
                '<p class="star-rating %s"></p>\n<div id="product_description"><h2>Description</h2></div>\n'
                '<p>%s</p>\n<table class="product_info">\n<tr><th>UPC</th><td>%s</td></tr>\n'
                '<tr><th>Category</th><td>%s</td></tr>\n<tr><th>Price</th><td>%s</td></tr>\n</table>\n</article>'
                % (slug(b["category"]), html.escape(b["category"]), html.escape(b["title"]), b["price"],
                   availability(b), b["rating"], b["desc"], b["upc"], html.escape(b["category"]), b["price"]))
        write(b["dir"] + "/index.html", page(b["title"], body, 2))
    featured = rng.sample(books, min(8, len(books)))
    write("index.html", page("Home", '<h1>Silk Books</h1>\n<aside><h2>Categories</h2><ul class="categories">\n%s\n</ul></aside>\n'
                             '<section class="products"><h2>Featured</h2>\n%s\n</section>\n'
                             '<p><a href="catalogue/page-1.html">Browse all %d books</a></p>'
                             % ("\n".join(catlinks), "\n".join(pod(b, "") for b in featured), len(books)), 0))
    write("admin/index.html", page("Staff only", "<h1>Staff only</h1><p>Nothing to crawl here.</p>", 1))
    write("robots.txt", "User-agent: *\nDisallow: /admin/\n\nSitemap: %s/sitemap.xml\n" % base)

    def urlset(urls):
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n%s'
                '</urlset>\n' % "".join("  <url><loc>%s</loc></url>\n" % html.escape(u) for u in urls))
    write("sitemap-books.xml", urlset("%s/%s/index.html" % (base, b["dir"]) for b in books))
    write("sitemap-categories.xml.gz", gzip.compress(urlset("%s/catalogue/category/%s/index.html" % (base, slug(c))
                                                            for c in cats).encode(), mtime=0), "wb")
    write("sitemap.xml", '<?xml version="1.0" encoding="UTF-8"?>\n'
          '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
          '  <sitemap><loc>%s/sitemap-books.xml</loc></sitemap>\n'
          '  <sitemap><loc>%s/sitemap-categories.xml.gz</loc></sitemap>\n</sitemapindex>\n' % (base, base))
    with open(out + ".truth.jsonl", "w", encoding="utf-8") as f:
        for b in books:
            f.write(json.dumps({"url": "%s/%s/index.html" % (base, b["dir"]), "title": b["title"],
                                "price": b["price"], "availability": "In stock (%d available)" % b["stock"]
                                if b["stock"] else "Out of stock", "rating": b["rating"]}, ensure_ascii=False) + "\n")
    print("demo: %d books, %d listing pages, %d categories -> %s" % (len(books), npages, len(cats), out))


if __name__ == "__main__":
    main()
