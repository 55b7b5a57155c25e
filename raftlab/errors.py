"""The errors raftlab raises.

Two kinds, as in h11: *you* misused the API (``ValueError`` / ``TypeError`` with a
sentence that says what to do), or the *cluster* could not do what you asked right now
(a :class:`RaftLabError`).  A broken Raft safety property is neither: it is a
:class:`SafetyViolation`, an ``AssertionError``, because it means the algorithm (or a
planted bug) is wrong.
"""

from __future__ import annotations


class RaftLabError(Exception):
    """Base class of the errors a client of the cluster can expect and handle."""


class NotLeader(RaftLabError):
    """The node asked is down or not the leader.

    ``leader_hint`` is the id of the node it believes leads, or ``None``.
    """

    def __init__(self, leader_hint: int | None = None, message: str | None = None):
        self.leader_hint = leader_hint
        if message is None:
            if leader_hint is None:
                message = "this node is not the leader and knows of no leader"
            else:
                message = f"this node is not the leader; try S{leader_hint}"
        super().__init__(message)


class LeadershipLost(RaftLabError):
    """The node that took the command can no longer report on it.

    Either its entry was overwritten by a newer leader, so it will never commit (§5.3),
    or the node crashed before applying it.  After a crash the outcome is *unknown*:
    the entry may already be on a majority and commit under the next leader (§5.4.1).
    That is why clients retry with a session id, so a retried write takes effect once (§8).
    """


class Timeout(RaftLabError):
    """Simulated time ran out before the answer came."""


class SafetyViolation(AssertionError):
    """A Raft safety property (§5.2, §5.3, §5.4) does not hold.

    The message names the invariant, the nodes, the index and the term.  ``invariant``
    holds the invariant's name, e.g. ``"Election Safety"``.
    """

    def __init__(self, invariant: str, message: str):
        self.invariant = invariant
        super().__init__(f"{invariant} violated: {message}")


class ConfigurationChangeRefused(RaftLabError):
    """The leader cannot start this membership change now (thesis §4.1): an earlier change
    is not committed yet, or the leader has not yet committed an entry of its own term
    (its no-op).  Wait a little and ask again."""


class Compacted(IndexError):
    """A log entry was asked for that a snapshot has replaced (§7).

    After compaction a log holds only the entries after its snapshot; what came before is
    summed up by the snapshot's state, its index and its term.  Asking for a discarded
    entry is an error, never a silent wrong answer.  ``index`` is the index asked for,
    ``snapshot_index`` the last index the snapshot covers.
    """

    def __init__(self, index: int, snapshot_index: int):
        self.index = index
        self.snapshot_index = snapshot_index
        super().__init__(
            f"the entry at index {index} was discarded when the log was compacted: a "
            f"snapshot covers indexes 1..{snapshot_index}, and the log holds only what "
            "follows it (§7)"
        )
