"""Immutable pictures of a cluster at one instant, cheap enough to take after every event.

The pictures (`raftlab.viz`) and the dashboard's time slider draw from these, never from
the live cluster, so the past can be shown exactly as it was.  Logs are shared, not copied,
while they do not change (see `Log.version`), which keeps 10,000 snapshots small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from raftlab.log import Entry
from raftlab.roles import Role
from raftlab.trace import TraceEvent


@dataclass(frozen=True, slots=True)
class NodeView:
    id: int
    alive: bool
    role: Role
    current_term: int
    voted_for: int | None
    log: tuple[Entry, ...]
    commit_index: int
    last_applied: int
    next_index: tuple[tuple[int, int], ...]  # (peer, index) pairs; meaningful on a leader
    match_index: tuple[tuple[int, int], ...]
    votes: frozenset[int]  # votes a candidate holds (itself included)
    election_deadline: float | None  # when a follower/candidate times out; None on a leader
    election_timeout: float  # the length of the timeout now running, for the timer arc
    # The node's latest configuration (thesis §4.1): whose votes count, who only learns.
    voters: frozenset[int] = frozenset()
    learners: frozenset[int] = frozenset()
    # Log compaction (§7): ``log`` holds the entries after the snapshot, which ends here.
    snapshot_index: int = 0
    snapshot_term: int = 0

    @property
    def first_index(self) -> int:
        """The index of ``log[0]``: 1, or right after the snapshot."""
        return self.snapshot_index + 1

    @property
    def last_index(self) -> int:
        return self.snapshot_index + len(self.log)

    @property
    def last_term(self) -> int:
        return self.log[-1].term if self.log else self.snapshot_term


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message in flight, or (in ``ClusterSnapshot.message_log``) one that was sent."""

    src: int
    dst: int
    kind: str  # "RequestVote", "RequestVoteReply", "AppendEntries", "AppendEntriesReply"
    term: int
    sent_at: float
    deliver_at: float
    label: str  # "heartbeat", "AE 3 entries", "vote granted", "AE rejected", ...
    success: bool | None = None  # for replies: vote granted / append accepted
    entries: int = 0  # entries carried by an AppendEntries
    dropped: bool = False  # lost by the network (or because an end was down)


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    time: float
    event_index: int  # how many events the cluster had processed
    nodes: tuple[NodeView, ...]  # in id order
    in_flight: tuple[MessageView, ...]
    groups: tuple[frozenset[int], ...]  # partition groups; one group when healed
    cut_links: frozenset[tuple[int, int]]  # (a, b) with a < b that cannot talk
    leader: int | None
    _trace: Sequence[TraceEvent] = field(repr=False, compare=False, default=())
    trace_len: int = 0
    _message_log: Sequence = field(repr=False, compare=False, default=())
    message_log_len: int = 0
    kernel_steps: int = 0  # for Cluster.fork: where in the run this picture was taken
    calls_len: int = 0
    members: Any = None  # the committed configuration (raftlab.membership.Configuration)

    @property
    def ids(self) -> list[int]:
        return [n.id for n in self.nodes]

    @property
    def alive(self) -> frozenset[int]:
        return frozenset(n.id for n in self.nodes if n.alive)

    def node(self, i: int) -> NodeView:
        if 0 < i <= len(self.nodes) and self.nodes[i - 1].id == i:
            return self.nodes[i - 1]
        for n in self.nodes:  # a server added later with a larger id (membership)
            if n.id == i:
                return n
        raise KeyError(f"no node S{i} in this picture")

    @property
    def trace(self) -> list[TraceEvent]:
        """The trace up to this instant."""
        return list(self._trace[: self.trace_len])

    @property
    def message_log(self) -> list[MessageView]:
        """Every message sent up to this instant, with its fate (delivered or dropped)."""
        return [
            m if isinstance(m, MessageView) else m.view()
            for m in self._message_log[: self.message_log_len]
        ]
