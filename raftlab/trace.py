"""One line per thing that happened: the trace a learner reads and the golden tests compare."""

from __future__ import annotations

from dataclasses import dataclass

from raftlab.records import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class TraceEvent:
    """``time`` in simulated ms; ``node`` is ``None`` for cluster-wide events (partitions).

    ``detail`` is for people.  Programs read the typed facts instead of parsing it:
    ``term`` is the node's current term after the event (for a node's events), and
    ``groups`` says which servers a network event is about: the groups of a
    ``partition``, ``((i,),)`` for ``isolate``, ``((a, b),)`` for ``cut`` and ``connect``.
    """

    time: float
    node: int | None
    kind: str
    detail: str = ""
    term: int | None = None
    groups: tuple[tuple[int, ...], ...] | None = None

    def __str__(self) -> str:
        who = f"S{self.node}" if self.node is not None else "--"
        return f"{self.time:8.2f} {who} {self.kind:<12} {self.detail}".rstrip()
