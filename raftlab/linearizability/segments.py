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

It is only a fast path: it gives up (``None``) on a segment of more than
:data:`MAX_SEGMENT` steps, after :data:`MAX_NODES` (steps placed, value) pairs in one
segment, or when more than :data:`MAX_VALUES` values are possible at once, and returns
``None`` also when it finds no order at all, so that the full search
(:mod:`~raftlab.linearizability.search`) runs and reports the failure with its frontier and
minimal set.  It answers only ``True`` or ``None``, and ``True`` only with a linearization
in hand, so it never changes a verdict.

A guess first
-------------
Working out every value of every segment is exact but costs a search per burst.  So
:func:`decide_rows` first guesses one order (:func:`_guess`): each burst in the order its
steps returned, which real time always allows and which a store that answers in the order
it applies explains about 98% of the time; a burst the guess does not explain is replayed
exactly, from the one value at hand.  A ``True`` comes with a linearization in hand; when
the guess runs dry, the exact replay decides from the start, so every other answer (and
the moment a key got stuck) is the exact replay's own.

Unknown outcomes
----------------
A step of unknown outcome (``ret = inf``) never ends a segment: it may take effect at any
moment after its call, or never.  Segments are cut by the known steps alone, and each
unknown is *offered* to the segments from the first one that ends after its call up to the
last one (within :data:`HORIZON` segments) holding a known step that could see its mark
(a read, ``cas`` or reported append expecting the value it wrote, a value starting with it
on a key with appends, or a value containing the piece it appended).  In a segment it is
offered to, it is one more step of the segment's search, placeable once every step that
returned before its call is placed, and only where it changes the value; a state is now a
pair (value, unknowns placed so far), since each may take effect only once.  Of two pairs
with the same value, one whose unknowns placed are a subset of the other's can do all the
other can (an unknown not yet placed may still be left out), so only such minimal pairs
are kept; once past its last offered segment an unknown is forgotten (it is never placed
again, so whether it was placed no longer matters).

Soundness (``True`` only with a linearization): every order the replay builds respects real
time (a known step goes only when called by the time every unplaced known step returned;
an unknown only after everything that returned before its call; steps of a later segment
were called after every earlier step returned), places each unknown at most once, and
follows the model step by step.  Leaving an unknown out, or not offering it somewhere, only
narrows the orders tried, never admits a wrong one; so here the fast path is no longer
exact (it may answer ``None`` where an order exists, and the search then decides), but it
still never answers ``True`` wrongly.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from raftlab.linearizability.models import (
    APPEND,
    APPEND_SAW,
    CAS,
    FAILED_CAS,
    MAYBE_APPEND,
    MAYBE_CAS,
    MAYBE_WRITE,
    READ,
    WRITE,
    Row,
    Step,
)

MAX_SEGMENT = 62  # steps in one segment: beyond this, leave the key to the full search
MAX_NODES = 4096  # (steps placed, value) pairs one segment may try before giving up
MAX_VALUES = 32  # values possible at once: beyond this, leave the key to the full search
MAX_PAIRS = 64  # (value, unknowns placed) pairs possible at once, with unknowns
HORIZON = 100  # segments after its call in which an unknown's mark is looked for
GUESS_HANDOVER = 4  # optional steps left out by _guess, at most, to hand a key over

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
    if kind in (CAS, MAYBE_CAS):  # an optional cas is only ever placed to swap
        return b if state is not None and state == a else _NO
    if kind == MAYBE_WRITE:
        return a
    new = (state or "") + a  # APPEND, APPEND_SAW, MAYBE_APPEND
    if kind == APPEND_SAW and new != b:
        return _NO
    return new


def decide(steps: Sequence[Step], starts: Iterable[Any]) -> bool | None:
    """``True`` if the steps (sorted by call time; optional ones only of unknown outcome)
    can be linearized from one of ``starts``; ``None`` if this fast path cannot tell (see
    the module docstring)."""
    rows = [(s.call, s.ret, s.source, s.kind, s.a, s.b) for s in steps]
    return decide_rows(rows, list(dict.fromkeys(starts)))


