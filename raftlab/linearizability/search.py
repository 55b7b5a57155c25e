"""Searching for a linearization of one key's operations.

Theory of operation
-------------------
This is the search of Wing & Gong (1993) as improved by Lowe (2017), the one Porcupine
uses.  A node of the search is the set ``S`` of operations already placed in the order
(a bitset: bit ``i`` is the ``i``-th step by call time) and the value ``state`` the key holds
after them.  An operation may be placed next if it was called before every known operation
still outside ``S`` returned (else real time forbids it), and if the model allows it from
``state``.  The search succeeds when every operation with a known outcome is placed.

*Optional* operations may stay out: those of unknown outcome (they may have taken effect at
any time after their call, or never, which is the same as after everything else), and those
``minimize`` relaxes (they took effect before they returned, or never).  An optional
operation may be placed only while it can still have happened: not after an operation that
was called after it returned.

Lowe's cache remembers the nodes explored without success, so no node is searched twice.
Python is about fifty times slower per step than Go, so the rules below prune the search.
Each is sound: it never cuts a branch unless another branch kept is at least as good.

1. *Reads go at once.*  A read-like operation (a ``get``, a failed ``cas``) that may be
   placed now and agrees with ``state`` is placed immediately, with no branching.  Proof:
   take any completion that places it later.  Moving it to the front keeps every other
   operation's input value (a read changes nothing), agrees with ``state``, and keeps real
   time: no known operation outside ``S`` had to precede it (or it could not be placed
   now), and we only do this when no optional operation outside ``S`` returned before the
   read was called either (such a read is tried as an ordinary branch instead).
2. *Optional operations only when they matter.*  An optional operation is placed only if it
   changes ``state``: placing a no-op leaves the same value with one fewer option, and
   leaving it out is always allowed.
3. *Identical optional operations are interchangeable.*  Of several with the same kind,
   arguments and return time that may all be placed now, only the first is tried: they
   stay placeable for exactly as long, so swapping their roles maps any completion of one
   choice onto the other.
4. *A failure covers more optional operations.*  The cache is keyed by (known operations
   placed, ``state``) and holds the sets ``U`` of optional operations placed in nodes that
   failed.  A node with a superset of such a ``U`` fails too: any completion of it is a
   completion of the failed node with the extra optional operations left out (with fewer
   operations placed, every operation that could go next there can go next here too).
   Only fully explored nodes enter the cache, so this rule only ever cites real failures.
5. *Reads ahead must stay reachable.*  Let ``t`` be the earliest call among the operations
   outside ``S`` that could replace the value (``set``, ``delete``, ``cas``, known or not).
   An unplaced read that returned before ``t`` must be placed before any of them, so only
   appends can come between now and it: its value must be ``state`` extended by appends
   (exactly ``state`` when the key has no appends), or the node is dead.  Likewise a failed
   ``cas`` in that stretch on a key without appends needs ``state`` to differ from its
   ``expected``.
6. *Unknowns nobody could notice are left out* before the search starts
   (:func:`~raftlab.linearizability.models.drop_useless_unknowns` proves it).
8. *Unknowns nobody could notice wait for a failed cas.*  On a key with failed ``cas``
   operations rule 6 keeps every unknown, since "differs from the expected value" is
   helped by any change.  Take an unknown-outcome ``set``, ``delete`` or ``append``
   (``ret = inf``) whose mark no value anyone observes could carry, failed ``cas``
   expectations included (:func:`~raftlab.linearizability.models.unseen_unknowns`).
   It is tried only while a failed ``cas`` that may go next is held up by the current
   value.  Proof: take a completion that places it as ``u``, and drop the optional steps
   that changed nothing.  Until the next blind write, nothing placed after ``u`` looks at
   the value except failed ``cas``es (a read, a successful ``cas`` or an append with a
   reported result would observe ``u``'s mark) and appends, which are always allowed.
   Move ``u`` later, to just before the first failed ``cas`` that the value *without*
   ``u`` would hold up (or out of the order if there is none).  The failed ``cas``es before
   that point pass without ``u`` by choice of the point; from there on every value carries
   ``u``'s mark (a ``set``'s value as a prefix, an ``append``'s piece inside), which no
   failed ``cas`` expects, so they all pass; appends pass anyway; real time is kept, since
   ``u`` has no deadline.  In the new completion ``u`` is placed exactly when this rule
   allows it.  The same holds of an unknown whose mark only steps already placed could
   see (:func:`~raftlab.linearizability.models.watchers`): the proof looks only at what
   comes after ``u``.
7. *An optional operation must be looked at before the next blind write.*  Call the
   optional steps placed since anyone last looked at the value *pending*, and the value
   as it would be without them the *shadow* (known appends extend it too).  While some
   are pending, no ``set`` or ``delete`` (known or optional) may go next.  Looking means
   being placed as a read, a successful ``cas``, an append with a reported result, or a
   failed ``cas`` whose expected value is the shadow (one it would not pass without them).
   Proof: take a completion in which pending steps are followed, before anybody looks, by
   a blind write (or by nothing).  Leave all of them out: in between, the value is the
   shadow, known appends pass anyway, every failed ``cas`` passes on the shadow (else it
   would have looked), optional steps may be left out, and after the blind write nothing
   differs.  A node explored this way tried fewer branches, so its failure is cached with
   its shadow and cuts only nodes under the same restriction.
9. *Pending optional steps need someone who may still look.*  While optional steps are
   pending (rule 7), the value changes only by appends and optional ``cas``es until
   somebody looks.  So if no unplaced read, ``cas`` or reported append expects a value
   that extends the current one (equals it, on a key without appends), no optional
   ``cas`` could swap it, and no unplaced failed ``cas`` expects the shadow or the shadow
   extended by the piece of an unplaced known append first (the shadow grows by known
   appends alone), nobody ever will: the node's completions are those of rule 7's proof, which
   leave the pending steps out, so the node is cut (as a restricted failure).

Keys that fall apart into bursts at quiescent moments usually never reach this search:
:mod:`~raftlab.linearizability.segments` replays them burst by burst (its docstring proves
it), placing unknown outcomes only where a later step could see them, and only when it
cannot find an order (or gives up) does the checker search.

Everything that depends only on the steps, not on the starting value, is worked out once in
a :class:`Problem` (masks of bits, lookups by value), so that trying several starting values
costs little more than one.  The search runs in slices (:meth:`KeySearch.run` takes a
budget of nodes) so that the caller can advance several keys side by side and stop at the
first that fails, as Porcupine does with goroutines.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
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
    unseen_unknowns,
    watchers,
)


class _Free:
    """The type of :data:`FREE`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "FREE"


