"""Progress: a leader's view of one follower (Figure 2's nextIndex and matchIndex, §5.3).

Figure 2 gives a leader two numbers per follower: ``matchIndex``, the highest entry known
to be stored there, and ``nextIndex``, the next entry to send.  A real leader also needs
flow control, as etcd's ``tracker.Progress`` has it: how many batches of entries are on
their way, and whether it is still looking for the point where the logs match.

- **probe**: the leader does not yet know where the follower's log matches its own (a
  new leader, or after a rejection).  One batch at a time: each reply moves
  ``next`` (back on a rejection, §5.3) until a batch is accepted.
- **replicate**: the logs match up to ``match``.  Batches are pipelined: while the
  follower is more than a batch behind, up to ``Config.max_inflight`` full batches
  travel at once, each starting where the previous one ends, so catching up 10,000
  entries takes about ``10_000 / (max_batch * max_inflight)`` round trips instead of
  ``10_000 / max_batch``.  (A follower less than a batch behind gets one batch at a
  time, so new proposals travel together, as before.)

- **snapshot**: the follower needs entries the leader has discarded (§7).  No
  AppendEntries: the leader sends its snapshot, one ``InstallSnapshot`` chunk at a time
  from ``snapshot_offset`` (the bytes the follower has confirmed), and again from there
  every heartbeat round until the follower says it is installed (``raftlab.compaction``).

A batch in flight is presumed lost only when a full heartbeat round has passed since it
left *and* it is older than twice the longest round trip seen to that follower: a slow
network is not mistaken for a lossy one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raftlab.compaction import Snapshot


class State(StrEnum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


# Read once: on Python 3.11 ``State.REPLICATE`` goes through the enum metaclass's
# __getattr__ hook (about 0.4 us), and acknowledged() runs for every successful reply.
_REPLICATE = State.REPLICATE


class Batch:
    """One AppendEntries with entries, on its way: its last index, and when it left."""

    __slots__ = ("last", "round", "sent_at")

    def __init__(self, last: int, round: int, sent_at: float):
        self.last = last
        self.round = round  # the leader's heartbeat round when it left
        self.sent_at = sent_at

    def __repr__(self) -> str:
        return f"Batch(last={self.last}, round={self.round}, sent_at={self.sent_at:g})"


class Progress:
    """The leader's view of one follower.  ``match`` and ``next`` are Figure 2's."""

    __slots__ = ("match", "next", "state", "inflight", "rtt", "snapshot", "snapshot_offset")

    def __init__(self, next_index: int):
        self.match = 0  # highest entry known to be replicated there (Figure 2)
        self.next = next_index  # the first entry not known to be there (Figure 2)
        self.state = State.PROBE
        self.inflight: list[Batch] = []  # batches sent and not yet acknowledged, oldest first
        self.rtt = 0.0  # the longest round trip of a batch seen so far
        self.snapshot: Snapshot | None = None  # in snapshot state: the one being sent
        self.snapshot_offset = 0  # ...and how many of its bytes the follower confirmed

    @property
    def sent(self) -> int:
        """The last index sent: where the next batch starts from, minus one."""
        return self.inflight[-1].last if self.inflight else self.next - 1

    def acknowledged(self, match: int, now: float) -> None:
        """A success reply: the follower holds everything up to ``match`` (§5.3)."""
        if match > self.match:
            self.match = match
        if self.next <= self.match:
            self.next = self.match + 1
        self.state = _REPLICATE
        inflight = self.inflight
        while inflight and inflight[0].last <= self.match:
            rtt = now - inflight.pop(0).sent_at
            if rtt > self.rtt:
                self.rtt = rtt

    def rejected(self, next_index: int) -> None:
        """A rejection of the consistency check: back up and probe again (§5.3)."""
        self.next = next_index
        self.state = State.PROBE
        self.inflight.clear()

    def resend_after(self, last: int) -> None:
        """A pipelined batch that follows ``last`` was refused because it overtook the one
        before it (or that one was lost): forget it and everything sent after it, so
        they go again once ``last`` is acknowledged (or presumed lost)."""
        self.inflight = [b for b in self.inflight if b.last <= last]

    def send_snapshot(self, snapshot: Snapshot) -> None:
        """The follower needs discarded entries: send it ``snapshot`` instead (§7)."""
        self.state = State.SNAPSHOT
        self.snapshot = snapshot
        self.snapshot_offset = 0
        self.inflight.clear()
        self.next = snapshot.index + 1

    def snapshot_installed(self, match: int, now: float) -> None:
        """The follower installed the snapshot (or needed none): it holds up to ``match``."""
        self.snapshot = None
        self.snapshot_offset = 0
        self.acknowledged(match, now)

    def presumed_lost(self, round: int, now: float) -> bool:
        """Is the oldest batch in flight lost?  A full heartbeat round without its reply,
        and older than twice the longest round trip seen."""
        if not self.inflight:
            return False
        oldest = self.inflight[0]
        return oldest.round < round - 1 and now - oldest.sent_at > 2 * self.rtt

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.value}, match={self.match}, next={self.next}, "
            + (
                f"snapshot={self.snapshot.index} offset={self.snapshot_offset}, "
                if self.snapshot is not None
                else ""
            )
            + f"inflight={[b.last for b in self.inflight]})"
        )