def decide_rows(
    rows: Sequence[Row], states: list[Any], stuck: list[float] | None = None
) -> bool | None:
    """:func:`decide` on :data:`~raftlab.linearizability.models.Row` tuples (what
    :func:`~raftlab.linearizability.models.prepare` makes), from the distinct values
    ``states``.  When no value is left after a segment (rather than the fast path giving
    up), the time that segment ends is appended to ``stuck``: the clash is likely there.

    First :func:`_guess` tries to build one linearization cheaply; only if it cannot does
    :func:`_replay_exact` work out every value each segment may leave.  A ``True`` from
    the guess comes with a linearization in hand, so the answer is the one
    :func:`_replay_exact` would give (it is exact where it does not give up; where it
    gives up, the guess may still find an order, which the full search would have found
    too); every other answer, and ``stuck``, come from :func:`_replay_exact` itself.
    """
    if _guess(rows, states):
        return True
    return _replay_exact(rows, states, stuck)


def _run(order: Sequence[Row], v: Any) -> Any:
    """The value after the known steps ``order``, one after the other, from ``v``; or
    ``_NO`` if the model forbids one of them there (:func:`_apply`, inline)."""
    for r in order:
        kind = r[3]
        if kind == READ:
            if v != r[4]:
                return _NO
        elif kind == WRITE:
            v = r[4]
        elif kind == FAILED_CAS:
            if v is not None and v == r[4]:
                return _NO
        elif kind == CAS:
            if v is None or v != r[4]:
                return _NO
            v = r[5]
        elif kind == APPEND_SAW:
            v = (v or "") + r[4]
            if v != r[5]:
                return _NO
        else:  # APPEND
            v = (v or "") + r[4]
    return v


_BY_RET = itemgetter(1)


def _guess(rows: Sequence[Row], states: list[Any]) -> bool:
    """``True`` if one order of the key found cheaply explains it, segment by segment
    (``False``: no conclusion; :func:`_replay_exact` decides).

    Each segment of two or more known steps is first tried in the order the steps
    returned (ties in call order), from the values at hand one by one; the first that
    works is kept as the only value (the others are dropped: the guess only needs one
    order).  Why this order: real time allows it (a step that returned before another
    was called also returned before that one did), and a store that applies each
    operation once between its call and its return mostly answers in the order it
    applied them, so it explains about 98% of the segments of a chaos history.  A
    segment it does not explain is replayed exactly (:func:`_replay`) from the values at
    hand; a lone step maps them as in :func:`_replay_exact`.  Optional steps (unknown
    outcomes) are left out: segments are cut by the known steps alone, as in
    :func:`_with_unknowns`.  If a segment then leaves no value, and at most
    :data:`GUESS_HANDOVER` optional steps were left out so far (and no more than one in
    eight of the steps before the segment), :func:`_with_unknowns`
    goes on from the values before it, over the rest of the key with those steps offered
    again (each may still take effect at any time after its call): in a chaos history a
    key has a few unknown outcomes, and one of them is often what a later read saw.  On a
    key dense with unknowns the guess gives up there instead: the exact replay will run
    :func:`_with_unknowns` over most of the key anyway, and running it twice made the
    slowest of the benchmark's half-unknown histories about 40% slower.

    Soundness: each value kept was reached by a real-time order of the steps so far (an
    order tried, or one of those :func:`_replay` tries; segments follow one another in
    real time), so ``True`` comes with a linearization in hand.  A step of unknown
    outcome may never take effect, so leaving it out keeps the order a linearization;
    :func:`_with_unknowns` answers ``True`` only with one in hand (see "Unknown
    outcomes").  Dropping values and leaving steps out only make the guess fail more
    often (then the exact replay decides), never succeed wrongly.
    """
    n = len(rows)
    skipped: list[Row] = []  # optional steps passed over: left out so far
    i = 0
    while i < n:
        row = rows[i]
        kind = row[3]
        if kind > APPEND_SAW:
            skipped.append(row)
            i += 1
            continue
        before = states
        end = row[1]
        j = i + 1
        inside = False  # an optional step among the known ones
        while j < n:
            nxt = rows[j]
            if nxt[0] > end:
                break  # a quiescent moment: the next segment starts here
            if nxt[3] > APPEND_SAW:
                inside = True
            elif nxt[1] > end:
                end = nxt[1]
            j += 1
        passed: list[Row] = []
        if inside:
            seg = [r for r in rows[i:j] if r[3] <= APPEND_SAW]
            passed = [r for r in rows[i:j] if r[3] > APPEND_SAW]
            m = len(seg)
        else:
            seg = rows[i:j] if j > i + 2 else None  # not needed for one or two steps
            m = j - i
        if m == 1:
            states = _lone(kind, row[4], row[5], states)
        else:
            if m == 2:
                r1 = seg[1] if seg else rows[i + 1]
                order: Sequence[Row] = (row, r1) if row[1] <= r1[1] else (r1, row)
            else:
                order = sorted(seg, key=_BY_RET)  # type: ignore[arg-type]
            for v in states:
                w = _run(order, v)
                if w is not _NO:
                    states = [w]
                    break
            else:
                found = None if m > MAX_SEGMENT else _replay(seg or rows[i:j], states)
                states = found or []
        if not states:
            # Perhaps an optional step left out explains it: go on exactly from here,
            # if only a few were left out (see the docstring).
            left_out = len(skipped) + len(passed)
            return (
                0 < left_out <= GUESS_HANDOVER
                and left_out * 8 <= i  # and they are rare among the steps so far
                and _with_unknowns([*skipped, *rows[i:]], before, None) is True
            )
        skipped += passed
        i = j
    return True


