#!/usr/bin/env python3
"""badserver.py: a misbehaving HTTP/1.1 server for silk's tests (Python 3 stdlib only).

    python3 tests/lib/badserver.py --port P [--ttl 900] [--robots 'TEXT'] [--robots-fail N]
                                   [--hosts N]

Listens on 127.0.0.1:P (and with --hosts N also on 127.1.H.1:P for H < N: N
more hosts for a client), prints "ready" once listening, exits by itself after
--ttl seconds. asyncio with raw streams, so responses can break HTTP on purpose.
Keep-alive works for well-formed responses; broken ones close the connection.

Routes (query parameters in brackets):
  /robots.txt               allow all, or the --robots text ("\\n" escapes allowed); the
                            first --robots-fail requests get a 503 instead
  /slow-headers?s=N         status line, then one header line a second for N s, then body
  /drip?bytes=N             Content-Length N, then one byte a second
  /reset-mid-body           Content-Length 100000, 50000 bytes, then TCP RST
  /endless                  chunked body that never ends (until the client goes; cap 1 GiB/120 s)
  /cl-short                 Content-Length 1000, 500 bytes, close
  /cl-long                  Content-Length 10, 100 bytes, close
  /bad-chunked              chunked with an invalid chunk-size line
  /corrupt-gzip             Content-Encoding: gzip on a body that is not gzip
  /garbled-gzip             a gzip header, then garbled deflate data
  /truncated-gzip           Content-Encoding: gzip, the first half of a gzip stream (whole as far
                            as Content-Length goes)
  /gzip-header-only         Content-Encoding: gzip, a gzip header and nothing after it
  /gzip-members             two gzip members one after the other ("<p>one</p><p>two</p>")
  /deflate-zlib, /deflate-raw  Content-Encoding: deflate, zlib-wrapped or raw ("<p>deflated</p>" x 100)
  /brotli-claimed           Content-Encoding: br (which silk does not ask for)
  /huge-header              one 1 MiB header line
  /header-flood             20 000 header lines of ~100 bytes (~2 MB), then close
  /bad-status               a status line whose code is not a number, then close
  /http09                   a body with no status line (HTTP/0.9), then close
  /gzip-bomb                Content-Encoding: gzip, ~64 KB inflating to 64 MiB (built at start)
  /redirect-loop            302 to itself
  /redirect-chain?n=K       302 K times (n=K-1, ...), then 200
  /redirect?to=URL[&code=C] C (302) to URL
  /redirect-file            302 to file:///etc/passwd
  /redirect-ftp             302 to ftp://127.0.0.1/pub/x
  /status?code=N            status N, small text body
  /retry-after?key=K        429 + Retry-After: 1 the first time per K, then 200 (JSON: waited s)
  /flaky-503?key=K          503 twice per K, then 200
  /charset/<enc>/<where>    enc: shift_jis gbk windows-1251 iso-8859-1 utf-8 utf-16le utf-16be
                            where: header (charset in Content-Type only), meta (<meta charset>),
                            http-equiv (<meta http-equiv=Content-Type>), bom (utf-8/utf-16 only),
                            none (no declaration). Body: <p id="text">TEXTS[enc]</p>
  /charset/texts            JSON {enc: expected decoded text}
  /bad-utf8                 claims UTF-8, contains invalid byte sequences
  /echo                     JSON {method, path, query, headers: [[k, v]...], body, body_len}
  /form                     a form submission read by Python's own parsers (urllib.parse for
                            GET and urlencoded, email for multipart, text/plain by lines):
                            JSON {method, type, fields: [[name, value(, filename)]...]}
  /concurrency?key=K&ms=M   holds the request M ms (200), counting concurrent requests per key
                            (default key: the Host header)
  /concurrency/stats?key=K  JSON {current, max, total, events: [[start, end], ...]} (unix s)
  /concurrency/reset        forget all counters
  /tree/<i>?n=N&ms=M&dead=D HTML page with links to /tree/<4i+1..4i+4> (< N, default 100), and
                            to D pages past N (404s: dead links, each linked once), held
                            M ms (0) and counted as /concurrency under key "tree:<Host>"
  /sleep?ms=N               200 after N ms
"""
import argparse
import asyncio
import email.parser
import email.policy
import gzip
import json
import socket
import struct
import sys
import time
import zlib
from urllib.parse import parse_qs, parse_qsl, urlsplit

