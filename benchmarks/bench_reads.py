"""Real servers: reads per second and latency for each read mode, side by side (issue 11).

Run: ``.venv/bin/python benchmarks/bench_reads.py [--clients 64] [--seconds 5] [--rounds 3]``.

One three-process ``LocalCluster`` (fsync on, election timeout 300-600 ms, heartbeat 100
ms, ``--lease-ms 250``).  ``--clients`` clients each keep one HTTP/1.1 connection to the
leader and send ``GET /get?key=...&mode=M`` back to back for ``--seconds``: a closed loop,
so the figure is what the server sustains.  The modes take turns (log, read_index, lease,
relaxed; then again, ``--rounds`` times) so that a change in the machine's load hits every
mode alike, and the best round of each is printed with its p50/p99 latency.  The load
average is printed too: quote it with the figures.

- ``log``: goraft's read through the log: a log entry, an fsync, a commit per batch.
- ``read_index``: ReadIndex (thesis §6.4): one heartbeat round per batch of reads (those
  that arrive while a round is out go together in the next; ``raftlab.server.reads``).
- ``lease``: the leader's lease (§6.4.1): while it holds, served on the client thread with
  no round trip and no hop to the node's loop.
- ``relaxed``: the leader's local copy, no check at all (may be stale on a deposed leader).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from raftlab.server.local import LocalCluster
from raftlab.server.stress import percentile

MODES = ("log", "read_index", "lease", "relaxed")


async def _client(
    host: str, port: int, path: str, until: float, lat: list[float], errors: list[bytes]
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    done = 0
    try:
        while time.perf_counter() < until:
            t = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if not status.startswith(b"HTTP/1.1 200"):
                errors.append(status.strip())  # e.g. a 307 after the leader changed
                continue
            lat.append((time.perf_counter() - t) * 1000)
            done += 1
    finally:
        writer.close()
    return done


async def _load(host: str, port: int, mode: str, clients: int, seconds: float):
    lat: list[float] = []
    errors: list[bytes] = []
    until = time.perf_counter() + seconds
    path = f"/get?key=k&mode={mode}"
    t0 = time.perf_counter()
    counts = await asyncio.gather(
        *(_client(host, port, path, until, lat, errors) for _ in range(clients))
    )
    return sum(counts) / (time.perf_counter() - t0), lat, len(errors)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    best: dict[str, tuple[float, list[float]]] = {}
    with LocalCluster(3, extra_args=["--lease-ms", "250"], log_level="warning") as c:
        leader = c.wait_for_leader()
        c.client().set("k", "v")
        for r in range(args.rounds):
            for mode in MODES:
                now = c.wait_for_leader()  # a loaded machine may elect another meanwhile
                host, port = c.http[now].removeprefix("http://").rsplit(":", 1)
                rate, lat, errors = asyncio.run(
                    _load(host, int(port), mode, args.clients, args.seconds)
                )
                print(
                    f"  round {r + 1} {mode:<10} {rate:7,.0f} reads/s  "
                    f"p50 {percentile(lat or [0], 50):6.2f} ms  "
                    f"p99 {percentile(lat or [0], 99):6.2f} ms"
                    + (f"  ({errors} answers not 200: the leader changed?)" if errors else ""),
                    flush=True,
                )
                if not errors and (mode not in best or rate > best[mode][0]):
                    best[mode] = (rate, lat)
        still = c.wait_for_leader()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"\nbest of {args.rounds} rounds, {args.clients} clients, {args.seconds:g} s each:")
    print("  mode         reads/s     p50 ms    p99 ms")
    for mode in MODES:
        if mode not in best:
            print(f"  {mode:<10} no round without errors")
            continue
        rate, lat = best[mode]
        print(f"  {mode:<10} {rate:9,.0f}  {percentile(lat, 50):8.2f}  {percentile(lat, 99):8.2f}")
    if still != leader:
        print(f"(the leader changed during the run: S{leader} -> S{still})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
