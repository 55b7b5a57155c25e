"""Calls from the client API's event loop into the node's, in batches.

The client API runs on its own loop in its own thread (``raftlab.server.listener``), and
only the node's loop may touch the node.  ``asyncio.run_coroutine_threadsafe`` would do
for one call, but each call and each answer wakes the other loop with a write to its
self-pipe, and every such system call hands the interpreter lock over and waits to get it
back (up to ``sys.getswitchinterval()``, 5 ms by default, while the other thread is busy).
A burst of a thousand requests then costs the node's thread seconds of waiting, and its
heartbeats are late: measured, 1,500 simultaneous clients deposed the leader that way.

A :class:`Bridge` queues calls and answers under a lock and wakes the other loop only
when its queue was empty: a burst crosses in a few wake-ups, and the node proposes the
whole burst in one round (one sync, one AppendEntries per follower).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any


class Bridge:
    """Runs coroutines on ``target`` (the node's loop) for callers on one other loop."""

    def __init__(self, target: asyncio.AbstractEventLoop):
        self.target = target
        self.caller: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._calls: deque[tuple[Callable[[], Awaitable[Any]], asyncio.Future]] = deque()
        self._answers: deque[tuple[asyncio.Future, asyncio.Task]] = deque()
        self._calls_woken = False
        self._answers_woken = False
        self.wakeups = 0  # how often either loop was woken: far fewer than calls in a burst

    async def call(self, coro_fn: Callable[[], Awaitable[Any]]) -> Any:
        """``await coro_fn()`` on the target loop, from the caller's loop."""
        loop = asyncio.get_running_loop()
        if loop is self.target:
            return await coro_fn()
        self.caller = loop
        fut = loop.create_future()
        with self._lock:
            self._calls.append((coro_fn, fut))
            wake, self._calls_woken = not self._calls_woken, True
        if wake:
            self.wakeups += 1
            self.target.call_soon_threadsafe(self._start_calls)
        return await fut

    def _start_calls(self) -> None:  # on the target loop
        with self._lock:
            calls = list(self._calls)
            self._calls.clear()
            self._calls_woken = False
        for coro_fn, fut in calls:
            task = self.target.create_task(coro_fn())
            task.add_done_callback(lambda t, fut=fut: self._answered(fut, t))

    def _answered(self, fut: asyncio.Future, task: asyncio.Task) -> None:  # target loop
        with self._lock:
            self._answers.append((fut, task))
            wake, self._answers_woken = not self._answers_woken, True
        if wake and self.caller is not None:
            self.wakeups += 1
            # RuntimeError: the caller's loop is closed, so nobody waits any more.
            with contextlib.suppress(RuntimeError):
                self.caller.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:  # on the caller's loop
        with self._lock:
            answers = list(self._answers)
            self._answers.clear()
            self._answers_woken = False
        for fut, task in answers:
            if fut.done():
                continue  # the client went away
            if task.cancelled():
                fut.cancel()
            elif (exc := task.exception()) is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(task.result())
