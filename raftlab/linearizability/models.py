"""The two sequential specifications, compiled into the small steps the search works with.

A model says which sequences of operations on one key are legal.  Both raftlab models hold
one value per key (``None`` when the key is absent, or the register empty):

* ``register``: ``get``, ``set`` and ``cas``; a register starts empty (``None``).
* ``kv``: those plus ``delete`` (the key becomes absent) and ``append`` (concatenate to the
  value, an absent key counting as ``""``).  A key starts absent unless the history says
  otherwise (Porcupine's logs start every key at ``""``).

``cas`` swaps only if the key is present and equal to ``expected``; a failed ``cas`` changed
nothing and saw a value other than ``expected``, so it is read-like.

:func:`compile_key` turns one key's operations into :class:`Step` records, already reduced
by the first, cheapest rule of the search: an operation whose outcome is unknown and that
could not change the value (a ``get``, or anything relaxed) constrains nothing and is left
out.  Everything else is kept, with ``ret = inf`` when the outcome is unknown: it may take
effect at any moment after its call, or never.  Such *optional* steps may also have a finite
``ret`` (see :func:`relax`): then they took effect before ``ret`` or never.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raftlab.history import ANY, History, Operation

MODELS = ("kv", "register")

# Step kinds.  Read-like steps never change the value; the others may.
READ = 0  # known get: the value equals a
FAILED_CAS = 1  # known failed cas: the value is absent or differs from a (b: its new value)
WRITE = 2  # known set (a = the value) or delete (a = None)
CAS = 3  # known successful cas: value == a (and present) -> b
APPEND = 4  # known append of a
APPEND_SAW = 5  # known append of a whose result b was reported
# Optional steps: they took effect once between call and ret, or never.  Operations of
# unknown outcome are optional with ret = inf; minimize.py also relaxes known ones into these.
MAYBE_WRITE = 6  # optional set / delete
MAYBE_CAS = 7  # optional cas
MAYBE_APPEND = 8  # optional append

READ_LIKE = (READ, FAILED_CAS)
MAYBE = (MAYBE_WRITE, MAYBE_CAS, MAYBE_APPEND)

_REGISTER_OPS = ("get", "set", "cas")


@dataclass(frozen=True, slots=True)
class Step:
    """One operation as the search sees it: an interval, a kind and up to two arguments."""

    call: float
    ret: float  # math.inf when the outcome is unknown
    kind: int
    a: Any
    b: Any
    source: int  # index of the Operation in the history


_SCALARS = (str, int, float, bool, type(None))


def validate(operations: Sequence[Operation], model: str, initial: Any = None) -> None:
    """Raise ``ValueError`` if the model cannot judge these operations from ``initial``."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: use 'kv' or 'register'")
    appended = {op.key for op in operations if op.op == "append"}
    if appended and initial is not None and not isinstance(initial, str) and initial is not ANY:
        raise ValueError(
            f"keys start at {initial!r}, but {sorted(appended, key=repr)[0]!r} is appended "
            "to: a key that is appended to holds strings"
        )
    for n, op in enumerate(operations):
        if model == "register" and op.op not in _REGISTER_OPS:
            raise ValueError(
                f"operation {n} is a {op.op}, which a register does not have "
                "(it has get, set and cas): check with model='kv'"
            )
        for name in ("key", "value", "expected", "output"):
            v = getattr(op, name)
            if not isinstance(v, _SCALARS):
                raise ValueError(
                    f"operation {n} has {name} {v!r}: values are strings, numbers, booleans or None"
                )
        if op.op == "append" and not isinstance(op.value, str):
            raise ValueError(f"operation {n} appends {op.value!r}: append takes a string")
        if op.key in appended and op.op in ("set", "cas") and not isinstance(op.value, str):
            raise ValueError(
                f"operation {n} stores {op.value!r} in {op.key!r}, which is appended to: "
                "a key that is appended to holds strings"
            )


