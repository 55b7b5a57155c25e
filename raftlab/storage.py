"""Where a node's persistent state lives between crashes (§5, Figure 2: "Persistent state").

The core hands out what to persist in ``Ready`` (see ``raftlab.node``); a storage writes
it with ``save(ready, log)`` and gives it back at restart with ``load()``.  The
simulator keeps it in memory (here); the real servers keep it on disk with the same two
methods (``raftlab.server.storage.DiskStorage``).
"""

from __future__ import annotations

from raftlab.log import Entry, Log
from raftlab.node import HardState, Ready


class MemoryStorage:
    """The simulator's storage: survives ``crash``/``restart`` because the cluster keeps it."""

    __slots__ = ("hard_state", "entries")

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.entries: list[Entry] = []

    def save(self, ready: Ready, log: Log) -> None:
        """Durably store ``ready.hard_state`` and ``log`` from ``ready.persist_from`` on."""
        start = ready.persist_from
        if start is not None and start > len(self.entries) + 1:
            # The log on "disk" would have a hole: entries before start were never saved.
            raise ValueError(
                f"cannot persist the log from index {start}: only indexes 1..{len(self.entries)} "
                "are stored, so entries in between would be missing"
            )
        if ready.hard_state is not None:
            self.hard_state = ready.hard_state
        if start is not None:
            del self.entries[start - 1 :]
            self.entries.extend(log.entries(start))

    def load(self) -> tuple[HardState, list[Entry]]:
        """What was stored: the hard state and the whole log."""
        return self.hard_state, list(self.entries)
