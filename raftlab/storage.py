"""Where a node's persistent state lives between crashes (§5, Figure 2: "Persistent state").

The core hands out what to persist in ``Ready`` (see ``raftlab.node``); a ``Storage``
writes it and gives it back at restart.  The simulator keeps it in memory; the real
servers (``raftlab.server``) keep it on disk behind the same interface.
"""

from __future__ import annotations

from typing import Protocol

from raftlab.log import Entry, Log
from raftlab.node import HardState, Ready


class Storage(Protocol):
    def save(self, ready: Ready, log: Log) -> None:
        """Durably store ``ready.hard_state`` and ``log`` from ``ready.persist_from`` on."""

    def load(self) -> tuple[HardState, list[Entry]]:
        """What was stored: the hard state and the whole log."""


class MemoryStorage:
    """The simulator's storage: survives ``crash``/``restart`` because the cluster keeps it."""

    __slots__ = ("hard_state", "entries")

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.entries: list[Entry] = []

    def save(self, ready: Ready, log: Log) -> None:
        if ready.hard_state is not None:
            self.hard_state = ready.hard_state
        start = ready.persist_from
        if start is not None:
            del self.entries[start - 1 :]
            self.entries.extend(log.entries(start))

    def load(self) -> tuple[HardState, list[Entry]]:
        return self.hard_state, list(self.entries)
