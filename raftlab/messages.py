"""The two RPCs of Raft and their replies, as in the paper's Figure 2 (§5).

Messages are small frozen records.  Every one carries ``src``, ``dst`` and the sender's
``term`` (§5.1: terms travel with every message, so stale ones can be recognised).  The
node that makes them knows nothing of time: the network stamps ``sent_at`` and
``deliver_at`` on the envelope it wraps around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from raftlab.log import Entry
from raftlab.records import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class RequestVote:
    """Sent by a candidate to gather votes (§5.2)."""

    kind: ClassVar[str] = "RequestVote"
    src: int
    dst: int
    term: int
    candidate_id: int
    last_log_index: int  # with last_log_term, lets voters refuse a candidate behind them (§5.4.1)
    last_log_term: int
    # PreVote (thesis §9.6): "would you vote for me in ``term``?"  The sender has not
    # bumped its own term, and the receiver neither bumps its term nor records a vote.
    pre_vote: bool = False
    # Sent because the old leader asked (TimeoutNow, §3.10): voters that just heard from
    # that leader vote anyway, since it is the leader itself that steps aside.
    transfer: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class RequestVoteReply:
    kind: ClassVar[str] = "RequestVoteReply"
    src: int
    dst: int
    term: int
    vote_granted: bool
    pre_vote: bool = False  # the answer to a PreVote; granted, it carries the asked term


@fast_init
@dataclass(frozen=True, slots=True)
class AppendEntries:
    """Sent by the leader to replicate entries; with no entries it is a heartbeat (§5.3)."""

    kind: ClassVar[str] = "AppendEntries"
    src: int
    dst: int
    term: int
    leader_id: int
    prev_log_index: int  # the entry just before the new ones: the consistency check (§5.3)
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int
    # Which heartbeat round of the leader this belongs to (raftlab.reads): the reply echoes
    # it, so the leader knows the follower still accepted it *after* a read arrived (§6.4).
    seq: int = 0


@fast_init
@dataclass(frozen=True, slots=True)
class AppendEntriesReply:
    """The follower's answer.

    On success, ``match_index`` is the last index the follower now shares with the leader
    (the request's ``prev_log_index + len(entries)``, never the follower's log length: a
    follower may hold extra entries the leader has not vouched for).  On failure,
    ``rejected_index`` echoes the request's ``prev_log_index`` so the leader can ignore a
    stale rejection, and ``conflict_term``/``conflict_index`` let it skip back a whole term
    at a time (the "fast backup" of §5.3's last paragraphs).  A refusal of a request of
    an older term (§5.1) says nothing about the log and leaves ``rejected_index`` at 0;
    a real consistency-check failure never does, since index 0 always matches.
    """

    kind: ClassVar[str] = "AppendEntriesReply"
    src: int
    dst: int
    term: int
    success: bool
    match_index: int = 0
    rejected_index: int = 0
    conflict_term: int = 0  # 0: the follower's log is too short to hold rejected_index
    conflict_index: int = 0
    seq: int = 0  # the request's seq, echoed (raftlab.reads)


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer (thesis §3.10): the leader tells an up-to-date follower to start
    an election now, without waiting for its election timeout."""

    kind: ClassVar[str] = "TimeoutNow"
    src: int
    dst: int
    term: int


Message = RequestVote | RequestVoteReply | AppendEntries | AppendEntriesReply | TimeoutNow


def describe(msg: Message) -> str:
    """A short human label, e.g. ``"AE 3 entries"``, ``"vote granted"``, ``"heartbeat"``."""
    if isinstance(msg, AppendEntries):
        return f"AE {len(msg.entries)} entries" if msg.entries else "heartbeat"
    if isinstance(msg, AppendEntriesReply):
        return f"AE ok match={msg.match_index}" if msg.success else "AE rejected"
    if isinstance(msg, RequestVote):
        return "PreVote" if msg.pre_vote else "RequestVote"
    if isinstance(msg, TimeoutNow):
        return "TimeoutNow"
    what = "pre-vote" if msg.pre_vote else "vote"
    return f"{what} granted" if msg.vote_granted else f"{what} denied"
