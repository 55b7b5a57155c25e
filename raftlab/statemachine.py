"""The default state machine: it just remembers the commands applied, in order.

Any object with ``apply(command: bytes)`` will do (see ``raftlab.kv.KVStateMachine``).
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

    def __repr__(self) -> str:
        return f"CommandList({self.commands!r})"