TEXTS = {
    "shift_jis": "日本語のテキスト：東京タワーと富士山",
    "gbk": "中文测试文本：北京欢迎你",
    "windows-1251": "Привет, мир! Кириллица и ёжик",
    "iso-8859-1": "Café crème, naïve façade, Größe ½",
    "utf-8": "UTF-8 ✓ — naïve 日本 Привет",
    "utf-16le": "UTF-16LE ✓ naïve 日本",
    "utf-16be": "UTF-16BE ✓ naïve 日本",
}
REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
           400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}

STATE = {"seen": {}, "conc": {}}
GZIP_BOMB = b""
ROBOTS = "User-agent: *\nDisallow:\n"
ROBOTS_FAIL = 0


def head(code, headers=(), length=None, close=False):
    lines = ["HTTP/1.1 %d %s" % (code, REASONS.get(code, "Status"))]
    lines += ["%s: %s" % kv for kv in headers]
    if length is not None:
        lines.append("Content-Length: %d" % length)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def simple(code, body=b"", ctype="text/plain; charset=utf-8", headers=()):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return head(code, [("Content-Type", ctype)] + list(headers), len(body)) + body


def js(obj, code=200):
    return simple(code, json.dumps(obj, ensure_ascii=False), "application/json")


def charset_page(enc, where):
    if enc not in TEXTS:
        return simple(404, "unknown encoding")
    if where == "bom" and not enc.startswith("utf-"):
        return simple(404, "bom only for utf-8/utf-16le/utf-16be")
    meta = {"meta": '<meta charset="%s">' % enc,
            "http-equiv": '<meta http-equiv="Content-Type" content="text/html; charset=%s">' % enc}.get(where, "")
    html = ('<!DOCTYPE html>\n<html><head>%s<title>charset %s %s</title></head>\n'
            '<body><p id="text">%s</p></body></html>\n' % (meta, enc, where, TEXTS[enc]))
    body = html.encode(enc)
    if where == "bom":
        body = {"utf-8": b"\xef\xbb\xbf", "utf-16le": b"\xff\xfe", "utf-16be": b"\xfe\xff"}[enc] + body
    ctype = "text/html; charset=%s" % enc if where == "header" else "text/html"
    return simple(200, body, ctype)


def form_fields(method, query, ctype, body):
    """What a server reads from a form submission, in order."""
    kind = ctype.split(";")[0].strip().lower()
    if method == "GET":
        fields = parse_qsl(query, keep_blank_values=True)
    elif kind == "application/x-www-form-urlencoded":
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    elif kind == "multipart/form-data":
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
        fields = []
        for part in msg.iter_parts():
            field = [part.get_param("name", header="content-disposition"),
                     part.get_payload(decode=True).decode("utf-8")]
            if part.get_param("filename", header="content-disposition") is not None:
                field.append(part.get_filename())
            fields.append(field)
    elif kind == "text/plain":
        fields = [line.split("=", 1) for line in body.decode("utf-8").split("\r\n") if line]
    else:
        fields = None
    return {"method": method, "type": kind, "fields": fields}


class Conc:
    """Concurrency tracker for one key."""
    def __init__(self):
        self.current = self.max = self.total = 0
        self.events = []

    async def hold(self, seconds):
        self.current += 1
        self.total += 1
        self.max = max(self.max, self.current)
        start = time.time()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.current -= 1
            self.events.append([round(start, 4), round(time.time(), 4)])


def conc(key):
    return STATE["conc"].setdefault(key, Conc())


