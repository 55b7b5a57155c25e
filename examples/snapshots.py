"""Log compaction, shown: logs that stop growing, and a follower caught up by a snapshot.

Run it with ``python examples/snapshots.py``.

The story (§7 of the Raft paper)
--------------------------------
1. Five servers run the key-value store with ``Config(snapshot_threshold=10)``: every
   10 applied entries, each server writes its state machine down as a snapshot (the data
   *and* the client-session table) and discards its log up to there.
2. S(lagging), a follower, is cut off while 40 writes commit.  The leader compacts past
   everything S(lagging) lacks, so it can no longer send those entries.
3. The network heals.  The leader's ``Progress`` for that follower enters the *snapshot*
   state and sends ``InstallSnapshot`` in 64-byte chunks (Figure 13); the follower
   replaces its log with the snapshot and its state machine with the snapshot's state,
   then takes the entries after it by AppendEntries as usual.
4. A restart loads the snapshot instead of replaying the log: the restarted server has
   its state before it hears from anyone.
"""

from __future__ import annotations

from raftlab.kv import KVClient
from raftlab.snapshot_scenarios import lagging_follower


def logs(cluster) -> str:
    return "  ".join(
        f"S{i}: snapshot<= {n.log.snapshot_index:>2}, log {n.log.first_index}..{n.log.last_index}"
        for i, n in sorted(cluster.nodes.items())
    )


def main() -> None:
    cluster = lagging_follower(seed=4, threshold=10, chunk_bytes=64, writes=40)
    lagging = min(cluster.ids, key=lambda i: cluster.nodes[i].log.last_index)
    print(f"After 40 writes with S{lagging} cut off (the network has just healed):")
    print(" ", logs(cluster))

    mark = len(cluster.trace)
    cluster.run(1500)
    print(f"\nHow S{lagging} caught up:")
    for event in cluster.trace[mark:]:
        if event.kind in ("snapshot-to", "installed"):
            print(" ", event)
    chunks = sum(1 for env in cluster.network.log if env.msg.kind == "InstallSnapshot")
    print(f"  ({chunks} InstallSnapshot chunks of at most 64 bytes went out in all)")
    print(" ", logs(cluster))
    states = {i: dict(n.state_machine.data) for i, n in cluster.nodes.items()}
    assert all(s == states[cluster.ids[0]] for s in states.values()), states
    print("  every replica holds the same data:", states[lagging])

    KVClient(cluster).set("after", "yes")
    follower = next(i for i in cluster.ids if i != cluster.leader())
    cluster.crash(follower)
    cluster.restart(follower)
    n = cluster.nodes[follower]
    print(
        f"\nS{follower} restarted: its state comes from its snapshot at index "
        f"{n.snapshot.index}, then its log {n.log.first_index}..{n.log.last_index} replays"
    )
    print(
        f"  before any message it has applied up to {n.last_applied}: {dict(n.state_machine.data)}"
    )
    cluster.run(300)
    print(f"  a moment later, up to {n.last_applied}: {dict(n.state_machine.data)}")
    cluster.check_invariants()


if __name__ == "__main__":
    main()