def compile_key(ops: Sequence[tuple[int, Operation]]) -> list[Step]:
    """The steps for one key's ``(index, operation)`` pairs, sorted by call time."""
    steps: list[Step] = []
    for index, op in ops:
        if op.relaxed:
            continue  # stale by design: never part of the check
        kind, a, b = _classify(op)
        if kind < 0:
            continue
        ret = math.inf if op.ret is None else op.ret
        steps.append(Step(op.call, ret, kind, a, b, index))
    steps.sort(key=lambda s: (s.call, s.ret, s.source))
    return steps


_SCALAR_TYPES = frozenset(_SCALARS)

#: One step as a plain tuple, cheaper to build than a :class:`Step` and sorting by call time
#: with no key function: ``(call, ret, source, kind, a, b)`` (``source`` is unique, so two
#: rows never compare their values).
Row = tuple[float, float, int, int, Any, Any]


def prepare(operations: Sequence[Operation], model: str, initial: Any = None) -> dict[Any, list]:
    """Validate the operations and compile them by key in one pass: each key's
    :data:`Row` tuples, sorted by call time (the same steps, in the same order, as
    :func:`compile_key`; keys with no steps are left out).

    Raises ``ValueError`` exactly when :func:`validate` does.  The pass only checks the
    exact types :func:`validate` accepts (one set lookup per field); anything else (a
    subclass of ``str``, a register given an ``append``, a non-string stored in a key that
    is appended to) sends it to :func:`validate` for the full check and its sentence.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: use 'kv' or 'register'")
    rows = _rows(operations, model == "register", True)
    if rows is None:
        validate(operations, model, initial)  # raises, with the sentence
        rows = _rows(operations, False, False)
        assert rows is not None
    elif (
        initial is not None
        and not isinstance(initial, str)
        and initial is not ANY
        and any(r[3] in _GROWS for rs in rows.values() for r in rs)
    ):
        validate(operations, model, initial)  # raises: a key appended to holds strings
    for key_rows in rows.values():
        key_rows.sort()
    return rows


_GROWS = frozenset((APPEND, APPEND_SAW, MAYBE_APPEND))


def _rows(operations: Sequence[Operation], register: bool, checked: bool) -> dict | None:
    """Rows by key, or ``None`` if ``checked`` and an operation needs :func:`validate`.

    This loop is a good part of the cost of checking a chaos history, so it reads each
    field straight off the operation (an attribute read the interpreter specialises:
    cheaper than one ``attrgetter`` call for all eight), reads ``relaxed`` only for a
    ``get``, and looks up a type only when the value is not ``None``.
    """
    scalars = _SCALAR_TYPES
    by_key: dict[Any, list] = {}
    stored_other = False  # a set or cas stored a non-string (fine unless the key is appended to)
    grows = False  # some key is appended to
    inf = math.inf
    index = -1
    for op in operations:
        index += 1
        key = op.key
        v = op.value
        e = op.expected
        out = op.output
        if checked and (
            type(key) not in scalars
            or (v is not None and type(v) not in scalars)
            or (e is not None and type(e) not in scalars)
            or (out is not None and type(out) not in scalars)
        ):
            return None
        name = op.op
        ret = op.ret
        if name == "get":
            if ret is None or op.relaxed:
                continue  # relaxed: stale by design; unknown: changes and says nothing
            row = (op.call, ret, index, READ, out, None)
        elif name == "set":
            if checked and type(v) is not str:
                stored_other = True
            row = (
                (op.call, inf, index, MAYBE_WRITE, v, None)
                if ret is None
                else (op.call, ret, index, WRITE, v, None)
            )
        elif name == "cas":
            if checked and type(v) is not str:
                stored_other = True
            if ret is None:
                row = (op.call, inf, index, MAYBE_CAS, e, v)
            else:
                row = (op.call, ret, index, CAS if out else FAILED_CAS, e, v)
        elif name == "append":
            if checked and (register or type(v) is not str):
                return None
            grows = True
            if ret is None:
                row = (op.call, inf, index, MAYBE_APPEND, v, None)
            elif out is None:
                row = (op.call, ret, index, APPEND, v, None)
            else:
                row = (op.call, ret, index, APPEND_SAW, v, out)
        else:  # delete
            if checked and register:
                return None
            row = (
                (op.call, inf, index, MAYBE_WRITE, None, None)
                if ret is None
                else (op.call, ret, index, WRITE, None, None)
            )
        key_rows = by_key.get(key)
        if key_rows is None:
            by_key[key] = [row]
        else:
            key_rows.append(row)
    if stored_other and grows:
        return None  # maybe a non-string stored in a key appended to: validate says
    return by_key


#: Flags :func:`row_of` raises for an operation, OR-ed over a history: what
#: :func:`prepare_history` must still ask :func:`validate` about.
ODD = 1  # a field of a type the fast pass does not accept, or an append of a non-string
NOT_REGISTER = 2  # an append or a delete: a register has neither
STORED_OTHER = 4  # a set or cas stores a non-string (fine unless the key is appended to)
GROWS = 8  # an append


def row_of(op: Operation, index: int) -> tuple[Row | None, int]:
    """The :data:`Row` of operation ``index`` (``None`` if it constrains nothing), and its
    flags (:data:`ODD`, :data:`NOT_REGISTER`, :data:`STORED_OTHER`, :data:`GROWS`).

    :class:`~raftlab.history.History` calls this as each operation is recorded (and again
    when it completes), so that :func:`prepare_history` finds every key's rows made.  The
    row is exactly the one :func:`prepare` makes for the operation (tested side by side),
    and the flags say exactly when :func:`prepare`'s own pass would send the history to
    :func:`validate`.
    """
    scalars = _SCALAR_TYPES
    v = op.value
    e = op.expected
    out = op.output
    flags = (
        ODD
        if (
            type(op.key) not in scalars
            or (v is not None and type(v) not in scalars)
            or (e is not None and type(e) not in scalars)
            or (out is not None and type(out) not in scalars)
        )
        else 0
    )
    name = op.op
    ret = op.ret
    if name == "get":
        if ret is None or op.relaxed:
            return None, flags
        return (op.call, ret, index, READ, out, None), flags
    if name == "set":
        if type(v) is not str:
            flags |= STORED_OTHER
        if ret is None:
            return (op.call, math.inf, index, MAYBE_WRITE, v, None), flags
        return (op.call, ret, index, WRITE, v, None), flags
    if name == "cas":
        if type(v) is not str:
            flags |= STORED_OTHER
        if ret is None:
            return (op.call, math.inf, index, MAYBE_CAS, e, v), flags
        return (op.call, ret, index, CAS if out else FAILED_CAS, e, v), flags
    if name == "append":
        flags |= GROWS | NOT_REGISTER
        if type(v) is not str:
            flags |= ODD
        if ret is None:
            return (op.call, math.inf, index, MAYBE_APPEND, v, None), flags
        if out is None:
            return (op.call, ret, index, APPEND, v, None), flags
        return (op.call, ret, index, APPEND_SAW, v, out), flags
    flags |= NOT_REGISTER  # a delete
    if ret is None:
        return (op.call, math.inf, index, MAYBE_WRITE, None, None), flags
    return (op.call, ret, index, WRITE, None, None), flags


def prepare_history(history: History, model: str) -> dict[Any, list]:
    """:func:`prepare` for a whole :class:`~raftlab.history.History`: the same rows by key,
    the same ``ValueError``.

    A history compiles its operations as they are recorded (:func:`row_of`), so this only
    sorts each key's rows (a copy: the history keeps its own) and asks :func:`validate`
    exactly when :func:`prepare`'s pass would: a register given an append or a delete, a
    non-string stored in a history with appends, keys appended to that start at a
    non-string.  A history holding a field of another type (one :func:`row_of` flags
    :data:`ODD`) keeps no rows, and goes through :func:`prepare` itself.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: use 'kv' or 'register'")
    compiled = history._compiled()
    initial = history.initial
    if compiled is None:
        return prepare(list(history), model, initial)
    by_key, flags = compiled
    if (
        (model == "register" and flags & NOT_REGISTER)
        or (flags & STORED_OTHER and flags & GROWS)
        or (
            flags & GROWS
            and initial is not None
            and not isinstance(initial, str)
            and initial is not ANY
        )
    ):
        validate(list(history), model, initial)  # raises, with the sentence (or finds it fine)
    return {key: sorted(rows) for key, rows in by_key.items()}


