"""Where a node's persistent state lives between crashes (§5, Figure 2: "Persistent state").

The core hands out what to persist in ``Ready`` (see ``raftlab.node``); a storage writes
it with ``save(ready, log)`` and gives it back at restart with ``load()`` (the hard state
and the log entries) and ``load_snapshot()`` (the latest snapshot, §7).  The simulator
keeps it in memory (here); the real servers keep it on disk with the same methods
(``raftlab.server.storage.DiskStorage``).

With log compaction (§7) what is stored is the latest snapshot and the log *after* it:
a new snapshot drops the entries it covers, so storage stays bounded.  A restart
restores the snapshot, then the log after it.
"""

from __future__ import annotations

from raftlab.compaction import Snapshot
from raftlab.log import Entry, Log
from raftlab.node import HardState, Ready


class MemoryStorage:
    """The simulator's storage: survives ``crash``/``restart`` because the cluster keeps it."""

    __slots__ = ("hard_state", "entries", "snapshot")

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.entries: list[Entry] = []  # the log after the snapshot (all of it without one)
        self.snapshot: Snapshot | None = None

    @property
    def first_index(self) -> int:
        """The index of ``entries[0]``: right after the snapshot."""
        return self.snapshot.index + 1 if self.snapshot is not None else 1

    def save(self, ready: Ready, log: Log) -> None:
        """Durably store ``ready.hard_state``, ``ready.snapshot`` and ``log`` from
        ``ready.persist_from`` on."""
        start = ready.persist_from
        snap = ready.snapshot
        stored = self.snapshot
        first = stored.index + 1 if stored is not None else 1  # self.first_index, inlined
        if snap is not None and stored is not None and snap.index <= stored.index:
            snap = None  # not newer than the one stored
        # Checked before anything changes: what would be stored after this save?
        base, held = first, len(self.entries)
        if snap is not None:
            held = max(0, held - (snap.index - base + 1))
            base = snap.index + 1
        if start is not None and start > base + held:
            # The log on "disk" would have a hole: entries before start were never saved.
            raise ValueError(
                f"cannot persist the log from index {start}: only indexes "
                f"{base}..{base + held - 1} are stored, so entries in between would be missing"
            )
        if ready.hard_state is not None:
            self.hard_state = ready.hard_state
        if snap is not None:
            # The snapshot replaces every entry up to its index (§7).
            del self.entries[: snap.index - first + 1]
            self.snapshot = snap
        if start is not None:
            start = max(start, base)  # what comes before is in the snapshot
            del self.entries[start - base :]
            self.entries.extend(log.entries(start))

    def load(self) -> tuple[HardState, list[Entry]]:
        """What was stored: the hard state and the log (after the snapshot, if any)."""
        return self.hard_state, list(self.entries)

    def load_snapshot(self) -> Snapshot | None:
        """The latest snapshot stored, or ``None``."""
        return self.snapshot
