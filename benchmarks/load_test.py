"""Loopback load test of the web API: do cheap endpoints stay fast while heavy work floods in?

Starts ``gigatrain serve`` on a free 127.0.0.1 port in a subprocess, then for ``--duration``
seconds (default 30):

* ``--heavy`` clients (default 100), each with its own keep-alive connection (raw HTTP/1.1 on
  asyncio, cheap enough that the load generator's scheduling does not inflate what it
  measures), post heavy searches — llama-3.1-70b on h100-sxm, ``chips: "1024-1000000"`` (about
  1.2 M candidate plans, 1–2.5 s of one idle core each). Each request varies the global batch
  and ``top``, so the server's result cache rarely answers (``--same-body`` sends one body,
  which the cache then serves). A client told 429 waits the ``Retry-After`` the server sent
  (``--no-backoff``: retries at once, a flood);
* one cheap client polls ``GET /api/health`` and ``POST /api/estimate`` (70B on 1,024 H100)
  alternately every ``--poll-ms`` (default 50 ms), in its own process so that the heavy
  clients' threads do not delay its clock.

It prints latency percentiles and status counts and checks the issue's bars: cheap p99 <
100 ms, no 5xx, every heavy request refused within 1 s or admitted to a worker within 1 s of
arriving (its queue wait, from the ``Server-Timing`` header; an admitted search then takes its
own compute time). Exit status 1 when a bar is missed.

``--throughput`` instead measures requests/s: ``--clients`` estimate clients, then
``--search-clients`` clients of a mid-size search (varied, so not cached), each for
``--duration`` seconds.

Run:  python benchmarks/load_test.py [--duration 30] [--heavy 100] [--json out.json]
Loopback only; bounded: at most 500 clients and 300 s per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
ESTIMATE = {
    "model": "llama-3.1-70b",
    "chip": "h100-sxm",
    "chips": 1024,
    "tp": 8,
    "pp": 2,
    "seq": 8192,
    "global_batch": 1024,
    "tokens": "15T",
}
HEAVY = {
    "model": "llama-3.1-70b",
    "chip": "h100-sxm",
    "chips": "1024-1000000",
    "seq": 8192,
    "global_batch": 1024,
    "tokens": "15T",
    "top": 10,
}
SEARCH = {
    "model": "llama-3.1-70b",
    "chip": "h100-sxm",
    "chips": 1024,
    "seq": 8192,
    "global_batch": 1024,
    "tokens": "15T",
    "top": 10,
}
MAX_CLIENTS, MAX_DURATION_S = 500, 300.0


# ---------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(port: int, workers: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("gigatrain")
    cmd = [
        str(exe) if exe.exists() else "gigatrain",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/api/health", timeout=1).status_code == 200:
                # wait for the validation warm-up (first /api/validate computes it)
                httpx.get(f"http://{HOST}:{port}/api/validate", timeout=60)
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---------------------------------------------------------------- statistics
def pct(xs: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``xs`` in milliseconds; NaN when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return 1e3 * s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def summary(lat: list[float]) -> dict[str, float]:
    return {
        "n": len(lat),
        "p50_ms": pct(lat, 50),
        "p90_ms": pct(lat, 90),
        "p99_ms": pct(lat, 99),
        "max_ms": 1e3 * max(lat) if lat else float("nan"),
    }


def server_timing(header: str) -> dict[str, float]:
    """``queue;dur=1.0, work;dur=2.0`` → {"queue": 1.0, "work": 2.0} (milliseconds)."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        if rest.startswith("dur="):
            out[name] = float(rest[4:])
    return out


