#!/usr/bin/env python3
"""webapp.py: a small web application for silk's crawl tests (Python 3 stdlib only).

    python3 tests/lib/webapp.py --port P [--ttl 900] [--pages N] [--block-after K (1000)]

Listens on 127.0.0.1:P, prints "ready" once listening, exits by itself after
--ttl seconds. What a crawl meets on real sites, kept small enough to check
exactly: a login form with a CSRF token and a session cookie, pages only a
logged-in visitor sees, a JSON API that takes POSTed JSON and forms, and a
bot wall that blocks a visitor after K requests.

Routes:
  /robots.txt            Disallow: /private
  /login                 GET: a form (user, password, hidden csrf, remember checkbox,
                         two submit buttons "go" and "cancel"); POST (urlencoded or
                         multipart): user=alice password=secret, the csrf of the form and
                         go=in set "sid" (HttpOnly) and redirect 303 to /members/1;
                         anything else: 403 with the reason
  /members/N             N = 1..--pages: needs the sid cookie (else 302 to /login); links to
                         /members/N+1 and /members/N+2; <h1>Member page N</h1>
  /api/echo              JSON {method, content_type, body, form (parsed urlencoded), json
                         (parsed JSON body), cookie}
  /api/items?page=N      JSON {items: [{id, name}...] (3 per page), next: N+1 or null}; 5 pages
  /wall/N                a visitor is its "visitor" cookie (set when missing); a visitor's
                         requests past --block-after get 403; <h1>Wall N</h1>, links to
                         /wall/N+1 up to 30
  /private/x             200 (robots.txt disallows it)
  /_log                  JSON list of every request: {t (unix s), method, path, cookie, ua}
Every other path: 404. Any route takes ?sleep=S: the answer waits S seconds.
"""
import argparse
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from email.parser import BytesParser
from email.policy import HTTP

LOG = []
LOCK = threading.Lock()
SESSIONS = set()
CSRF = set()
VISITORS = {}
ARGS = None


def parse_cookies(header):
    out = {}
    for part in (header or "").split(";"):
        if "=" in part:
            k, v = part.strip().split("=", 1)
            out[k] = v
    return out


def parse_body(ctype, body):
    """The form fields of a urlencoded or multipart body, as {name: [values]}."""
    if ctype.startswith("application/x-www-form-urlencoded"):
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    if ctype.startswith("multipart/form-data"):
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        out = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            out.setdefault(name, []).append(part.get_payload(decode=True).decode("utf-8", "replace"))
        return out
    return {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body, ctype="text/html; charset=utf-8", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def json(self, obj, status=200, headers=()):
        self.send(status, json.dumps(obj), "application/json", headers)

    def handle_any(self, method):
        u = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        cookies = parse_cookies(self.headers.get("Cookie"))
        with LOCK:
            LOG.append({"t": time.time(), "method": method, "path": self.path,
                        "cookie": self.headers.get("Cookie"), "ua": self.headers.get("User-Agent")})
        path = u.path
        delay = parse_qs(u.query).get("sleep")
        if delay:
            time.sleep(float(delay[0]))
        if path == "/robots.txt":
            return self.send(200, "User-agent: *\nDisallow: /private\n", "text/plain")
        if path == "/_log":
            with LOCK:
                return self.json(LOG)
        if path == "/login":
            return self.login(method, body, cookies)
        if path.startswith("/members/"):
            return self.members(path, cookies)
        if path == "/api/echo":
            ctype = self.headers.get("Content-Type") or ""
            parsed = None
            if ctype.startswith("application/json"):
                parsed = json.loads(body or b"null")
            return self.json({"method": method, "content_type": ctype,
                              "body": body.decode("utf-8", "replace"),
                              "form": parse_body(ctype, body), "json": parsed,
                              "cookie": self.headers.get("Cookie")})
        if path == "/api/items":
            page = int(parse_qs(u.query).get("page", ["1"])[0])
            items = [{"id": (page - 1) * 3 + i, "name": "item %d" % ((page - 1) * 3 + i)}
                     for i in range(1, 4)]
            return self.json({"items": items, "next": page + 1 if page < 5 else None})
        if path.startswith("/wall/"):
            return self.wall(path, cookies)
        if path.startswith("/private/"):
            return self.send(200, "<p>private</p>")
        return self.send(404, "<p>not found</p>")

    def login(self, method, body, cookies):
        if method == "GET":
            token = secrets.token_hex(8)
            with LOCK:
                CSRF.add(token)
            return self.send(200, """<html><body>
<form id="login" action="/login" method="post">
  <input type="hidden" name="csrf" value="%s">
  <input name="user"> <input type="password" name="password">
  <input type="checkbox" name="remember" value="yes" checked>
  <button type="submit" name="go" value="in">Log in</button>
  <button type="submit" name="go" value="cancel">Cancel</button>
</form></body></html>""" % token)
        form = parse_body(self.headers.get("Content-Type") or "", body)
        get = lambda k: (form.get(k) or [None])[0]
        why = None
        if get("csrf") not in CSRF:
            why = "bad csrf token"
        elif get("user") != "alice" or get("password") != "secret":
            why = "bad user or password"
        elif get("go") != "in":
            why = "the login button was not the one clicked"
        if why:
            return self.send(403, "<p>%s</p>" % why)
        sid = secrets.token_hex(8)
        with LOCK:
            SESSIONS.add(sid)
        return self.send(303, "", headers=[("Set-Cookie", "sid=%s; Path=/; HttpOnly" % sid),
                                            ("Location", "/members/1")])

    def members(self, path, cookies):
        if cookies.get("sid") not in SESSIONS:
            return self.send(302, "", headers=[("Location", "/login")])
        n = int(path.rsplit("/", 1)[1])
        if n < 1 or n > ARGS.pages:
            return self.send(404, "<p>no such page</p>")
        links = "".join('<a href="/members/%d">next</a>' % k for k in (n + 1, n + 2) if k <= ARGS.pages)
        return self.send(200, "<html><body><h1>Member page %d</h1>%s</body></html>" % (n, links))

    def wall(self, path, cookies):
        visitor = cookies.get("visitor")
        headers = []
        if not visitor:
            visitor = secrets.token_hex(6)
            headers.append(("Set-Cookie", "visitor=%s; Path=/" % visitor))
        with LOCK:
            VISITORS[visitor] = VISITORS.get(visitor, 0) + 1
            seen = VISITORS[visitor]
        if seen > ARGS.block_after:
            return self.send(403, "<p>blocked</p>", headers=headers)
        n = int(path.rsplit("/", 1)[1])
        links = '<a href="/wall/%d">next</a>' % (n + 1) if n < 30 else ""
        return self.send(200, "<html><body><h1>Wall %d</h1>%s</body></html>" % (n, links),
                         headers=headers)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ttl", type=float, default=900)
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--block-after", type=int, default=1000)
    ARGS = ap.parse_args()
    # socketserver's listen backlog is 5: a crawl opening more connections at
    # once would see SYNs dropped and retried a second later
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    threading.Timer(ARGS.ttl, lambda: (srv.shutdown())).start()
    print("ready", flush=True)
    srv.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
