"""``check(history)``: is there one order of the operations that explains every answer?

Theory of operation
-------------------
Linearizability is *local* (Herlihy & Wing 1990, §3.3; "P-compositionality" in Horn &
Kroening 2015): a history is linearizable exactly when each key's operations are, since
operations on different keys never constrain each other.  So :func:`check` splits the
history by key and runs one :class:`~raftlab.linearizability.search.KeySearch` per key.

Keys are searched side by side, cheapest first, in slices of a budget that doubles every
round, and the check stops at the first key that fails, as Porcupine does with one
goroutine per key.  This matters: in a non-linearizable history some keys can be very
expensive to exhaust while another fails in a few dozen steps.

A :class:`~raftlab.history.History` compiles its operations for the check as they are
recorded (:func:`~raftlab.linearizability.models.prepare_history`), so the check starts from
each key's rows.  Before any search, :mod:`~raftlab.linearizability.segments` replays each
key burst by burst between quiescent moments, guessing one order first; most keys end
there.  Where that replay runs dry on a key with
unknown outcomes, the full search gets a head start (most such keys are linearizable, and
it finds their order quickly); failing that, :func:`_refute` tries to prove the failure on
a few bursts with everything earlier relaxed (unknown outcomes make the full search
exponential in the worst case), and the full search goes on only if that proves nothing.

For a failing key, :mod:`~raftlab.linearizability.minimize` shrinks its operations to a
minimal set that cannot be ordered; that is what :class:`CheckResult` reports.  Shrinking is
a second, separate step: ``check(history, minimal=False)`` stops at the verdict (the
failing key and all its operations), and :func:`shrink` does the rest when wanted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raftlab.history import ANY, History, Operation
from raftlab.linearizability import segments
from raftlab.linearizability.minimize import explain, start_candidates
from raftlab.linearizability.models import (
    MAYBE,
    Step,
    compile_key,
    prepare_history,
    relax,
    steps_of,
)
from raftlab.linearizability.search import KeySearch, Problem

_FIRST_SLICE = 256  # nodes per key in the first round; doubles every round
_TIME_SLICE = 20_000  # with a timeout, look at the clock at least this often (in nodes)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict of :func:`check`.

    ``ok`` is ``True`` (linearizable), ``False`` (not) or ``None`` (the check gave up at
    its timeout).  For a failure, ``key`` names the key and ``operations`` a minimal set of
    its operations that cannot be ordered, in call order:

    * on their own they cannot be put in any order that respects real time, starting from
      ``start``;
    * nor can they with the rest of the key's history around them, *whatever* those other
      operations did: each may have done nothing (or, if its outcome is unknown, taken
      effect at any time after its call).  So the set explains the failure on its own;
      nothing left out could rescue it;
    * no single operation can be dropped: forget what any one of them returned (let it
      have done nothing) and the key can be ordered.

    (Deleting operations outright is not how minimality is judged: deleting a write can
    make a read *harder* to explain, and a set minimal that way can blame operations an
    unknown-outcome write would have explained.  See ``minimize``.)

    ``start`` is the starting value of the key under which that holds: :data:`ANY` (no
    starting value explains them, the usual case) or the key's initial value (the clash
    involves it, e.g. a read of a value nobody had written yet).  ``minimal`` is ``False``
    only if shrinking ran out of time or budget, or was not asked for
    (``check(..., minimal=False)``: ``operations`` is then every operation of the key, which
    cannot be ordered either; :func:`shrink` makes it minimal).  ``nodes`` counts search
    nodes, a measure of the work done.  ``frontier`` is a time the failing search never
    looked past (operations called later play no part in the failure).
    """

    ok: bool | None
    model: str
    key: str | None = None
    operations: tuple[Operation, ...] = ()
    start: Any = None
    minimal: bool = True
    nodes: int = 0
    frontier: float = math.inf

    def __str__(self) -> str:
        return self.verdict()

    def verdict(self) -> str:
        """One paragraph for a person: the verdict and, for a failure, the operations."""
        if self.ok:
            return f"Linearizable: every key's operations fit one order ({self.model} model)."
        if self.ok is None:
            return (
                f"Unknown: the check gave up before finding an order or proving none exists "
                f"({self.model} model, {self.nodes} search nodes)."
            )
        if self.start is ANY:
            whence = "whatever value the key held before them"
        else:
            whence = f"starting from the key's initial value {_show_start(self.start)}"
        lines = [
            f"Not linearizable: key {self.key!r} ({self.model} model). No order that "
            f"respects real time fits these {len(self.operations)} operations, {whence}, "
            "even if the key's other operations did nothing (or, with an unknown outcome, "
            "took effect at any time after their call)"
            + ("" if self.minimal else " (the set may not be minimal: shrinking gave up)")
            + ":"
        ]
        lines += [f"  {op.describe()}" for op in self.operations]
        return "\n".join(lines)


