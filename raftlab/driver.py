"""Driving a ``RaftNode``: its output handled in order, client proposals settled, one timer.

Theory of operation
-------------------
A ``RaftNode`` does no I/O (``raftlab.node``).  Whoever runs it takes a ``Ready`` after
every input and must handle it in one order: **persist** (term, vote and new entries on
stable storage), **send** (the messages), **apply** (committed entries to the state
machine).  A vote or an acknowledgement sent before it is durable can be forgotten in a
crash (§5, Figure 2: "Updated on stable storage before responding to RPCs").

Two programs drive nodes: the simulator (``raftlab.cluster``: memory, a simulated network
and clock) and the real servers (``raftlab.server.runtime``: a file, sockets, the wall
clock).  Both use this module, so the order and the settling of client proposals are
written once:

- :class:`Driver` handles a ``Ready`` in three phases (``persist``, ``send``, ``apply``);
  ``handle`` runs them in order.  The simulator calls ``handle`` (and stops between two
  phases when a crash window is armed); the server awaits its disk write between
  ``persist`` and ``send``.
- :class:`Proposals` follows client commands to their outcome (goraft's ``Apply``): the
  state machine's result once applied, or ``LeadershipLost`` when a newer leader's entry
  takes their index.
- :class:`Reads` holds the reads a leader has confirmed (``Ready.read_states``, thesis
  §6.4) until the state machine has applied their index, then answers them.
- :class:`LazyTimer` keeps one timer per node at ``node.next_deadline``, re-armed only
  when the deadline moves *earlier*: a deadline that moves later (a heartbeat arrived) is
  noticed when the old timer fires, so a heartbeat costs no timer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from raftlab.errors import LeadershipLost
from raftlab.log import Entry, Log
from raftlab.messages import Message
from raftlab.node import Applied, RaftNode, Ready

INF = float("inf")


def must_persist(rd: Ready) -> bool:
    """Does this output change what must survive a crash (term, vote, log, snapshot)?"""
    return rd.hard_state is not None or rd.persist_from is not None or rd.snapshot is not None


class Waiter(Protocol):
    """A client request waiting on entries (``raftlab.proposal.Proposal`` and the
    server's request): told of each entry's outcome."""

    def _entry_applied(self, position: int, applied: Applied) -> None: ...

    def _entry_lost(self, index: int, error: LeadershipLost) -> None: ...


class Proposals:
    """Client proposals taken by one node, by log index, until their outcome is known."""

    __slots__ = ("node_id", "_at")

    def __init__(self, node_id: int):
        self.node_id = node_id
        self._at: dict[int, tuple[Waiter, int, int]] = {}  # index -> (waiter, term, position)

    def __bool__(self) -> bool:
        return bool(self._at)

    def __len__(self) -> int:
        return len(self._at)

    def track(self, waiter: Waiter, first: int, term: int, count: int = 1) -> None:
        """``waiter`` proposed ``count`` commands, appended at ``first..`` in ``term``."""
        if count == 1:
            self._at[first] = (waiter, term, 0)
            return
        for k in range(count):
            self._at[first + k] = (waiter, term, k)

    def settle(self, removed: Iterable[Entry], applied: Iterable[Applied]) -> None:
        """Entries deleted by a newer leader fail (§5.3); applied ones answer (§8)."""
        at = self._at
        if not at:
            return
        for entry in removed:
            found = at.pop(entry.index, None)
            if found is not None:
                found[0]._entry_lost(
                    entry.index,
                    LeadershipLost(
                        f"S{self.node_id} lost entry {entry.index} of term {entry.term}: a newer "
                        "leader overwrote it, so it will never commit"
                    ),
                )
        for a in applied:
            found = at.pop(a.entry.index, None)
            if found is None:
                continue
            waiter, term, position = found
            if a.entry.term == term:
                waiter._entry_applied(position, a)
            else:
                waiter._entry_lost(
                    a.entry.index,
                    LeadershipLost(
                        f"index {a.entry.index} committed an entry of term {a.entry.term}, "
                        f"not the one proposed in term {term}"
                    ),
                )

    def fail_through(self, index: int, error: Callable[[int], Exception]) -> None:
        """A snapshot replaced the log up to ``index`` (§7): proposals there learn no
        result, so each fails with ``error(index)`` (the outcome is unknown: a client
        retries with its session)."""
        at = self._at
        for i in sorted(k for k in at if k <= index):
            waiter = at.pop(i)[0]
            waiter._entry_lost(i, error(i))  # type: ignore[arg-type]

    def fail_all(self, error: Callable[[int], Exception]) -> None:
        """The node stopped: every waiter fails once, with ``error(its first index)``."""
        at, self._at = self._at, {}
        told: set[int] = set()
        for index in sorted(at):
            waiter = at[index][0]
            if id(waiter) not in told:
                told.add(id(waiter))
                waiter._entry_lost(index, error(index))  # type: ignore[arg-type]

    def waiters(self) -> list[Waiter]:
        """Every waiter still waiting, each once, oldest first."""
        out: dict[int, Waiter] = {}
        for index in sorted(self._at):
            w = self._at[index][0]
            out.setdefault(id(w), w)
        return list(out.values())


class ReadWaiter(Protocol):
    """A client read waiting on the leader (``raftlab.proposal.ReadRequest``, the server's
    request): answered from the node once its index is applied, or failed."""

    def _read_ready(self, node: RaftNode, index: int) -> None: ...

    def _read_failed(self, error: Exception) -> None: ...


class Reads:
    """Reads a leader confirmed, each waiting until ``last_applied`` reaches its index.

    A ``ReadState(ctx, index)`` says: every write that finished before the read arrived
    is at or below ``index`` (thesis §6.4), so the read may look at the state machine
    once it has applied that far, and not before.
    """

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: list[tuple[int, ReadWaiter]] = []

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def __len__(self) -> int:
        return len(self._waiting)

    def settle(self, node: RaftNode, rd: Ready) -> None:
        """Take this output's reads; answer every one whose index is applied."""
        for ctx, why in rd.reads_failed:
            ctx._read_failed(LeadershipLost(why))
        if rd.read_states:
            self._waiting.extend((s.index, s.ctx) for s in rd.read_states)
        if not self._waiting:
            return
        applied = node.last_applied
        keep = []
        for index, waiter in self._waiting:
            if index <= applied:
                waiter._read_ready(node, index)
            else:
                keep.append((index, waiter))
        self._waiting = keep

    def fail_all(self, error: Exception) -> None:
        """The node stopped: every waiting read fails."""
        waiting, self._waiting = self._waiting, []
        for _, waiter in waiting:
            waiter._read_failed(error)


class LazyTimer:
    """When a node next wants ``tick``: armed lazily (see the module docstring)."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = INF  # the deadline the armed timer fires at; INF: none armed

    def needs(self, deadline: float) -> bool:
        """Must a new timer be armed for ``deadline``?  (Only if it is earlier.)"""
        if deadline < self.at:
            self.at = deadline
            return True
        return False

    def fired(self) -> None:
        self.at = INF


class Driver:
    """Handles one node's ``Ready`` in the order of ``raftlab.node``; see the module
    docstring.  ``persist(rd, log)`` and ``send(messages)`` do the I/O."""

    __slots__ = ("persist_fn", "send_fn", "proposals", "reads")

    def __init__(
        self,
        node_id: int,
        persist: Callable[[Ready, Log], Any],
        send: Callable[[list[Message]], Any],
    ):
        self.persist_fn = persist
        self.send_fn = send
        self.proposals = Proposals(node_id)
        self.reads = Reads()

    def persist(self, node: RaftNode, rd: Ready) -> None:
        """1. Term, vote and new entries on stable storage."""
        if must_persist(rd):
            self.persist_fn(rd, node.log)

    def send(self, rd: Ready) -> None:
        """2. Only then the messages."""
        if rd.messages:
            self.send_fn(rd.messages)

    def apply(self, node: RaftNode, rd: Ready, limit: int | None = None) -> list[Applied]:
        """3. Committed entries to the state machine; proposals get their outcome."""
        applied = node.apply_committed(limit) if node.commit_index > node.last_applied else []
        if self.proposals:
            self.proposals.settle(rd.removed, applied)
        if rd.read_states or rd.reads_failed or self.reads._waiting:
            self.reads.settle(node, rd)
            self.settle(rd, applied)
        if node._ready.snapshot is not None:
            self.persist_snapshot(node, rd)
        return applied

    def settle(self, rd: Ready, applied: list[Applied]) -> None:
        proposals = self.proposals
        if rd.snapshot is not None and rd.snapshot.index > 0:
            proposals.fail_through(
                rd.snapshot.index,
                lambda index: LeadershipLost(
                    f"S{proposals.node_id} installed a snapshot covering entry {index}, so it "
                    "cannot tell that entry's result"
                ),
            )
        proposals.settle(rd.removed, applied)

    def persist_snapshot(self, node: RaftNode, rd: Ready) -> None:
        """Applying took a snapshot (§7): persist it now, with this output, so the log on
        stable storage can drop the entries it covers.  Its trace line joins ``rd``'s."""
        extra = node.ready()
        self.persist_fn(extra, node.log)
        rd.events.extend(extra.events)
        rd.snapshot = extra.snapshot

    def handle(self, node: RaftNode, rd: Ready, stop: Callable[[str], bool] | None = None):
        """Persist, send, apply.  ``stop(phase)`` is asked after ``"persist"`` and after
        ``"send"``; ``True`` ends the handling there (a crash window).  Returns what was
        applied, or ``None`` if stopped."""
        # The three phases above, inlined: this runs after every input of every node.
        if rd.hard_state is not None or rd.persist_from is not None or rd.snapshot is not None:
            self.persist_fn(rd, node.log)
        if stop is not None and stop("persist"):
            return None
        if rd.messages:
            self.send_fn(rd.messages)
        if stop is not None and stop("send"):
            return None
        applied = node.apply_committed() if node.commit_index > node.last_applied else []
        if self.proposals._at and (applied or rd.removed):  # else settling has nothing to do
            self.proposals.settle(rd.removed, applied)
        if rd.read_states or rd.reads_failed or self.reads._waiting:
            self.reads.settle(node, rd)  # served only once their index is applied (§6.4)
            self.settle(rd, applied)
        if node._ready.snapshot is not None:
            self.persist_snapshot(node, rd)
        return applied
