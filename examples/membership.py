"""Changing the cluster, one server at a time (thesis §4.1), and a lost disk.

Run it with ``python examples/membership.py``.

1. Three servers.  ``add_server(4)``: S4 joins as a learner (it gets the log, its vote and
   its acknowledgements do not count), and the leader promotes it once it has caught up.
2. The leader removes itself: it keeps leading, without counting itself, until the
   change is committed, then steps down, and the others elect a new leader.
3. A second change while one is in flight is refused: one change at a time.
4. A lost disk: restarting the server empty loses an acknowledged write; rejoining it as
   a new member (``cluster.rejoin``: remove, then add) keeps it.
"""

from __future__ import annotations

from raftlab import Cluster
from raftlab.errors import ConfigurationChangeRefused
from raftlab.membership_scenarios import lost_disk


def main() -> None:
    cluster = Cluster(3, seed=1)
    leader = cluster.wait_for_leader()
    cluster.apply([b"a", b"b"])
    print(f"S{leader} leads; members: {cluster.members}")

    cluster.add_server(4)
    print(f"S{leader}'s latest configuration: {cluster.nodes[leader].configuration}")
    cluster.run_until(lambda c: 4 in c.members.voters)
    print(f"at {cluster.now:.2f} ms S4 is a voter; members: {cluster.members}")

    removal = cluster.remove_server(leader)
    try:
        cluster.add_server(5)
    except ConfigurationChangeRefused as refused:
        print("refused:", refused)
    cluster.run_until(lambda c: removal.done)
    new = cluster.wait_for_leader()
    print(f"S{leader} stepped down; S{new} leads; members: {cluster.members}")
    for event in cluster.trace:
        if event.kind in ("config", "stepdown") and event.node == leader:
            print(" ", event)

    for safe in (False, True):
        _, found = lost_disk(safe, check_invariants=False)
        how = "rejoin as a new member" if safe else "restart empty"
        print(f"lost disk, {how}: acknowledged write x=1 {'kept' if found else 'LOST'}")


if __name__ == "__main__":
    main()
