"""The replicated log (§5.3): entries with an index and the term they were created in.

Indexes start at 1, as in the paper; ``term(0) == 0`` stands for "before the first
entry", so the consistency check for the very first entry needs no special case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from raftlab.records import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. ``command is None`` marks a new leader's no-op (§8)."""

    index: int
    term: int
    command: bytes | None


class Log:
    """A node's log. Read it freely; only its node changes it (through ``append``/``truncate``).

    Entries live in a plain list (position ``i - 1`` holds index ``i``), so ``term(i)``
    and ``entry(i)`` are O(1).  ``version`` grows with every change, which lets a
    snapshot reuse the previous copy when nothing changed.
    """

    __slots__ = ("_entries", "version")

    def __init__(self, entries: list[Entry] | None = None):
        self._entries: list[Entry] = list(entries or [])
        self.version = 0

    @property
    def last_index(self) -> int:
        return len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else 0

    def term(self, index: int) -> int:
        """The term of the entry at ``index``; 0 for index 0 (the empty prefix)."""
        if index == 0:
            return 0
        if not 1 <= index <= len(self._entries):
            raise IndexError(f"no entry at index {index}; the log holds 1..{len(self._entries)}")
        return self._entries[index - 1].term

    def entry(self, index: int) -> Entry:
        if not 1 <= index <= len(self._entries):
            raise IndexError(f"no entry at index {index}; the log holds 1..{len(self._entries)}")
        return self._entries[index - 1]

    def entries(self, start: int, stop: int | None = None) -> list[Entry]:
        """Entries with ``start <= index < stop`` (``stop`` defaults to past the end)."""
        # Python's negative slice positions would read from the far end of the list:
        # entries(0) would be the *last* entry, entries(1, 0) all but the last.
        if start < 1:
            raise IndexError(f"log indexes start at 1, got start={start}")
        return self._entries[start - 1 : None if stop is None else max(stop - 1, 0)]

    def first_index_of_term(self, index: int) -> int:
        """The first index of the run of entries sharing ``term(index)`` (fast backup, §5.3)."""
        term = self.term(index)
        while index > 1 and self._entries[index - 2].term == term:
            index -= 1
        return index

    def last_index_of_term(self, term: int) -> int:
        """The last index holding ``term``, or 0 if the log has no entry of that term."""
        for i in range(len(self._entries), 0, -1):
            t = self._entries[i - 1].term
            if t == term:
                return i
            if t < term:
                break
        return 0

    def append(self, entries: list[Entry] | tuple[Entry, ...]) -> None:
        self._entries.extend(entries)
        self.version += 1

    def truncate(self, index: int) -> None:
        """Delete the entry at ``index`` and all that follow it."""
        if index < 1:  # truncate(0) would delete only the last entry (a negative slice)
            raise IndexError(f"log indexes start at 1, got {index}")
        del self._entries[index - 1 :]
        self.version += 1

    def as_tuple(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def __repr__(self) -> str:
        terms = " ".join(str(e.term) for e in self._entries[-12:])
        more = "... " if len(self._entries) > 12 else ""
        return f"Log(last_index={self.last_index}, terms=[{more}{terms}])"
