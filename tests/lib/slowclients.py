#!/usr/bin/env python3
"""slowclients.py: slow HTTP clients for silk's server tests (Python 3 stdlib only).

    python3 tests/lib/slowclients.py --port P [--conns N] [--seconds T] [--every S]

Opens N connections to 127.0.0.1:P, sends the start of a request head
("GET /metrics HTTP/1.1\\r\\n"), then one more header byte on each every S
seconds, never finishing the head (slowloris), for T seconds. Prints
"ready" once every connection is open, and at the end one JSON line:
{"closed_after": [seconds after open when the server closed it, or null]}.
"""
import argparse
import json
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--every", type=float, default=0.5)
    a = ap.parse_args()
    socks, opened, closed = [], [], []
    for _ in range(a.conns):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        s.setblocking(False)
        socks.append(s)
        opened.append(time.monotonic())
        closed.append(None)
    print("ready", flush=True)
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        time.sleep(a.every)
        for i, s in enumerate(socks):
            if closed[i] is not None:
                continue
            try:
                if s.recv(1) == b"":
                    raise ConnectionError
                continue                      # the server answered: not slow any more
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = round(time.monotonic() - opened[i], 2)
                continue
            try:
                s.send(b"x")
            except OSError:
                closed[i] = round(time.monotonic() - opened[i], 2)
    print(json.dumps({"closed_after": closed}), flush=True)


if __name__ == "__main__":
    main()