def _replay_exact(
    rows: Sequence[Row], states: list[Any], stuck: list[float] | None = None
) -> bool | None:
    """The exact segment replay of :func:`decide_rows`, every value of every segment.

    Segments of one and two steps, most of a chaos history, skip the general search: a lone
    step just maps each value (a write leaves its value whatever came before; a read keeps
    the values equal to what it saw); of two overlapping steps either may go first (the
    second was called before the first returned, so real time forbids neither order), so
    the values reached are those of both orders.  A key whose steps never overlap in time
    is all lone steps: one pass over its sequential replay, exactly the linearizability of
    a sequential history.
    """
    n = len(rows)
    i = 0
    while i < n:
        row = rows[i]
        kind = row[3]
        if kind > APPEND_SAW:
            return _with_unknowns(rows[i:], states, stuck)  # an optional step from here on
        end = row[1]
        j = i + 1
        while j < n:
            nxt = rows[j]
            if nxt[0] > end:
                break  # a quiescent moment: the next segment starts here
            if nxt[3] > APPEND_SAW:
                return _with_unknowns(rows[i:], states, stuck)
            if nxt[1] > end:
                end = nxt[1]
            j += 1
        if j == i + 1:
            states = _lone(kind, row[4], row[5], states)
        elif j == i + 2:
            states = _pair(row, rows[i + 1], states)
        elif j == i + 3:
            states = _three(row, rows[i + 1], rows[i + 2], states)
        else:
            if j - i > MAX_SEGMENT:
                return None
            found = _segment(rows[i:j], states)
            if found is None:
                return None
            states = found
        if not states:
            if stuck is not None:
                stuck.append(end)
            return None  # no order: let the full search find and explain the failure
        i = j
    return True


def _lone(kind: int, a: Any, b: Any, states: list[Any]) -> list[Any]:
    """The values a lone step leaves from ``states`` (:func:`_map`, with the cases most
    steps are answered quickly: a write leaves its value whatever came before, a read
    keeps the values equal to what it saw, and a single value needs no list walk)."""
    if kind == WRITE:
        return [a]
    if kind == READ:
        if len(states) == 1:
            return states if states[0] == a else []
        return [v for v in states if v == a]
    if len(states) == 1:
        w = _apply(kind, a, b, states[0])
        if w is _NO:
            return []
        return states if kind == FAILED_CAS else [w]  # a failed cas leaves the value as it was
    return _map(kind, a, b, states)


def _map(kind: int, a: Any, b: Any, states: list[Any]) -> list[Any]:
    """The distinct values one step leaves from ``states``."""
    out: list[Any] = []
    for v in states:
        w = _apply(kind, a, b, v)
        if w is not _NO and w not in out:
            out.append(w)
    return out


