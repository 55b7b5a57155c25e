"""Searching for a linearization of one key's operations.

Theory of operation
-------------------
This is the search of Wing & Gong (1993) as improved by Lowe (2017), the one Porcupine
uses.  A node of the search is the set ``S`` of operations already placed in the order
(a bitset: bit ``i`` is the ``i``-th step by call time) and the value ``state`` the key holds
after them.  An operation may be placed next if it was called before every operation still
outside ``S`` returned (else real time forbids it), and if the model allows it from
``state``.  The search succeeds when every operation with a known outcome is placed;
operations of unknown outcome may stay out (they never took effect, or took effect after
everything else, which is the same).  Lowe's cache remembers the nodes already explored
without success, so no node is searched twice.

Python is about fifty times slower per step than Go, so the rules below prune the search.
Each is sound: it never cuts a branch unless another branch kept is at least as good.

1. *Reads go at once.*  A read-like operation (a ``get``, a failed ``cas``) that may be
   placed now and agrees with ``state`` is placed immediately, with no branching.  Proof:
   take any completion that places it later.  Moving it to the front keeps every other
   operation's input value (a read changes nothing), agrees with ``state``, and keeps real
   time: no known operation outside ``S`` had to precede it (or it could not be placed
   now), and we only do this when no optional operation outside ``S`` returned before the
   read was called either (such a read is tried as an ordinary branch instead).
2. *Unknown outcomes only when they matter.*  An operation of unknown outcome is placed only
   if it changes ``state``.  Placing a no-op leaves the same value and one fewer option,
   and the option of placing it later (or never) is kept.
3. *Identical unknowns are interchangeable.*  Of several optional operations with the
   same kind, arguments and return time that may all be placed now, only the first is
   tried: they stay placeable for exactly as long, so swapping their roles maps any
   completion of one choice onto the other.
4. *A failure covers more unknowns.*  The cache is keyed by (known operations placed,
   ``state``) and holds the sets ``U`` of optional operations placed in nodes that failed.
   A node with a superset of such a ``U`` fails too: any completion of it is a completion
   of the failed node with the extra optional operations left out (with fewer operations
   placed, every operation that could go next there can go next here too).  Only fully
   explored nodes enter the cache, so this rule only ever cites real failures.
5. *Reads ahead must stay reachable.*  Let ``t`` be the earliest call among the operations
   outside ``S`` that could replace the value (``set``, ``delete``, ``cas``, known or not).
   An unplaced read that returned before ``t`` must be placed before any of them, so only
   appends can come between now and it: its value must be ``state`` extended by appends
   (exactly ``state`` when the key has no appends), or the node is dead.  Likewise a failed
   ``cas`` in that stretch on a key without appends needs ``state`` to differ from its
   ``expected``.
7. *No optional step just before a blind write.*  If an optional step is followed at once
   by a ``set`` or ``delete``, with nothing reading the value in between, leaving the
   optional step out changes nothing; so that sequence is never tried.
6. *Unknowns nobody could notice are left out* before the search starts
   (:func:`~raftlab.linearizability.models.drop_useless_unknowns`, which proves it).

The search runs in slices (:meth:`KeySearch.run` takes a budget of steps) so that the
caller can advance several keys side by side and stop at the first that fails, as
Porcupine does with goroutines.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

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
    drop_useless_unknowns,
)


class KeySearch:
    """A resumable depth-first search for a linearization of one key's steps.

    ``run(budget)`` returns ``True`` (linearizable), ``False`` (not) or ``None`` (not decided
    yet: call again).  ``nodes`` counts the nodes entered so far.
    """

    def __init__(self, steps: Sequence[Step], initial: Any):
        self.steps = drop_useless_unknowns(steps)  # rule 6
        n = len(self.steps)
        calls = [s.call for s in self.steps]
        self._kind = [s.kind for s in self.steps]
        self._a = [s.a for s in self.steps]
        self._b = [s.b for s in self.steps]
        self._sig = [(s.kind, s.a, s.b, s.ret) for s in self.steps]
        known = [i for i in range(n) if self._kind[i] not in MAYBE]
        # Known operations by return time: the first one outside S bounds what may go next.
        self._order = sorted(known, key=lambda i: (self.steps[i].ret, i))
        self._order_bit = [1 << i for i in self._order]
        # Steps sorted by call, so "called before t" is a prefix of the bits.
        self._window = [(1 << bisect_right(calls, self.steps[i].ret)) - 1 for i in self._order]
        self._ret_of = [s.ret for s in self.steps]
        self._call_of = calls
        self.known_mask = sum(1 << i for i in known)
        self.reset_mask = sum(
            1 << i for i in range(n) if self._kind[i] in (WRITE, CAS, MAYBE_WRITE, MAYBE_CAS)
        )
        # Optional steps with a finite return, by return time, so "returned before t" (too
        # late to place after a step called at t) is one bisect and one mask.
        finite = sorted(
            (self.steps[i].ret, i) for i in range(n) if self._kind[i] in MAYBE and i not in known
        )
        finite = [(r, i) for r, i in finite if r != math.inf]
        self._expiry = [r for r, _ in finite]
        self._expiry_order = [i for _, i in finite]
        self._expired = [0]
        for _, i in finite:
            self._expired.append(self._expired[-1] | 1 << i)
        self._grows = any(k in (APPEND, APPEND_SAW, MAYBE_APPEND) for k in self._kind)
        self.maybe_mask = sum(1 << i for i in range(n) if self._kind[i] in MAYBE)
        self.effect_mask = sum(1 << i for i in known if self._kind[i] not in (READ, FAILED_CAS))
        # Read-like steps indexed by the value that satisfies them (rule 1 in one lookup).
        self._reads: dict[Any, int] = {}
        self._failed_cas = 0
        self._failed_cas_by_old: dict[Any, int] = {}
        for i in known:
            if self._kind[i] == READ:
                self._reads[self._a[i]] = self._reads.get(self._a[i], 0) | 1 << i
            elif self._kind[i] == FAILED_CAS:
                self._failed_cas |= 1 << i
                old = self._a[i]
                if old is not None:  # a cas expecting "absent" always fails: never excluded
                    self._failed_cas_by_old[old] = self._failed_cas_by_old.get(old, 0) | 1 << i
        self._failed: dict[tuple[int, Any], list[int]] = {}
        self.nodes = 0
        # The furthest the search got: how many known operations (by return time) were ever
        # all placed.  A failing search never looked at operations called after
        # ``steps[_order[frontier]].ret``; minimization starts by cutting those off.
        self.frontier = 0
        self._looked_ahead_to = -math.inf  # the latest read rule 5 used to cut a node
        self.result: bool | None = None
        self._stack: list[list[Any]] = []
        root = self._enter(0, initial, 0)
        if root is True:
            self.result = True
        elif root is None:
            self.result = False
        else:
            self._stack.append(root)

    @property
    def frontier_time(self) -> float:
        """A time such that the search never used an operation called after it.

        That is the return of the first known operation it never got past, or of a read
        further ahead that rule 5 consulted, whichever is later.
        """
        if not self._order:
            return math.inf
        stuck = self._ret_of[self._order[min(self.frontier, len(self._order) - 1)]]
        return max(stuck, self._looked_ahead_to)

    def run(self, budget: int) -> bool | None:
        """Explore at most ``budget`` nodes; return the verdict once there is one."""
        if self.result is not None:
            return self.result
        stack = self._stack
        enter = self._enter
        maybe_mask = self.maybe_mask
        while budget > 0:
            top = stack[-1]
            branches = top[3]
            i = top[4]
            if i == len(branches):
                self._remember_failure(top[0], top[1])
                stack.pop()
                if not stack:
                    self.result = False
                    return False
                continue
            top[4] = i + 1
            bit, state = branches[i]
            budget -= 1
            child = enter(top[0] | bit, state, top[2], bit & maybe_mask)
            if child is True:
                self.result = True
                stack.clear()
                return True
            if child is not None:
                stack.append(child)
        return None

    # --- one node ----------------------------------------------------------------------------

    def _satisfied(self, state: Any) -> int:
        """Bits of the read-like steps that ``state`` satisfies."""
        mask = self._reads.get(state, 0)
        if self._failed_cas:
            if state is None:
                mask |= self._failed_cas
            else:
                mask |= self._failed_cas & ~self._failed_cas_by_old.get(state, 0)
        return mask

    def _enter(
        self, placed: int, state: Any, ptr: int, after_optional: int = 0
    ) -> list[Any] | bool | None:
        """Close a node under rule 1, consult the cache, and list its branches.

        ``after_optional`` is true when the step that led here was an optional one (rule 7).

        Returns ``True`` if every known operation is placed, ``None`` if the node is cut,
        else the frame ``[placed, state, ptr, branches, next_branch]``.
        """
        self.nodes += 1
        order_bit = self._order_bit
        n_known = len(order_bit)
        window = self._window
        while True:
            while ptr < n_known and placed & order_bit[ptr]:
                ptr += 1
            if ptr == n_known:
                return True
            if ptr > self.frontier:
                self.frontier = ptr
            candidates = window[ptr] & ~placed
            reads = candidates & self._satisfied(state)
            if self._expiry:
                # Rule 1 must not end the time of a pending optional step (see its proof):
                # a read called after such a step returned becomes a plain branch instead.
                late = reads & ~self._called_by(self._pending_optional_deadline(placed))
                reads ^= late
            else:
                late = 0
            if not reads:
                break
            placed |= reads  # rule 1
            after_optional = 0  # somebody saw the value it wrote
        if self._is_known_failure(placed, state):
            return None
        # Optional steps that returned before the latest call placed can no longer go.
        expired = self._expired[bisect_left(self._expiry, self._latest_call(placed))]
        if self._reads_ahead_unreachable(placed | expired, state, ptr):
            self._remember_failure(placed, state)
            return None
        branches = self._branches(candidates & ~expired, state, bool(after_optional))
        while late:
            bit = late & -late
            late ^= bit
            branches.append((bit, state))
        if not branches:
            self._remember_failure(placed, state)
            return None
        return [placed, state, ptr, branches, 0]

    def _latest_call(self, placed: int) -> float:
        # Steps are in call order, so the latest call placed is the highest placed bit's.
        return self._call_of[placed.bit_length() - 1] if placed else -math.inf

    def _pending_optional_deadline(self, placed: int) -> float:
        """The earliest return among optional steps still placeable but not placed."""
        latest = self._latest_call(placed)
        expiry, order = self._expiry, self._expiry_order
        for j in range(bisect_left(expiry, latest), len(expiry)):
            if not placed >> order[j] & 1:
                return expiry[j]
        return math.inf

    def _called_by(self, t: float) -> int:
        """Bits of the steps called at or before ``t``."""
        return (1 << bisect_right(self._call_of, t)) - 1

    def _branches(self, candidates: int, state: Any, after_optional: bool) -> list[tuple[int, Any]]:
        kind, a, b, ret = self._kind, self._a, self._b, self._ret_of
        found: list[tuple[float, int, Any]] = []
        effects = candidates & self.effect_mask
        while effects:
            bit = effects & -effects
            effects ^= bit
            i = bit.bit_length() - 1
            k = kind[i]
            if k == WRITE:
                if after_optional:
                    continue  # rule 7
                new = a[i]
            elif k == CAS:
                if state is None or state != a[i]:
                    continue
                new = b[i]
            elif k == APPEND:
                new = (state or "") + a[i]
            elif k == APPEND_SAW:
                new = (state or "") + a[i]
                if new != b[i]:
                    continue
            else:  # pragma: no cover - effect_mask holds only the kinds above
                raise AssertionError(k)
            found.append((ret[i], bit, new))
        found.sort(key=_by_deadline)
        branches = [(bit, new) for _, bit, new in found]
        maybes = candidates & self.maybe_mask
        if maybes:
            seen = set()
            sig = self._sig
            while maybes:
                bit = maybes & -maybes
                maybes ^= bit
                i = bit.bit_length() - 1
                if sig[i] in seen:
                    continue  # rule 3
                seen.add(sig[i])
                k = kind[i]
                if k == MAYBE_WRITE:
                    if after_optional:
                        continue  # rule 7
                    new = a[i]
                elif k == MAYBE_CAS:
                    if state is None or state != a[i]:
                        continue  # rule 2: it would change nothing
                    new = b[i]
                else:
                    new = (state or "") + a[i]
                if new == state:
                    continue  # rule 2
                branches.append((bit, new))
        return branches

    def _reads_ahead_unreachable(self, placed: int, state: Any, ptr: int) -> bool:
        """Rule 5: a read due before any value-replacing operation cannot be satisfied."""
        resets = self.reset_mask & ~placed
        deadline = self._call_of[(resets & -resets).bit_length() - 1] if resets else math.inf
        order, ret, kind, a = self._order, self._ret_of, self._kind, self._a
        grows = self._grows
        for j in range(ptr, len(order)):
            i = order[j]
            if ret[i] >= deadline:
                break
            if placed >> i & 1:
                continue
            k = kind[i]
            if k == READ:
                v = a[i]
                if grows:
                    dead = state is not None and not (isinstance(v, str) and v.startswith(state))
                else:
                    dead = v != state
            else:
                dead = k == FAILED_CAS and not grows and state is not None and state == a[i]
            if dead:
                if ret[i] > self._looked_ahead_to:
                    self._looked_ahead_to = ret[i]
                return True
        return False

    # --- the cache (rule 4) --------------------------------------------------------------------

    def _is_known_failure(self, placed: int, state: Any) -> bool:
        known = placed & self.known_mask
        failures = self._failed.get((known, state))
        if failures is None:
            return False
        unknown = placed ^ known
        return any(u | unknown == unknown for u in failures)

    def _remember_failure(self, placed: int, state: Any) -> None:
        known = placed & self.known_mask
        key = (known, state)
        unknown = placed ^ known
        failures = self._failed.get(key)
        if failures is None:
            self._failed[key] = [unknown]
        else:
            # Keep only the minimal sets: a superset of ``unknown`` is implied by it.  (A
            # parent fails after its children, and its set is a subset of theirs.)
            failures[:] = [u for u in failures if u | unknown != u]
            failures.append(unknown)


def _by_deadline(item: tuple[float, int, Any]) -> tuple[float, int]:
    return item[0], item[1].bit_length()
