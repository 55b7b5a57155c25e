"""A tiny discrete-event kernel, in the manner of SimPy's ``core.py``.

It knows nothing of Raft or networks: it keeps a heap of ``(time, seq, callback, arg)``
and runs callbacks in time order.  ``seq`` is a counter that breaks ties between events
due at the same instant in the order they were scheduled, so a run never depends on how
Python happens to compare the callbacks (or on ``PYTHONHASHSEED``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

INF = float("inf")


class Kernel:
    __slots__ = ("now", "_heap", "_seq")

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[[Any], Any], Any]] = []
        self._seq = 0

    def schedule(self, time: float, callback: Callable[[Any], Any], arg: Any = None) -> None:
        """Run ``callback(arg)`` at ``time`` (never in the past)."""
        if time < self.now:
            raise ValueError(f"cannot schedule at {time} ms, before now ({self.now} ms)")
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, callback, arg))

    def peek(self) -> float:
        """The time of the next event, or infinity when there is none."""
        return self._heap[0][0] if self._heap else INF

    def pop(self) -> tuple[float, Callable[[Any], Any], Any]:
        """Remove the next event, move ``now`` to its time, and hand it back to run."""
        time, _, callback, arg = heapq.heappop(self._heap)
        self.now = time
        return time, callback, arg

    def __len__(self) -> int:
        return len(self._heap)
