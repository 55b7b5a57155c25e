"""Real servers with log compaction (§7): how big each node's data directory gets, and how
long a restart takes, with snapshots (the default threshold) and without (threshold 0).

Run: ``.venv/bin/python benchmarks/bench_compaction.py [--sets 200000] [--keys 10000]``.

Three ``kvapi`` processes (fsync on) take ``--sets`` SETs of ``--keys`` distinct keys, in
batches of 8,000.  Then every node is stopped and the whole cluster restarted; the restart
time is from starting the processes until every node has applied the last entry again
(with a snapshot: load it and replay at most a threshold's worth of entries; without:
replay the whole log).  The two configurations run one after the other, alternating, and
the best of ``--rounds`` is printed with the load average: figures vary with load.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

from raftlab.kv.commands import Command, Kind, encode_command
from raftlab.server import stress
from raftlab.server.kvapi import DEFAULT_SNAPSHOT_THRESHOLD
from raftlab.server.local import LocalCluster


def make_sets(n: int, keys: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    names = [f"key{k:06d}" for k in range(keys)]
    return [encode_command(Command(Kind.SET, rng.choice(names), f"{k:016d}")) for k in range(n)]


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def one_run(threshold: int, cmds: list[bytes], batch: int) -> dict[str, float]:
    with LocalCluster(3, extra_args=["--snapshot-threshold", str(threshold)]) as cluster:
        leader = cluster.wait_for_leader()
        seconds, _ = stress.insert(cluster, cmds, batch)
        last = cluster.status(leader)["last_index"]
        cluster.wait_applied(last, timeout_s=120)
        sizes = {i: dir_bytes(cluster.data_dir(i)) for i in cluster.ids}
        log_sizes = {i: (cluster.data_dir(i) / "raft.log").stat().st_size for i in cluster.ids}
        snap = cluster.data_dir(1) / "snapshot"
        snap_size = snap.stat().st_size if snap.exists() else 0
        cluster.stop()
        t0 = time.perf_counter()
        cluster.start(wait=False)
        for i in cluster.ids:
            cluster.wait_ready(i, timeout_s=120)
        cluster.wait_for_leader(timeout_s=60)
        cluster.wait_applied(last, timeout_s=300)
        restart = time.perf_counter() - t0
    return {
        "insert_s": seconds,
        "max_dir": max(sizes.values()),
        "max_log": max(log_sizes.values()),
        "snapshot": snap_size,
        "restart_s": restart,
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", type=int, default=200_000)
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=8000)
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args(argv)
    cmds = make_sets(a.sets, a.keys)
    print(
        f"{a.sets:,} SETs of {a.keys:,} keys, batches of {a.batch:,}, 3 nodes, fsync on; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    best: dict[int, dict[str, float]] = {}
    for _ in range(a.rounds):
        for threshold in (DEFAULT_SNAPSHOT_THRESHOLD, 0):
            r = one_run(threshold, cmds, a.batch)
            b = best.setdefault(threshold, r)
            for k in ("insert_s", "restart_s"):
                b[k] = min(b[k], r[k])
    for threshold, r in best.items():
        what = f"--snapshot-threshold {threshold}" + (" (off)" if threshold == 0 else " (default)")
        print(f"\n{what}")
        print(f"  largest node directory: {r['max_dir'] / 1e6:6.2f} MB", end="")
        print(f"  (raft.log {r['max_log'] / 1e6:.2f} MB, snapshot {r['snapshot'] / 1e6:.2f} MB)")
        print(f"  inserts: {a.sets / r['insert_s']:,.0f} entries/s")
        print(f"  full restart until every node applied the last entry: {r['restart_s']:.2f} s")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