# ---------------------------------------------------------------- the cheap poller
def cheap_poller(base: str, duration: float, poll_s: float, out: Any) -> None:
    """Alternate GET /api/health and POST /api/estimate; send latencies back through ``out``."""
    lat: dict[str, list[float]] = {"health": [], "estimate": []}
    codes: Counter[int] = Counter()
    stop = time.monotonic() + duration
    with httpx.Client(base_url=base, timeout=30) as c:
        i = 0
        while time.monotonic() < stop:
            name = "health" if i % 2 == 0 else "estimate"
            t0 = time.perf_counter()
            try:
                r = (
                    c.get("/api/health")
                    if name == "health"
                    else c.post("/api/estimate", json=ESTIMATE)
                )
                code = r.status_code
            except httpx.HTTPError:
                code = -1
            dt = time.perf_counter() - t0
            codes[code] += 1
            lat[name].append(dt)
            i += 1
            time.sleep(max(0.0, poll_s - dt))
    out.send({"lat": lat, "codes": dict(codes)})
    out.close()


# ---------------------------------------------------------------- the heavy clients
def heavy_body(same: bool, rng: random.Random) -> dict[str, Any]:
    if same:
        return HEAVY
    return {**HEAVY, "global_batch": 64 * rng.randint(8, 64), "top": rng.randint(1, 50)}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Status and headers of one HTTP/1.1 response; its body is read and dropped."""
    status = int((await reader.readline()).split(b" ", 2)[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


async def heavy_client(
    host: str,
    port: int,
    stop: float,
    same: bool,
    backoff: bool,
    seed: int,
    rec: list[tuple[int, float, float, float, float]],
) -> None:
    """Post heavy searches on one keep-alive connection until ``stop``; record (status,
    seconds, and from the server's ``Server-Timing``: queue ms, work ms, ms inside the app).
    Raw HTTP/1.1 on asyncio streams: a hundred of these cost the load generator little CPU,
    so its own scheduling does not inflate the latencies it measures."""
    rng = random.Random(seed)
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.monotonic() < stop:
        body = json.dumps(heavy_body(same, rng)).encode()
        req = (
            f"POST /api/search HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.open_connection(host, port)
            conn[1].write(req)
            await conn[1].drain()
            code, headers = await asyncio.wait_for(_read_response(conn[0]), 120)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError):
            code, headers = -1, {}
        dt = time.perf_counter() - t0
        if conn is not None and (code == -1 or headers.get("connection") == "close"):
            conn[1].close()
            conn = None
        t = server_timing(headers.get("server-timing", ""))
        rec.append(
            (
                code,
                dt,
                t.get("queue", float("nan")),
                t.get("work", float("nan")),
                t.get("app", float("nan")),
            )
        )
        if code == 429 and backoff:
            retry = headers.get("retry-after", "")
            wait = float(retry) if retry.isdigit() else 1.0
            await asyncio.sleep(min(wait, 10.0) + rng.uniform(0, 0.5))
        elif code == -1:
            await asyncio.sleep(0.1)
    if conn is not None:
        conn[1].close()


def heavy_clients(port: int, n: int, duration: float, same: bool, backoff: bool, out: Any) -> None:
    """``n`` concurrent heavy clients on one event loop (own process)."""
    rec: list[tuple[int, float, float, float, float]] = []

    async def main() -> None:
        stop = time.monotonic() + duration
        await asyncio.gather(
            *(heavy_client(HOST, port, stop, same, backoff, i, rec) for i in range(n))
        )

    asyncio.run(main())
    out.send(rec)
    out.close()


def stall_test(base: str, port: int, a: argparse.Namespace) -> dict[str, Any]:
    """The issue's scenario: heavy clients and one cheap poller at once."""
    ctx = multiprocessing.get_context("spawn")
    cheap_r, cheap_w = ctx.Pipe(duplex=False)
    heavy_r, heavy_w = ctx.Pipe(duplex=False)
    hp = ctx.Process(
        target=heavy_clients,
        args=(port, a.heavy, a.duration, a.same_body, not a.no_backoff, heavy_w),
    )
    cp = ctx.Process(target=cheap_poller, args=(base, a.duration, a.poll_ms / 1e3, cheap_w))
    t0 = time.perf_counter()
    hp.start()
    time.sleep(0.5)  # the flood is on before the first cheap request
    cp.start()
    for pipe, who in ((cheap_r, "cheap poller"), (heavy_r, "heavy clients")):
        if not pipe.poll(a.duration + 180):  # bounded: a dead client process cannot hang us
            for p in (hp, cp):
                p.kill()
            raise SystemExit(f"the {who} did not report")
    cheap = cheap_r.recv()
    rec = heavy_r.recv()
    hp.join(timeout=120)
    cp.join(timeout=30)
    wall = time.perf_counter() - t0
    codes = Counter(r[0] for r in rec)
    ok = [r for r in rec if r[0] == 200]
    refused = [r[1] for r in rec if r[0] == 429]
    refused_app = [r[4] / 1e3 for r in rec if r[0] == 429 and r[4] == r[4]]
    other = [r for r in rec if r[0] not in (200, 429)]
    queue_ms = [r[2] for r in ok if r[2] == r[2]]
    work_ms = [r[3] for r in ok if r[3] == r[3] and r[3] > 0]
    cached = sum(1 for r in ok if not r[3] > 0)
    all_cheap = cheap["lat"]["health"] + cheap["lat"]["estimate"]
    res = {
        "duration_s": a.duration,
        "wall_s": wall,
        "heavy_clients": a.heavy,
        "cpus": os.cpu_count(),
        "backoff": not a.no_backoff,
        "same_body": a.same_body,
        "cheap": {
            "all": summary(all_cheap),
            "health": summary(cheap["lat"]["health"]),
            "estimate": summary(cheap["lat"]["estimate"]),
            "codes": cheap["codes"],
        },
        "heavy": {
            "codes": dict(codes),
            "answered": summary([r[1] for r in ok]),
            "refused": summary(refused),
            "refused_in_app": summary(refused_app),
            "other": len(other),
            "queue_wait_max_ms": max(queue_ms) if queue_ms else 0.0,
            "work": summary([w / 1e3 for w in work_ms]),
            "cache_hits": cached,
        },
    }
    five = sum(v for k, v in codes.items() if k >= 500 or k < 0) + sum(
        v for k, v in cheap["codes"].items() if int(k) >= 500 or int(k) < 0
    )
    res["bars"] = {
        "cheap_p99_under_100ms": res["cheap"]["all"]["p99_ms"] < 100,
        "no_5xx": five == 0,
        "refused_within_1s": not refused or max(refused) < 1.0,
        "admitted_within_1s": not queue_ms or max(queue_ms) < 1000,
    }
    return res


def print_stall(r: dict[str, Any]) -> None:
    c, h = r["cheap"], r["heavy"]
    print(
        f"gigatrain web stall test: loopback, {r['cpus']} CPUs, {r['heavy_clients']} heavy "
        f"clients (chips 1024-1000000, {'one body' if r['same_body'] else 'varied bodies'}, "
        f"{'honouring Retry-After' if r['backoff'] else 'no back-off'}) for "
        f"{r['duration_s']:g} s + 1 cheap poller"
    )
    print(f"{'cheap':<18} {'n':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for k in ("health", "estimate", "all"):
        s = c[k]
        print(
            f"  {k:<16} {s['n']:>6} {s['p50_ms']:>8.1f} {s['p90_ms']:>8.1f} "
            f"{s['p99_ms']:>8.1f} {s['max_ms']:>8.1f}"
        )
    print(f"  statuses {c['codes']}")
    print(f"heavy statuses {h['codes']}  (cache hits among 200s: {h['cache_hits']})")
    for k in ("answered", "refused", "refused_in_app"):
        s = h[k]
        print(
            f"  {k:<16} {s['n']:>6} {s['p50_ms']:>8.1f} {s['p90_ms']:>8.1f} "
            f"{s['p99_ms']:>8.1f} {s['max_ms']:>8.1f}"
        )
    w = h["work"]
    print(
        f"  admitted: queue wait max {h['queue_wait_max_ms']:.0f} ms; search compute p50 "
        f"{w['p50_ms']:.0f} ms, max {w['max_ms']:.0f} ms"
    )
    for k, v in r["bars"].items():
        print(f"  {'PASS' if v else 'FAIL'}  {k}")


# ---------------------------------------------------------------- throughput
def throughput(
    base: str, path: str, body: dict, clients: int, duration: float, vary: bool = False
) -> dict:
    """``clients`` threads posting ``body`` to ``path`` for ``duration`` seconds (``vary``:
    a random global batch each time, so the server's result cache does not answer)."""
    lat: list[float] = []
    codes: Counter[int] = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def worker() -> None:
        mine: list[float] = []
        mycodes: Counter[int] = Counter()
        rng = random.Random(threading.get_ident())
        with httpx.Client(base_url=base, timeout=60) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                b = {**body, "global_batch": 64 * rng.randint(8, 64)} if vary else body
                try:
                    r = c.post(path, json=b)
                    code = r.status_code
                except httpx.HTTPError:
                    code = -1
                mycodes[code] += 1
                if code == 200:
                    mine.append(time.perf_counter() - t0)
                elif code == 429:
                    time.sleep(float(r.headers.get("retry-after", "1")))
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
    return {"codes": dict(codes), "rps": len(lat) / wall, **summary(lat)}


def run_throughput(base: str, a: argparse.Namespace) -> None:
    print(f"gigatrain web throughput: loopback, {os.cpu_count()} CPUs, {a.duration:g} s each")
    print(
        f"{'scenario':<10} {'clients':>7} {'ok':>7} {'req/s':>8} {'p50 ms':>8} "
        f"{'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}  other statuses"
    )
    for name, path, body, n in (
        ("estimate", "/api/estimate", ESTIMATE, a.clients),
        ("search", "/api/search", SEARCH, a.search_clients),
    ):
        s = throughput(base, path, body, n, a.duration, vary=name == "search")
        other = {k: v for k, v in s["codes"].items() if k != 200}
        print(
            f"{name:<10} {n:>7} {s['n']:>7} {s['rps']:>8.1f} {s['p50_ms']:>8.1f} "
            f"{s['p90_ms']:>8.1f} {s['p99_ms']:>8.1f} {s['max_ms']:>8.1f}  {other or ''}"
        )


# ---------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    ap.add_argument("--heavy", type=int, default=100, help="concurrent heavy search clients")
    ap.add_argument("--poll-ms", type=float, default=50.0, help="cheap poller interval")
    ap.add_argument("--same-body", action="store_true", help="one heavy body (cache hits)")
    ap.add_argument("--no-backoff", action="store_true", help="ignore Retry-After")
    ap.add_argument("--throughput", action="store_true", help="measure requests/s instead")
    ap.add_argument("--clients", type=int, default=8, help="throughput: estimate clients")
    ap.add_argument("--search-clients", type=int, default=2, help="throughput: search clients")
    ap.add_argument("--workers", type=int, default=1, help="server processes")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    if not 0 < a.duration <= MAX_DURATION_S or not 0 < a.heavy <= MAX_CLIENTS:
        ap.error(f"duration must be in (0, {MAX_DURATION_S:g}] s and heavy in 1..{MAX_CLIENTS}")
    port = free_port()
    proc = start_server(port, a.workers)
    base = f"http://{HOST}:{port}"
    try:
        for body, path in ((ESTIMATE, "/api/estimate"), (SEARCH, "/api/search")):
            httpx.post(base + path, json=body, timeout=60).raise_for_status()  # warm-up
        if a.throughput:
            run_throughput(base, a)
            return
        r = stall_test(base, port, a)
        print_stall(r)
        if a.json:
            a.json.write_text(json.dumps(r, indent=1))
        if not all(r["bars"].values()):
            raise SystemExit(1)
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
