"""Loopback load test of the web API: requests/s and latency percentiles under concurrency.

Starts ``gigatrain serve`` on a free loopback port in a subprocess (so the load generator and
the server do not share a GIL), then for each scenario runs ``--clients`` threads, each with
its own keep-alive HTTP connection, for ``--duration`` seconds:

* ``estimate``: ``POST /api/estimate`` — llama-3.1-70b on 1,024 × h100-sxm, tp=8 pp=2;
* ``search``: ``POST /api/search`` — a mid-size search, llama-3.1-70b on 1,024 × h100-sxm,
  seq 8,192, global batch 1,024 (about 150,000 candidate plans).

A server process runs at most 2 searches at once and refuses the rest with HTTP 429 (see
``web.app.Limits``); those are counted apart and not in the latency figures.

Run:  python benchmarks/load_test.py [--duration 15] [--clients 8] [--search-clients 2]
                                     [--workers 1]
Total wall time is bounded: about 2 × duration + server start.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ESTIMATE = {"model": "llama-3.1-70b", "chip": "h100-sxm", "chips": 1024, "tp": 8, "pp": 2,
            "seq": 8192, "global_batch": 1024, "tokens": "15T"}
SEARCH = {"model": "llama-3.1-70b", "chip": "h100-sxm", "chips": 1024, "seq": 8192,
          "global_batch": 1024, "tokens": "15T", "top": 10}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int, workers: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("gigatrain")
    cmd = [str(exe) if exe.exists() else "gigatrain", "serve", "--port", str(port),
           "--log-level", "warning", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                # wait for the validation warm-up (first /api/validate computes it)
                httpx.get(f"http://127.0.0.1:{port}/api/validate", timeout=30)
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start within 60 s")


def run(base: str, path: str, body: dict, clients: int, duration: float) -> dict:
    """``clients`` threads posting ``body`` to ``path`` for ``duration`` seconds."""
    lat: list[float] = []
    codes: Counter[int] = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def worker() -> None:
        mine: list[float] = []
        mycodes: Counter[int] = Counter()
        with httpx.Client(base_url=base, timeout=60) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                try:
                    code = c.post(path, json=body).status_code
                except httpx.HTTPError:
                    code = -1
                dt = time.perf_counter() - t0
                mycodes[code] += 1
                if code == 200:
                    mine.append(dt)
                elif code == 429:
                    time.sleep(0.05)  # the server said busy: back off a little
        with lock:
            lat.extend(mine)
            codes.update(mycodes)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1e3 if lat else float("nan")

    return {"ok": len(lat), "codes": dict(codes), "wall_s": wall, "rps": len(lat) / wall,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "max_ms": lat[-1] * 1e3 if lat else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per scenario")
    ap.add_argument("--clients", type=int, default=8, help="concurrent estimate clients")
    ap.add_argument("--search-clients", type=int, default=2, help="concurrent search clients")
    ap.add_argument("--workers", type=int, default=1, help="server processes")
    a = ap.parse_args()
    port = free_port()
    proc = start_server(port, a.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        for body, path in ((ESTIMATE, "/api/estimate"), (SEARCH, "/api/search")):
            r = httpx.post(base + path, json=body, timeout=60)  # warm-up, and check it works
            r.raise_for_status()
        print(f"gigatrain web load test: loopback, {os.cpu_count()} CPUs, server workers="
              f"{a.workers}, {a.duration:g} s per scenario")
        print(f"{'scenario':<10} {'clients':>7} {'ok':>7} {'req/s':>8} {'p50 ms':>8} "
              f"{'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}  other statuses")
        for name, path, body, n in (("estimate", "/api/estimate", ESTIMATE, a.clients),
                                    ("search", "/api/search", SEARCH, a.search_clients)):
            s = run(base, path, body, n, a.duration)
            other = {k: v for k, v in s["codes"].items() if k != 200}
            print(f"{name:<10} {n:>7} {s['ok']:>7} {s['rps']:>8.1f} {s['p50_ms']:>8.1f} "
                  f"{s['p90_ms']:>8.1f} {s['p99_ms']:>8.1f} {s['max_ms']:>8.1f}  {other or ''}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