#: Rule 7: no optional step is waiting for anyone to look at the value it made.
FREE = _Free()


class Problem:
    """One key's steps, precomputed for searching from any starting value.

    Bit ``i`` of every mask is ``steps[i]``; the steps are sorted by call time.
    """

    def __init__(self, steps: Sequence[Step]):
        self.steps = drop_useless_unknowns(sorted(steps, key=_by_call))  # rule 6
        steps = self.steps
        n = len(steps)
        self.call = [s.call for s in steps]
        self.ret = [s.ret for s in steps]
        self.kind = [s.kind for s in steps]
        self.a = [s.a for s in steps]
        self.b = [s.b for s in steps]
        self.sig = [(s.kind, s.a, s.b, s.ret) for s in steps]
        kind, a = self.kind, self.a
        known = [i for i in range(n) if kind[i] not in MAYBE]
        # Known steps by return time: the first one not placed bounds what may go next,
        # namely the steps called by its return (a prefix of the bits).
        self.order = sorted(known, key=lambda i: (self.ret[i], i))
        self.order_bit = [1 << i for i in self.order]
        self.window = [(1 << bisect_right(self.call, self.ret[i])) - 1 for i in self.order]
        self.known_mask = _mask(known)
        self.maybe_mask = _mask(i for i in range(n) if kind[i] in MAYBE)
        self.reset_mask = _mask(
            i for i in range(n) if kind[i] in (WRITE, CAS, MAYBE_WRITE, MAYBE_CAS)
        )
        self.grows = any(k in (APPEND, APPEND_SAW, MAYBE_APPEND) for k in kind)
        # Which steps may change the value from a given value, in one or two lookups.
        self.write_mask = _mask(i for i in known if kind[i] == WRITE)
        self.append_mask = _mask(i for i in known if kind[i] in (APPEND, APPEND_SAW))
        self.cas_by_old = _by_value((i for i in known if kind[i] == CAS and a[i] is not None), a)
        maybes = [i for i in range(n) if kind[i] in MAYBE]
        self.maybe_write_mask = _mask(i for i in maybes if kind[i] == MAYBE_WRITE)
        self.maybe_write_by_value = _by_value((i for i in maybes if kind[i] == MAYBE_WRITE), a)
        self.maybe_cas_by_old = _by_value(
            (i for i in maybes if kind[i] == MAYBE_CAS and a[i] is not None), a
        )
        self.maybe_append_mask = _mask(i for i in maybes if kind[i] == MAYBE_APPEND)
        if any(self.ret[i] == math.inf for i in maybes):
            self.lazy_mask = _mask(unseen_unknowns(steps))  # rule 8
            self.watchers = watchers(steps)  # rule 8, as the search goes
        else:  # rule 8 is only about unknown outcomes (no deadline)
            self.lazy_mask, self.watchers = 0, [-1] * n
        # Rule 9: who may still look at the value, by the value they look at (only ever
        # asked once an optional step is placed).
        lookers = [
            (self.b[i] if kind[i] == APPEND_SAW else a[i], i)
            for i in (range(n) if maybes else ())
            if kind[i] in (READ, CAS, APPEND_SAW, MAYBE_CAS)
        ]
        self.looks_by_value = _by_value((i for _, i in lookers), _values_at(lookers, n))
        self.look_strings = sorted((v, 1 << i) for v, i in lookers if isinstance(v, str))
        self.append_pieces = [(a[i], 1 << i) for i in range(n) if maybes and kind[i] == APPEND]
        self.failed_strings = sorted(
            (a[i], 1 << i)
            for i in (range(n) if maybes else ())
            if kind[i] == FAILED_CAS and isinstance(a[i], str)
        )
        # Read-like steps by the value that satisfies them (rule 1 in one or two lookups).
        self.reads = _by_value((i for i in known if kind[i] == READ), a)
        self.failed_cas = _mask(i for i in known if kind[i] == FAILED_CAS)
        # A cas expecting "absent" always fails, so it is never excluded.
        self.failed_cas_by_old = _by_value(
            (i for i in known if kind[i] == FAILED_CAS and a[i] is not None), a
        )
        # Optional steps with a finite return, by return time: "returned before t" (too late
        # to place after a step called at t) is one bisect and one mask.
        finite = sorted((self.ret[i], i) for i in maybes if self.ret[i] != math.inf)
        self.expiry = [r for r, _ in finite]
        self.expiry_order = [i for _, i in finite]
        self.expired = [0]
        for _, i in finite:
            self.expired.append(self.expired[-1] | 1 << i)


