"""One line per thing that happened: the trace a learner reads and the golden tests compare."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """``time`` in simulated ms; ``node`` is ``None`` for cluster-wide events (partitions)."""

    time: float
    node: int | None
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        who = f"S{self.node}" if self.node is not None else "--"
        return f"{self.time:8.2f} {who} {self.kind:<12} {self.detail}".rstrip()
