"""The replicated log (§5.3): entries with an index and the term they were created in.

Indexes start at 1, as in the paper; ``term(0) == 0`` stands for "before the first
entry", so the consistency check for the very first entry needs no special case.

After log compaction (§7) the log no longer starts at index 1: a snapshot stands for
every entry up to ``snapshot_index``, and the log holds only what follows it, from
``first_index = snapshot_index + 1`` on.  The snapshot's last entry is still known by
its index and term (``term(snapshot_index) == snapshot_term``), which is all the
consistency check of the next AppendEntries needs.  Asking for anything before that
raises :class:`~raftlab.errors.Compacted`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from raftlab.errors import Compacted
from raftlab.records import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. ``command is None`` marks a new leader's no-op (§8)."""

    index: int
    term: int
    command: bytes | None


class Log:
    """A node's log. Read it freely; only its node changes it (through ``append``/``truncate``
    and, for compaction, ``compact``/``reset``).

    Entries live in a plain list (position ``i - first_index`` holds index ``i``), so
    ``term(i)`` and ``entry(i)`` are O(1).  ``version`` grows with every change, which lets
    a picture reuse the previous copy when nothing changed.

    ``last_index`` is a plain field, kept up to date by every change, not a property: a
    node reads it several times per message, and a property is a Python call each time.
    """

    __slots__ = ("_entries", "version", "snapshot_index", "snapshot_term", "last_index")

    def __init__(
        self, entries: list[Entry] | None = None, snapshot_index: int = 0, snapshot_term: int = 0
    ):
        self._entries: list[Entry] = list(entries or [])
        if snapshot_index < 0 or snapshot_term < 0 or (snapshot_index == 0) != (snapshot_term == 0):
            raise ValueError(
                f"a snapshot ends at an index and term both >= 1 (or both 0 for none), got "
                f"snapshot_index={snapshot_index}, snapshot_term={snapshot_term}"
            )
        if self._entries and self._entries[0].index != snapshot_index + 1:
            raise ValueError(
                f"the entries must start right after the snapshot, at index "
                f"{snapshot_index + 1}, but the first one has index {self._entries[0].index}"
            )
        self.version = 0
        self.snapshot_index = snapshot_index  # the last index the snapshot covers (§7)
        self.snapshot_term = snapshot_term  # and its term: the next consistency check needs it
        self.last_index = snapshot_index + len(self._entries)  # the last index held

    @property
    def first_index(self) -> int:
        """The first index still held (1 before any compaction)."""
        return self.snapshot_index + 1

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.snapshot_term

    def _check(self, index: int) -> None:
        if 1 <= index <= self.snapshot_index:
            raise Compacted(index, self.snapshot_index)
        raise IndexError(f"no entry at index {index}; the log holds {self._held()}")

    def _held(self) -> str:
        if not self._entries:
            return "no entries" + (
                f" (a snapshot covers 1..{self.snapshot_index})" if self.snapshot_index else ""
            )
        return f"{self.first_index}..{self.last_index}"

    def term(self, index: int) -> int:
        """The term of the entry at ``index``; 0 for index 0 (the empty prefix), and the
        snapshot's term for ``snapshot_index``."""
        if index == self.snapshot_index:
            return self.snapshot_term
        pos = index - self.snapshot_index - 1
        if not 0 <= pos < len(self._entries):
            self._check(index)
        return self._entries[pos].term

    def entry(self, index: int) -> Entry:
        pos = index - self.snapshot_index - 1
        if index < 1 or not 0 <= pos < len(self._entries):
            self._check(index)
        return self._entries[pos]

    def entries(self, start: int, stop: int | None = None) -> list[Entry]:
        """Entries with ``start <= index < stop`` (``stop`` defaults to past the end)."""
        # Python's negative slice positions would read from the far end of the list:
        # entries(0) would be the *last* entry, entries(1, 0) all but the last.
        if start < 1:
            raise IndexError(f"log indexes start at 1, got start={start}")
        off = self.snapshot_index
        if start <= off:
            raise Compacted(start, off)
        return self._entries[start - off - 1 : None if stop is None else max(stop - off - 1, 0)]

    def first_index_of_term(self, index: int) -> int:
        """The first index of the run of entries sharing ``term(index)`` (fast backup, §5.3).

        A run that reaches back into the snapshot starts, as far as this log can tell, at
        ``snapshot_index``."""
        term = self.term(index)
        off = self.snapshot_index
        while index > off + 1 and self._entries[index - off - 2].term == term:
            index -= 1
        if index == off + 1 and off and self.snapshot_term == term:
            index = off
        return index

    def last_index_of_term(self, term: int) -> int:
        """The last index holding ``term``, or 0 if the log has no entry of that term."""
        off = self.snapshot_index
        for pos in range(len(self._entries) - 1, -1, -1):
            t = self._entries[pos].term
            if t == term:
                return pos + off + 1
            if t < term:
                return 0
        return off if off and self.snapshot_term == term else 0

    def append(self, entries: list[Entry] | tuple[Entry, ...]) -> None:
        self._entries.extend(entries)
        self.last_index = self.snapshot_index + len(self._entries)
        self.version += 1

    def truncate(self, index: int) -> None:
        """Delete the entry at ``index`` and all that follow it."""
        if index < 1:  # truncate(0) would delete only the last entry (a negative slice)
            raise IndexError(f"log indexes start at 1, got {index}")
        if index <= self.snapshot_index:
            # A snapshot holds only committed entries, which are never deleted (§5.4).
            raise Compacted(index, self.snapshot_index)
        del self._entries[index - self.snapshot_index - 1 :]
        self.last_index = self.snapshot_index + len(self._entries)
        self.version += 1

    def compact(self, index: int) -> None:
        """Discard the entries up to ``index``: a snapshot now stands for them (§7)."""
        if not self.snapshot_index <= index <= self.last_index:
            raise IndexError(
                f"cannot compact up to index {index}: the log holds {self._held()}, "
                f"after a snapshot at {self.snapshot_index}"
            )
        if index == self.snapshot_index:
            return
        self.snapshot_term = self.term(index)
        del self._entries[: index - self.snapshot_index]
        self.snapshot_index = index
        self.version += 1

    def reset(self, snapshot_index: int, snapshot_term: int) -> list[Entry]:
        """Discard the whole log for a snapshot ending at ``(snapshot_index, snapshot_term)``
        (Figure 13, step 7); return the entries discarded."""
        if snapshot_index < 1 or snapshot_term < 1:
            raise ValueError(
                f"a snapshot ends at an index and term >= 1, got ({snapshot_index}, "
                f"{snapshot_term})"
            )
        gone, self._entries = self._entries, []
        self.snapshot_index, self.snapshot_term = snapshot_index, snapshot_term
        self.last_index = snapshot_index
        self.version += 1
        return gone

    def as_tuple(self) -> tuple[Entry, ...]:
        """The entries held (those after the snapshot), in order."""
        return tuple(self._entries)

    def __len__(self) -> int:
        """How many entries the log holds (``last_index`` also counts the snapshot's)."""
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def __repr__(self) -> str:
        terms = " ".join(str(e.term) for e in self._entries[-12:])
        more = "... " if len(self._entries) > 12 else ""
        snap = (
            f"snapshot=({self.snapshot_index}, {self.snapshot_term}), "
            if self.snapshot_index
            else ""
        )
        return f"Log({snap}last_index={self.last_index}, terms=[{more}{terms}])"
