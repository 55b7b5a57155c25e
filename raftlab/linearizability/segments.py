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
    APPEND,
    APPEND_SAW,
    CAS,
    FAILED_CAS,
    READ,
    WRITE,
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
    states = list(dict.fromkeys(starts)) if not isinstance(starts, list) else starts
    kinds = {s.kind for s in steps}
    if not kinds <= _KNOWN:
        return None  # an optional step: the search's business (checked first: it is cheap)
    n = len(steps)
    i = 0
    while i < n:
        s = steps[i]
        end = s.ret
        j = i + 1
        while j < n and steps[j].call <= end:  # overlaps the segment so far
            if steps[j].ret > end:
                end = steps[j].ret
            j += 1
        if j - i == 1:
            kind, a, b = s.kind, s.a, s.b
            if kind == WRITE:
                states = [a]
                i = j
                continue
            out = []
            for v in states:
                w = _apply(kind, a, b, v)
                if w is not _NO and w not in out:
                    out.append(w)
            states = out
        else:
            if j - i > MAX_SEGMENT:
                return None
            segment = steps[i:j]
            states = _segment(segment, states)
            if states is None:
                return None
        if not states:
            return None  # no order: let the full search find and explain the failure
        i = j
    return True


_KNOWN = frozenset((READ, FAILED_CAS, WRITE, CAS, APPEND, APPEND_SAW))


def _segment(segment: Sequence[Step], states: list[Any]) -> list[Any] | None:
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
    # The unplaced step that returns first bounds what may go next: the steps called by
    # its return (``window``), as in the search.
    order = sorted(range(m), key=lambda k: segment[k].ret)
    order_bit = [1 << k for k in order]
    calls = [t.call for t in segment]  # sorted: the steps come in call order
    window = [(1 << bisect_right(calls, segment[r].ret)) - 1 for r in order]
    read_like = 0
    for k in range(m):
        if segment[k].kind in (READ, FAILED_CAS):
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
                t = segment[bit.bit_length() - 1]
                if _apply(t.kind, t.a, t.b, v) is not _NO:
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
            t = segment[bit.bit_length() - 1]
            w = _apply(t.kind, t.a, t.b, v)
            if w is not _NO:
                stack.append((placed | bit, w))
    return out
