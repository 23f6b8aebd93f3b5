#!/usr/bin/env python3
"""bench/render/site.py DIR N [JS_EVERY [JS_DIR]]: the rendered bench site.

N pages of 20 products each (about 12 KB of HTML), a stylesheet and an
image per page. Every JS_EVERY-th page (default 2: the odd ones) carries an
empty list and a script that fetch()es /data/<i>.json and inserts the
products, so only a browser sees them; the others carry their products in
the HTML. Pages are /p/<i>.html, script-filled ones /JS_DIR/<i>.html
(default p too). DIR/urls.txt lists the page paths, one a line. Every
contender must find 20 `.product .name` per page.
"""
import json
import os
import sys

PRODUCTS = 20


def product(i, k):
    return {"name": "Product %d-%d" % (i, k), "price": "%d.%02d" % (10 + (i * 7 + k) % 90, k * 3 % 100),
            "sku": "SKU-%06d-%02d" % (i, k)}


def item_html(p):
    return ('<li class="product"><h3 class="name">%s</h3><span class="price">%s</span>'
            '<span class="sku">%s</span><p class="blurb">A fine thing, well made, shipped fast. '
            'Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p></li>' % (p["name"], p["price"], p["sku"]))


SCRIPT = """<script>
fetch('/data/%d.json').then(r => r.json()).then(items => {
  const ul = document.getElementById('products');
  for (const p of items) {
    const li = document.createElement('li'); li.className = 'product';
    li.innerHTML = '<h3 class="name"></h3><span class="price"></span><span class="sku"></span>' +
      '<p class="blurb">A fine thing, well made, shipped fast. Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>';
    li.querySelector('.name').textContent = p.name;
    li.querySelector('.price').textContent = p.price;
    li.querySelector('.sku').textContent = p.sku;
    ul.appendChild(li);
  }
});
</script>"""


def page(i, js_every):
    items = [product(i, k) for k in range(PRODUCTS)]
    dynamic = i % js_every == js_every - 1
    body = "" if dynamic else "\n".join(item_html(p) for p in items)
    html = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Page %d</title>'
            '<link rel="stylesheet" href="/static/site.css"></head><body>'
            '<header><img src="/static/logo.png" alt="logo"><nav><a href="/">home</a></nav></header>'
            '<h1>Category %d</h1><ul id="products">%s</ul>%s</body></html>'
            % (i, i, body, SCRIPT % i if dynamic else ""))
    return html, items if dynamic else None


def main():
    root, n = sys.argv[1], int(sys.argv[2])
    js_every = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    js_dir = sys.argv[4] if len(sys.argv) > 4 else "p"
    for d in ("p", js_dir, "data", "static"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "static", "site.css"), "w") as f:
        f.write(".product { margin: 4px; padding: 4px; border: 1px solid #ccc }\n" * 40)
    with open(os.path.join(root, "static", "logo.png"), "wb") as f:
        # a 1x1 PNG
        f.write(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                              "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"))
    with open(os.path.join(root, "urls.txt"), "w") as urls:
        for i in range(n):
            html, data = page(i, js_every)
            d = js_dir if data else "p"
            with open(os.path.join(root, d, "%d.html" % i), "w") as f:
                f.write(html)
            if data:
                with open(os.path.join(root, "data", "%d.json" % i), "w") as f:
                    json.dump(data, f)
            urls.write("/%s/%d.html\n" % (d, i))


if __name__ == "__main__":
    main()