def _pair(r0: Row, r1: Row, states: list[Any]) -> list[Any]:
    """The distinct values two overlapping steps leave from ``states``, in either order."""
    k0, a0, b0 = r0[3], r0[4], r0[5]
    k1, a1, b1 = r1[3], r1[4], r1[5]
    out: list[Any] = []
    for v in states:
        w = _apply(k0, a0, b0, v)
        if w is not _NO:
            w = _apply(k1, a1, b1, w)
            if w is not _NO and w not in out:
                out.append(w)
        w = _apply(k1, a1, b1, v)
        if w is not _NO:
            w = _apply(k0, a0, b0, w)
            if w is not _NO and w not in out:
                out.append(w)
    return out


# The orders of a three-step segment (steps 0, 1, 2 by call time) that real time may allow,
# by (may step 2 precede step 0?, may step 2 precede step 1?).  Step 1 may always precede
# step 0 (it was called before step 0 returned, or it would start a new segment), and an
# earlier call may always go first; only step 2 can be called after one of them returned.
_ORDERS3 = {
    (False, False): ((0, 1, 2), (1, 0, 2)),
    (False, True): ((0, 1, 2), (0, 2, 1), (1, 0, 2)),
    (True, False): ((0, 1, 2), (1, 0, 2), (1, 2, 0)),
    (True, True): ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)),
}


def _canonical(orders: tuple[tuple[int, ...], ...], read_like: int) -> tuple[tuple[int, ...], ...]:
    """The orders in which no read-like step (bit ``k`` of ``read_like``) directly follows
    a later-called read-like one.  Two orders that differ by swapping two adjacent
    read-like steps reach the same values (neither changes the value, and each must agree
    with the same one), and the earlier-called of two steps may always go first, so
    sorting each run of adjacent read-like steps by call turns any allowed order into one
    kept here, reaching the same values."""
    kept = []
    for order in orders:
        if not any(
            read_like >> x & 1 and read_like >> y & 1 and x > y
            for x, y in zip(order, order[1:], strict=False)
        ):
            kept.append(order)
    return tuple(kept)


#: :data:`_ORDERS3` made canonical, by ``16 * (may 2 precede 0) + 8 * (may 2 precede 1)``
#: plus the read-like steps among 0, 1, 2 as bits 2, 1, 0.
_ORDERS3_BY = [
    _canonical(
        _ORDERS3[bool(n & 16), bool(n & 8)],
        (n >> 2 & 1) | (n >> 1 & 1) << 1 | (n & 1) << 2,
    )
    for n in range(32)
]


def _three(r0: Row, r1: Row, r2: Row, states: list[Any]) -> list[Any]:
    """Every value a segment of three steps may leave: each order real time allows, tried
    in full (a step may precede another exactly when it was called by the time the other
    returned, as in the search's window), but for orders that only swap two reads
    (:func:`_canonical`)."""
    steps = (r0, r1, r2)
    out: list[Any] = []
    n = (
        (r2[0] <= r0[1]) * 16
        + (r2[0] <= r1[1]) * 8
        + (r0[3] <= FAILED_CAS) * 4
        + (r1[3] <= FAILED_CAS) * 2
        + (r2[3] <= FAILED_CAS)
    )
    for order in _ORDERS3_BY[n]:
        for v in states:
            for k in order:
                t = steps[k]
                v = _apply(t[3], t[4], t[5], v)
                if v is _NO:
                    break
            else:
                if v not in out:
                    out.append(v)
    return out


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
    # Columns of the rows (all six long); calls are sorted: rows come in call order.
    calls, rets, _, kinds, args, news = zip(*segment, strict=True)
    # The unplaced step that returns first bounds what may go next: the steps called by
    # its return (``window``), as in the search.
    order = sorted(range(m), key=rets.__getitem__)
    order_bit = [1 << k for k in order]
    window = [(1 << bisect_right(calls, rets[r])) - 1 for r in order]
    read_like = 0
    bit = 1
    for k in kinds:
        if k <= FAILED_CAS:
            read_like |= bit
        bit <<= 1
    effects = full ^ read_like
    out: list[Any] = []
    seen: set[tuple[int, Any]] = set()
    # Depth-first over (placed, value); a pair seen once needs no second look.
    stack = [(0, v) for v in states]
    while stack:
        placed, v = stack.pop()
        placed, cand = _reads_at_once(placed, v, order_bit, window, read_like, kinds, args)
        if cand < 0:  # every step placed
            if v not in out:
                out.append(v)
                if len(out) > MAX_VALUES:
                    return None
            continue
        key = (placed, v)
        if key in seen:
            continue
        seen.add(key)
        if len(seen) > MAX_NODES:
            return None
        cand &= effects
        while cand:
            bit = cand & -cand
            cand ^= bit
            k = bit.bit_length() - 1
            w = _apply(kinds[k], args[k], news[k], v)
            if w is not _NO:
                stack.append((placed | bit, w))
    return out


