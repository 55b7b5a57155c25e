"""Staged scenarios for the read rules (thesis §6.4): the short stories lab 4 runs first.

The rules of :mod:`raftlab.labs.scenarios` guard the logs, so a mistake there breaks a
safety property of the logs.  A mistake in a read rule breaks none: the logs stay right,
and only what a client is told goes wrong.  So these stories run a key-value cluster with
clients, every read in the history with its mode (``read_index`` or ``lease``), and end
with the linearizability checker (:func:`raftlab.linearizability.check`): a stale read
raises :class:`NotLinearizable`, which ``check`` reports as the property
``Linearizability``.  A read that the paper's rules would serve and that never comes
raises :class:`~raftlab.labs.scenarios.StagingFailed` (``Liveness``).

Each takes ``bugs``, ``node_class`` and ``on_cluster`` like the other scenarios.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.errors import RaftLabError
from raftlab.kv.client import KVClient
from raftlab.kv.state_machine import KVStateMachine
from raftlab.labs.scenarios import Hook, _elect, need
from raftlab.linearizability import check
from raftlab.node import RaftNode

#: The read rules (``raftlab.labs.RULES``) these scenarios exercise.
READ_RULES: tuple[str, ...] = ("read_index_known", "read_index_confirmed", "lease_expiry")


class NotLinearizable(AssertionError):
    """The clients' history has no order that explains every answer: a stale read."""


def _new(hook: Hook, seed: int, bugs, node_class, config: Config | None = None) -> Cluster:
    c = Cluster(
        5, seed=seed, config=config, state_machine=KVStateMachine, bugs=bugs, node_class=node_class
    )
    if hook is not None:
        hook(c)  # the caller keeps the cluster, to show it even if the story raises
    return c


def _read(client: KVClient, mode: str) -> str:
    """A read that may fail (a timeout, a missing key): its answer, or what went wrong.
    Only the cluster's own outcomes are caught: an exception raised by a learner's rule
    goes on to ``check``, which reports it as such."""
    try:
        return client.get("x", mode)
    except RaftLabError as exc:  # the history holds the outcome either way
        return f"{type(exc).__name__}: {exc}"


def _linearizable(c: Cluster) -> None:
    """Ask the checker about the whole history (every read with its mode; relaxed reads,
    of which these stories have none, would be left out).  Every client call here has
    returned: a read that was never served timed out and constrains nothing."""
    verdict = check(c.history, model="kv")
    if verdict.ok is False:
        ops = "; ".join(op.describe() for op in verdict.operations)
        raise NotLinearizable(
            f"not linearizable on key {verdict.key!r}: {ops}. A read returned a value "
            "that an earlier, finished write had already replaced (a stale read)"
        )


