"""Memory and speed of time travel: record a busy cluster for 10,000 events, then travel.

Run: ``.venv/bin/python benchmarks/bench_timetravel.py [--events N] [--write-every MS]``.

A 5-node key-value cluster takes a client write every ``--write-every`` simulated ms (its
logs grow to thousands of entries, the worst case for snapshots, which hold whole logs)
while a ``Session`` records a frame after every event.  Then it slides through every
frame (``at(k)``, what the time slider does) and forks new futures from the middle and
the end.  It prints the peak memory of all that, measured two ways:

- ``traced``: the peak of Python allocations while recording and travelling
  (``tracemalloc``, which also slows the run down: timings are taken without it);
- ``rss``: the growth of the process's peak resident size, everything included.

The issue's budget is 200 MB for 10,000 events; exit status 1 if either figure is above
``--limit-mb``.  ``--naive`` keeps a full ``cluster.snapshot()`` per event instead, to show
what the compact frames save.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc

from raftlab import Cluster
from raftlab.kv import Command, Kind, KVStateMachine, encode_command
from raftlab.timetravel import Session


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def record(events: int, nodes: int, seed: int, every: float, naive: bool) -> tuple:
    cluster = Cluster(nodes, seed=seed, state_machine=KVStateMachine)
    session = Session(cluster)
    full: list = []
    if naive:
        session.recorder.close()
        cluster.subscribe(lambda c: full.append(c.snapshot()))
    k = 0
    while cluster.event_count < events:
        session.run(every)
        if cluster.leader() is not None:
            cluster.submit(encode_command(Command(Kind.SET, f"k{k % 16}", str(k))))
            k += 1
    return session, full


def travel(session: Session) -> tuple[float, float, float]:
    """Slide through every frame; fork at the middle and at the end.  Seconds for each."""
    rec = session.recorder
    t0 = time.perf_counter()
    for k in range(len(rec)):
        rec.at(k)
    t1 = time.perf_counter()
    session.seek(len(rec) // 2)
    session.run(50)  # acting in the past forks a new future
    t2 = time.perf_counter()
    rec.fork(len(rec) - 1)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--write-every", type=float, default=3.0, help="simulated ms between writes")
    p.add_argument("--limit-mb", type=float, default=200.0)
    p.add_argument("--naive", action="store_true", help="keep full snapshots, for comparison")
    args = p.parse_args(argv)

    # Timings, without tracemalloc's overhead.
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    session, _ = record(args.events, args.nodes, args.seed, args.write_every, args.naive)
    rec_s = time.perf_counter() - t
    cluster = session.cluster
    logs = max(n.log.last_index for n in cluster.nodes.values())
    frames = len(session.recorder)
    slide_s, fork_mid_s, fork_end_s = (0.0, 0.0, 0.0) if args.naive else travel(session)
    rss_mb = peak_rss_mb() - rss0
    del session, cluster, _
    gc.collect()

    # Memory, traced: the same run again.
    tracemalloc.start()
    session, full = record(args.events, args.nodes, args.seed, args.write_every, args.naive)
    if not args.naive:
        travel(session)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    traced_mb = traced_peak / 1e6

    what = "full snapshots (--naive)" if args.naive else "compact frames"
    print(
        f"time travel over {args.events:,} events, {args.nodes} nodes, a write every "
        f"{args.write_every:g} ms ({what})"
    )
    print(f"  frames kept: {len(full) if args.naive else frames:,}; longest log: {logs:,} entries")
    print(f"  recording: {rec_s:.2f} s ({rec_s / args.events * 1e6:.0f} us per event)")
    if not args.naive:
        print(
            f"  slide through all frames: {slide_s:.2f} s "
            f"({slide_s / frames * 1e6:.0f} us per frame)"
        )
        print(
            f"  fork a new future from the middle: {fork_mid_s:.2f} s; "
            f"fork at the end: {fork_end_s:.2f} s"
        )
    print(
        f"  memory: traced peak {traced_mb:.1f} MB, peak RSS growth {rss_mb:.1f} MB "
        f"(budget {args.limit_mb:g} MB)"
    )
    ok = traced_mb <= args.limit_mb and rss_mb <= args.limit_mb
    print("  OK: within budget" if ok else "  OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