class KeySearch:
    """A resumable depth-first search for a linearization of one key's steps.

    ``run(budget)`` returns ``True`` (linearizable), ``False`` (not) or ``None`` (not decided
    yet: call again).  ``nodes`` counts the nodes entered so far.  ``steps`` may be a
    :class:`Problem` already built, to search the same steps from several starting values.
    """

    def __init__(
        self,
        steps: Sequence[Step] | Problem,
        initial: Any,
        failures: dict[tuple[int, Any, Any], list[int]] | None = None,
    ):
        p = steps if isinstance(steps, Problem) else Problem(steps)
        self.problem = p
        self.steps = p.steps
        # Rule 4's cache.  A failure depends only on the node, never on the path to it, so
        # searches of the same Problem from different starting values may share it.
        self._failed = {} if failures is None else failures
        self.nodes = 0
        # The furthest the search got: how many known operations (by return time) were ever
        # all placed.  A failing search never looked at operations called after
        # ``frontier_time``; minimization starts by cutting those off.
        self.frontier = 0
        self._looked_ahead_to = -math.inf  # the latest read rule 5 used to cut a node
        self.result: bool | None = None
        self._stack: list[list[Any]] = []
        root = self._enter(0, initial, 0, FREE)
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
        p = self.problem
        if not p.order:
            return math.inf
        stuck = p.ret[p.order[min(self.frontier, len(p.order) - 1)]]
        return max(stuck, self._looked_ahead_to)

    def run(self, budget: int) -> bool | None:
        """Explore at most ``budget`` nodes; return the verdict once there is one."""
        if self.result is not None:
            return self.result
        stack = self._stack
        enter = self._enter
        p = self.problem
        maybe_mask, kind, a = p.maybe_mask, p.kind, p.a
        while budget > 0:
            top = stack[-1]
            branches = top[3]
            i = top[4]
            if i == len(branches):
                self._remember_failure(top[0], top[1], top[5])
                stack.pop()
                if not stack:
                    self.result = False
                    return False
                continue
            top[4] = i + 1
            bit, state = branches[i]
            budget -= 1
            # Rule 7's bookkeeping: the value as it would be without the optional steps
            # placed since somebody last looked at it (FREE: nobody is waiting to look).
            shadow = top[5]
            if bit & maybe_mask:
                if shadow is FREE:
                    shadow = top[1]
            elif shadow is not FREE:
                j = bit.bit_length() - 1
                k = kind[j]
                if k == APPEND:
                    shadow = (shadow or "") + a[j]
                elif k != FAILED_CAS or shadow == a[j]:
                    shadow = FREE  # it looked: a read, a cas, a reported append
            child = enter(top[0] | bit, state, top[2], shadow)
            if child is True:
                self.result = True
                stack.clear()
                return True
            if child is not None:
                stack.append(child)
        return None

    # --- one node ----------------------------------------------------------------------------

    def _enter(
        self, placed: int, state: Any, ptr: int, shadow: Any = None
    ) -> list[Any] | bool | None:
        """Close a node under rule 1, consult the cache, and list its branches.

        ``shadow`` is :data:`FREE`, or (rule 7) the value as it would be without the optional
        steps placed since anyone last looked at it.  Returns ``True`` if every known
        operation is placed, ``None`` if the node is cut, else the frame
        ``[placed, state, ptr, branches, next_branch, shadow]``.
        """
        self.nodes += 1
        p = self.problem
        order_bit = p.order_bit
        n_known = len(order_bit)
        while True:
            while ptr < n_known and placed & order_bit[ptr]:
                ptr += 1
            if ptr == n_known:
                return True
            if ptr > self.frontier:
                self.frontier = ptr
            candidates = p.window[ptr] & ~placed
            reads = p.reads.get(state, 0)
            if p.failed_cas:
                if state is None:
                    reads |= p.failed_cas
                else:
                    reads |= p.failed_cas & ~p.failed_cas_by_old.get(state, 0)
            reads &= candidates
            late = 0
            if reads and p.expiry:
                # Rule 1 must not end the time of a pending optional step (see its proof):
                # a read called after such a step returned becomes a plain branch instead.
                late = reads & ~self._called_by(self._pending_optional_deadline(placed))
                reads ^= late
            if not reads:
                break
            placed |= reads  # rule 1
            if shadow is not FREE and (
                reads & ~p.failed_cas
                or (shadow is not None and reads & p.failed_cas_by_old.get(shadow, 0))
            ):
                shadow = FREE  # somebody looked at the value the optional steps made
        if self._is_known_failure(placed, state, shadow):
            return None
        if shadow is not FREE and not self._may_look(placed, state, shadow):
            self._remember_failure(placed, state, shadow)  # rule 9
            return None
        # Optional steps that returned before the latest call placed can no longer go.
        expired = p.expired[bisect_left(p.expiry, self._latest_call(placed))] if p.expiry else 0
        if self._reads_ahead_unreachable(placed | expired, state, ptr):
            self._remember_failure(placed, state, FREE)  # dead whatever comes next
            return None
        branches = self._branches(candidates & ~expired, state, shadow is not FREE, placed)
        while late:
            bit = late & -late
            late ^= bit
            branches.append((bit, state))
        if not branches:
            self._remember_failure(placed, state, shadow)
            return None
        return [placed, state, ptr, branches, 0, shadow]

    def _may_look(self, placed: int, state: Any, shadow: Any) -> bool:
        """Rule 9: may anyone still look at the value before the next blind write?"""
        p = self.problem
        if p.grows:
            if _prefixed(p.look_strings, "" if state is None else state, placed):
                return True
            # A failed cas looks only if it expects the shadow, which from here on grows by
            # known appends alone: its expected value is the shadow, or the shadow and
            # then the piece of an append still to come.
            base = "" if shadow is None else shadow
            table, pieces = p.failed_strings, p.append_pieces
            at = bisect_left(table, (base,))
            while at < len(table) and table[at][0].startswith(base):
                e, bit = table[at]
                at += 1
                if placed & bit:
                    continue
                rest = e[len(base) :]
                if not rest or any(
                    not placed & b and rest.startswith(piece) for piece, b in pieces
                ):
                    return True
            return False
        if p.looks_by_value.get(state, 0) & ~placed:
            return True
        return shadow is not None and bool(p.failed_cas_by_old.get(shadow, 0) & ~placed)

    def _latest_call(self, placed: int) -> float:
        # Steps are in call order, so the latest call placed is the highest placed bit's.
        return self.problem.call[placed.bit_length() - 1] if placed else -math.inf

    def _pending_optional_deadline(self, placed: int) -> float:
        """The earliest return among optional steps still placeable but not placed."""
        p = self.problem
        expiry, order = p.expiry, p.expiry_order
        for j in range(bisect_left(expiry, self._latest_call(placed)), len(expiry)):
            if not placed >> order[j] & 1:
                return expiry[j]
        return math.inf

    def _called_by(self, t: float) -> int:
        """Bits of the steps called at or before ``t``."""
        return (1 << bisect_right(self.problem.call, t)) - 1

    def _branches(
        self, candidates: int, state: Any, after_optional: bool, placed: int
    ) -> list[tuple[int, Any]]:
        """The steps that may change the value next, and the value each leaves."""
        p = self.problem
        kind, a, b, ret = p.kind, p.a, p.b, p.ret
        present = state is not None
        # Known steps: a cas only if it expects the current value; writes unless rule 7.
        effects = p.append_mask
        if present:
            effects |= p.cas_by_old.get(state, 0)
        if not after_optional:
            effects |= p.write_mask
        effects &= candidates
        found: list[tuple[float, int, Any]] = []
        while effects:
            bit = effects & -effects
            effects ^= bit
            i = bit.bit_length() - 1
            k = kind[i]
            if k == WRITE:
                new = a[i]
            elif k == CAS:
                new = b[i]
            else:
                new = (state or "") + a[i]
                if k == APPEND_SAW and new != b[i]:
                    continue
            found.append((ret[i], bit, new))
        # By deadline, then by call order (bits are distinct powers of two, so the tuples
        # never compare their values).
        found.sort()
        branches = [(bit, new) for _, bit, new in found]
        # Optional steps, only where they change the value (rule 2): a cas expecting the
        # current value, a write of another value (unless rule 7), any append.
        maybes = p.maybe_append_mask
        if present:
            maybes |= p.maybe_cas_by_old.get(state, 0)
        if not after_optional:
            maybes |= p.maybe_write_mask & ~p.maybe_write_by_value.get(state, 0)
        maybes &= candidates
        if not maybes:
            return branches
        held_up = state is not None and p.failed_cas_by_old.get(state, 0) & candidates
        if not held_up:
            maybes &= ~p.lazy_mask  # rule 8: no failed cas is held up by the current value
        watchers = p.watchers
        productive: list[tuple[int, Any]] = []
        if maybes:
            seen = set()
            sig = p.sig
            while maybes:
                bit = maybes & -maybes
                maybes ^= bit
                i = bit.bit_length() - 1
                if not held_up and ret[i] == math.inf and not watchers[i] & ~placed:
                    continue  # rule 8: everyone who could see its mark is placed
                if sig[i] in seen:
                    continue  # rule 3
                seen.add(sig[i])
                k = kind[i]
                if k == MAYBE_WRITE:
                    new = a[i]
                elif k == MAYBE_CAS:
                    new = b[i]
                else:
                    new = (state or "") + a[i]
                if new == state:
                    continue  # rule 2
                if p.reads.get(new, 0) & candidates or p.cas_by_old.get(new, 0) & candidates:
                    productive.append((bit, new))
                else:
                    branches.append((bit, new))
        return productive + branches if productive else branches

    def _reads_ahead_unreachable(self, placed: int, state: Any, ptr: int) -> bool:
        """Rule 5: a read due before any value-replacing operation cannot be satisfied."""
        p = self.problem
        resets = p.reset_mask & ~placed
        deadline = p.call[(resets & -resets).bit_length() - 1] if resets else math.inf
        order, ret, kind, a = p.order, p.ret, p.kind, p.a
        grows = p.grows
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

    # A node explored under rule 7 (``shadow`` not FREE) tried fewer branches, so its
    # failure is recorded with its shadow and only ever cuts a node under the very same
    # restriction; an unrestricted failure (FREE) cuts every node.

    def _is_known_failure(self, placed: int, state: Any, shadow: Any) -> bool:
        known = placed & self.problem.known_mask
        unknown = placed ^ known
        for restriction in (FREE,) if shadow is FREE else (FREE, shadow):
            failures = self._failed.get((known, state, restriction))
            if failures is not None and any(u | unknown == unknown for u in failures):
                return True
        return False

    def _remember_failure(self, placed: int, state: Any, shadow: Any) -> None:
        known = placed & self.problem.known_mask
        key = (known, state, shadow)
        unknown = placed ^ known
        failures = self._failed.get(key)
        if failures is None:
            self._failed[key] = [unknown]
        else:
            # Keep only the minimal sets: a superset of ``unknown`` is implied by it.  (A
            # parent fails after its children, and its set is a subset of theirs.)
            failures[:] = [u for u in failures if u | unknown != u]
            failures.append(unknown)


def _by_call(step: Step) -> tuple[float, float, int]:
    return step.call, step.ret, step.source


def _values_at(pairs: list[tuple[Any, int]], n: int) -> list[Any]:
    values: list[Any] = [None] * n
    for v, i in pairs:
        values[i] = v
    return values


def _prefixed(table: list[tuple[str, int]], prefix: str, placed: int) -> bool:
    """Does ``table`` (sorted (value, bit) pairs) hold an unplaced value starting with
    ``prefix``?"""
    at = bisect_left(table, (prefix,))
    while at < len(table) and table[at][0].startswith(prefix):
        if not placed & table[at][1]:
            return True
        at += 1
    return False


def _mask(bits: Iterable[int]) -> int:
    mask = 0
    for i in bits:
        mask |= 1 << i
    return mask


def _by_value(bits: Iterable[int], values: list[Any]) -> dict[Any, int]:
    """For each value, the mask of those ``bits`` whose ``values[i]`` it is."""
    table: dict[Any, int] = {}
    for i in bits:
        table[values[i]] = table.get(values[i], 0) | 1 << i
    return table
