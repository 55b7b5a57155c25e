"""Planted bugs: classic Raft mistakes you can switch on to watch the safety checks catch them.

Each bug is a subclass of ``RaftNode`` that overrides one rule (see "the rules" in
``raftlab.node``), with the sentence of the paper it breaks.  ``Cluster(bugs={"figure8"})``
runs nodes of that subclass; ``node_class(bugs)`` builds the class for any set of bugs,
on top of any ``RaftNode`` subclass.  A learner's own Raft is a subclass in the same way:
``Cluster(node_class=MyNode)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from raftlab.messages import AppendEntriesReply, RequestVoteReply
from raftlab.node import HardState, RaftNode, Ready


class Figure8(RaftNode):
    """§5.4.2: "Raft never commits log entries from previous terms by counting replicas."

    This leader does: it commits the highest index stored on a majority whatever its
    term, and the paper's Figure 8 shows such an entry overwritten later.
    """

    def leader_commit(self) -> int:
        return max(self.commit_index, self.replicated_on_majority())


class ForgetVote(RaftNode):
    """Figure 2, "Persistent state": ``votedFor`` must be on stable storage before the vote
    is answered (§5.2).  This server never writes it, so after a restart it can vote
    twice in one term."""

    def hard_state(self) -> HardState:
        return HardState(self.current_term, None)


class NoLogCheck(RaftNode):
    """§5.4.1: a voter "denies its vote if its own log is more up-to-date than that of the
    candidate".  This one never denies, so a leader can lack committed entries."""

    def candidate_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        return True


class NoPrevCheck(RaftNode):
    """§5.3: "If the follower does not find an entry in its log with the same index and
    term, then it refuses the new entries."  This follower checks only that it holds
    an entry at ``prevLogIndex``, not its term."""

    def prev_matches(self, prev_log_index: int, prev_log_term: int) -> bool:
        return prev_log_index <= self.log.last_index


class SendBeforePersist(RaftNode):
    """Figure 2, "Persistent state on all servers (Updated on stable storage before
    responding to RPCs)".  This server responds first: when an input's output answers an
    RPC (a vote, an acknowledgement), what it asks to persist (the vote, a new term,
    appended entries) is handed to the driver only with the *next* output, after the
    answer went out.  A crash in between loses a vote already granted (two leaders in one
    term) or entries already acknowledged (a leader that lacks a committed entry).
    """

    _held: tuple[HardState | None, int | None] = (None, None)

    def ready(self) -> Ready:
        rd = super().ready()
        hard_state, persist_from = self._held
        self._held = (None, None)
        if any(isinstance(m, _REPLIES) for m in rd.messages):
            self._held = (rd.hard_state, rd.persist_from)  # answer now, persist later
        else:
            hard_state = rd.hard_state or hard_state
            if rd.persist_from is not None:
                persist_from = min(persist_from or rd.persist_from, rd.persist_from)
        if persist_from is not None:
            # The log may have been cut shorter meanwhile; persist what is there.
            persist_from = min(persist_from, self.log.last_index + 1)
        rd.hard_state, rd.persist_from = hard_state, persist_from
        return rd


_REPLIES = (RequestVoteReply, AppendEntriesReply)


class ReadIndexNoHeartbeat(RaftNode):
    """Thesis §6.4, ReadIndex step 3: the leader "sends a new round of heartbeats and waits
    for their acknowledgments from a majority of the cluster" before it serves the read.

    This leader skips that round: it serves the read at its commit index at once.  A
    leader cut off from the others keeps believing it leads, and while the majority
    elects a new leader and commits new writes, it serves the old values.
    """

    def read_index_confirmed(self, seq: int) -> bool:
        return True


class LeaseIgnoresDrift(RaftNode):
    """Thesis §6.4.1: a lease must allow for clock drift, "the lease [...] minus the
    maximum clock drift".

    This leader trusts every clock to keep perfect time: it holds its lease for the whole
    lowest election timeout, by its own clock.  If its clock runs slow it holds on longer
    in real time, and a follower whose clock runs fast gives up on it sooner, so a new
    leader can be elected and commit writes while this one still serves old values.
    """

    def lease_expiry(self) -> float:
        return self.lease_start + self.config.election_timeout_ms[0]


