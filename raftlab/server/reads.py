"""Reads without a log entry on a real server (thesis §6.4): batched, mostly off the node loop.

A read through the log costs an entry, a sync and a commit.  ReadIndex costs one heartbeat
round, and a lease read nothing but a look at the clock; on a real server what is left is
the cost of getting the read to the node and the answer back.  The client API runs on its
own loop in its own thread (``raftlab.server.listener``), and every wake-up of the other
thread is a system call that hands the interpreter lock over and waits to get it back.
Measured with py-spy under 64 clients of ReadIndex, a quarter of the client thread's time
went to waking the node's loop, once per read (``raftlab.server.bridge`` wakes it only
when its queue was empty, but the node empties it at once).  So reads take their own path:

1. **In** (:class:`ReadQueue`): the client thread queues ``(mode, key, future)`` under a
   lock and wakes the node's loop only if nobody has promised to look at the queue.  While
   a heartbeat round for reads is out, the node promises: the round that handles its
   acknowledgements (or the next heartbeat) takes every read queued meanwhile.  Those
   reads arrived *after* that round was sent, so they join the next one: one ReadIndex,
   one round (``raftlab.node.RaftNode.read_index``) for the whole batch.  A round
   acknowledged by a majority confirms only the reads that were handed in before it was
   sent (its ``seq``); never the ones queued while it was out.
2. **Out** (:class:`ReadGroup`, :class:`Mailbox`): once the batch's index is applied, the
   node's thread looks every key up at once (the state machine is only ever read there or
   under a lease, below) and posts all the answers to the client loop in one wake-up.
3. **Lease reads** (:class:`LeaseView`): after each round the node's thread publishes,
   in one assignment, until when its lease holds (``RaftNode.lease_expiry``, already
   shortened for drift) if it may serve lease reads at all (it leads, hands leadership to
   nobody, has committed an entry of its term, and has applied everything it knows
   committed).  The client thread serves a lease read from that view without waking the
   node; see :meth:`LeaseView.read` for why that is safe.  Otherwise the read goes the
   ReadIndex way through the queue, as the core's ``lease_read`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

from raftlab.errors import LeadershipLost


class Mailbox:
    """Answers for futures of one event loop, set from another thread in batches: the loop
    is woken once per batch (a system call, and a hand-over of the interpreter lock), and
    not again while it has not yet taken the answers already posted."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._lock = threading.Lock()
        self._items: deque[tuple[asyncio.Future, Any, BaseException | None]] = deque()
        self._woken = False
        self.wakeups = 0  # how often the loop was woken: far fewer than answers under load

    def post(self, items: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
        """Hand ``(future, result, error)`` triples over (from any thread)."""
        with self._lock:
            self._items.extend(items)
            wake, self._woken = not self._woken, True
        if wake:
            self.wakeups += 1
            # RuntimeError: the loop is closed, so nobody waits any more.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:  # on self.loop
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._woken = False
        settle(items)


def settle(items: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    """Set each future's result or error (on its own loop), unless its caller gave up."""
    for fut, result, error in items:
        if fut.done():
            continue  # timed out or cancelled: the client went away
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)


class Deadlines:
    """A time limit for many futures of one loop with one timer (``asyncio.wait_for`` arms
    one per future, a tenth of the client thread's time under a load of reads).  Every
    future gets the same limit, so their deadlines come in the order they are added and
    only the first one needs a timer; a future still waiting at its deadline gets
    ``TimeoutError``."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._waiting: deque[tuple[float, asyncio.Future]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, fut: asyncio.Future) -> asyncio.Future:
        """Bound ``fut`` (of the running loop); returns it."""
        loop = fut.get_loop()
        self._waiting.append((loop.time() + self.timeout_s, fut))
        if self._timer is None:
            self._timer = loop.call_at(self._waiting[0][0], self._expire, loop)
        return fut

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now, waiting = loop.time(), self._waiting
        while waiting and (waiting[0][1].done() or waiting[0][0] <= now):
            _, fut = waiting.popleft()
            if not fut.done():
                fut.set_exception(TimeoutError())
        if waiting:
            self._timer = loop.call_at(waiting[0][0], self._expire, loop)


class ReadQueue:
    """Reads handed in by any thread, taken by the node's loop (step 1 above).

    ``woken`` is the node's promise to look at the queue soon: set by the reader that
    wakes the loop, and cleared by the node only at the end of a round that leaves
    nothing queued and no read round out (:meth:`idle_unless`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: list[tuple[str, str | None, asyncio.Future]] = []
        self.woken = False

    def __bool__(self) -> bool:
        return bool(self._reads)

    def put(self, mode: str, key: str | None, fut: asyncio.Future) -> bool:
        """Queue one read; whether the caller must wake the node's loop."""
        with self._lock:
            self._reads.append((mode, key, fut))
            wake, self.woken = not self.woken, True
        return wake

    def take(self) -> list[tuple[str, str | None, asyncio.Future]]:
        """Everything queued, in arrival order (on the node's loop)."""
        with self._lock:
            reads, self._reads = self._reads, []
        return reads

    def idle_unless(self, awaiting: bool) -> bool:
        """End of a round: whether another round must run at once for reads that came in
        during this one.  ``awaiting``: a read round is out, and the round that handles
        its acknowledgements will take them (they must wait for it anyway: a read queued
        after a round was sent is not confirmed by it)."""
        with self._lock:
            if awaiting:
                return False  # keep the promise: that round takes the queue
            if self._reads:
                return True
            self.woken = False
            return False


class ReadGroup:
    """The reads of one mode taken in one round: one ReadIndex (one heartbeat round) or one
    lease check serves them all; it is the ``ctx`` the node hands back in
    ``Ready.read_states`` (``raftlab.driver.Reads`` calls ``_read_ready`` once its index
    is applied) or ``Ready.reads_failed``."""

    __slots__ = ("reads", "owner")

    def __init__(self, reads: list[tuple[str | None, asyncio.Future]], owner: Any):
        self.reads = reads  # (key, future of the caller's loop)
        self.owner = owner  # the NodeRuntime: answers() and the groups still out

    def _read_ready(self, node: Any, index: int) -> None:
        """On the node's loop, with ``index`` applied: look every key up now, so the
        answers are the state at one moment (``last_applied``, the index each reports)."""
        self.owner._read_groups.discard(self)
        applied = node.last_applied
        sm = node.state_machine
        data: Mapping[str, str] | None = sm.data if sm is not None else None
        self.owner.answer(
            [
                (
                    fut,
                    (applied, data.get(key) if data is not None and key is not None else None),
                    None,
                )
                for key, fut in self.reads
            ]
        )

    def _read_failed(self, error: BaseException) -> None:
        self.owner._read_groups.discard(self)
        if not isinstance(error, LeadershipLost):
            error = LeadershipLost(str(error))
        self.fail(error)

    def fail(self, error: BaseException) -> None:
        self.owner.answer([(fut, None, error) for _, fut in self.reads])


class LeaseView(NamedTuple):
    """What the node's thread publishes after a round in which it may serve lease reads
    (step 3 above): until when (``expiry``, by ``loop.time()`` in ms) and the index it had
    applied (``applied``, at least its commit index then)."""

    expiry: float
    applied: int

    def read(self, owner: Any, key: str, now_ms: Any) -> tuple[int, str | None] | None:
        """A lease read on the calling thread: ``(index, value)``, or ``None`` when the
        view is gone or ran out (then read through the node instead).

        Why it is safe (thesis §6.4.1).  The read arrived before this call.  The view was
        published by a leader that had committed an entry of its term, so every write
        finished by an earlier leader is at or below ``applied``; every write this leader
        finished was applied before it was answered.  The lease, checked at ``now_ms()``
        *after* the look-up, says no other leader was elected until then: followers that
        acknowledged the round vote for nobody else before it runs out, even by a clock
        ``max_drift`` fast.  The one way to elect another leader sooner, TimeoutNow
        (§3.10), is sent only after the node withdrew its view (``NodeRuntime._round``
        withdraws it before sending anything), and we check that the view is still the
        published one after the look-up.  So no write newer than what the look-up saw had
        finished when the read arrived, and the state machine was not replaced meanwhile
        (a snapshot is installed only from a newer leader, §7).
        """
        sm = owner.state_machine
        value = sm.data.get(key) if sm is not None else None  # one dict look-up: atomic
        if owner._lease_view is not self or now_ms() >= self.expiry:
            return None
        return self.applied, value