def _reads_at_once(
    placed: int,
    v: Any,
    order_bit: list[int],
    window: list[int],
    read_like: int,
    kinds: Sequence[int],
    args: Sequence[Any],
) -> tuple[int, int]:
    """Place at once every read-like step that may go now and agrees with ``v`` (the
    search's rule 1; see :func:`_segment` for why the values reached stay the same), again
    and again, since placing one may open the window.  Returns ``placed`` and the steps
    that may go next (called by the first return of an unplaced step of ``order_bit``),
    or -1 when every step of ``order_bit`` is placed."""
    ptr = 0
    n = len(order_bit)
    while True:
        while ptr < n and placed & order_bit[ptr]:
            ptr += 1
        if ptr == n:
            return placed, -1
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
            return placed, cand
        placed |= more


def _with_unknowns(
    rows: Sequence[Row], values: list[Any], stuck: list[float] | None
) -> bool | None:
    """:func:`decide_rows` for a key with operations of unknown outcome (see the module
    docstring, "Unknown outcomes").  ``True`` only with a linearization in hand."""
    inf = math.inf
    known: list[Row] = []
    unknown: list[Row] = []
    grows = False
    for r in rows:
        k = r[3]
        if k > APPEND_SAW:
            if r[1] != inf:
                return None  # a relaxed step with a deadline: only the search has them
            unknown.append(r)
        else:
            known.append(r)
        if k in (APPEND, APPEND_SAW, MAYBE_APPEND):
            grows = True
    # The known steps' segments, as in decide_rows.
    bounds: list[tuple[int, int]] = []
    ends: list[float] = []
    n = len(known)
    i = 0
    while i < n:
        end = known[i][1]
        j = i + 1
        while j < n and known[j][0] <= end:
            if known[j][1] > end:
                end = known[j][1]
            j += 1
        bounds.append((i, j))
        ends.append(end)
        i = j
    nseg = len(bounds)
    # Where each unknown is offered: from the first segment that ends after its call to the
    # last segment (within HORIZON) holding a step that could see its mark.
    seen_in = _Lookers(known, bounds, grows)
    first: list[int] = []
    last: list[int] = []
    for u in unknown:
        f = bisect_left(ends, u[0])
        first.append(f)
        last.append(seen_in.last(u, f, min(f + HORIZON, nseg)))
    # An unknown whose mark only an unknown cas expects (an append the cas's expected value
    # contains, say) stays offered for as long as that cas is.
    cases = [w for w, cas in enumerate(unknown) if cas[3] == MAYBE_CAS]
    for _ in range(2 if cases else 0):
        for q, u in enumerate(unknown):
            for w in cases:
                if last[w] > last[q] and _sees(u, unknown[w], grows):
                    last[q] = last[w]
    states: list[tuple[Any, int]] = [(v, 0) for v in values]
    # Pairs the whole key may try, in proportion to its size: a key dense with unknowns
    # that the fast path cannot settle should reach the search (or _refute) soon.
    budget = [8 * len(rows) + 256]
    active: list[int] = []
    at = 0  # the next unknown to offer (they come in call order, so ``first`` grows)
    for seg in range(nseg):
        while at < len(unknown) and first[at] <= seg:
            if last[at] >= seg:
                active.append(at)
            at += 1
        lo, hi = bounds[seg]
        steps = known[lo:hi]
        if not active:
            if hi - lo > MAX_SEGMENT:
                return None
            used = states[0][1]
            if all(pair[1] == used for pair in states):
                # One set of unknowns placed (the usual case): the values reached are
                # distinct, so every pair is minimal already.
                found = _replay(steps, [v for v, _ in states])
                if found is None:
                    return None
                states = [(w, used) for w in found]
                if not states:
                    if stuck is not None:
                        stuck.append(ends[seg])
                    return None
                if len(states) > MAX_PAIRS:
                    return None
                continue
            groups: dict[int, list[Any]] = {}
            for v, used in states:
                groups.setdefault(used, []).append(v)
            out: list[tuple[Any, int]] = []
            for used, vs in groups.items():
                found = _replay(steps, vs)
                if found is None:
                    return None
                out.extend((w, used) for w in found)
        else:
            if hi - lo + len(active) > MAX_SEGMENT:
                return None
            offered = [unknown[q] for q in active]
            found_pairs = _segment_with(steps, offered, active, states, budget)
            if found_pairs is None:
                return None
            out = found_pairs
            retiring = 0
            for q in active:
                if last[q] == seg:
                    retiring |= 1 << q
            if retiring:
                # Never offered again: whether it was placed no longer matters.
                out = [(v, used & ~retiring) for v, used in out]
                active = [q for q in active if last[q] > seg]
        states = _minimal(out)
        if not states:
            if stuck is not None:
                stuck.append(ends[seg])
            return None
        if len(states) > MAX_PAIRS:
            return None
    return True


