"""Staged stories about membership changes (thesis §4.1) and a lost disk.

Each story stages elections with :func:`raftlab.scenarios.elect` (crashes and restarts
only) and partitions, so that one rule of membership changes is the only thing between
the cluster and a safety violation.  With the rule, the change is refused (a
``ConfigurationChangeRefused`` the story notes in ``cluster.trace``) and the cluster
carries on safely; with the planted bug of the same name (``raftlab.bugs``) the safety
checker raises ``SafetyViolation``.

- :func:`concurrent_config_change`: one leader, two changes in flight.
- :func:`config_before_noop`: two leaders of different terms, one change each, the
  second before its leader's no-op is committed.
- :func:`lost_disk`: a server whose disk is lost comes back empty (the unsafe shortcut)
  or rejoins as a new member (``Cluster.rejoin``, the safe path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from raftlab.cluster import Cluster
from raftlab.errors import ConfigurationChangeRefused
from raftlab.labs.scenarios import StagingFailed, need
from raftlab.node import RaftNode
from raftlab.proposal import Proposal
from raftlab.roles import Role
from raftlab.scenarios import elect

Hook = Callable[[Cluster], None] | None

__all__ = ["StagingFailed", "concurrent_config_change", "config_before_noop", "lost_disk"]


def _try_change(c: Cluster, change: Callable[[], Proposal]) -> Proposal | None:
    """A change the story asks for; a refusal is part of the story (traced), not an error."""
    try:
        return change()
    except ConfigurationChangeRefused as exc:
        c._note(c.leader(), "refused", str(exc))
        return None


def _new(n: int, seed: int, bugs, node_class, hook: Hook, **kw) -> Cluster:
    c = Cluster(n, seed=seed, bugs=bugs, node_class=node_class, **kw)
    if hook is not None:
        hook(c)
    return c


def concurrent_config_change(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """Five servers; S1 leads.  S1 removes S5 and, at once, S4; then the network splits
    S1 S2 | S3 S4 S5.  With the rule the second removal is refused: S1's configuration is
    S1-S4 (a majority is 3), so S1 and S2 commit nothing, and S3 S4 S5 elect a leader
    safely.  With the bug S1's configuration is S1-S3 (a majority is 2): S1 and S2 commit
    both removals, while S3 S4 S5, a majority of the old five, elect a leader that lacks
    them."""
    c = _new(5, 21, bugs, node_class, on_cluster)
    need(elect(c, 1, [2, 3, 4, 5], term=1), "S1 should have won term 1 with every vote")
    need(
        c.run_until(lambda c: all(n.commit_index >= 1 for n in c.nodes.values()), 1000),
        "every server should have committed S1's no-op within 1000 ms",
    )
    first = c.remove_server(5)
    _try_change(c, lambda: c.remove_server(4))
    c.partition([1, 2], [3, 4, 5])  # before either change reaches S3, S4 or S5
    c.run_until(lambda c: first.done, 500)
    need(
        c.run_until(lambda c: any(c.nodes[i].role is Role.LEADER for i in (3, 4, 5)), 2000),
        "S3, S4 and S5 (a majority of the five) should have elected a leader within 2000 ms",
    )
    return c


def config_before_noop(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """Four servers; S1 leads term 1.  Cut off, S1 appends the removal of S4 (S1 S2 S3:
    a majority is 2) that nobody receives.  S2 wins term 2 with S3 and S4 and, before its
    no-op is committed, is asked to remove S3; the network splits S2 S4 | S1 S3.  With the
    rule the removal is refused, S2 commits nothing (a majority of S1-S4 is 3) and S1 may
    safely win term 3 with S3.  With the bug S2 commits its removal with S4 (S1 S2 S4: a
    majority is 2), and S1 then wins term 3 with S3 (a majority of its own S1 S2 S3)
    without that committed entry."""
    c = _new(4, 22, bugs, node_class, on_cluster)
    need(elect(c, 1, [2, 3, 4], term=1), "S1 should have won term 1 with every vote")
    need(
        c.run_until(lambda c: all(n.commit_index >= 1 for n in c.nodes.values()), 1000),
        "every server should have committed S1's no-op within 1000 ms",
    )
    c.isolate(1)
    c.remove_server(4)  # on S1 alone, uncommitted
    c.heal()
    need(elect(c, 2, [3, 4], term=2), "S2 should have won term 2 with S3 and S4")
    c.partition([2, 4], [1, 3])  # S2's no-op has not reached S3 yet
    p = _try_change(c, lambda: c.remove_server(3))
    if p is not None:
        c.run_until(lambda c: p.done, 500)
    elect(c, 1, [3], term=max(c.nodes[1].current_term, c.nodes[3].current_term) + 1)
    return c


def lost_disk(
    safe: bool, *, check_invariants: bool = True, node_class: type[RaftNode] = RaftNode
) -> tuple[Cluster, bool]:
    """Three servers; S1 leads and commits ``set x=1`` with S2 while S3 is down, and the
    client is told it succeeded.  Then S2's disk is lost.

    - The unsafe shortcut (``safe=False``): S2 restarts empty, still counting itself a
      voter.  S1 crashes; S3 comes back and asks for votes; S2, whose log is empty, finds
      S3's log up to date and votes for it.  S3 leads without ``x``: the acknowledged
      write is lost (the safety checker says so; with ``check_invariants=False`` the run
      goes on and a read of ``x`` finds nothing).
    - The safe path (``safe=True``): ``cluster.rejoin(2)``.  Until S2 is removed its old
      place still counts in every majority, so nothing commits without S3; S3 returns,
      gets ``x``, the removal commits, and S2 rejoins empty as a learner and is promoted
      once caught up.  S1 crashes as before; the new leader has ``x``.

    Returns the cluster and whether a read of ``x`` at the end still finds ``1``.
    """
    from raftlab.kv import KVClient, KVStateMachine
    from raftlab.kv.state_machine import KeyNotFound

    c = Cluster(
        3,
        seed=23,
        state_machine=KVStateMachine,
        check_invariants=check_invariants,
        node_class=node_class,
    )
    need(elect(c, 1, [2, 3], term=1), "S1 should have won term 1 with every vote")
    client = KVClient(c)
    client.set("warm", "up")
    c.crash(3)
    client.set("x", "1")  # acknowledged: on S1 and S2
    c.lose_disk(2)
    if safe:
        c.restart(3)
        c.rejoin(2)
        c.crash(1)
        c.wait_for_leader()
    else:
        c.restart(2)  # empty, with the configuration it started with: a voter
        c.crash(1)
        need(elect(c, 3, [2], term=c.nodes[3].current_term + 1), "S3 should win with S2's vote")
    try:
        found = KVClient(c).get("x") == "1"
    except KeyNotFound:
        found = False  # the acknowledged write is gone
    return c, found
