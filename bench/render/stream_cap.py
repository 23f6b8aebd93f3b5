#!/usr/bin/env python3
"""bench/render/stream_cap.py [SIZE]: what capping the responses that carry
no Content-Length would cost. A page of 8 chunked scripts of SIZE bytes
(default 100 000) is rendered 30 times by a minimal pipe controller that
either lets every response go on (Fetch.continueRequest: what silk does)
or takes each length-less body as a stream (Fetch.takeResponseBodyAsStream
+ IO.read, counting bytes, so a cap could fail it mid-way) and, once read,
hands it back (Fetch.fulfillRequest, base64): the only way on after taking
the stream. Prints ms/page, messages/page, pipe bytes per page each way and
the controller's CPU per page. Needs chromium-headless-shell.
"""
import base64, json, os, shutil, subprocess, sys, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
NSUB = 8
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/page"):
            body = ("<!DOCTYPE html><body>" + "".join(
                '<script src="/s%d.js?%s"></script>' % (i, self.path) for i in range(NSUB)) + "</body>").encode()
            self.send_response(200); self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
            return
        self.send_response(200); self.send_header("Content-Type", "application/javascript")
        self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
        chunk = b"//" + b"x" * 8190 + b"\n"
        left = SIZE
        while left > 0:
            c = chunk[:min(left, len(chunk))]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c)); left -= len(c)
        self.wfile.write(b"0\r\n\r\n")

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % srv.server_address[1]

r3, w3 = os.pipe(); r4, w4 = os.pipe()
def child():
    # copies first: dup2 onto the fd's own number would keep its close-on-exec
    a, b = os.dup(r3), os.dup(w4)
    os.dup2(a, 3); os.dup2(b, 4)
prof = tempfile.mkdtemp()
p = subprocess.Popen(["/usr/lib/chromium/chromium-headless-shell", "--remote-debugging-pipe", "--headless",
                      "--no-sandbox", "--disable-gpu", "--user-data-dir=" + prof, "about:blank"],
                     close_fds=False, preexec_fn=child, stderr=subprocess.DEVNULL)
os.close(r3); os.close(w4)
out = os.fdopen(w3, "wb", buffering=0); inp = os.fdopen(r4, "rb", buffering=0)
buf = b""; nid = 0; bytes_in = 0; bytes_out = 0; msgs = 0
def send(method, params=None, session=None):
    global nid, bytes_out, msgs
    nid += 1
    m = {"id": nid, "method": method, "params": params or {}}
    if session: m["sessionId"] = session
    data = json.dumps(m).encode() + b"\0"; bytes_out += len(data); msgs += 1
    out.write(data); return nid
def recv():
    global buf, bytes_in, msgs
    while b"\0" not in buf:
        d = inp.read(1 << 20)
        if not d: raise SystemExit("eof")
        buf += d
    m, buf = buf.split(b"\0", 1); bytes_in += len(m) + 1; msgs += 1
    return json.loads(m)
events = []
def call(method, params=None, session=None):
    i = send(method, params, session)
    while True:
        m = recv()
        if m.get("id") == i: return m.get("result", m.get("error"))
        events.append(m)

t = call("Target.createTarget", {"url": "about:blank"})["targetId"]
s = call("Target.attachToTarget", {"targetId": t, "flatten": True})["sessionId"]
call("Page.enable", None, s); call("Page.setLifecycleEventsEnabled", {"enabled": True}, s)

def render(mode, url, cap):
    """mode: continue | stream. Returns when load fires."""
    pats = [{"urlPattern": "*", "requestStage": "Response"}]
    call("Fetch.enable", {"patterns": pats}, s)
    nav_id = send("Page.navigate", {"url": url}, s)
    loader = None
    pending = {}   # call id -> (kind, requestId, state)
    streams = {}
    while True:
        m = events.pop(0) if events else recv()
        if m.get("id") == nav_id:
            loader = m["result"]["loaderId"]
            continue
        if m.get("method") == "Page.lifecycleEvent" and m["params"]["name"] == "load" and m["params"]["loaderId"] == loader:
            return
        if m.get("method") == "Fetch.requestPaused":
            pr = m["params"]; rid = pr["requestId"]
            hdrs = {h["name"].lower(): h["value"] for h in pr.get("responseHeaders", [])}
            if mode == "stream" and "content-length" not in hdrs and pr.get("resourceType") != "Document":
                i = send("Fetch.takeResponseBodyAsStream", {"requestId": rid}, s)
                pending[i] = ("take", rid, pr)
            else:
                send("Fetch.continueRequest", {"requestId": rid}, s)
        elif "id" in m and m["id"] in pending:
            kind, rid, st = pending.pop(m["id"])
            if kind == "take":
                h = m["result"]["stream"]; streams[h] = [rid, st, []]
                pending[send("IO.read", {"handle": h, "size": 1 << 20}, s)] = ("read", rid, h)
            elif kind == "read":
                h = st; rec = streams[h]; r = m["result"]
                data = base64.b64decode(r["data"]) if r.get("base64Encoded") else r["data"].encode()
                rec[2].append(data)
                total = sum(len(x) for x in rec[2])
                if total > cap:
                    send("IO.close", {"handle": h}, s); send("Fetch.failRequest", {"requestId": rid, "errorReason": "BlockedByClient"}, s)
                elif r.get("eof"):
                    send("IO.close", {"handle": h}, s)
                    pr = rec[1]
                    send("Fetch.fulfillRequest", {"requestId": rid, "responseCode": pr["responseStatusCode"],
                         "responseHeaders": [x for x in pr["responseHeaders"] if x["name"].lower() != "transfer-encoding"],
                         "body": base64.b64encode(b"".join(rec[2])).decode()}, s)
                else:
                    pending[send("IO.read", {"handle": h, "size": 1 << 20}, s)] = ("read", rid, h)

def cpu():
    return sum(os.times()[:2])
N = 30
for mode in ("continue", "stream", "continue", "stream"):
    render(mode, base + "/page?warm" + mode, 1 << 30)
    b0, o0, m0, c0, t0 = bytes_in, bytes_out, msgs, cpu(), time.time()
    for i in range(N):
        render(mode, base + "/page?%s%d%f" % (mode, i, time.time()), 1 << 30)
    print("%-8s %d x %d KB chunked: %.1f ms/page, %.1f messages/page, pipe %.0f KB in + %.0f KB out /page, controller CPU %.1f ms/page" % (
        mode, NSUB, SIZE // 1000, (time.time() - t0) * 1000 / N, (msgs - m0) / N, (bytes_in - b0) / 1024 / N,
        (bytes_out - o0) / 1024 / N, (cpu() - c0) * 1000 / N))
p.kill()
p.wait()
shutil.rmtree(prof, ignore_errors=True)
