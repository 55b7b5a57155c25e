"""A trace in plain words: one numbered sentence per event, for a reader new to Raft."""

from __future__ import annotations

import re
from collections.abc import Sequence

from raftlab.trace import TraceEvent

_FIELDS = re.compile(r"(\w+)=(\S+)")


def _fields(detail: str) -> dict[str, str]:
    return dict(_FIELDS.findall(detail))


def sentence(ev: TraceEvent) -> str:
    """One trace event as a sentence, e.g. ``S2 wins the election: leader of term 3``."""
    who = f"S{ev.node}" if ev.node is not None else "the network:"
    f = _fields(ev.detail)
    kind = ev.kind
    if kind == "follower":
        return f"{who} is a follower in term {f.get('term', '?')}"
    if kind == "candidate":
        return f"{who} times out and stands for election in term {f.get('term', '?')}"
    if kind == "leader":
        return f"{who} wins the election: leader of term {f.get('term', '?')}"
    if kind == "vote":
        return f"{who} votes for {f.get('for', '?')} in term {f.get('term', '?')}"
    if kind == "propose":
        index = f.get("index", "?")
        many = ".." in index
        return f"{who} appends client command{'s' if many else ''} at index {index}"
    if kind == "commit":
        return f"{who} commits everything up to index {f.get('index', '?')}"
    if kind == "truncate":
        return (
            f"{who} deletes {f.get('removed', '?')} entr"
            f"{'y' if f.get('removed') == '1' else 'ies'} from index {f.get('from', '?')} on "
            "(they conflict with the leader's)"
        )
    if kind == "read_index":
        index, seq = f.get("index", "?"), f.get("seq", "?")
        if index == "-":
            return (
                f"{who} takes a ReadIndex read before an entry of its term has committed "
                f"(its commit index is not known yet), and sends heartbeat round {seq}"
            )
        return (
            f"{who} takes a ReadIndex read at commit index {index}, and sends heartbeat round {seq}"
        )
    if kind == "read":
        how = "its lease holds" if ev.detail.endswith("lease") else "ReadIndex"
        return (
            f"{who} serves a read at index {f.get('index', '?')} ({how}): answered once "
            "it has applied that index"
        )
    if kind == "crash":
        return f"{who} crashes (in term {f.get('term', '?')})"
    if kind == "restart":
        return (
            f"{who} restarts from its disk: term {f.get('term', '?')}, "
            f"log up to index {f.get('last', '?')}"
        )
    if kind == "partition":
        return f"the network splits into groups {ev.detail}"
    if kind == "isolate":
        return f"{ev.detail} is cut off from everyone"
    if kind == "cut":
        return f"the link {ev.detail} is cut"
    if kind == "connect":
        return f"the link {ev.detail} works again"
    if kind == "heal":
        return "the network heals: everyone can talk again"
    if kind == "network":
        name, _, value = ev.detail.partition("=")
        if name == "drop_rate":
            return f"the network now loses {float(value):.0%} of messages"
        if name == "duplicate_rate":
            return f"the network now duplicates {float(value):.0%} of messages"
        if name == "delay_ms":
            return f"one-way network delay is now {value} ms"
    return f"{who} {kind} {ev.detail}".rstrip()


#: What a compact story says in its header about the lines it joined.
COMPACT_NOTE = (
    "a server that steps into a new term to vote is told in one line with its vote "
    "(two trace lines at the same instant)"
)


def tell(
    trace: Sequence[TraceEvent], ending: str | None = None, *, compact: bool = False
) -> list[str]:
    """The numbered story of ``trace``, with ``ending`` (what went wrong) as its last line.

    ``compact`` joins a server's ``follower`` line with the ``vote`` it casts at the
    same instant in the same term (a server that hears of a newer term from a candidate
    follows that term and votes in one step, §5.2): nothing is left out, but an election
    among five servers takes half as many lines.  Shrunk chaos stories use it and say
    so (:data:`COMPACT_NOTE`).
    """
    said: list[tuple[float, str]] = []
    k = 0
    while k < len(trace):
        ev = trace[k]
        nxt = trace[k + 1] if k + 1 < len(trace) else None
        if (
            compact
            and ev.kind == "follower"
            and nxt is not None
            and nxt.kind == "vote"
            and (nxt.node, nxt.time, nxt.term) == (ev.node, ev.time, ev.term)
        ):
            said.append((ev.time, sentence(nxt) + ", following that term from now on"))
            k += 2
            continue
        said.append((ev.time, sentence(ev)))
        k += 1
    lines = [f"{k:3}. {t:8.2f} ms  {text}" for k, (t, text) in enumerate(said, 1)]
    if ending:
        lines.append(f"{len(lines) + 1:3}. {'':8}     !! {ending}")
    return lines
