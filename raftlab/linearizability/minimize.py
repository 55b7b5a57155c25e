"""Shrinking a non-linearizable key to the few operations that cannot be ordered.

Theory of operation
-------------------
A failing key may hold hundreds of operations; a learner wants the handful that clash.
Simply deleting operations while the rest still fails does not work: deleting can also make
a history *harder* to order (delete the write a read saw, and the read becomes impossible),
so the survivors may fail for a reason the real history does not have.  Instead we
*relax* operations: forget what an operation returned and let it have done nothing, so it
took effect within its interval or not at all (:func:`~raftlab.linearizability.models.relax`;
a relaxed read says nothing and disappears).  Relaxing only ever adds ways to order a history, so:

* if the key still fails with every operation outside a set ``C`` relaxed, then ``C`` on
  its own explains the failure: nothing the other operations did could rescue it;
* one greedy pass finds a minimal such ``C``: relax each operation in turn and keep it
  relaxed when the key still fails.  An operation that had to stay exact then will still
  have to at the end, as relaxing more only makes ordering easier.

Forgetting the key's starting value (:data:`raftlab.history.ANY`) is one more such
weakening; we use it whenever the failure does not depend on the start.

Cost: the failing search tells us the point it never got past (``frontier``); the clash is
nearly always just before it.  We keep exact only the last 2, 4, 8, ... operations before
that point until the key fails, then run the greedy pass over those few.  Each recheck has a
budget of search nodes; one that runs out counts as "can be ordered" (so the operation
stays exact), which keeps the answer honest but perhaps not minimal
(:attr:`Explanation.minimal` is then ``False``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from raftlab.history import ANY
from raftlab.linearizability.models import (
    APPEND,
    APPEND_SAW,
    CAS,
    FAILED_CAS,
    MAYBE,
    MAYBE_APPEND,
    MAYBE_CAS,
    MAYBE_WRITE,
    READ,
    WRITE,
    Step,
    relax,
)
from raftlab.linearizability.search import KeySearch, Problem

#: Nodes one recheck (from one start) may explore before it counts as "can be ordered".
RECHECK_BUDGET = 20_000


@dataclass(frozen=True, slots=True)
class Explanation:
    steps: tuple[Step, ...]  # the operations kept exact, by call time
    start: Any  # ANY, or the initial value the key fails from
    minimal: bool  # False if a recheck ran out of budget or time


def explain(
    steps: Sequence[Step],
    initial: Any,
    frontier: float = math.inf,
    out_of_time: Callable[[], bool] = lambda: False,
) -> Explanation:
    """A minimal set of ``steps`` to keep exact, relaxing the rest, so the key still fails.

    ``steps`` must fail from ``initial``.  ``frontier`` is
    :attr:`KeySearch.frontier_time` of the failing search.  Once ``out_of_time()`` turns
    true, shrinking stops and returns what it has (still failing).
    """
    checker = _Checker(steps, out_of_time)
    known = sorted((s for s in steps if s.kind not in MAYBE), key=lambda s: (s.ret, s.source))
    before = [s for s in known if s.call <= frontier]
    exact: list[Step] | None = None
    for start in (ANY, initial):
        exact = _last_few_that_fail(before, start, checker)
        if exact is not None:
            break
    if exact is None:  # cannot happen: relaxing nothing gives back the failing key
        start, exact = initial, known
    for step in sorted(exact, key=_relax_order):
        trial = [s for s in exact if s is not step]
        if checker.fails(trial, start):
            exact = trial
    chosen = tuple(sorted(exact, key=lambda s: (s.call, s.ret, s.source)))
    return Explanation(chosen, start, not checker.ran_out)


def _last_few_that_fail(known: list[Step], start: Any, checker: _Checker) -> list[Step] | None:
    """The last 2, 4, 8, ... of ``known`` (by return), the first that fails with the rest
    relaxed; ``None`` if even all of them can be ordered."""
    size = 2
    while known:
        trial = known[-size:]
        if checker.fails(trial, start):
            return trial
        if size >= len(known):
            return None
        size *= 2
    return None


def _relax_order(step: Step) -> tuple[int, float, int]:
    # Reads first (relaxing one only removes a constraint), then the earliest operations:
    # the clash is at the end, so far-away operations are the likeliest to go.
    return (0 if step.kind == READ else 1, step.call, step.source)


class _Checker:
    """Rechecks "the key with everything but ``exact`` relaxed", remembering answers."""

    def __init__(self, steps: Sequence[Step], out_of_time: Callable[[], bool]) -> None:
        self._steps = list(steps)
        self._relaxed = {s.source: relax(s) for s in self._steps}
        self._out_of_time = out_of_time
        self._seen: dict[tuple[frozenset[int], bool], bool] = {}
        self.ran_out = False

    def fails(self, exact: Iterable[Step], start: Any) -> bool:
        """True if no order exists (from ``start``, or from every start if it is ANY)."""
        keep = frozenset(s.source for s in exact)
        key = (keep, start is ANY)
        if key not in self._seen:
            self._seen[key] = self._decide(keep, start)
        return self._seen[key]

    def _decide(self, keep: frozenset[int], start: Any) -> bool:
        if self._out_of_time():
            self.ran_out = True
            return False
        steps = []
        for s in self._steps:
            t = s if s.source in keep else self._relaxed[s.source]
            if t is not None:
                steps.append(t)
        if start is ANY:
            # An optional step that returned before the first exact one was called must be
            # placed (if at all) before every exact step, so whatever it did is just another
            # starting value: from any start, leave it out.
            first = min((s.call for s in steps if s.source in keep), default=math.inf)
            steps = [s for s in steps if s.source in keep or s.ret >= first]
        steps.sort(key=lambda s: (s.call, s.ret, s.source))
        problem = Problem(steps)
        failures: dict[tuple[int, Any, bool], list[int]] = {}  # shared by every start
        for value in start_candidates(problem.steps) if start is ANY else [start]:
            verdict = KeySearch(problem, value, failures).run(RECHECK_BUDGET)
            if verdict is not False:
                self.ran_out |= verdict is None
                return False
        return True


def start_candidates(steps: Iterable[Step]) -> list[Any]:
    """Starting values that stand for every possible one, for these steps.

    A start matters only through comparisons with values the steps mention: equal to a
    read, a ``cas``'s expected value, a written value, or (with appends) a prefix that
    appends extend into an observed value.  Any other start behaves like ``None`` (absent)
    or like one fresh value that equals nothing, so those two represent the rest.  On a key
    that is appended to, starts are strings or absent.
    """
    steps = list(steps)
    mentioned: list[Any] = [None]
    observed: list[str] = []
    appended: set[str] = set()
    for s in steps:
        if s.kind in (READ, FAILED_CAS, WRITE, MAYBE_WRITE):
            mentioned.append(s.a)
        elif s.kind in (CAS, MAYBE_CAS):
            mentioned += [s.a, s.b]
        elif s.kind == APPEND_SAW:
            mentioned.append(s.b)
        if s.kind in (APPEND, APPEND_SAW, MAYBE_APPEND):
            appended.add(s.a)
        if s.kind in (READ, FAILED_CAS, CAS, MAYBE_CAS) and isinstance(s.a, str):
            observed.append(s.a)
        elif s.kind == APPEND_SAW:
            observed.append(s.b)
    if appended:
        for text in observed:
            mentioned += _prefixes_extended_by(text, appended)
        # A key that is appended to holds strings (or nothing): so does its start.
        mentioned = [v for v in mentioned if v is None or isinstance(v, str)]
    longest = max((len(v) for v in mentioned if isinstance(v, str)), default=0)
    mentioned.append("\uffff" * (longest + 1))  # fresh: equal to and a prefix of nothing
    unique: list[Any] = []
    seen: set[Any] = set()
    for v in mentioned:
        if v not in seen:
            seen.add(v)
            unique.append(v)
    return unique


def _prefixes_extended_by(text: str, pieces: set[str]) -> list[str]:
    """Prefixes ``p`` of ``text`` such that the rest of ``text`` is a concatenation of pieces."""
    n = len(text)
    ends_ok = [False] * (n + 1)  # ends_ok[i]: text[i:] splits into pieces
    ends_ok[n] = True
    lengths = sorted({len(p) for p in pieces if p})
    for i in range(n - 1, -1, -1):
        for length in lengths:
            if i + length > n:
                break
            if ends_ok[i + length] and text[i : i + length] in pieces:
                ends_ok[i] = True
                break
    return [text[:i] for i in range(n + 1) if ends_ok[i]]
