"""``python -m raftlab demo [--seed N]``: a short narrated run, as trace lines.

An election, a few commands committing, the leader crashing, a re-election, and the old
leader coming back and catching up.  Every line after a narration is the cluster's own
trace (``cluster.trace``): time in simulated ms, the node, what happened.
"""

from __future__ import annotations

import argparse

from raftlab.cluster import Cluster


def _say(text: str) -> None:
    print(f"\n# {text}")


def demo(seed: int = 1) -> Cluster:
    cluster = Cluster(5, seed=seed)
    shown = 0

    def show() -> None:
        nonlocal shown
        for event in cluster.trace[shown:]:
            print(event)
        shown = len(cluster.trace)

    _say(
        "Five servers start as followers in term 0. The first whose election timeout "
        "expires becomes a candidate and asks the others for votes (§5.2)."
    )
    leader = cluster.wait_for_leader()
    cluster.run(20)
    show()
    _say(
        f"S{leader} won a majority and leads term {cluster.nodes[leader].current_term}. "
        "It appended a no-op entry (§8). Now three client commands (§5.3):"
    )
    cluster.apply([b"set x=1", b"set y=2", b"set x=3"])
    cluster.run(60)
    show()
    _say(
        f"Each command is committed once stored on a majority; followers learn the commit "
        f"index with the next AppendEntries. Now the leader S{leader} crashes."
    )
    cluster.crash(leader)
    show()
    new = cluster.wait_for_leader()
    cluster.run(20)
    show()
    _say(
        f"S{new} timed out first, won the next term, and holds every committed entry "
        "(§5.4.1: voters refuse candidates whose logs are behind theirs). One more command:"
    )
    cluster.apply([b"set z=4"])
    show()
    _say(
        f"S{leader} restarts from its persistent state (term, vote, log) as a follower and "
        "catches up from the new leader."
    )
    cluster.restart(leader)
    cluster.run_until(lambda c: c.nodes[leader].commit_index == c.nodes[new].commit_index, 2000)
    cluster.run(20)
    show()
    old = cluster.nodes[leader]
    _say(
        f"S{leader} is back in term {old.current_term}, its log holds {old.log.last_index} "
        f"entries and it applied {old.last_applied}. Every safety property held after every "
        "event."
    )
    cluster.check_invariants()
    return cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftlab demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=1, help="the run's seed (default 1)")
    args = parser.parse_args(argv)
    demo(args.seed)
    return 0
