"""Real servers: does a burst of simultaneous clients depose the leader?  (issue 14)

Run: ``.venv/bin/python benchmarks/bench_burst.py [--clients 5000] [--rounds 3]``.

Each round starts a fresh three-process ``LocalCluster`` (election timeout 300-600 ms,
heartbeat 100 ms, ``--max-connections 1000``), waits until every node agrees on one
leader and term, then opens ``--clients`` connections to the leader at once and sends a
``/set`` on each at the same moment (``raftlab.server.burst``).  It prints how the clients
were answered (200: applied; 503: over the connection limit, at once), the answer
latencies, and every node's term and leader before and after.  The figure that matters:
rounds whose term changed during the burst (the target is 0).  The machine's load average
is printed too: on a shared machine a starved process can miss its heartbeats whatever it
does, so quote the load with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from raftlab.server.burst import burst
from raftlab.server.local import LocalCluster
from raftlab.server.stress import percentile


def one_round(clients: int, max_connections: int) -> bool:
    extra = ["--max-connections", str(max_connections)] if max_connections else []
    with LocalCluster(3, extra_args=extra) as c:
        c.wait_for_leader()
        c.client().set("warm", "up")

        def agreed(c: LocalCluster):
            seen = {i: (st["term"], st["leader"]) for i, st in c.statuses().items()}
            return seen if len(seen) == 3 and len(set(seen.values())) == 1 else None

        before = c.wait_until(agreed, 20.0, "agreement on one leader")
        term, leader = next(iter(before.values()))
        port = int(c.http[leader].rsplit(":", 1)[1])
        result = asyncio.run(burst("127.0.0.1", port, clients, timeout_s=120))
        time.sleep(1.0)  # an election the burst caused would show by now
        after = {i: (st["term"], st["leader"]) for i, st in c.statuses().items()}
        changed = after != before
        ms = result.latencies_ms or [0.0]
        statuses = ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(result.statuses.items()))
        print(
            f"  {clients} clients against S{leader} (term {term}): {statuses} in "
            f"{result.seconds:.2f} s; answer ms p50 {percentile(ms, 50):.0f} "
            f"p99 {percentile(ms, 99):.0f} max {max(ms):.0f}"
        )
        print(
            "  terms and leaders after: "
            + ", ".join(f"S{i} {t}/{ld}" for i, (t, ld) in sorted(after.items()))
            + ("   TERM CHANGED" if changed else "   unchanged")
        )
        return not changed


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench_burst.py", description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--max-connections", type=int, default=1000, help="0: do not pass the flag (old servers)"
    )
    a = p.parse_args(argv)
    print(
        f"burst: {a.rounds} round(s) of {a.clients} simultaneous clients, "
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    kept = 0
    for r in range(1, a.rounds + 1):
        print(f"round {r}")
        kept += one_round(a.clients, a.max_connections)
    print(
        f"leader kept its term in {kept} of {a.rounds} rounds "
        f"(load average after: {os.getloadavg()[0]:.1f})"
    )
    return 0 if kept == a.rounds else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
