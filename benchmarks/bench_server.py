"""Real servers: the seed's stress test, plus how much CPU each entry costs each process.

Run: ``.venv/bin/python benchmarks/bench_server.py [stress options]``, e.g.
``--entries 50000 --batch 8000``.  It runs ``python -m raftlab stress`` (three
``kvapi`` processes, fsync on: throughput and batch latencies, a full restart, one node
re-replicated, idle CPU) and then, on a fresh cluster, the CPU seconds each process used
for the inserts.  On a machine shared with other work the wall-clock throughput moves
with the load; the CPU per entry does not, so it is the number to compare across changes.
"""

from __future__ import annotations

import resource
import sys

from raftlab.server import stress
from raftlab.server.local import LocalCluster


def cpu_per_entry(entries: int, batch: int, max_batch: int) -> None:
    """Microseconds of CPU (user + system) per entry in each process, for the inserts."""
    cmds, _ = stress.make_commands(entries, seed=1)
    with LocalCluster(3, max_batch=max_batch) as cluster:
        leader = cluster.wait_for_leader()
        before = {i: cluster.cpu_seconds(i) for i in cluster.ids}
        mine = resource.getrusage(resource.RUSAGE_SELF)
        seconds, _ = stress.insert(cluster, cmds, batch)
        cluster.wait_applied(cluster.status(leader)["last_index"])
        used = resource.getrusage(resource.RUSAGE_SELF)
        print(f"\nCPU per entry ({entries} entries, {entries / seconds:,.0f} entries/s this run)")
        for i in cluster.ids:
            us = (cluster.cpu_seconds(i) - before[i]) / entries * 1e6
            print(f"  S{i} ({'leader' if i == leader else 'follower'}): {us:5.1f} µs")
        client = (used.ru_utime + used.ru_stime - mine.ru_utime - mine.ru_stime) / entries
        print(f"  client:        {client * 1e6:5.1f} µs")


def main(argv: list[str]) -> int:
    code = stress.main(argv)
    args = stress.build_parser().parse_args(argv)
    cpu_per_entry(args.entries, args.batch, args.max_batch)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