class _Lookers:
    """The known steps of a key that look at the value, by segment, to find the last
    segment in a range holding one that could see an unknown's mark (:func:`_sees`).

    A mark seen only when equal to the value looked at (a ``set``'s or ``cas``'s value on
    a key without appends, or a non-string) is looked up by value; a mark seen inside or at
    the start of a string (an append's piece; a string written on a key with appends), and
    a float (``nan`` is not equal to itself, which a lookup by value would not honour),
    are tested step by step, from the end of the range back.
    """

    def __init__(self, known: Sequence[Row], bounds: list[tuple[int, int]], grows: bool):
        self.grows = grows
        self.segs: list[int] = []  # the segment of each looking step, ascending
        self.rows: list[Row] = []
        by_value: dict[Any, list[int]] = {}
        for seg, (lo, hi) in enumerate(bounds):
            for r in known[lo:hi]:
                k = r[3]
                if k in (READ, CAS, FAILED_CAS):
                    look = r[4]
                elif k == APPEND_SAW:
                    look = r[5]
                else:
                    continue
                self.segs.append(seg)
                self.rows.append(r)
                if look is not None:
                    segs = by_value.get(look)
                    if segs is None:
                        by_value[look] = [seg]
                    elif segs[-1] != seg:
                        segs.append(seg)
        self.by_value = by_value

    def last(self, u: Row, lo: int, hi: int) -> int:
        """The last segment in ``range(lo, hi)`` with a step that could see the mark of
        the unknown ``u``, or -1."""
        kind = u[3]
        mark = u[4] if kind == MAYBE_WRITE else u[5]
        if kind != MAYBE_APPEND and not (
            mark is None or isinstance(mark, float) or (self.grows and isinstance(mark, str))
        ):
            # Seen exactly by the steps that look at a value equal to the mark.
            segs = self.by_value.get(mark)
            if segs is None:
                return -1
            at = bisect_left(segs, hi) - 1
            return segs[at] if at >= 0 and segs[at] >= lo else -1
        start = bisect_left(self.segs, lo)
        rows, grows = self.rows, self.grows
        for n in range(bisect_left(self.segs, hi) - 1, start - 1, -1):
            if _sees(u, rows[n], grows):
                return self.segs[n]
        return -1


def _sees(u: Row, r: Row, grows: bool) -> bool:
    """Could the step ``r`` (known, or an unknown ``cas``) see the mark the unknown ``u``
    leaves on the value?"""
    k = r[3]
    if k in (READ, CAS, FAILED_CAS, MAYBE_CAS):
        look = r[4]
    elif k == APPEND_SAW:
        look = r[5]
    else:
        return False
    if u[3] == MAYBE_APPEND:
        return isinstance(look, str) and u[4] in look
    mark = u[4] if u[3] == MAYBE_WRITE else u[5]
    if mark is None:
        return look is None or (k == APPEND_SAW and r[4] == look)
    if look == mark:
        return True
    return grows and isinstance(mark, str) and isinstance(look, str) and look.startswith(mark)


