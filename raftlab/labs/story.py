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
    if kind == "snapshot":
        return (
            f"{who} compacts its log into a snapshot up to index {f.get('index', '?')} "
            f"(term {f.get('term', '?')}, {f.get('bytes', '?')} bytes)"
        )
    if kind == "config" and "index" in f:
        voters = ev.detail.split(" ", 1)[1] if " " in ev.detail else "?"
        return f"{who} takes the configuration at index {f['index']}: {voters}"
    if kind == "drift" and " x" in ev.detail:
        return f"{who}'s clock now runs x{ev.detail.rsplit(' x', 1)[1]}"
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
    "(two trace lines at the same instant), servers that do the same thing one right "
    'after another share a line ("so do S2 (time) and S5 (time)"), and so do a '
    "server's commits one after another, a commit and the snapshot taken with it, a "
    "leader's commands appended one after another, and a ReadIndex read served at the "
    "instant it was taken"
)


def tell(
    trace: Sequence[TraceEvent], ending: str | None = None, *, compact: bool = False
) -> list[str]:
    """The numbered story of ``trace``, with ``ending`` (what went wrong) as its last line.

    ``compact`` tells the same events in fewer lines, leaving nothing out (every server
    and every time is still said, in the trace's order); shrunk chaos stories use it and
    say so (:data:`COMPACT_NOTE`):

    - a server's ``follower`` line and the ``vote`` it casts at the same instant in the
      same term are one line (a server that hears of a newer term from a candidate
      follows that term and votes in one step, §5.2);
    - servers that do the very same thing one right after another (commit up to the same
      index, stand in the same term, vote for the same candidate) share a line: ``S3
      commits everything up to index 1; so do S5 (377.18 ms) and S1 (381.86 ms)``;
    - a leader's client commands appended one right after another, at consecutive
      indexes, are one line (``appends client commands at index 4..7`` at one instant,
      ``..., then 8 (740.68 ms)`` at a later one);
    - a commit and the snapshot it lets a server take at that instant (§7) are one line,
      and so are a server's commits one right after another;
    - a leader that takes a ReadIndex read and serves it at that same instant, before
      any answer to its heartbeat round can have come (thesis §6.4), says both in one
      line.

    An election among five servers, and the commits that follow it, take a few lines
    instead of a dozen.
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
        if (
            compact
            and ev.kind == "commit"
            and nxt is not None
            and nxt.kind == "snapshot"
            and (nxt.node, nxt.time) == (ev.node, ev.time)
        ):
            f = _fields(nxt.detail)
            said.append(
                (
                    ev.time,
                    f"{sentence(ev)} and compacts its log into a snapshot up to index "
                    f"{f.get('index', '?')} (term {f.get('term', '?')}, "
                    f"{f.get('bytes', '?')} bytes)",
                )
            )
            k += 2
            continue
        if (
            compact
            and ev.kind == "read_index"
            and nxt is not None
            and nxt.kind == "read"
            and (nxt.node, nxt.time) == (ev.node, ev.time)
            and not nxt.detail.endswith("lease")
            and _fields(nxt.detail).get("index") == _fields(ev.detail).get("index")
        ):
            f = _fields(ev.detail)
            said.append(
                (
                    ev.time,
                    f"S{ev.node} takes a ReadIndex read at commit index {f.get('index', '?')}, "
                    f"sends heartbeat round {f.get('seq', '?')} and, at that same instant, "
                    "serves the read at that index: answered once it has applied it",
                )
            )
            k += 2
            continue
        if compact and ev.kind == "commit" and nxt is not None and nxt.kind == "commit":
            k = _commits(trace, k, said)
            continue
        if compact and ev.kind == "propose":
            k = _appends(trace, k, said)
            continue
        said.append((ev.time, sentence(ev)))
        k += 1
    if compact:
        said = _shared(said)
    lines = [f"{k:3}. {t:8.2f} ms  {text}" for k, (t, text) in enumerate(said, 1)]
    if ending:
        lines.append(f"{len(lines) + 1:3}. {'':8}     !! {ending}")
    return lines


def _appends(trace: Sequence[TraceEvent], k: int, said: list[tuple[float, str]]) -> int:
    """Tell the ``propose`` event at ``k`` and those right after it (same server, the next
    indexes, nothing else between) as one line: ``appends client commands at index 4..6``
    at one instant, ``..., then 7 (740.68 ms) and 8..9 (759.73 ms)`` at later ones; the
    index of the first event not told."""
    ev = trace[k]
    runs: list[tuple[float, int, int]] = []  # (time, first, last) per instant
    last: int | None = None
    j = k
    while j < len(trace) and trace[j].kind == "propose" and trace[j].node == ev.node:
        got = _span(trace[j])
        if got is None or (last is not None and got[0] != last + 1):
            break
        last = got[1]
        if runs and runs[-1][0] == trace[j].time:
            runs[-1] = (runs[-1][0], runs[-1][1], last)
        else:
            runs.append((trace[j].time, got[0], last))
        j += 1
    if j <= k + 1:
        said.append((ev.time, sentence(ev)))
        return k + 1

    def span(first: int, end: int) -> str:
        return f"{first}" if first == end else f"{first}..{end}"

    _, first, end = runs[0]
    text = f"S{ev.node} appends client command{'s' if first != end else ''} at index "
    text += span(first, end)
    later = [f"{span(a, b)} ({t:.2f} ms)" for t, a, b in runs[1:]]
    if later:
        text += ", then " + (
            later[0] if len(later) == 1 else ", ".join(later[:-1]) + " and " + later[-1]
        )
    said.append((ev.time, text))
    return j


def _commits(trace: Sequence[TraceEvent], k: int, said: list[tuple[float, str]]) -> int:
    """Tell the ``commit`` at ``k`` and the same server's commits right after it as one
    line (``..., then up to 3 (2115.83 ms) and 4 (2119.79 ms)``); the index of the first
    event not told."""
    ev = trace[k]
    j = k + 1
    later: list[str] = []
    while j < len(trace) and trace[j].kind == "commit" and trace[j].node == ev.node:
        later.append(f"{_fields(trace[j].detail).get('index', '?')} ({trace[j].time:.2f} ms)")
        j += 1
    text = sentence(ev)
    if later:
        text += ", then up to " + (
            later[0] if len(later) == 1 else ", ".join(later[:-1]) + " and " + later[-1]
        )
    said.append((ev.time, text))
    return j


def _span(ev: TraceEvent) -> tuple[int, int] | None:
    """The indexes a ``propose`` event appended: ``index=4`` or ``index=4..7``."""
    first, _, last = _fields(ev.detail).get("index", "").partition("..")
    last = last or first
    return (int(first), int(last)) if first.isdigit() and last.isdigit() else None


def _index(ev: TraceEvent) -> int | None:
    index = _fields(ev.detail).get("index", "")
    return int(index) if index.isdigit() else None


_SERVER = re.compile(r"S(\d+) ")


def _shared(said: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Join runs of lines that say the same thing of different servers, one right after
    another: the first line keeps its words and time, the others' servers and times
    follow it (``; so does S5 (377.18 ms)``)."""
    out: list[tuple[float, str]] = []
    k = 0
    while k < len(said):
        t, text = said[k]
        m = _SERVER.match(text)
        j = k + 1
        others: list[str] = []
        if m is not None:
            rest = text[m.end() :]
            servers = {m.group(1)}
            while j < len(said):
                n = _SERVER.match(said[j][1])
                if n is None or said[j][1][n.end() :] != rest or n.group(1) in servers:
                    break
                servers.add(n.group(1))
                others.append(f"S{n.group(1)} ({said[j][0]:.2f} ms)")
                j += 1
        if others:
            verb = "so does" if len(others) == 1 else "so do"
            names = others[0] if len(others) == 1 else ", ".join(others[:-1]) + " and " + others[-1]
            text = f"{text}; {verb} {names}"
        out.append((t, text))
        k = j
    return out
