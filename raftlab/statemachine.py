"""The default state machine: it just remembers the commands applied, in order.

Any object with ``apply(command: bytes)`` will do, and with ``snapshot() -> bytes`` and
``restore(bytes)`` for log compaction (§7) (see ``raftlab.kv.KVStateMachine``).
Applying the same log in the same order gives the same state on every replica: that is
the whole idea of a replicated state machine (§2).
"""

from __future__ import annotations


class CommandList:
    """Appends each command to ``commands`` and returns how many it holds."""

    def __init__(self) -> None:
        self.commands: list[bytes] = []

    def apply(self, command: bytes) -> int:
        self.commands.append(command)
        return len(self.commands)

    def snapshot(self) -> bytes:
        """Every command applied so far, each with its length in front (§7)."""
        return b"".join(len(c).to_bytes(4, "big") + c for c in self.commands)

    def restore(self, snapshot: bytes) -> None:
        """Replace the commands with those of a ``snapshot()``."""
        commands, pos = [], 0
        while pos < len(snapshot):
            if pos + 4 > len(snapshot):
                raise ValueError("these bytes are not a CommandList snapshot (cut short)")
            n = int.from_bytes(snapshot[pos : pos + 4], "big")
            if pos + 4 + n > len(snapshot):
                raise ValueError("these bytes are not a CommandList snapshot (cut short)")
            commands.append(bytes(snapshot[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        self.commands = commands

    def __repr__(self) -> str:
        return f"CommandList({self.commands!r})"
