"""Fingerprints of chaos runs, to show a speed-up changed nothing a run does.

Run: ``.venv/bin/python benchmarks/trace_fingerprint.py --seeds 0-199 > after.txt`` in two
checkouts (e.g. ``PYTHONPATH=/tmp/speed-ref`` for the one before) and ``diff`` the outputs.

One line per seed: the seed, its event count, and a SHA-256 of every trace line, every
client operation of the history and every message's fate (sender, receiver, kind, term,
send and delivery times, lost or not), so any change in what happens, or when, shows.
Also covers the steady load of ``python -m raftlab bench`` and one run with checks off.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import raftlab.chaos
from raftlab.cluster import Cluster


def _digest(cluster, history=None) -> str:
    h = hashlib.sha256()
    for ev in cluster.trace:
        h.update(f"{ev.time!r} {ev.node} {ev.kind} {ev.detail} {ev.term} {ev.groups}\n".encode())
    for env in cluster.network.log:
        m = env.msg
        h.update(f"{m!r} {env.sent_at!r} {env.deliver_at!r} {env.dropped}\n".encode())
    for op in history or ():
        h.update(f"{op!r}\n".encode())
    return h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-99")
    args = parser.parse_args(argv)
    a, _, b = args.seeds.partition("-")
    for seed in range(int(a), int(b or a) + 1):
        r = raftlab.chaos.run(seed, keep_log=True)
        print(seed, r.events, r.ok, _digest(r.cluster, r.history))
    for check in (True, False):
        c = Cluster(5, seed=3, check_invariants=check)
        c.wait_for_leader()
        for k in range(2000):
            c.submit(b"x%d" % k)
            c.run(1.0)
        print("steady", check, c.event_count, _digest(c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