def check(
    history: History,
    model: str = "kv",
    timeout_s: float | None = None,
    *,
    minimal: bool = True,
) -> CheckResult:
    """Decide whether ``history`` is linearizable under ``model`` (``"kv"`` or ``"register"``).

    Returns ``ok=None`` if ``timeout_s`` seconds pass first.  Raises ``ValueError`` if the
    model cannot judge the history (an unknown model; an append on a register).  With
    ``minimal=False`` a failure is reported without shrinking (see :func:`shrink`).
    """
    ops = list(history)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    initial = history.initial
    rows_by_key = prepare_history(history, model)  # validates too
    searches = []
    for key in sorted(rows_by_key, key=repr):
        rows = rows_by_key[key]
        stuck: list[float] = []
        if initial is not ANY and segments.decide_rows(rows, [initial], stuck):
            continue  # the fast path found an order (it only ever answers True or None)
        steps = steps_of(rows)
        if initial is ANY and segments.decide_rows(rows, start_candidates(steps)):
            continue
        search: KeySearch | _AnyStartSearch | _SearchThenRefute
        if stuck and any(s.kind in MAYBE for s in steps):
            search = _SearchThenRefute(steps, initial, stuck[0])
        else:
            search = _AnyStartSearch(steps) if initial is ANY else KeySearch(steps, initial)
        searches.append((len(steps), repr(key), key, steps, search))
    searches.sort(key=lambda item: item[:2])  # cheapest first, then by key: deterministic

    def nodes() -> int:
        return sum(item[4].nodes for item in searches)

    live = searches
    budget = _FIRST_SLICE
    while live:
        still = []
        for item in live:
            verdict = _run(item[4], budget, deadline)
            if verdict is False:
                _, _, key, steps, search = item
                if not minimal:
                    chosen = tuple(ops[s.source] for s in steps)
                    frontier = search.frontier_time
                    return CheckResult(False, model, key, chosen, initial, False, nodes(), frontier)
                return _failure(model, key, steps, search, initial, ops, nodes(), deadline)
            if verdict is None:
                if deadline is not None and time.monotonic() >= deadline:
                    return CheckResult(None, model, nodes=nodes())
                still.append(item)
        live = still
        budget *= 2
    return CheckResult(True, model, nodes=nodes())


def _run(
    search: KeySearch | _AnyStartSearch | _SearchThenRefute, budget: int, deadline: float | None
) -> bool | None:
    if deadline is None:
        return search.run(budget)
    while budget > 0:
        verdict = search.run(min(budget, _TIME_SLICE))
        if verdict is not None or time.monotonic() >= deadline:
            return verdict
        budget -= _TIME_SLICE
    return None


def shrink(history: History, result: CheckResult, timeout_s: float | None = None) -> CheckResult:
    """Shrink a failure of ``check(history, minimal=False)`` to a minimal failing set.

    ``result`` must be a failure of this ``history``; the answer is what ``check(history)``
    would have said.  A result that is not a failure, or is already minimal, comes back as
    it is.  Once ``timeout_s`` passes, shrinking stops with a set that still fails
    (``minimal`` then stays ``False``).
    """
    if result.ok is not False or result.minimal:
        return result
    ops = list(history)
    by_key = [(i, op) for i, op in enumerate(ops) if op.key == result.key]
    if not by_key:
        raise ValueError(f"the history has no operation on key {result.key!r}: not its result")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    steps = compile_key(by_key)
    found = explain(steps, history.initial, result.frontier, _clock(deadline))
    chosen = tuple(ops[s.source] for s in found.steps)
    return CheckResult(
        False,
        result.model,
        result.key,
        chosen,
        found.start,
        found.minimal,
        result.nodes,
        result.frontier,
    )


def _failure(
    model: str,
    key: Any,
    steps: list[Step],
    search: KeySearch | _AnyStartSearch | _SearchThenRefute,
    initial: Any,
    ops: list[Operation],
    nodes: int,
    deadline: float | None,
) -> CheckResult:
    frontier = search.frontier_time
    found = explain(steps, initial, frontier, _clock(deadline))
    chosen = tuple(ops[s.source] for s in found.steps)
    return CheckResult(False, model, key, chosen, found.start, found.minimal, nodes, frontier)


def _clock(deadline: float | None) -> Callable[[], bool]:
    if deadline is None:
        return lambda: False
    return lambda: time.monotonic() >= deadline


def _show_start(value: Any) -> str:
    return "(absent)" if value is None else repr(value)


class _AnyStartSearch:
    """A key is linearizable from *some* start if one of the representative starts works."""

    def __init__(self, steps: list[Step]):
        problem = Problem(steps)
        failures: dict[tuple[int, Any, bool], list[int]] = {}  # shared: see KeySearch
        self._searches = [KeySearch(problem, v, failures) for v in start_candidates(problem.steps)]
        self._at = 0
        self.frontier_time = float("inf")  # no single search's frontier covers every start

    @property
    def nodes(self) -> int:
        return sum(s.nodes for s in self._searches)

    def run(self, budget: int) -> bool | None:
        while self._at < len(self._searches):
            verdict = self._searches[self._at].run(budget)
            if verdict is None:
                return None
            if verdict:
                return True
            self._at += 1
        return False