def steps_of(rows: Sequence[Row]) -> list[Step]:
    """The :class:`Step` records for rows made by :func:`prepare`, in the same order."""
    return [Step(c, r, k, a, b, i) for c, r, i, k, a, b in rows]


def _classify(op: Operation) -> tuple[int, Any, Any]:
    """(kind, a, b) for an operation, or kind -1 when it constrains nothing."""
    name = op.op
    if op.ret is None:
        if name == "get":
            return -1, None, None  # an unanswered read changes nothing and says nothing
        if name == "set":
            return MAYBE_WRITE, op.value, None
        if name == "delete":
            return MAYBE_WRITE, None, None
        if name == "cas":
            return MAYBE_CAS, op.expected, op.value
        return MAYBE_APPEND, op.value, None
    if name == "get":
        return READ, op.output, None
    if name == "set":
        return WRITE, op.value, None
    if name == "delete":
        return WRITE, None, None
    if name == "cas":
        if op.output:
            return CAS, op.expected, op.value
        return FAILED_CAS, op.expected, op.value  # b is unused by the search; relax() needs it
    if op.output is None:
        return APPEND, op.value, None
    return APPEND_SAW, op.value, op.output


_RELAXED = {
    WRITE: MAYBE_WRITE,
    CAS: MAYBE_CAS,
    FAILED_CAS: MAYBE_CAS,
    APPEND: MAYBE_APPEND,
    APPEND_SAW: MAYBE_APPEND,
}


