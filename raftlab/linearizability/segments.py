"""A fast path for keys whose operations fall apart at quiescent moments.

Theory of operation
-------------------
Most keys of a chaos history are busy only in bursts: between two bursts there is a
moment when every operation called so far has returned and none has yet been called.
Call such a moment *quiescent*.  Real time orders the operations on either side of it:
each one before it returned before each one after it was called, so every linearization
places all of the first group before any of the second (the search's own rule: a step
may go next only if it was called by the time every unplaced known step returned).  This
is P-compositionality in time (Horn & Kroening 2015 cut a history by key; here we cut one
key's history by time).

So a key's steps split into *segments* at quiescent moments (a step whose call is later
than every earlier step's return starts a new one; equal times do not split, as in the
search), and the key is linearizable from a start exactly when some value reached at the
end of the last segment can be reached segment by segment: the set of values the key may
hold after segment ``k`` is the set reached by every real-time-respecting order of
segment ``k``'s steps, from every value possible before it.  :func:`decide` computes these
sets exactly, by trying every order of each segment (with a cache of (steps placed, value)
pairs already tried), so a non-empty final set proves the key linearizable.

It is only a fast path: it handles keys without optional steps (every outcome known), gives
up (``None``) on a segment of more than :data:`MAX_SEGMENT` steps or when more than
:data:`MAX_VALUES` values are possible at once, and returns ``None`` also when it finds no
order at all, so that the full search (:mod:`~raftlab.linearizability.search`) runs and
reports the failure with its frontier and minimal set.  It answers only ``True`` or
``None``, and ``True`` only with a linearization in hand, so it never changes a verdict.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Any

from raftlab.linearizability.models import (
    APPEND_SAW,
    CAS,
    FAILED_CAS,
    READ,
    WRITE,
    Row,
    Step,
)

MAX_SEGMENT = 10  # steps in one segment: beyond this, leave the key to the full search
MAX_VALUES = 32  # values possible at once: beyond this, leave the key to the full search

_NO = object()  # the result of a step that cannot go from the value at hand


def _apply(kind: int, a: Any, b: Any, state: Any) -> Any:
    """The value after the step from ``state``, or ``_NO`` if the model forbids it there
    (the same semantics as the search: see ``models``)."""
    if kind == READ:
        return state if state == a else _NO
    if kind == WRITE:
        return a
    if kind == FAILED_CAS:
        return state if state is None or state != a else _NO
    if kind == CAS:
        return b if state is not None and state == a else _NO
    new = (state or "") + a  # APPEND, APPEND_SAW
    if kind == APPEND_SAW and new != b:
        return _NO
    return new


def decide(steps: Sequence[Step], starts: Iterable[Any]) -> bool | None:
    """``True`` if the steps (sorted by call time, no optional ones) can be linearized from
    one of ``starts``; ``None`` if this fast path cannot tell (see the module docstring)."""
    rows = [(s.call, s.ret, s.source, s.kind, s.a, s.b) for s in steps]
    return decide_rows(rows, list(dict.fromkeys(starts)))


def decide_rows(rows: Sequence[Row], states: list[Any]) -> bool | None:
    """:func:`decide` on :data:`~raftlab.linearizability.models.Row` tuples (what
    :func:`~raftlab.linearizability.models.prepare` makes), from the distinct values
    ``states``.

    Segments of one and two steps, most of a chaos history, are replayed inline: a lone
    step just maps each value; of two overlapping steps either may go first (the second
    was called before the first returned, so real time forbids neither order), so the
    values reached are those of both orders.
    """
    n = len(rows)
    i = 0
    while i < n:
        row = rows[i]
        call, end, _, kind, a, b = row
        if kind > APPEND_SAW:
            return None  # an optional step: the search's business
        j = i + 1
        while j < n:
            nxt = rows[j]
            if nxt[0] > end:
                break  # a quiescent moment: the next segment starts here
            if nxt[3] > APPEND_SAW:
                return None
            if nxt[1] > end:
                end = nxt[1]
            j += 1
        if j == i + 1:
            if kind == WRITE:
                states = [a]
            elif kind == READ:
                states = [v for v in states if v == a]
            else:
                out = []
                for v in states:
                    w = _apply(kind, a, b, v)
                    if w is not _NO and w not in out:
                        out.append(w)
                states = out
        elif j == i + 2:
            other = rows[i + 1]
            k2, a2, b2 = other[3], other[4], other[5]
            out = []
            for v in states:
                w = _apply(kind, a, b, v)
                if w is not _NO:
                    w = _apply(k2, a2, b2, w)
                    if w is not _NO and w not in out:
                        out.append(w)
                w = _apply(k2, a2, b2, v)
                if w is not _NO:
                    w = _apply(kind, a, b, w)
                    if w is not _NO and w not in out:
                        out.append(w)
            states = out
        else:
            if j - i > MAX_SEGMENT:
                return None
            found = _segment(rows[i:j], states)
            if found is None:
                return None
            states = found
        if not states:
            return None  # no order: let the full search find and explain the failure
        i = j
    return True


def _segment(segment: Sequence[Row], states: list[Any]) -> list[Any] | None:
    """Every value some real-time order of ``segment`` reaches from one of ``states``
    (``None`` past :data:`MAX_VALUES`).

    Read-like steps (a ``get``, a failed ``cas``) that may go now and agree with the value
    go at once, without branching, as in the search's rule 1, and the same proof holds for
    the values reached: moving such a step to the front of any order keeps every other
    step's input value (it changes nothing) and keeps real time (it was called by the time
    every unplaced step returned, so none of them had to precede it).
    """
    m = len(segment)
    full = (1 << m) - 1
    kinds = [t[3] for t in segment]
    args = [t[4] for t in segment]
    news = [t[5] for t in segment]
    # The unplaced step that returns first bounds what may go next: the steps called by
    # its return (``window``), as in the search.
    rets = [t[1] for t in segment]
    order = sorted(range(m), key=rets.__getitem__)
    order_bit = [1 << k for k in order]
    calls = [t[0] for t in segment]  # sorted: the steps come in call order
    window = [(1 << bisect_right(calls, rets[r])) - 1 for r in order]
    read_like = 0
    for k in range(m):
        if kinds[k] <= FAILED_CAS:
            read_like |= 1 << k
    effects = full ^ read_like
    out: list[Any] = []
    seen: set[tuple[int, Any]] = set()
    # Depth-first over (placed, value); a pair seen once needs no second look.
    stack = [(0, v) for v in states]
    while stack:
        placed, v = stack.pop()
        ptr = 0
        while True:
            while ptr < m and placed & order_bit[ptr]:
                ptr += 1
            if ptr == m:
                break
            cand = window[ptr] & ~placed
            more = 0
            reads = cand & read_like
            while reads:
                bit = reads & -reads
                reads ^= bit
                k = bit.bit_length() - 1
                if kinds[k] == READ:
                    if v == args[k]:
                        more |= bit
                elif v is None or v != args[k]:  # a failed cas
                    more |= bit
            if not more:
                break
            placed |= more
        if placed == full:
            if v not in out:
                out.append(v)
                if len(out) > MAX_VALUES:
                    return None
            continue
        key = (placed, v)
        if key in seen:
            continue
        seen.add(key)
        cand &= effects
        while cand:
            bit = cand & -cand
            cand ^= bit
            k = bit.bit_length() - 1
            w = _apply(kinds[k], args[k], news[k], v)
            if w is not _NO:
                stack.append((placed | bit, w))
    return out