#: Nodes each try of :func:`_refute` may explore.
REFUTE_BUDGET = 1_000


#: Nodes the full search gets on a key where the segment fast path ran dry before
#: :func:`_refute` is tried.  Most such keys are linearizable, and the search finds their
#: order in a few hundred nodes, while a refutation that cannot succeed tries five small
#: searches (tens of milliseconds on a key half unknown).
HEAD_START = 1_000


class _SearchThenRefute:
    """The full search of a key with unknown outcomes where the fast path ran dry, with
    :func:`_refute` tried once, after a head start of :data:`HEAD_START` nodes.

    It answers exactly what ``_refute`` first and then the full search would, in the same
    round of :func:`check`'s budgets, so the key reported for a failing history and its
    operations do not depend on the head start:

    * a linearization found in the head start is an answer ``_refute`` could not have
      changed (it only ever proves failures, soundly);
    * otherwise ``_refute`` runs before any failure is told; if it proves one, the key
      fails at its first turn, with ``_refute``'s frontier, as it would have first;
    * if not, the search's failure is held back until the budgets given add up to more
      than the nodes it entered after its root (one unit of budget each; the last frames
      are popped with budget to spare), the round in which the same deterministic search
      started afresh would have failed.
    """

    def __init__(self, steps: list[Step], initial: Any, stuck: float):
        self._steps = steps
        self._initial = initial
        self._stuck = stuck
        self._search = KeySearch(steps, initial)
        self._refute_nodes = 0
        self._refuted = False
        self._tried = False
        self._given = 0  # budget units given to run() so far

    @property
    def nodes(self) -> int:
        return self._search.nodes + self._refute_nodes

    @property
    def frontier_time(self) -> float:
        return self._stuck if self._refuted else self._search.frontier_time

    def run(self, budget: int) -> bool | None:
        if self._refuted:
            return False
        self._given += budget
        search = self._search
        if not self._tried:
            verdict = search.run(HEAD_START)
            if verdict is True:
                return True
            self._tried = True
            refuted = _refute(self._steps, self._initial, self._stuck)
            if refuted is not None:
                self._refute_nodes = refuted.nodes
                self._refuted = True
                return False
        used = search.nodes - 1  # units spent: one per node entered after the root
        if search.result is True:
            return True
        if search.result is False:
            # A search run afresh pops its last frames with budget to spare: it fails in
            # the round whose budgets add up to more than the nodes it entered.
            return False if self._given > used else None
        if used >= self._given:
            return None
        return search.run(self._given - used)


class _Refuted:
    """What :func:`_refute` returns when it proves a key not linearizable."""

    def __init__(self, nodes: int, frontier_time: float):
        self.nodes = nodes
        self.frontier_time = frontier_time


def _refute(steps: list[Step], initial: Any, stuck: float) -> _Refuted | None:
    """Try to prove cheaply that a key with unknown outcomes cannot be ordered.

    The segment fast path found no value left after the burst ending at ``stuck``; with
    unknown outcomes it tries only some placements of them, so that proves nothing, but
    the clash is likely there.  Keep exact the known steps of the last 1, 2, 4, 8, 16
    bursts up to ``stuck``, relax every other step called by then (see ``minimize``), leave
    out every step called later, and search with a small budget.  If that cannot be
    ordered, neither can the key, for two reasons:

    * steps called after ``stuck`` play no part: each was called after every known step
      called by then had returned, so in any linearization of the key all of those come
      first, and cutting the order after the last of them leaves a linearization of the
      steps called by ``stuck`` (unknowns placed later are simply left out);
    * relaxing a step (it took effect within its interval or not at all, whatever it
      returned) only ever adds ways to order the steps.

    Returns the proof, with ``stuck`` as its frontier (operations called later play no
    part), or ``None`` (the full search decides).  Unknown
    outcomes make the full search exponential in the worst case; a clash between a few
    operations is usually found here in a few hundred nodes.
    """
    prefix = [s for s in steps if s.call <= stuck]
    starts: list[float] = []  # the first call of each burst of known steps
    end = -math.inf
    for s in prefix:
        if s.kind in MAYBE:
            continue
        if s.call > end:
            starts.append(s.call)
        end = max(end, s.ret)
    nodes = 0
    for w in (1, 2, 4, 8, 16):
        since = starts[-min(w, len(starts))] if starts else -math.inf
        kept: list[Step] = []
        for s in prefix:
            if s.kind in MAYBE or s.call >= since:
                kept.append(s)
            else:
                r = relax(s)
                if r is not None:
                    kept.append(r)
        search = KeySearch(kept, initial)
        verdict = search.run(REFUTE_BUDGET)
        nodes += search.nodes
        if verdict is False:
            return _Refuted(nodes, stuck)
        if w >= len(starts):
            break
    return None
