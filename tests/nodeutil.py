"""Small helpers for driving one ``RaftNode`` by hand, the way the paper's sentences read.

No ``Cluster`` here: a test builds a node, feeds it messages with ``step``, time with
``tick`` and commands with ``propose``, then looks at what ``ready()`` handed back.
Every node draws its election timeouts from its own seeded ``random.Random``, so each
test is deterministic.

Logs are written as their terms, as in the paper's figures: ``log_of(1, 1, 2)`` is three
entries, at indexes 1..3, of terms 1, 1 and 2.  An entry's command is made from its index
and term, so two logs with the same (index, term) also hold the same command there, as
the Log Matching Property says they must (§5.3).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import TypeVar

from raftlab.bugs import node_class
from raftlab.config import Config
from raftlab.log import Entry, Log
from raftlab.messages import (
    AppendEntries,
    AppendEntriesReply,
    Message,
    RequestVote,
    RequestVoteReply,
)
from raftlab.node import HardState, RaftNode, Ready
from raftlab.roles import Role

M = TypeVar("M")

#: The defaults, spelled out so tests can talk about them: timeouts in 150..300 ms,
#: heartbeats every 50 ms, up to 64 entries per AppendEntries.
CONFIG = Config(election_timeout_ms=(150, 300), heartbeat_ms=50, max_batch=64)


def cmd(index: int, term: int) -> bytes:
    """The command these helpers put at ``index`` in ``term``."""
    return f"x{index}t{term}".encode()


def entries(first: int, *terms: int) -> tuple[Entry, ...]:
    """Entries at indexes ``first, first+1, ...`` with the given terms."""
    return tuple(Entry(first + k, t, cmd(first + k, t)) for k, t in enumerate(terms))


def log_of(*terms: int) -> Log:
    """A log whose entry ``i`` has term ``terms[i-1]``."""
    return Log(list(entries(1, *terms)))


def terms_of(log: Log) -> list[int]:
    """The terms of a log, index 1 first: the paper's way of drawing a log."""
    return [e.term for e in log]


def make_node(
    id: int = 1,
    n: int = 3,
    *,
    term: int = 0,
    voted_for: int | None = None,
    log: Iterable[int] = (),
    seed: int = 0,
    config: Config = CONFIG,
    now: float = 0.0,
    state_machine: object = None,
    bugs: Iterable[str] = (),
) -> RaftNode:
    """Server ``id`` of the cluster ``1..n``, starting (or restarting) as a follower."""
    return node_class(bugs)(
        id,
        range(1, n + 1),
        config=config,
        rng=random.Random(seed),
        now=now,
        hard_state=HardState(term, voted_for),
        log=log_of(*log),
        state_machine=state_machine,
    )


def time_out(node: RaftNode) -> Ready:
    """Let the election timeout elapse: tick exactly at the node's deadline."""
    node.tick(node.election_deadline)
    return node.ready()


def win_election(node: RaftNode) -> Ready:
    """Time ``node`` out and hand it votes from its lowest peers until it leads.

    Returns the Ready of the moment it won: its no-op (§8) and first AppendEntries.
    """
    now = node.election_deadline
    time_out(node)
    for peer in node.peers:
        node.step(vote(peer, node.id, node.current_term), now)
        if node.role is Role.LEADER:
            break
    assert node.role is Role.LEADER, "the node did not win its election"
    return node.ready()


def make_leader(id: int = 1, n: int = 3, *, term: int = 1, **kw: object) -> RaftNode:
    """A node that has just won the election of ``term`` (votes from its lowest peers).

    Its output so far (the vote requests, its no-op, its first AppendEntries) is taken,
    so the test starts from a quiet leader whose first batch (the no-op) is in flight.
    """
    node = make_node(id, n, term=term - 1, **kw)  # type: ignore[arg-type]
    win_election(node)
    assert node.current_term == term
    return node


def all_acknowledge(leader: RaftNode, now: float) -> None:
    """Every follower acknowledges the leader's whole log; the leader's output is taken."""
    for peer in leader.peers:
        leader.step(ack(peer, leader.id, leader.current_term, leader.log.last_index), now)
    leader.ready()


# ------------------------------------------------------------------ messages


def append(
    src: int,
    dst: int,
    term: int,
    prev: int = 0,
    prev_term: int = 0,
    ents: tuple[Entry, ...] = (),
    commit: int = 0,
) -> AppendEntries:
    """An AppendEntries from leader ``src``; with no entries it is a heartbeat."""
    return AppendEntries(src, dst, term, src, prev, prev_term, tuple(ents), commit)


def request_vote(src: int, dst: int, term: int, last_index: int = 0, last_term: int = 0):
    """Candidate ``src`` asks ``dst`` for its vote in ``term``."""
    return RequestVote(src, dst, term, src, last_index, last_term)


def vote(src: int, dst: int, term: int, granted: bool = True) -> RequestVoteReply:
    return RequestVoteReply(src, dst, term, granted)


def ack(src: int, dst: int, term: int, match: int) -> AppendEntriesReply:
    """A follower's success reply: it now shares the leader's log up to ``match``."""
    return AppendEntriesReply(src, dst, term, True, match_index=match)


def refusal(
    src: int, dst: int, term: int, rejected: int, conflict_term: int = 0, conflict_index: int = 0
) -> AppendEntriesReply:
    """A follower's "no" to the AppendEntries whose prevLogIndex was ``rejected``."""
    return AppendEntriesReply(
        src,
        dst,
        term,
        False,
        rejected_index=rejected,
        conflict_term=conflict_term,
        conflict_index=conflict_index,
    )


def sent(ready: Ready, kind: type[M], dst: int | None = None) -> list[M]:
    """The messages of one type in ``ready``, optionally only those to ``dst``."""
    return [m for m in ready.messages if isinstance(m, kind) and dst in (None, m.dst)]


def only(ready: Ready, kind: type[M], dst: int | None = None) -> M:
    """The single message of that type (to ``dst``) in ``ready``; fails if not exactly one."""
    found = sent(ready, kind, dst)
    assert len(found) == 1, f"expected one {kind.__name__}, got {ready.messages}"
    return found[0]


def kinds(ready: Ready) -> list[str]:
    """The kinds of the events in ``ready``, e.g. ``["candidate"]``."""
    return [kind for kind, _ in ready.events]


def deliver(
    nodes: dict[int, RaftNode],
    messages: Iterable[Message],
    now: float,
    drop: Callable[[Message], bool] = lambda m: False,
) -> list[Message]:
    """Deliver messages (and every answer they cause) in FIFO order until none are left.

    A message to a node not in ``nodes``, or one ``drop`` picks, is lost.  Returns every
    message delivered, in order, so a test can look at the conversation afterwards.
    """
    queue = list(messages)
    delivered: list[Message] = []
    while queue:
        assert len(delivered) < 10_000, "the nodes kept talking forever"
        msg = queue.pop(0)
        if msg.dst not in nodes or drop(msg):
            continue
        delivered.append(msg)
        nodes[msg.dst].step(msg, now)
        queue.extend(nodes[msg.dst].ready().messages)
    return delivered
