"""``python -m raftlab bench``: how fast the simulator runs, against a bare event loop.

Three measurements, all printed:

1. **Bare loop**: a heap of ``(time, seq, callback, arg)``; pop an event, call a method,
   push the next one.  The least any discrete-event simulator in Python can cost per
   event: the baseline.
2. **Steady load**: a 5-node cluster with a client proposing a command every
   ``--interval`` simulated ms, run for ``--seconds`` of simulated time, with the safety
   checks on and off.  Reported as messages delivered per wall-clock second, and as the
   cost of one message in bare-loop events.
3. **Idle**: a 5-node cluster with no clients; how many times faster than real time it
   simulates.  Possible because a node reports its next deadline and the kernel jumps
   there, instead of ticking every millisecond.
"""

from __future__ import annotations

import argparse
import heapq
import time

from raftlab.cluster import Cluster


class _Pinger:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def handle(self, arg: int) -> int:
        self.count += 1
        return arg


def bare_loop(events: int) -> float:
    """Seconds per event of a bare heap-based event loop."""
    heap: list = []
    seq = 0
    pinger = _Pinger()
    for k in range(8):  # a few events in flight at once, like messages in a cluster
        seq += 1
        heapq.heappush(heap, (float(k), seq, pinger.handle, k))
    start = time.perf_counter()
    for _ in range(events):
        t, _, callback, arg = heapq.heappop(heap)
        callback(arg)
        seq += 1
        heapq.heappush(heap, (t + 3.7, seq, callback, arg))
    return (time.perf_counter() - start) / events


def steady_load(
    seconds: float, interval_ms: float, check: bool, seed: int = 1
) -> tuple[float, int]:
    """Wall-clock seconds per delivered message under steady client load."""
    cluster = Cluster(5, seed=seed, check_invariants=check)
    cluster.network.keep_log = False
    cluster.wait_for_leader()
    end = cluster.now + seconds * 1000
    delivered0 = cluster.network.stats["delivered"]
    start = time.perf_counter()
    k = 0
    while cluster.now < end:
        cluster.submit(b"x%d" % k)  # NotLeader during an election is fine: load goes on
        k += 1
        cluster.run(interval_ms)
    wall = time.perf_counter() - start
    delivered = cluster.network.stats["delivered"] - delivered0
    return wall / delivered, delivered


def idle_speedup(seconds: float, seed: int = 1) -> float:
    cluster = Cluster(5, seed=seed)
    cluster.network.keep_log = False
    cluster.wait_for_leader()
    start = time.perf_counter()
    cluster.run(seconds * 1000)
    return seconds / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftlab bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated seconds of load")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="simulated ms between client proposals"
    )
    args = parser.parse_args(argv)

    base = min(bare_loop(300_000) for _ in range(3))
    print(f"bare event loop:        {base * 1e6:6.2f} us/event  ({1 / base:,.0f} events/s)")
    for check in (False, True):
        per_msg, n = min(
            (steady_load(args.seconds, args.interval, check) for _ in range(2)), key=lambda r: r[0]
        )
        label = "checks on " if check else "checks off"
        target = 8 if check else 4
        print(
            f"steady load, {label}: {per_msg * 1e6:6.2f} us/message ({1 / per_msg:,.0f} msgs/s, "
            f"{n:,} messages) = {per_msg / base:4.1f}x the bare loop (target <= {target}x)"
        )
    speed = idle_speedup(120.0)
    print(f"idle 5-node cluster:    {speed:,.0f}x faster than real time (target >= 1000x)")
    return 0
