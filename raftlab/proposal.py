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


@dataclass(slots=True, eq=False)
class ReadRequest:
    """One read handed to a leader by ``Cluster.submit_read`` (thesis §6.4).

    ``mode`` is ``"read_index"`` or ``"lease"``.  Once the leader has confirmed it and
    applied up to ``index``, ``query(state_machine)`` runs on the leader's state machine
    and ``result`` holds what it returned (``error`` what it raised).  A read the leader
    could not serve (it stepped down, crashed, or was not the leader) ends with ``error``
    a ``NotLeader`` or ``LeadershipLost``, and ``ok`` is ``False``.
    """

    query: Any
    node: int | None
    mode: str = "read_index"
    index: int | None = None
    done: bool = False
    ok: bool = False
    result: Any = None
    error: Exception | None = None

    def _finish(self, result: Any = None, error: Exception | None = None, ok: bool = False):
        self.done = True
        self.ok = ok and error is None
        self.result = result
        self.error = error

    # What raftlab.driver.Reads tells a waiting read.
    def _read_ready(self, node: Any, index: int) -> None:
        if self.done:
            return
        self.index = index
        try:
            result = self.query(node.state_machine) if self.query is not None else None
        except Exception as exc:  # noqa: BLE001 - the query's error is the answer
            self._finish(error=exc, ok=True)
            return
        self._finish(result, ok=True)

    def _read_failed(self, error: Exception) -> None:
        if not self.done:
            self._finish(error=error)

    def __repr__(self) -> str:
        where = f"S{self.node}" if self.node is not None else "-"
        if not self.done:
            state = "pending"
        elif self.ok:
            state = f"ok index={self.index} result={self.result!r}"
        else:
            state = f"failed {type(self.error).__name__}: {self.error}"
        return f"ReadRequest({self.mode} at {where}, {state})"
