"""How many round trips a follower 10,000 entries behind needs to catch up (raftlab.progress).

A three-server cluster commits ``--entries`` commands while one follower is down; then the
follower comes back, and from the moment the leader's first AppendEntries reaches it, the
clock runs until its log matches the leader's.  Printed: the
simulated time that took, in round trips, with pipelining off (``max_inflight=1``, one
batch per round trip) and on (the default ``max_inflight=4``).  Expected: about
``entries / max_batch`` round trips without pipelining and ``entries / (max_batch *
max_inflight)`` with it.

Run: ``python benchmarks/bench_catchup.py [--entries 10000] [--delay 5]``.  With a fixed
one-way delay (the default, 5 ms) a round trip is exactly twice it; ``--delay 2-10``
draws delays at random as the simulator does by default (messages then overtake each
other, and a batch that arrives before the one it follows is sent again).
"""

from __future__ import annotations

import argparse

from raftlab import Cluster, Config


def catch_up(entries: int, delay: tuple[float, float], max_inflight: int, seed: int = 1) -> dict:
    config = Config(delay_ms=delay, max_inflight=max_inflight)
    c = Cluster(3, seed=seed, config=config, check_invariants=False)
    c.network.keep_log = False
    leader = c.wait_for_leader()
    behind = next(i for i in c.ids if i != leader)
    c.crash(behind)
    for start in range(0, entries, 1000):
        c.apply([b"x%d" % k for k in range(start, min(entries, start + 1000))], timeout_ms=60_000)
    c.restart(behind)
    target = c.nodes[leader].log.last_index
    # The catch-up starts when the leader's next AppendEntries reaches the follower (up to
    # a heartbeat interval after the restart).
    assert c.run_until(lambda c: c.nodes[behind].leader_id == leader, 1000)
    sent0 = c.network.stats["sent"]
    t0 = c.now
    ok = c.run_until(lambda c: c.nodes[behind].log.last_index >= target, 600_000)
    assert ok, "the follower did not catch up"
    rtt = delay[0] + delay[1]  # the mean round trip: two one-way delays
    return {
        "ms": c.now - t0,
        "round_trips": (c.now - t0) / rtt,
        "messages": c.network.stats["sent"] - sent0,
        "target": target,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--delay", default="5", help="one-way delay in ms: 5, or a range 2-10")
    args = parser.parse_args()
    lo, _, hi = args.delay.partition("-")
    delay = (float(lo), float(hi or lo))
    batch = Config().max_batch
    print(f"a follower {args.entries:,} entries behind; max_batch={batch}, delay_ms={delay}")
    for window in (1, 4):
        r = catch_up(args.entries, delay, window)
        ideal = args.entries / (batch * window)
        print(
            f"  max_inflight={window}: caught up in {r['ms']:8.1f} simulated ms = "
            f"{r['round_trips']:6.1f} round trips (about {ideal:.0f} expected), "
            f"{r['messages']:,} messages"
        )


if __name__ == "__main__":
    main()
