#!/usr/bin/env python3
"""fwdproxy.py: a small forward proxy for silk's tests (Python 3 stdlib only).

    python3 tests/lib/fwdproxy.py --port P [--tls-port Q --cert PEM --key KEY] [--ttl 900]

Listens on 127.0.0.1:P (and, with --tls-port, speaks the same behind TLS on
127.0.0.1:Q: an https:// proxy). Prints "ready" once listening; exits by
itself after --ttl seconds. Every connection is one of:

  SOCKS5 (first byte 0x05)   no authentication; CONNECT only; IPv4, IPv6 and
                             domain-name targets (socks5 vs socks5h clients)
  HTTP CONNECT host:port     a tunnel (how clients reach https:// through it)
  HTTP absolute-URI request  GET http://host:port/path ... forwarded upstream
                             as HTTP/1.0 (so the reply is close-delimited and
                             never chunked), relayed back with a Content-Length
                             and an "X-Proxied-By: fwdproxy" header; the client
                             connection stays open (keep-alive)
  HTTP origin-form request   the proxy's own API:
                               GET /log    JSON list of what it forwarded, in
                                           order: {"kind": "http"|"connect"|
                                           "socks5", "target": "host:port",
                                           "atyp": "ipv4"|"ipv6"|"domain"
                                           (socks5 only), "url" (http only),
                                           "tls": bool (came in over TLS)}
                               GET /reset  forget the log

A target that cannot be reached gets 502 (HTTP), or SOCKS reply 0x05
(connection refused). Anything else malformed closes the connection.
"""
import argparse
import asyncio
import json
import socket
import ssl
import struct
from urllib.parse import urlsplit

LOG = []


async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            w.write(data)
            await w.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            w.write_eof()
        except (OSError, RuntimeError):
            w.close()


async def tunnel(cr, cw, ur, uw):
    """Relays both ways until both sides are done, then closes both."""
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))
    uw.close()
    cw.close()


def reply(w, status, reason, body, ctype="text/plain"):
    w.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (status, reason.encode(), ctype.encode(), len(body)) + body)


async def socks5(r, w, tls):
    n = (await r.readexactly(1))[0]        # the version byte was read by handle()
    methods = await r.readexactly(n)
    if 0 not in methods:
        w.write(b"\x05\xff")
        await w.drain()
        w.close()
        return
    w.write(b"\x05\x00")
    ver, cmd, _, atyp = await r.readexactly(4)
    if atyp == 1:
        host, kind = socket.inet_ntop(socket.AF_INET, await r.readexactly(4)), "ipv4"
    elif atyp == 4:
        host, kind = socket.inet_ntop(socket.AF_INET6, await r.readexactly(16)), "ipv6"
    elif atyp == 3:
        host, kind = (await r.readexactly((await r.readexactly(1))[0])).decode(), "domain"
    else:
        w.close()
        return
    port = struct.unpack("!H", await r.readexactly(2))[0]
    fail = b"\x05%c\x00\x01\0\0\0\0\0\0"
    if ver != 5 or cmd != 1:
        w.write(fail % 7)                  # command not supported
        await w.drain()
        w.close()
        return
    LOG.append({"kind": "socks5", "target": "%s:%d" % (host, port), "atyp": kind, "tls": tls})
    try:
        ur, uw = await asyncio.open_connection(host, port)
    except OSError:
        w.write(fail % 5)                  # connection refused
        await w.drain()
        w.close()
        return
    w.write(b"\x05\x00\x00\x01\0\0\0\0\0\0")
    await tunnel(r, w, ur, uw)


async def read_head(r, first=b""):
    """Request line (after its first bytes, already read) and headers, or
    None at a clean end of the connection."""
    line = first + await r.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers = []
    while True:
        h = (await r.readline()).decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers.append((k.strip(), v.strip()))
    return method, target, headers


async def forward(r, w, method, target, headers, tls):
    u = urlsplit(target)
    port = u.port or 80
    body = b""
    for k, v in headers:
        if k.lower() == "content-length":
            body = await r.readexactly(int(v))
    LOG.append({"kind": "http", "target": "%s:%d" % (u.hostname, port), "url": target, "tls": tls})
    try:
        ur, uw = await asyncio.open_connection(u.hostname, port)
    except OSError as e:
        reply(w, 502, "Bad Gateway", ("cannot reach %s:%d: %s" % (u.hostname, port, e)).encode())
        return
    hop = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
    head = "%s %s HTTP/1.0\r\n" % (method, (u.path or "/") + ("?" + u.query if u.query else ""))
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers if k.lower() not in hop)
    uw.write(head.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
    await uw.drain()
    resp = await ur.read()                 # HTTP/1.0: the reply ends at EOF
    uw.close()
    rhead, _, rbody = resp.partition(b"\r\n\r\n")
    lines = rhead.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 1)[1] if " " in lines[0] else "502 Bad Gateway"
    out = ["HTTP/1.1 " + status]
    for h in lines[1:]:
        k = h.partition(":")[0].strip().lower()
        if k not in hop and k != "content-length":
            out.append(h)
    out += ["X-Proxied-By: fwdproxy", "Content-Length: %d" % len(rbody), "", ""]
    w.write("\r\n".join(out).encode("latin-1") + rbody)


async def handle(r, w, tls=False):
    try:
        first = await r.read(1)
        if not first:
            w.close()
            return
        if first == b"\x05":
            await socks5(r, w, tls)
            return
        while True:
            req = await read_head(r, first)
            first = b""
            if req is None:
                break
            method, target, headers = req
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                host = host.strip("[]")
                LOG.append({"kind": "connect", "target": target, "tls": tls})
                try:
                    ur, uw = await asyncio.open_connection(host, int(port))
                except OSError as e:
                    reply(w, 502, "Bad Gateway", str(e).encode())
                    await w.drain()
                    break
                w.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await w.drain()
                await tunnel(r, w, ur, uw)
                return
            if target.startswith("/"):
                if target == "/reset":
                    LOG.clear()
                reply(w, 200, "OK", json.dumps(LOG).encode(), "application/json")
            else:
                await forward(r, w, method, target, headers, tls)
            await w.drain()
        w.close()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError, UnicodeDecodeError):
        w.transport.abort()


async def main():
    ap = argparse.ArgumentParser(description="forward proxy for silk tests")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ttl", type=float, default=900, help="exit after this many seconds")
    a = ap.parse_args()
    servers = [await asyncio.start_server(handle, "127.0.0.1", a.port, backlog=1024)]
    if a.tls_port:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        servers.append(await asyncio.start_server(lambda r, w: handle(r, w, True), "127.0.0.1",
                                                  a.tls_port, ssl=ctx, backlog=1024))
    print("ready", flush=True)
    await asyncio.sleep(a.ttl)
    for s in servers:
        s.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
