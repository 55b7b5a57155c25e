"""Log lines that an attack cannot multiply: repeats of one line are counted, not printed.

A flood of refused connections, bad frames or failed accepts would otherwise write one
line each (a run with 1,100 half-open connections once grew a node's log by 143 MB in
20 s).  :class:`RateLimit` lets the first line of each kind through, then at most one per
``interval_s``, and that one says how many like it were left out.  "Of each kind" means
the same logger, level and message template (``record.msg`` before its arguments are
filled in), so "S2 unreachable" and "refused a connection" are limited separately.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimit(logging.Filter):
    """A logging filter: at most one warning or error per kind every ``interval_s`` seconds."""

    def __init__(self, interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[tuple[str, int, str], float] = {}
        self._held: dict[tuple[str, int, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # role changes and start-up lines are few and all worth reading
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = (
                f"{record.getMessage()} (and {held} more like it in the last {now - last:.0f} s)"
            )
            record.args = None
        if len(self._last) > 10_000:  # kinds are few; never let the table grow unbounded
            self._last.clear()
        return True


def install(interval_s: float = 5.0) -> RateLimit:
    """Add a :class:`RateLimit` to every handler of the root logger; return it."""
    limit = RateLimit(interval_s)
    for handler in logging.getLogger().handlers:
        handler.addFilter(limit)
    return limit