#: name -> the subclass that plants it.
PLANTED: dict[str, type[RaftNode]] = {
    "figure8": Figure8,
    "forget_vote": ForgetVote,
    "no_log_check": NoLogCheck,
    "no_prev_check": NoPrevCheck,
    "send_before_persist": SendBeforePersist,
    "read_index_no_heartbeat": ReadIndexNoHeartbeat,
    "lease_ignores_drift": LeaseIgnoresDrift,
}

BUGS: dict[str, str] = {
    "figure8": "a leader commits an entry from an earlier term by counting replicas (§5.4.2, "
    "Figure 8)",
    "forget_vote": "voted_for is not persisted, so a restarted server can vote twice in one "
    "term (§5.2)",
    "no_log_check": "votes are granted without the up-to-date log check (§5.4.1)",
    "no_prev_check": "a follower appends entries without the prevLogIndex/prevLogTerm check (§5.3)",
    "send_before_persist": "a vote or an acknowledgement is sent before it is on stable storage "
    "(Figure 2, Persistent state)",
}

#: The planted read bugs (raftlab.reads): they break no property of the logs, only what a
#: client is told, so the linearizability checker catches them, not the invariants.
READ_BUGS: dict[str, str] = {
    "read_index_no_heartbeat": "a ReadIndex read is served without a heartbeat round that "
    "confirms the leader still leads (thesis §6.4)",
    "lease_ignores_drift": "a leader's lease assumes perfect clocks: it lasts the lowest "
    "election timeout by the leader's own clock, not shortened for drift (thesis §6.4.1)",
}

#: Every planted bug's name and what it breaks (``BUGS`` and ``READ_BUGS`` together).
ALL_BUGS: dict[str, str] = {**BUGS, **READ_BUGS}


def check_bugs(bugs: Iterable[str] | None) -> frozenset[str]:
    """Validate a collection of bug names."""
    if bugs is None:
        return frozenset()
    if isinstance(bugs, str):
        bugs = [bugs]  # a lone name is a common slip; accept it
    names = frozenset(bugs)
    unknown = sorted(n for n in names if n not in ALL_BUGS)
    if unknown:
        raise ValueError(
            f"unknown bug name(s) {', '.join(map(repr, unknown))}; "
            f"known bugs are: {', '.join(sorted(ALL_BUGS))}"
        )
    return names


_made: dict[tuple[type[RaftNode], frozenset[str]], type[RaftNode]] = {}


def node_class(bugs: Iterable[str] = (), base: type[RaftNode] = RaftNode) -> type[RaftNode]:
    """The node class with the named bugs planted on top of ``base``.

    No bugs gives ``base`` itself.  One bug on plain ``RaftNode`` gives its subclass;
    several (or a learner's ``base``) give a class that inherits from each, so every
    planted rule overrides ``base``'s.
    """
    names = check_bugs(bugs)
    check_node_class(base)
    if not names:
        return base
    key = (base, names)
    cls = _made.get(key)
    if cls is None:
        planted = tuple(PLANTED[n] for n in sorted(names))
        if base is RaftNode and len(planted) == 1:
            cls = planted[0]
        else:
            label = "+".join(sorted(names))
            cls = type(f"{base.__name__}[{label}]", (*planted, base), {})
        _made[key] = cls
    return cls


def check_node_class(cls: object) -> type[RaftNode]:
    """A ``node_class`` argument must be ``RaftNode`` or a subclass of it."""
    if not (isinstance(cls, type) and issubclass(cls, RaftNode)):
        raise TypeError(
            f"node_class must be RaftNode or a subclass of it, got {cls!r}; "
            "write class MyNode(RaftNode): ... and pass node_class=MyNode"
        )
    return cls


def bugs_of(cls: type[RaftNode]) -> frozenset[str]:
    """The planted bugs a node class carries (for traces and replay commands)."""
    return frozenset(name for name, planted in PLANTED.items() if issubclass(cls, planted))