def relax(step: Step) -> Step | None:
    """The step made optional: it took effect within its interval or not at all, whatever it
    returned.  A read says nothing once its output is forgotten, so it becomes ``None``.
    Relaxing only ever adds ways to order a history, never removes one."""
    if step.kind in MAYBE:
        return step
    kind = _RELAXED.get(step.kind)
    if kind is None:
        return None
    b = step.b if kind == MAYBE_CAS else None
    return Step(step.call, step.ret, kind, step.a, b, step.source)


def _observed(steps: Sequence[Step]) -> tuple[list[Any], bool]:
    """The values the steps need to see exactly (a read's value, a ``cas``'s expected
    value, failed or not, an append's reported result), and whether the key is appended
    to."""
    observed: list[Any] = []
    grows = False
    for s in steps:
        if s.kind in (READ, CAS, MAYBE_CAS, FAILED_CAS):
            observed.append(s.a)
        elif s.kind == APPEND_SAW:
            observed.append(s.b)
        if s.kind in (APPEND, APPEND_SAW, MAYBE_APPEND):
            grows = True
    return observed, grows


def drop_useless_unknowns(steps: Sequence[Step]) -> list[Step]:
    """Leave out unknown-outcome steps that can never help any ordering.

    Why this is sound: take an ordering that places such a step ``u`` (leaving an optional
    step out never breaks the real-time order of the others).  Follow it until the
    next blind write.  With no failed ``cas`` on the key, the only steps that look at the
    value in between are those that need it *exactly* (a read, a ``cas`` comparing, an
    append that reported its result), and each of those would see ``u``'s mark on the value:
    a value starting with what ``u`` wrote, or containing what ``u`` appended.  If no such
    observed value carries that mark, nothing in that stretch looks at the value, so the
    ordering without ``u`` is just as good (and unknown outcomes may always be left out).
    """
    if any(s.kind == FAILED_CAS for s in steps):
        return list(steps)  # "differs from" is helped by any change: keep everything
    observed, grows = _observed(steps)  # with no failed cas, no failed expectations
    strings = [o for o in observed if isinstance(o, str)]

    def seen_written(v: Any) -> bool:
        if v is None:
            return True  # an absent key grows into any string: keep deletes
        if grows and isinstance(v, str):
            return any(o.startswith(v) for o in strings)
        return any(o == v for o in observed)

    kept = []
    for s in steps:
        if s.kind == MAYBE_APPEND:
            useful = s.a == "" or any(s.a in o for o in strings)
        elif s.kind == MAYBE_WRITE:
            useful = seen_written(s.a)
        elif s.kind == MAYBE_CAS:
            useful = seen_written(s.b)
        else:
            useful = True
        if useful:
            kept.append(s)
    return kept


