"""Reads done right, and leaders that stay: small runs that show each idea (chapter 09).

Chapter 06 ends on a stale read: a relaxed read asks one replica for its local copy, and a
replica cut off from the others serves whatever it last applied.  A read through the log is
correct but costs a log entry and a commit.  The Raft thesis answers with two reads that
need no log entry (``KVClient.get(key, mode=...)``):

- **ReadIndex** (thesis §6.4, ``RaftNode.read_index``): the leader notes its commit index,
  confirms with one heartbeat round acknowledged by a majority that it still leads, and
  serves the read once it has applied that index.
- **Lease reads** (thesis §6.4.1, ``RaftNode.lease_read``): after such a round the leader
  serves reads at once for ``Config.lease_ms`` (shortened for clock drift), because the
  followers that acknowledged it vote for nobody else meanwhile (leader stickiness,
  thesis §4.2.3).

And three ways to keep a healthy leader in place or move it on purpose: **PreVote**
(thesis §9.6), **CheckQuorum** (§6.2) and **leadership transfer** (§3.10).

Each function below is one deterministic run (same seed, same story) that shows one of
them, or one of the two planted bugs that get them wrong:

- :func:`deposed_leader_read`: the leader is cut off, the others elect a new one and
  commit a write, and a client reads at the old leader.  Correct, the read waits and
  retries elsewhere; with ``read_index_no_heartbeat`` (or with ``lease_ignores_drift``
  and clocks at the edge of the drift bound) it returns the old value, and the
  linearizability checker says so.
- :func:`isolated_node_terms`: a node cut off for 5 s, then healed.  Without PreVote it
  raises the cluster's term when it returns (and deposes the leader); with PreVote the
  term stays.
- :func:`transfer`: leadership handed to a chosen server, with a write refused meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.errors import NotLeader
from raftlab.kv.client import KVClient, Workload
from raftlab.kv.state_machine import KVStateMachine
from raftlab.linearizability import CheckResult, check

__all__ = [
    "ReadStory",
    "TermStory",
    "TransferStory",
    "deposed_leader_read",
    "isolated_node_terms",
    "transfer",
]


@dataclass
class ReadStory:
    """What :func:`deposed_leader_read` saw."""

    mode: str
    bugs: tuple[str, ...]
    old_leader: int
    new_leader: int
    value: str  # what the last read at the old leader returned
    verdict: CheckResult  # the linearizability check of the whole history
    cluster: Cluster = field(repr=False)

    @property
    def stale(self) -> bool:
        """Did the read return a value older than the last write that finished before it?"""
        return self.value != "2"


def deposed_leader_read(
    mode: str = "read_index", bugs: tuple[str, ...] | set[str] = (), seed: int = 3
) -> ReadStory:
    """The read of a deposed leader (thesis §6.4): x=1 is written and read at leader L; L
    is cut off from everyone; the other four elect a new leader and a second client writes
    x=2 there; then the first client, which still takes L for the leader, reads x again.

    ``mode`` is ``"read_index"`` or ``"lease"``.  A correct leader cannot confirm the read
    (no majority answers its heartbeat round) or its lease has run out, so the client waits,
    retries elsewhere, and reads 2.  With ``bugs={"read_index_no_heartbeat"}`` L serves
    the read at once: 1, a stale read.  For leases, L's clock runs as slow as
    ``max_drift=0.4`` allows and every other clock as fast: with
    ``bugs={"lease_ignores_drift"}`` L's lease outlives the followers' patience and it
    serves 1 too.
    """
    if mode not in ("read_index", "lease"):
        raise ValueError(f"mode is 'read_index' or 'lease', got {mode!r}")
    config = Config(lease_ms=107, max_drift=0.4) if mode == "lease" else Config()
    c = Cluster(5, seed, config=config, state_machine=KVStateMachine, bugs=bugs)
    reader = KVClient(c)
    writer = KVClient(c, attempt_ms=30)  # gives up on a silent node fast, to find the new one
    reader.set("x", "1")
    old = c.leader()
    assert old is not None
    if mode == "lease":
        # Clocks at the edge of the bound: the leader's slow, every other one fast.
        for i in c.ids:
            c.clock_drift(i, 0.6 if i == old else 1.4)
        c.run(60)  # a heartbeat round on the new clocks renews the lease
    assert reader.get("x", mode) == "1"
    c.isolate(old)
    c.run_until(lambda c: c.leader() not in (None, old), 3000)
    new = c.leader()
    assert new is not None and new != old
    writer.set("x", "2")
    c.run(1)  # the read starts strictly after the write returned (touching is concurrent)
    try:
        value = reader.get("x", mode)
    except Exception as exc:  # noqa: BLE001 - shown as the story's value
        value = f"{type(exc).__name__}: {exc}"
    c.heal()
    Workload(c).run(500)
    return ReadStory(
        mode,
        tuple(sorted(bugs)),
        old,
        new,
        value,
        check(c.history, model="kv"),
        c,
    )


@dataclass
class TermStory:
    """What :func:`isolated_node_terms` measured."""

    pre_vote: bool
    isolated: int
    term_before: int  # the cluster's highest term just before the isolation
    isolated_term: int  # the cut-off node's term when the network healed
    term_after: int  # the cluster's highest term once it settled after healing
    leader_before: int
    leader_after: int | None
    samples: list[tuple[float, int, int]] = field(repr=False)  # (ms, majority's term, node's)
    cluster: Cluster = field(repr=False)


def isolated_node_terms(
    pre_vote: bool, seed: int = 0, isolate_ms: float = 5000, settle_ms: float = 1000
) -> TermStory:
    """PreVote as a measurement (thesis §9.6): cut one follower off for ``isolate_ms``, heal,
    and report the cluster's term before and after.

    Without PreVote the cut-off node times out again and again, each time in a new term;
    when it returns, its high term makes the leader step down, and the cluster holds an
    election in a term above all of them.  With PreVote it first asks whether it could win;
    nobody answers while it is cut off, so its term stays, and after healing nothing
    changes.  ``samples`` holds, every 50 ms, the highest term among the others and the
    cut-off node's term, for a picture.
    """
    for name, ms in (("isolate_ms", isolate_ms), ("settle_ms", settle_ms)):
        # Checked first: a learner's Try-it value gets a sentence, not a TypeError mid-run.
        if isinstance(ms, bool) or not isinstance(ms, int | float) or not 0 <= ms < float("inf"):
            raise ValueError(f"{name} is a number of milliseconds >= 0, e.g. 5000; got {ms!r}")
    c = Cluster(5, seed, config=Config(pre_vote=pre_vote))
    leader = c.wait_for_leader()
    c.run(200)
    isolated = next(i for i in c.ids if i != leader)
    before = max(n.current_term for n in c.nodes.values())
    samples: list[tuple[float, int, int]] = []

    def sample() -> None:
        rest = max(n.current_term for i, n in c.nodes.items() if i != isolated)
        samples.append((c.now, rest, c.nodes[isolated].current_term))

    sample()
    c.isolate(isolated)
    end = c.now + isolate_ms
    while c.now < end:
        c.run(min(50.0, end - c.now))
        sample()
    isolated_term = c.nodes[isolated].current_term
    c.heal()
    end = c.now + settle_ms
    while c.now < end:
        c.run(min(50.0, end - c.now))
        sample()
    return TermStory(
        pre_vote,
        isolated,
        before,
        isolated_term,
        max(n.current_term for n in c.nodes.values()),
        leader,
        c.leader(),
        samples,
        c,
    )


@dataclass
class TransferStory:
    """What :func:`transfer` saw."""

    old_leader: int
    target: int
    new_leader: int | None
    took_ms: float  # from the request to the target leading
    refused: Exception | None  # what a write during the transfer got
    events: list[Any] = field(repr=False)  # the trace lines of the transfer
    cluster: Cluster = field(repr=False)


def transfer(seed: int = 0, target: int | None = None) -> TransferStory:
    """Leadership transfer (thesis §3.10): the leader catches ``target`` up (default: the
    highest-numbered follower), sends it TimeoutNow, and it wins at once; a write handed
    to the old leader in between is refused with ``NotLeader`` pointing at the target."""
    c = Cluster(5, seed)
    old = c.wait_for_leader()
    c.apply([b"a", b"b"])
    if target is None:
        target = max(i for i in c.ids if i != old)
    mark = len(c.trace)
    start = c.now
    c.transfer_leadership(target)
    refused = c.submit(b"during").error
    c.run_until(lambda c: c.leader() == target, 2000)
    took = c.now - start
    events = [
        e
        for e in c.trace[mark:]
        if e.kind in ("transfer", "timeout_now", "candidate", "leader", "follower")
    ]
    return TransferStory(
        old,
        target,
        c.leader(),
        took,
        refused if isinstance(refused, NotLeader) else None,
        events,
        c,
    )
