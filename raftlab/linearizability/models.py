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
effect at any moment after its call, or never.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raftlab.history import Operation

MODELS = ("kv", "register")

# Step kinds.  Read-like steps never change the value; the others may.
READ = 0  # known get: the value equals a
FAILED_CAS = 1  # known failed cas: the value is absent or differs from a
WRITE = 2  # known set (a = the value) or delete (a = None)
CAS = 3  # known successful cas: value == a (and present) -> b
APPEND = 4  # known append of a
APPEND_SAW = 5  # known append of a whose result b was reported
MAYBE_WRITE = 6  # unknown-outcome set / delete
MAYBE_CAS = 7  # unknown-outcome cas
MAYBE_APPEND = 8  # unknown-outcome append

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


def validate(operations: Sequence[Operation], model: str) -> None:
    """Raise ``ValueError`` if the model cannot judge these operations."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: use 'kv' or 'register'")
    for n, op in enumerate(operations):
        if model == "register" and op.op not in _REGISTER_OPS:
            raise ValueError(
                f"operation {n} is a {op.op}, which a register does not have "
                "(it has get, set and cas): check with model='kv'"
            )
        if op.op == "append" and not isinstance(op.value, str):
            raise ValueError(f"operation {n} appends {op.value!r}: append takes a string")


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
        return FAILED_CAS, op.expected, None
    if op.output is None:
        return APPEND, op.value, None
    return APPEND_SAW, op.value, op.output
