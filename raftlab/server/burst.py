"""Many simultaneous clients against one server: what a burst does to a node.

``burst(host, port, n, ...)`` opens ``n`` connections, waits until every one is open (or
failed), then sends one request on each at the same moment and counts the answers by
status.  It is the load of ``benchmarks/bench_burst.py`` and of the burst test; it runs on
one event loop in the calling process, with raw sockets, so the work is the server's, not
a client library's.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class BurstResult:
    statuses: Counter = field(default_factory=Counter)  # HTTP status -> count; 0: no answer
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # from the release, per answer

    @property
    def answered(self) -> int:
        return sum(n for s, n in self.statuses.items() if s)


class _Start:
    """Counts connections that are open (or failed); releases everyone when all are."""

    def __init__(self, n: int):
        self.left = n
        self.go = asyncio.Event()
        self.at = 0.0

    def arrived(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.at = time.perf_counter()
            self.go.set()


async def _one(host: str, port: int, path: str, deadline: float, start: _Start):
    writer = None
    arrived = False
    try:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), max(0.1, deadline - time.monotonic())
            )
        finally:
            start.arrived()
            arrived = True
        await start.go.wait()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), max(0.1, deadline - time.monotonic()))
        status = int(line.split()[1]) if line.startswith(b"HTTP/") else 0
        return status, (time.perf_counter() - start.at) * 1000
    except (OSError, TimeoutError, ValueError, IndexError):
        if not arrived:
            start.arrived()
        return 0, None
    finally:
        if writer is not None:
            writer.close()


async def burst(
    host: str,
    port: int,
    n: int,
    path: Callable[[int], str] = lambda k: f"/set?key=burst{k}&value={k}",
    timeout_s: float = 30.0,
) -> BurstResult:
    """``n`` clients at once, one request each; bounded by ``timeout_s`` in all."""
    deadline = time.monotonic() + timeout_s
    start = _Start(n)
    t0 = time.perf_counter()
    answers = await asyncio.gather(*(_one(host, port, path(k), deadline, start) for k in range(n)))
    out = BurstResult()
    for status, ms in answers:
        out.statuses[status] += 1
        if ms is not None and status:
            out.latencies_ms.append(ms)
    out.seconds = time.perf_counter() - t0
    return out