async def route(req, w):
    """Write a response; return True to keep the connection open."""
    global ROBOTS_FAIL
    method, target, hdrs, body = req
    u = urlsplit(target)
    path = u.path
    qs = {k: v[0] for k, v in parse_qs(u.query).items()}
    host = hdrs.get("host", "")
    num = lambda k, d: int(float(qs.get(k, d)))

    if path == "/robots.txt":
        if ROBOTS_FAIL > 0:
            ROBOTS_FAIL -= 1
            w.write(simple(503, b"unavailable"))
        else:
            w.write(simple(200, ROBOTS))
    elif path == "/slow-headers":
        w.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(num("s", 5)):
            await w.drain()
            await asyncio.sleep(1)
            w.write(b"X-Slow: %d\r\n" % i)
        w.write(b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
    elif path == "/drip":
        n = num("bytes", 10)
        w.write(head(200, [("Content-Type", "text/plain")], n))
        for _ in range(n):
            await w.drain()
            await asyncio.sleep(1)
            w.write(b"x")
    elif path == "/reset-mid-body":
        w.write(head(200, [("Content-Type", "text/plain")], 100000) + b"y" * 50000)
        await w.drain()
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()
        return False
    elif path == "/endless":
        w.write(head(200, [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")]))
        chunk = b"%x\r\n%s\r\n" % (65536, b"z" * 65536)
        deadline, sent = time.time() + 120, 0
        while sent < (1 << 30) and time.time() < deadline:
            w.write(chunk)
            sent += 65536
            await w.drain()
        return False
    elif path == "/cl-short":
        w.write(head(200, [("Content-Type", "text/plain")], 1000, close=True) + b"s" * 500)
        return False
    elif path == "/cl-long":
        w.write(head(200, [("Content-Type", "text/plain")], 10, close=True) + b"L" * 100)
        return False
    elif path == "/corrupt-gzip":
        body = b"this is not a gzip stream at all" * 4
        w.write(head(200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], len(body)) + body)
    elif path == "/garbled-gzip":
        body = gzip.compress(b"<p>x</p>" * 4096, 9, mtime=0)
        body = body[:10] + bytes((b * 7 + 3) & 0xFF for b in body[10:])
        w.write(head(200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], len(body)) + body)
    elif path == "/truncated-gzip":
        body = gzip.compress(b"<p>x</p>" * 4096, 9, mtime=0)
        body = body[:len(body) // 2]
        w.write(head(200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], len(body)) + body)
    elif path == "/gzip-header-only":
        body = gzip.compress(b"<p>x</p>", 9, mtime=0)[:10]
        w.write(head(200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], len(body)) + body)
    elif path == "/gzip-members":
        body = gzip.compress(b"<p>one</p>", 9, mtime=0) + gzip.compress(b"<p>two</p>", 9, mtime=0)
        w.write(head(200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], len(body)) + body)
    elif path in ("/deflate-zlib", "/deflate-raw"):
        c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS if path == "/deflate-zlib" else -zlib.MAX_WBITS)
        body = c.compress(b"<p>deflated</p>" * 100) + c.flush()
        w.write(head(200, [("Content-Type", "text/html"), ("Content-Encoding", "deflate")], len(body)) + body)
    elif path == "/brotli-claimed":
        w.write(head(200, [("Content-Type", "text/html"), ("Content-Encoding", "br")], 4) + b"\x0b\x01\x80\x03")
    elif path == "/huge-header":
        w.write(head(200, [("X-Huge", "h" * (1 << 20))], 2) + b"ok")
    elif path == "/header-flood":
        w.write(head(200, [("X-Flood-%d" % i, "f" * 90) for i in range(20000)], 2) + b"ok")
        return False
    elif path == "/bad-status":
        w.write(b"HTTP/1.1 abc Weird\r\nContent-Length: 2\r\n\r\nok")
        return False
    elif path == "/http09":
        w.write(b"<html>no status line</html>\n")
        return False
    elif path == "/bad-chunked":
        w.write(head(200, [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")])
                + b"5\r\nhello\r\nzz\r\nnot a chunk\r\n0\r\n\r\n")
        return False
    elif path == "/gzip-bomb":
        w.write(head(200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], len(GZIP_BOMB))
                + GZIP_BOMB)
    elif path == "/redirect-loop":
        w.write(simple(302, "loop", headers=[("Location", "/redirect-loop")]))
    elif path == "/redirect-chain":
        n = num("n", 3)
        loc = "/redirect-chain?n=%d" % (n - 1) if n > 0 else None
        w.write(simple(302, "", headers=[("Location", loc)]) if loc else simple(200, "end of chain"))
    elif path == "/redirect":
        w.write(simple(num("code", 302), "", headers=[("Location", qs.get("to", "/"))]))
    elif path == "/redirect-file":
        w.write(simple(302, "", headers=[("Location", "file:///etc/passwd")]))
    elif path == "/redirect-ftp":
        w.write(simple(302, "", headers=[("Location", "ftp://127.0.0.1/pub/x")]))
    elif path == "/status":
        code = num("code", 200)
        w.write(simple(code, "status %d\n" % code))
    elif path in ("/retry-after", "/flaky-503"):
        key = (path, qs.get("key", ""))
        seen = STATE["seen"].setdefault(key, [])
        seen.append(time.time())
        fails = 1 if path == "/retry-after" else 2
        if len(seen) <= fails:
            code = 429 if path == "/retry-after" else 503
            w.write(simple(code, "try later\n", headers=[("Retry-After", "1")]))
        else:
            w.write(js({"ok": True, "attempts": len(seen), "waited": round(seen[-1] - seen[fails - 1], 3)}))
    elif path == "/charset/texts":
        w.write(js(TEXTS))
    elif path.startswith("/charset/"):
        parts = path.split("/")
        w.write(charset_page(parts[2], parts[3]) if len(parts) == 4 else simple(404, "no such page"))
    elif path == "/bad-utf8":
        body = (b"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>bad</title></head><body>"
                b"<p id=\"text\">ok \xff\xfe bad \xc3\x28 trunc \xe2\x82 end \xed\xa0\x80 surrogate</p></body></html>")
        w.write(simple(200, body, "text/html; charset=utf-8"))
    elif path == "/echo":
        w.write(js({"method": method, "path": path, "query": u.query, "headers": hdrs["_list"],
                    "body": body.decode("utf-8", "replace"), "body_len": len(body)}))
    elif path == "/form":
        w.write(js(form_fields(method, u.query, hdrs.get("content-type", ""), body)))
    elif path == "/concurrency/stats":
        c = conc(qs.get("key", host))
        w.write(js({"current": c.current, "max": c.max, "total": c.total, "events": c.events}))
    elif path == "/concurrency/reset":
        STATE["conc"].clear()
        w.write(js({"ok": True}))
    elif path == "/concurrency":
        await conc(qs.get("key", host)).hold(num("ms", 200) / 1000)
        w.write(simple(200, "ok\n"))
    elif path.startswith("/tree/"):
        try:
            i = int(path[6:])
        except ValueError:
            i = -1
        n = num("n", 100)
        if not 0 <= i < n:
            w.write(simple(404, "no such page"))
        else:
            await conc("tree:" + host).hold(num("ms", 0) / 1000)
            q = "?" + u.query if u.query else ""
            dead = num("dead", 0)
            links = "".join('<a href="/tree/%d%s">page %d</a>\n' % (c, q, c)
                            for c in list(range(4 * i + 1, min(n, 4 * i + 5))) +
                            [n + dead * i + k for k in range(dead)])
            w.write(simple(200, "<!DOCTYPE html><html><head><title>tree %d</title></head><body>\n"
                           "<h1>tree %d</h1>\n%s</body></html>\n" % (i, i, links), "text/html; charset=utf-8"))
    elif path == "/sleep":
        await asyncio.sleep(num("ms", 100) / 1000)
        w.write(simple(200, "slept\n"))
    else:
        w.write(simple(404, "no such page\n"))
    return hdrs.get("connection", "").lower() != "close"


async def read_request(r):
    line = await r.readline()
    if not line:
        return None
    method, target, _ = (line.decode("latin-1").split(" ", 2) + ["", ""])[:3]
    hdrs = {"_list": []}
    while True:
        h = await r.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
        hdrs["_list"].append([k.strip(), v.strip()])
    n = int(hdrs.get("content-length", "0") or 0)
    body = await r.readexactly(n) if n else b""
    return method, target, hdrs, body


async def handle(r, w):
    try:
        while True:
            req = await read_request(r)
            if req is None:
                break
            keep = await route(req, w)
            if w.transport.is_closing():
                return
            await w.drain()
            if not keep:
                break
        w.close()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        w.transport.abort()


async def main():
    global GZIP_BOMB, ROBOTS, ROBOTS_FAIL
    ap = argparse.ArgumentParser(description="misbehaving HTTP server for silk tests")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ttl", type=float, default=900, help="exit after this many seconds")
    ap.add_argument("--robots", default=None, help="robots.txt text (\\n for newlines)")
    ap.add_argument("--robots-fail", type=int, default=0, help="answer the first N robots.txt with 503")
    ap.add_argument("--hosts", type=int, default=0, choices=range(0, 257), metavar="N",
                    help="also listen on 127.1.H.1 for H < N (at most 256)")
    a = ap.parse_args()
    ROBOTS_FAIL = a.robots_fail
    if a.robots is not None:
        ROBOTS = a.robots.replace("\\n", "\n")
    GZIP_BOMB = gzip.compress(b"<html>" + b"\0" * (64 * 1024 * 1024 - 6), 9, mtime=0)
    hosts = ["127.0.0.1"] + ["127.1.%d.1" % h for h in range(a.hosts)]
    server = await asyncio.start_server(handle, hosts, a.port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await asyncio.sleep(a.ttl)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