def unseen_unknowns(steps: Sequence[Step]) -> list[int]:
    """Positions in ``steps`` of the unknown-outcome ``set``, ``delete`` and ``append`` steps
    whose mark no observed value carries (see rule 8 of the search).

    Observed values are those a step needs to see *exactly* (a read's value, a ``cas``'s
    expected value, an append's reported result) and, unlike in
    :func:`drop_useless_unknowns`, the expected values of failed ``cas``es too.  A ``set``
    of ``v`` leaves its mark on every later value until the next blind write: the value
    is ``v``, or starts with ``v`` on a key with appends.  An ``append`` of ``a`` leaves
    ``a`` inside the value.  A ``delete`` is never counted unseen on a key with appends
    (an absent key grows into any string).  Only steps with no deadline (``ret = inf``)
    qualify: the rule moves them later.
    """
    observed, grows = _observed(steps)
    strings = [o for o in observed if isinstance(o, str)]
    exact = set(observed)
    unseen = []
    for n, s in enumerate(steps):
        if s.ret != math.inf:
            continue
        if s.kind == MAYBE_APPEND:
            seen = s.a == "" or any(s.a in o for o in strings)
        elif s.kind == MAYBE_WRITE:
            v = s.a
            if v is None:
                seen = grows or None in exact
            elif grows and isinstance(v, str):
                seen = any(o.startswith(v) for o in strings)
            else:
                seen = v in exact
        else:
            continue
        if not seen:
            unseen.append(n)
    return unseen


def watchers(steps: Sequence[Step]) -> list[int]:
    """For each optional step, the mask of the steps that could see its mark (0 for the
    others): those that look at the value (reads, ``cas``es, failed ``cas``es, appends with a
    reported result) and expect one that is, starts with (on a key with appends) or
    contains (for an append's piece) what the step wrote.  See :func:`unseen_unknowns`.
    An optional ``cas`` gets -1 (everyone): rule 8 never applies to it."""
    looked: list[tuple[Any, int]] = []
    grows = False
    for n, s in enumerate(steps):
        if s.kind in (READ, CAS, MAYBE_CAS, FAILED_CAS):
            looked.append((s.a, 1 << n))
        elif s.kind == APPEND_SAW:
            looked.append((s.b, 1 << n))
        if s.kind in (APPEND, APPEND_SAW, MAYBE_APPEND):
            grows = True
    everyone = 0
    by_value: dict[Any, int] = {}
    for v, bit in looked:
        everyone |= bit
        by_value[v] = by_value.get(v, 0) | bit
    strings = [(v, bit) for v, bit in looked if isinstance(v, str)]
    out = [0] * len(steps)
    for n, s in enumerate(steps):
        if s.kind not in MAYBE:
            continue
        mark = s.a
        if s.kind == MAYBE_CAS:
            out[n] = -1  # its swap depends on when it goes: never treated as unseen
        elif s.kind == MAYBE_APPEND:
            out[n] = everyone if mark == "" else _mask_of(strings, lambda v, m=mark: m in v)
        elif mark is None:
            out[n] = everyone if grows else by_value.get(None, 0)
        elif grows and isinstance(mark, str):
            out[n] = _mask_of(strings, lambda v, m=mark: v.startswith(m))
        else:
            out[n] = by_value.get(mark, 0)
    return out


def _mask_of(pairs: list[tuple[str, int]], wanted: Any) -> int:
    mask = 0
    for v, bit in pairs:
        if wanted(v):
            mask |= bit
    return mask
