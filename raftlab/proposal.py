"""What a client gets back from the cluster: the seed's ``Apply`` results (goraft)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, eq=False)
class Proposal:
    """One command handed to a node by ``Cluster.submit``.

    It is ``done`` once the entry is applied on the node that took it (``ok``; ``result``
    holds what the state machine returned and ``error`` what it raised), or once it can
    no longer commit (``error`` is a ``NotLeader`` or ``LeadershipLost``).
    """

    command: bytes
    node: int | None
    index: int | None = None
    term: int | None = None
    done: bool = False
    ok: bool = False
    result: Any = None
    error: Exception | None = None

    def _finish(
        self, result: Any = None, error: Exception | None = None, applied: bool = False
    ) -> None:
        self.done = True
        self.ok = applied and error is None
        self.result = result
        self.error = error

    # What raftlab.driver.Proposals tells a waiting request.
    def _entry_applied(self, position: int, applied: Any) -> None:
        self._finish(applied.result, applied.error, applied=True)

    def _entry_lost(self, index: int, error: Exception) -> None:
        self._finish(error=error)

    def __repr__(self) -> str:
        where = f"S{self.node}" if self.node is not None else "-"
        if not self.done:
            state = "pending"
        elif self.ok:
            state = f"ok result={self.result!r}"
        else:
            state = f"failed {type(self.error).__name__}: {self.error}"
        return f"Proposal({self.command!r} at {where} index={self.index} term={self.term}, {state})"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """One command's outcome in ``Cluster.apply``: the state machine's result or error."""

    result: Any = None
    error: Exception | None = None