def deposed_leader_read(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """§6.4, ReadIndex step 3.  S1 leads term 1 and serves a read of x=1.  Then S1 and S2
    are cut off from S3, S4 and S5, who elect a leader of term 2 and commit x=2.  A client
    that still takes S1 for the leader reads x there: S1 hears from S2 only (2 of 5), so
    it must not confirm the read; the client gives up on it and reads 2 elsewhere."""
    c = _new(on_cluster, 21, bugs, node_class)
    _elect(c, 1, [2, 3, 4, 5], term=1)
    reader = KVClient(c)
    writer = KVClient(c, attempt_ms=30)  # gives up on a silent node fast, to find the new one
    reader.set("x", "1")
    need(_read(reader, "read_index") == "1", "S1, the only leader, should have read x=1")
    c.run(100)  # later heartbeats carry that round's number; every follower answers them
    c.partition([1, 2], [3, 4, 5])
    need(
        c.run_until(lambda c: c.leader() not in (None, 1), 3000),
        "S3, S4 and S5 should have elected a leader within 3000 ms",
    )
    writer.set("x", "2")
    c.run(1)  # the read starts strictly after the write returned (touching is concurrent)
    _read(reader, "read_index")
    _linearizable(c)
    return c


def bare_majority_read(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """§6.4: a majority is enough.  S4 and S5 are down; S1 leads with S2 and S3, three
    servers of five, and must still serve a ReadIndex read."""
    c = _new(on_cluster, 22, bugs, node_class)
    _elect(c, 1, [2, 3], term=1)  # S4 and S5 stay down
    client = KVClient(c)
    client.set("x", "1")
    value = _read(client, "read_index")
    need(
        value == "1",
        "S1 leads a bare majority (S1, S2, S3 of five): its ReadIndex read of x should "
        f"have been served, but the client got {value!r}",
    )
    _linearizable(c)
    return c


def new_leader_read(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """§6.4, ReadIndex step 1, and §8.  S3 commits x=2 with S1 and S2 and crashes before
    they learn it is committed.  S1 wins term 2 with the votes of S4 and S5, whose logs
    lack x=2, and a client reads x at S1 at once.  S1's commit index still says x=1: until
    its own no-op commits, S1 does not know how far the log is committed, and must wait."""
    c = _new(on_cluster, 23, bugs, node_class)
    _elect(c, 3, [1, 2, 4, 5], term=1)
    writer = KVClient(c)
    writer.set("x", "1")
    index = c.nodes[3].commit_index
    need(
        c.run_until(lambda c: all(n.commit_index >= index for n in c.nodes.values()), 1000),
        f"every server should have committed index {index} (x=1) within 1000 ms",
    )
    c.crash(4)
    c.crash(5)
    writer.set("x", "2")  # committed by S3 with S1 and S2; they do not know it yet
    c.crash(3)
    need(
        c.nodes[1].commit_index < c.nodes[1].log.last_index,
        "S1 should hold x=2 without knowing it is committed when S3 crashes",
    )
    _elect(c, 1, [4, 5], term=2)  # S2 stays down: S1's no-op needs S4 or S5 to catch up
    reader = KVClient(c)  # asks S1 first
    _read(reader, "read_index")
    _linearizable(c)
    return c


#: The seeds of ``lease_drift_read``: whether a new leader commits a write inside the window
#: a drift-blind lease leaves open depends on the random election timeouts and delays, so
#: the story is told on several seeds (each about 10 ms) and fails on the first stale read.
LEASE_SEEDS = (25, 26, 27, 28, 29, 30)


def lease_drift_read(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """§6.4.1: a lease allows for clock drift.  The leader L holds a lease of 103 ms with
    ``max_drift=0.45``; its clock runs as slow as that bound allows (0.55) and every other
    clock as fast (1.45).  L serves a lease read of x=1 and is cut off just after a
    heartbeat round renewed its lease; the others elect a leader once their fast clocks
    say an election timeout passed, and commit x=2.  A lease read at L must find its lease
    over (by its slow clock) before that happens.  Told on each of :data:`LEASE_SEEDS`.
    (Elected by the cluster, not staged: with leases a restarted voter refuses to vote
    for a while, leader stickiness, §4.2.3.)"""
    for seed in LEASE_SEEDS:
        c = _lease_story(seed, bugs, node_class, on_cluster)
    return c


def _lease_story(seed: int, bugs, node_class, on_cluster: Hook) -> Cluster:
    c = _new(on_cluster, seed, bugs, node_class, Config(lease_ms=103, max_drift=0.45))
    need(c.run_until(lambda c: c.leader() is not None, 3000), "a leader within 3000 ms")
    old = c.leader()
    reader = KVClient(c)
    writer = KVClient(c, attempt_ms=30)
    reader.set("x", "1")
    for i in c.ids:
        c.clock_drift(i, 1 - c.config.max_drift if i == old else 1 + c.config.max_drift)
    c.run(60)  # a heartbeat round on the new clocks renews the lease
    need(_read(reader, "lease") == "1", f"S{old}, the only leader, should have read x=1")
    # Cut the leader off just after a heartbeat round renewed its lease: the most lease
    # left, so a lease that ignores drift outlives the followers' patience by the most.
    start = c.nodes[old].lease_start
    need(
        c.run_until(lambda c: c.nodes[old].lease_start > start, 1000),
        f"S{old}'s heartbeats should have renewed its lease within 1000 ms",
    )
    c.isolate(old)
    need(
        c.run_until(lambda c: c.leader() not in (None, old), 3000),
        f"the servers other than S{old} should have elected a leader within 3000 ms",
    )
    writer.set("x", "2")
    c.run(1)
    _read(reader, "lease")
    _linearizable(c)
    return c


#: scenario name -> (builder, the read rules it exercises), run by ``check`` after
#: :data:`raftlab.labs.scenarios.SCENARIOS`.
READ_SCENARIOS: dict[str, tuple[Callable[..., Cluster], tuple[str, ...]]] = {
    "deposed_leader_read": (deposed_leader_read, ("read_index_confirmed",)),
    "bare_majority_read": (bare_majority_read, ("read_index_confirmed",)),
    "new_leader_read": (new_leader_read, ("read_index_known",)),
    "lease_drift_read": (
        lease_drift_read,
        ("lease_expiry", "read_index_known", "read_index_confirmed"),
    ),
}