def _replay(steps: Sequence[Row], values: list[Any]) -> list[Any] | None:
    """Every value a segment of known steps can leave from ``values`` (as
    :func:`decide_rows` replays it)."""
    m = len(steps)
    if m == 1:
        t = steps[0]
        return _map(t[3], t[4], t[5], values)
    if m == 2:
        return _pair(steps[0], steps[1], values)
    if m == 3:
        return _three(steps[0], steps[1], steps[2], values)
    return _segment(steps, values)


def _minimal(pairs: list[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """The pairs (value, unknowns placed) with no other pair of the same value having
    placed only some of the same unknowns: that one can do all the first can, since an
    unknown left unplaced may still be left out."""
    best: dict[Any, list[int]] = {}
    for v, used in pairs:
        masks = best.get(v)
        if masks is None:
            best[v] = [used]
        elif not any(m & ~used == 0 for m in masks):
            masks[:] = [m for m in masks if used & ~m != 0]
            masks.append(used)
    return [(v, used) for v, masks in best.items() for used in masks]


def _segment_with(
    segment: Sequence[Row],
    offered: list[Row],
    ids: list[int],
    states: list[tuple[Any, int]],
    budget: list[int],
) -> list[tuple[Any, int]] | None:
    """:func:`_segment` with unknown steps ``offered`` (global bits ``1 << ids[j]``): each
    may be placed anywhere real time allows (after every step that returned before its
    call), at most once over the whole key, and only where it changes the value.  Returns
    the pairs (value, unknowns placed) the segment may leave, or ``None`` once it has tried
    more (steps placed, value) pairs than ``budget[0]`` (which it lowers by those tried)."""
    steps = sorted([*offered, *segment])  # by call (rows sort by call, ret, source)
    m = len(steps)
    kinds = [t[3] for t in steps]
    args = [t[4] for t in steps]
    news = [t[5] for t in steps]
    calls = [t[0] for t in steps]
    local_of: dict[int, int] = {}  # global bit -> local bit
    optional = 0
    by_source = {t[2]: k for k, t in enumerate(steps)}
    for row, q in zip(offered, ids, strict=True):
        bit = 1 << by_source[row[2]]
        local_of[1 << q] = bit
        optional |= bit
    known_idx = sorted((t[1], k) for k, t in enumerate(steps) if not optional >> k & 1)
    order_bit = [1 << k for _, k in known_idx]
    window = [(1 << bisect_right(calls, ret)) - 1 for ret, _ in known_idx]
    read_like = 0
    for k in range(m):
        if kinds[k] <= FAILED_CAS:
            read_like |= 1 << k
    effects = ((1 << m) - 1) ^ read_like
    out: list[tuple[Any, int]] = []
    seen: set[tuple[int, Any]] = set()
    stack = []
    for v, used in states:
        placed = 0
        for g, bit in local_of.items():
            if used & g:
                placed |= bit
        stack.append((placed, v, used & ~_union(local_of)))
    while stack:
        placed, v, outside = stack.pop()
        placed, cand = _reads_at_once(placed, v, order_bit, window, read_like, kinds, args)
        if cand < 0:  # every known step placed
            used = outside
            for g, bit in local_of.items():
                if placed & bit:
                    used |= g
            if (v, used) not in out:
                out.append((v, used))
                if len(out) > 4 * MAX_PAIRS:
                    return None
            continue
        key = (placed, v, outside)
        if key in seen:
            continue
        seen.add(key)
        if len(seen) > budget[0]:
            return None
        cand &= effects
        while cand:
            bit = cand & -cand
            cand ^= bit
            k = bit.bit_length() - 1
            w = _apply(kinds[k], args[k], news[k], v)
            if w is _NO or (bit & optional and w == v):
                continue  # an unknown is placed only where it changes the value
            stack.append((placed | bit, w, outside))
    budget[0] -= len(seen)
    return out


def _union(bits: dict[int, int]) -> int:
    mask = 0
    for g in bits:
        mask |= g
    return mask
