"""bench/metrics/scraper.py PORT SECONDS RATE: GET /metrics RATE times a second
over one keep-alive connection; prints scrapes, mean and max response time."""
import http.client, sys, time
port, seconds, rate = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
n, worst, total = 0, 0.0, 0.0
start = time.monotonic()
while time.monotonic() - start < seconds:
    t0 = time.monotonic()
    conn.request("GET", "/metrics")
    body = conn.getresponse().read()
    dt = time.monotonic() - t0
    n, total, worst = n + 1, total + dt, max(worst, dt)
    time.sleep(max(0.0, start + n / rate - time.monotonic()))
print("scrapes %d  bytes %d  response mean %.3f ms  max %.3f ms" % (n, len(body), total / n * 1e3, worst * 1e3))
