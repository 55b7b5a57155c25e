"""What the clients asked, what they were told, and when: the input of the linearizability check.

Start here
----------
An :class:`Operation` is one client call: its kind (``get``, ``set``, ``delete``, ``cas`` or
``append``), its key and arguments, what it returned (``output``) and the interval of
simulated time it spanned, from ``call`` to ``ret``.  A :class:`History` is the list of them,
in the order they were called.  :func:`raftlab.linearizability.check` decides whether some
single order of the operations, each placed between its call and its return, explains every
output (Herlihy & Wing, "Linearizability", 1990).

Meaning of the fields
---------------------
* ``ret is None``: the outcome is unknown (the client timed out, or the history ended while
  it waited).  The operation may have taken effect at any moment after ``call``, or never;
  ``output`` is then ``None`` and says nothing.
* ``output``: the value read for ``get`` (``None`` for a missing key); ``True`` or ``False``
  for ``cas``; ``None`` for ``set`` and ``delete``; for ``append`` either ``None`` or the new
  value, which the check then holds it to.
* ``relaxed=True`` marks a read served from one node's local copy; it is kept in the history
  for pictures but left out of the check, since such reads are stale by design.
* ``mode`` says how a ``get`` was served (:data:`READ_MODES`): ``"log"`` (through the log,
  the default), ``"read_index"`` (ReadIndex, thesis §6.4), ``"lease"`` (a leader's lease,
  §6.4.1) or ``"relaxed"`` (the same as ``relaxed=True``).  Every mode but ``"relaxed"``
  promises a linearizable read, so the check includes them.  Other operations have none.
* ``cas`` has ``expected`` (the old value it compared with) and ``value`` (the new value).
* Real time orders two operations only if one returned strictly before the other was
  called; intervals that merely touch (``a.ret == b.call``) count as concurrent.

Recording a history while clients run
-------------------------------------
A client knows its arguments when it calls and its result only when it returns, so a
history is written in two steps::

    i = cluster.history.call(client=1, op="set", key="x", value="5", time=now)
    ...  # later, when the answer arrives
    cluster.history.complete(i, output=None, time=now)

:meth:`History.call` appends an operation with ``ret=None`` and returns its index;
:meth:`History.complete` replaces that operation, in place, by the finished one
(operations are frozen, so it is a replacement, never a mutation).  A call that never
completes stays ``ret=None``: unknown outcome, exactly what a timed-out client should record.
:meth:`History.append` adds an operation that is already finished.

Files
-----
:meth:`History.to_json` / :meth:`History.from_json` round-trip raftlab's own format.
:meth:`History.from_jepsen` reads Jepsen's etcd register logs and
:meth:`History.from_porcupine_kv` reads Porcupine's key-value logs (both in
``tests/data/linearizability`` in the repository, whose README describes them); these use the
line number of each event as its time.  :meth:`History.to_porcupine` writes such a log, which
``from_porcupine_kv`` reads back.  :func:`load` tells the three apart (:func:`detect_format`).
Bad input raises ``ValueError`` naming the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any, overload

from raftlab.records import fast_init

OPS = ("get", "set", "delete", "cas", "append")

#: How a ``get`` can be served (``Operation.mode``); only ``"relaxed"`` is left unchecked.
READ_MODES = ("log", "read_index", "lease", "relaxed")

#: ``History.initial`` when every key starts absent (the default).
ABSENT = None


class _AnyStart:
    """The type of :data:`ANY`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY"

    def __reduce__(self) -> str:
        return "ANY"


#: ``History.initial`` when a key may start with any value at all: the history is judged
#: linearizable if *some* starting value explains it.  Failing sets reported by the check
#: are usually judged this way (see ``raftlab.linearizability.minimize``).
ANY = _AnyStart()

_FORMAT = "raftlab-history"
_VERSION = 1


@fast_init
@dataclass(frozen=True, slots=True)
class Operation:
    """One client call.  See the module docstring for what each field means."""

    client: Any
    op: str
    key: str
    value: Any = None
    expected: Any = None
    output: Any = None
    call: float = 0
    ret: float | None = None
    relaxed: bool = False
    mode: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown operation {self.op!r}: use one of {', '.join(OPS)}")
        if self.op == "get":
            mode = self.mode or "log"
            if mode not in READ_MODES:
                raise ValueError(
                    f"unknown read mode {mode!r}: a get is served in one of {', '.join(READ_MODES)}"
                )
            # ``relaxed`` decides whether the read is checked: relaxed=True is the mode
            # 'relaxed', and replace(op, relaxed=False) counts a relaxed read as if it had
            # gone through the log (examples/stale_read.py does, to show it is stale).
            if self.relaxed:
                if mode not in ("log", "relaxed"):
                    raise ValueError(f"a relaxed get has mode 'relaxed', not {mode!r}")
                mode = "relaxed"
            elif mode == "relaxed":
                mode = "log"
            if mode is not self.mode:  # most gets already name their mode
                object.__setattr__(self, "mode", mode)
        elif self.mode is not None:
            raise ValueError(f"only a get has a read mode, not a {self.op}")
        if self.ret is not None and self.ret < self.call:
            raise ValueError(
                f"{self.op} on {self.key!r} returns at {self.ret} before it was called at "
                f"{self.call}"
            )
        if self.relaxed and self.op != "get":
            raise ValueError(f"only a get can be relaxed, not a {self.op}")
        if self.op == "cas" and self.output not in (None, True, False):
            raise ValueError(f"a cas outputs True or False, not {self.output!r}")
        if self.op == "cas" and self.ret is not None and self.output is None:
            raise ValueError(
                f"cas on {self.key!r} returned at {self.ret} but has no output: a cas that "
                "returned says whether it swapped (output True or False); one whose outcome "
                "is unknown has no return time (ret None)"
            )
        if self.ret is None and self.output is not None:
            raise ValueError(
                f"{self.op} on {self.key!r} has an output ({self.output!r}) but no return "
                "time: an operation whose outcome is unknown has output None"
            )

    @property
    def unknown(self) -> bool:
        """True when nobody knows whether (or when) the operation took effect."""
        return self.ret is None

    def describe(self) -> str:
        """A one-line, human-readable form: ``client 3: cas(x, 1 -> 2) = ok  [10, 12]``."""
        k = self.key
        if self.op == "get":
            what = f"get({k})" + ("" if self.ret is None else f" -> {self.output!r}")
            if self.mode != "log":
                what += f" ({self.mode})"
        elif self.op == "set":
            what = f"set({k}, {self.value!r})"
        elif self.op == "delete":
            what = f"delete({k})"
        elif self.op == "cas":
            what = f"cas({k}, {self.expected!r} -> {self.value!r})"
            if self.ret is not None:
                what += " = ok" if self.output else " = failed"
        else:
            what = f"append({k}, {self.value!r})"
            if self.output is not None:
                what += f" -> {self.output!r}"
        if self.ret is None:
            return f"client {self.client}: {what}, outcome unknown  [{_ms(self.call)}, ...]"
        return f"client {self.client}: {what}  [{_ms(self.call)}, {_ms(self.ret)}]"


def _ms(t: float) -> str:
    """A time as the trace shows it: two decimals (times are kept exact, so that ties stay
    ties; a person reads hundredths).  Whole numbers (line numbers of imported logs) stay
    whole."""
    return str(int(t)) if float(t).is_integer() else f"{t:.2f}"


class History:
    """The operations of a run, in call order, plus the value every key starts with.

    ``initial`` is :data:`ABSENT` (``None``: keys start missing, registers empty) unless the
    history says otherwise; Porcupine's key-value logs start every key at ``""``;
    :data:`ANY` means any starting value will do.
    """

    # Besides the operations, a history keeps them compiled for the linearizability check,
    # as they are recorded, in ``_compiled_rows`` (see _CompiledRows).
    __slots__ = ("_ops", "initial", "_compiled_rows")

    def __init__(self, operations: Iterable[Operation] = (), initial: Any = ABSENT):
        self._ops: list[Operation] = []
        self.initial = initial
        self._compiled_rows = _CompiledRows()
        for op in operations:
            self.append(op)

    # --- list-like ---------------------------------------------------------------------------

    def append(self, operation: Operation) -> int:
        """Add an operation (finished or not) and return its index."""
        if not isinstance(operation, Operation):
            raise TypeError(f"a History holds Operation records, not {type(operation).__name__}")
        index = len(self._ops)
        self._ops.append(operation)
        compiled = self._compiled_rows
        compiled.at.append(-1)
        if operation.ret is None:
            # Compiled once it returns (complete), or by the check if it never does:
            # recording compiles each operation once, not twice.
            compiled.pending.add(index)
        else:
            self._compile(operation, index)
        return index

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self._ops)

    @overload
    def __getitem__(self, index: int) -> Operation: ...
    @overload
    def __getitem__(self, index: slice) -> list[Operation]: ...
    def __getitem__(self, index: int | slice) -> Operation | list[Operation]:
        return self._ops[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        return self.initial == other.initial and self._ops == other._ops

    def __repr__(self) -> str:
        start = "" if self.initial is ABSENT else f", initial={self.initial!r}"
        return f"History({len(self._ops)} operations{start})"

    # --- recording while clients run -----------------------------------------------------------

    def call(
        self,
        client: Any,
        op: str,
        key: str,
        value: Any = None,
        expected: Any = None,
        *,
        time: float,
        relaxed: bool = False,
        mode: str | None = None,
    ) -> int:
        """Record that ``client`` called ``op`` at ``time``; return the index to complete.
        ``mode``: how a get is served (:data:`READ_MODES`)."""
        relaxed = relaxed or mode == "relaxed"
        return self.append(
            Operation(client, op, key, value, expected, None, time, None, relaxed, mode)
        )

    def complete(self, index: int, output: Any = None, *, time: float) -> Operation:
        """Record that operation ``index`` returned ``output`` at ``time``; return it."""
        try:
            pending = self._ops[index]
        except IndexError:
            raise ValueError(
                f"no operation {index} to complete: the history has {len(self._ops)}"
            ) from None
        if pending.ret is not None:
            raise ValueError(f"operation {index} already returned at {pending.ret}")
        # dataclasses.replace, spelled out (it looks up every field by name: several us,
        # once per client operation); __post_init__ runs the same.
        p = pending
        done = p.__class__(
            p.client, p.op, p.key, p.value, p.expected, output, p.call, time, p.relaxed, p.mode
        )
        self._ops[index] = done
        self._compiled_rows.pending.discard(index)
        self._compile(done, index)
        return done

    def _compile(self, operation: Operation, index: int) -> None:
        """Put operation ``index``'s row in its key's list (or replace the row it had)."""
        compiled = self._compiled_rows
        by_key = compiled.rows
        if by_key is None:
            return
        row, flags = _row_of(operation, index)
        compiled.flags |= flags
        if flags & 1:  # models.ODD: maybe not even hashable; the check compiles such a history
            compiled.rows = None
            return
        if row is None:
            return
        at = compiled.at[index]
        rows = by_key.get(operation.key)
        if rows is None:
            by_key[operation.key] = [row]
            compiled.at[index] = 0
        elif at < 0:
            compiled.at[index] = len(rows)
            rows.append(row)
        else:
            rows[at] = row

    def _compiled(self) -> tuple[dict[Any, list[tuple]], int] | None:
        """The rows by key (unsorted; not to be changed) and the flags, as
        ``raftlab.linearizability.models.prepare_history`` reads them; ``None`` if the
        history keeps none."""
        compiled = self._compiled_rows
        if compiled.pending:
            # Operations that have not returned (yet): their rows now, as unknown outcomes.
            pending = sorted(compiled.pending)
            compiled.pending.clear()
            for index in pending:
                self._compile(self._ops[index], index)
        if compiled.rows is None:
            return None
        return compiled.rows, compiled.flags

    # --- raftlab's JSON ------------------------------------------------------------------------

    def to_json(self) -> str:
        """The history as JSON text that :meth:`from_json` reads back unchanged."""
        doc = {
            "format": _FORMAT,
            "version": _VERSION,
            "initial": {"any": True} if self.initial is ANY else self.initial,
            "operations": [asdict(op) for op in self._ops],
        }
        return json.dumps(doc, indent=None, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> History:
        """Read what :meth:`to_json` wrote."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"line {e.lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ValueError(f'line 1: not a raftlab history (no "format": "{_FORMAT}")')
        if doc.get("version") != _VERSION:
            raise ValueError(
                f"line 1: history version {doc.get('version')!r} is not "
                f"{_VERSION}, the one this raftlab reads"
            )
        ops = doc.get("operations")
        if not isinstance(ops, list):
            raise ValueError('line 1: "operations" must be a list')
        initial = doc.get("initial")
        if initial == {"any": True}:
            initial = ANY
        elif isinstance(initial, (dict, list)):
            raise ValueError(
                f'line 1: "initial" must be a value, null or {{"any": true}}, not {initial!r}'
            )
        fields = set(Operation.__dataclass_fields__)
        history = cls(initial=initial)
        for n, item in enumerate(ops):
            where = f"operation {n}"
            if not isinstance(item, dict):
                raise ValueError(f"{where}: expected an object, got {item!r}")
            unknown = set(item) - fields
            missing = {"client", "op", "key", "call"} - set(item)
            if unknown or missing:
                problem = (
                    f"unknown field {sorted(unknown)[0]!r}"
                    if unknown
                    else f"missing field {sorted(missing)[0]!r}"
                )
                raise ValueError(f"{where}: {problem}")
            for t in ("call", "ret"):
                v = item.get(t)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    raise ValueError(f"{where}: {t!r} must be a number, not {v!r}")
            try:
                history.append(Operation(**item))
            except (TypeError, ValueError) as e:
                raise ValueError(f"{where}: {e}") from None
        return history

    # --- Jepsen's etcd register logs -----------------------------------------------------------

    @classmethod
    def from_jepsen(cls, text: str, key: str = "x") -> History:
        """Read a Jepsen log of a single compare-and-set register (the etcd corpus).

        ``read`` becomes ``get``, ``write`` becomes ``set`` and ``cas [old new]`` becomes
        ``cas`` (``expected=old, value=new``), all on ``key``.  ``:ok`` completes a call;
        ``:fail :cas`` completes it with output ``False`` (it compared and did not swap);
        any other ``:fail`` did nothing and constrains nothing, so it is dropped (this covers
        ``:fail :read :timed-out``); ``:info``, and a call never answered, leave the
        outcome unknown.  Times are line numbers.
        """
        ops: list[Operation | None] = []  # None marks a dropped call
        pending: dict[str, tuple[int, int]] = {}  # process -> (index in ops, line)
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            m = _JEPSEN_LINE.match(line)
            if m is None:
                raise ValueError(
                    f"line {lineno}: not a Jepsen event (expected 'INFO jepsen.util - "
                    f"<process> <:invoke|:ok|:fail|:info> <:read|:write|:cas> <value>'): "
                    f"{line.strip()[:80]!r}"
                )
            process, kind, f, raw = m.group("process", "type", "f", "value")
            where = f"line {lineno}"
            if kind == "invoke":
                if process in pending:
                    raise ValueError(
                        f"{where}: process {process} invokes again while its call on line "
                        f"{pending[process][1]} has not returned"
                    )
                if f == "read":
                    op = Operation(int(process), "get", key, call=lineno)
                elif f == "write":
                    value = _jepsen_value(raw, where)
                    if value is None:
                        raise ValueError(f"{where}: a write needs a number, not nil")
                    op = Operation(int(process), "set", key, value, call=lineno)
                else:
                    old, new = _jepsen_pair(raw, where)
                    op = Operation(int(process), "cas", key, new, old, call=lineno)
                pending[process] = (len(ops), lineno)
                ops.append(op)
                continue
            if process not in pending:
                raise ValueError(
                    f"{where}: process {process} reports :{kind} but has no call in progress"
                )
            index, _ = pending.pop(process)
            op = ops[index]
            assert op is not None
            if f != _JEPSEN_F[op.op]:
                raise ValueError(
                    f"{where}: process {process} reports :{f} for its :{_JEPSEN_F[op.op]} call"
                )
            if kind == "info":
                continue  # indeterminate: ret stays None
            if kind == "fail" and op.op != "cas":
                ops[index] = None
                continue
            if op.op == "get":
                output = _jepsen_value(raw, where)
            elif op.op == "cas":
                if _jepsen_pair(raw, where) != (op.expected, op.value):
                    raise ValueError(f"{where}: the cas result {raw} does not match its call")
                output = kind == "ok"
            else:
                if _jepsen_value(raw, where) != op.value:
                    raise ValueError(f"{where}: the write result {raw} does not match its call")
                output = None
            ops[index] = replace(op, output=output, ret=lineno)
        return cls(op for op in ops if op is not None)

    # --- Porcupine's key-value logs ------------------------------------------------------------

    @classmethod
    def from_porcupine_kv(cls, text: str) -> History:
        """Read one of Porcupine's key-value logs (``{:process 0, :type :invoke, ...}``).

        ``:get`` becomes ``get``, ``:put`` becomes ``set``, ``:append`` stays ``append``.
        Every key starts as the empty string, as Porcupine's model says, so the history's
        ``initial`` is ``""``.  ``:fail`` drops the call (it did nothing); ``:info``, and a
        call never answered, leave the outcome unknown.  Times are line numbers.

        raftlab's dialect, which :meth:`to_porcupine` writes, adds what Porcupine's own logs
        do not have: ``:delete`` (``:value nil``), ``:cas`` with ``:value ["expected"
        "new"]`` (its ``:fail`` means it compared and did not swap: output ``False``, as in
        Jepsen's register logs), and ``:ok :get`` with ``:value nil`` (the key was absent).
        A log with a delete or an absent read starts keys absent (``initial`` ``None``), as
        raftlab's key-value store does.
        """
        ops: list[Operation | None] = []  # None marks a dropped call
        pending: dict[str, tuple[int, int]] = {}  # process -> (index in ops, line)
        absent = False  # did a key ever lack a value (a delete, a get that found nothing)?
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            m = _KV_LINE.match(line)
            where = f"line {lineno}"
            if m is None:
                raise ValueError(
                    f"{where}: not a Porcupine key-value event (expected '{{:process <n>, "
                    f":type <:invoke|:ok|:fail|:info>, :f <:get|:put|:append|:delete|:cas>, "
                    f':key "<k>", :value <"v"|nil|["old" "new"]>}}\'): {line.strip()[:80]!r}'
                )
            process, kind, f = m.group("process", "type", "f")
            key = _clj_string(m.group("key"))
            raw = m.group("value")
            pair = None
            if raw.startswith("["):
                old, new = _KV_PAIR.match(raw).groups()  # the line's pattern ensured it matches
                pair, value = (_clj_string(old), _clj_string(new)), None
            else:
                value = None if raw == "nil" else _clj_string(raw[1:-1])
            op_name = {"get": "get", "put": "set", "append": "append"}.get(f, f)
            if (op_name == "cas") != (pair is not None):
                raise ValueError(
                    f'{where}: a :cas takes ["expected" "new"] and nothing else does, not {raw}'
                )
            if kind == "invoke":
                if process in pending:
                    raise ValueError(
                        f"{where}: process {process} invokes again while its call on line "
                        f"{pending[process][1]} has not returned"
                    )
                if op_name in ("set", "append") and value is None:
                    raise ValueError(f"{where}: :{f} needs a string value, not nil")
                if op_name == "cas":
                    op = Operation(int(process), "cas", key, pair[1], pair[0], call=lineno)
                else:
                    written = value if op_name in ("set", "append") else None
                    op = Operation(int(process), op_name, key, written, call=lineno)
                    absent |= op_name == "delete"
                pending[process] = (len(ops), lineno)
                ops.append(op)
                continue
            if process not in pending:
                raise ValueError(
                    f"{where}: process {process} reports :{kind} but has no call in progress"
                )
            index, _ = pending.pop(process)
            op = ops[index]
            assert op is not None
            if op.op != op_name or op.key != key:
                raise ValueError(
                    f"{where}: process {process} reports :{f} on {key!r} for "
                    f"its {op.op} on {op.key!r}"
                )
            if kind == "info":
                continue
            if op_name == "cas":
                if pair != (op.expected, op.value):
                    raise ValueError(f"{where}: the cas result {raw} does not match its call")
                ops[index] = replace(op, output=kind == "ok", ret=lineno)
                continue
            if kind == "fail":
                ops[index] = None
                continue
            if op_name == "get" and value is None:
                absent = True  # raftlab's dialect: the get found no value at all
            output = value if op_name == "get" else None
            ops[index] = replace(op, output=output, ret=lineno)
        return cls((op for op in ops if op is not None), initial=None if absent else "")

    def to_porcupine(self) -> str:
        """The history as one of Porcupine's key-value logs, which :meth:`from_porcupine_kv`
        reads back.

        The log has no clock, only an order of events, so it keeps exactly what
        linearizability depends on: which operation returned before which was called.  At
        equal times calls are written before returns, so intervals that merely touch stay
        concurrent, as raftlab counts them (and as Porcupine sorts them).  Reading the log
        back gives the same operations, with line numbers as times and the same order
        between every two of them; writing that again gives the same text.

        * ``set`` becomes ``:put``; ``get`` and ``append`` keep their names; an unknown
          outcome becomes ``:info`` (written just after the call).
        * ``delete``, ``cas`` and a read of an absent key are not in Porcupine's own logs;
          they are written in raftlab's dialect (see :meth:`from_porcupine_kv`), for a
          Porcupine model that has them.
        * Relaxed reads are left out (the check leaves them out too).
        * Porcupine starts every key at ``""``, raftlab's store with no value.  A log with a
          delete or an absent read is read back with keys starting absent; any other log
          with keys starting at ``""``.  So a history whose keys start absent must not use
          ``""`` itself (absent and ``""`` would then be told apart only by that), and one
          whose keys start at ``""`` must not delete or read an absent key; when neither
          shows, the two starts behave alike and the log reads back with ``""``.
        * ``ValueError`` also for values that are not strings, a cas expecting an absent key,
          a client that is not a whole number >= 0, and a client with two operations at once.
        """
        ops = [op for op in self._ops if not op.relaxed]
        initial = self.initial
        if initial is not ABSENT and initial != "":
            raise ValueError(
                f"keys start at {initial!r}, but Porcupine's key-value model starts every key "
                'at "": only histories starting keys absent or at "" can be written'
            )
        for n, op in enumerate(ops):
            if op.op == "cas" and op.expected is None:
                raise ValueError(
                    f"operation {n} is a cas expecting an absent key: Porcupine's keys are "
                    'never absent (they start at "")'
                )
            if isinstance(op.client, bool) or not isinstance(op.client, int) or op.client < 0:
                raise ValueError(
                    f"operation {n} has client {op.client!r}: Porcupine numbers its processes, "
                    "so clients must be whole numbers >= 0"
                )
            for name in ("key", "value", "expected") + (("output",) if op.op == "get" else ()):
                v = getattr(op, name)
                if not isinstance(v, str) and not (v is None and name != "key"):
                    raise ValueError(
                        f"operation {n} has {name} {v!r}: Porcupine's values are strings"
                    )
            if op.op in ("set", "append", "cas") and op.value is None:
                raise ValueError(f"operation {n} is a {op.op} without a value")
        if initial is ABSENT:
            if any("" in (op.value, op.expected, op.output) for op in ops):
                raise ValueError(
                    'keys start absent and some operation writes or reads "": in a Porcupine '
                    'log keys start at "", so the two starts could not be told apart'
                )
        elif any(
            op.op == "delete" or (op.op == "get" and op.ret is not None and op.output is None)
            for op in ops
        ):
            raise ValueError(
                'keys start at "", yet a key is deleted or read absent: a log with those is '
                "read back with keys starting absent"
            )
        # (time, 0 for a call / 1 for a return, operation number, 0 / 1 for :invoke / :info):
        # calls first at a tie; an unknown outcome's :info right after its own call, which
        # frees its process for the next call (as a crashed Jepsen process is replaced).
        events: list[tuple[float, int, int, int]] = []
        busy: dict[int, tuple[float, int]] = {}  # client -> (return time, operation)
        for i in sorted(range(len(ops)), key=lambda i: (ops[i].call, i)):
            o = ops[i]
            before = busy.get(o.client)
            if before is not None and not before[0] < o.call:
                raise ValueError(
                    f"client {o.client} calls {o.describe()!r} before its operation "
                    f"{before[1]} returned: a Porcupine process does one operation at a time"
                )
            events.append((o.call, 0, i, 0))
            if o.ret is None:
                events.append((o.call, 0, i, 1))
            else:
                busy[o.client] = (o.ret, i)
                events.append((o.ret, 1, i, 0))
        events.sort()
        lines = []
        for _, returns, i, info in events:
            o = ops[i]
            f = {"set": "put"}.get(o.op, o.op)
            value = o.value
            if not returns:
                what = "info" if info else "invoke"
                if o.op == "get":
                    value = None
            else:
                what = "fail" if o.op == "cas" and not o.output else "ok"
                if o.op == "get":
                    value = o.output  # None: absent, written nil
            if o.op == "cas":
                shown = f"[{_clj_quote(o.expected)} {_clj_quote(o.value)}]"
            else:
                shown = "nil" if value is None else _clj_quote(value)
            lines.append(
                f"{{:process {o.client}, :type :{what}, :f :{f}, :key {_clj_quote(o.key)}, "
                f":value {shown}}}"
            )
        return "\n".join(lines) + ("\n" if lines else "")


class _CompiledRows:
    """A history's operations compiled for the linearizability check as they are recorded.

    ``rows`` holds each key's rows (``row_of`` in ``raftlab.linearizability.models``, the
    rows ``prepare`` would make), unsorted; ``at`` the place of each operation's row in
    its key's list (-1: none yet, as for a get not answered yet); ``flags`` what the check
    must still validate; ``pending`` the operations recorded before they returned, not
    compiled yet (``complete`` compiles each, the check any still left).  A history with
    a field of an odd type keeps no rows (``rows`` None): the check compiles it from its
    operations.  One object, so that copies of a
    history that share its operations (``copy.copy``) share these too.
    """

    __slots__ = ("at", "flags", "pending", "rows")

    def __init__(self) -> None:
        self.rows: dict[Any, list[tuple]] | None = {}
        self.at: list[int] = []
        self.flags = 0
        self.pending: set[int] = set()


def _row_of(operation: Operation, index: int) -> tuple[tuple | None, int]:
    """``raftlab.linearizability.models.row_of``, imported on first use: that package
    imports this module, so it cannot be imported at the top."""
    global _row_of
    from raftlab.linearizability.models import row_of

    _row_of = row_of
    return row_of(operation, index)


def detect_format(text: str) -> str:
    """``"json"``, ``"jepsen"`` or ``"porcupine-kv"``, judged by the first non-blank line."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ValueError("line 1: the file is empty: no operations to check")
    stripped = first.lstrip()
    if stripped.startswith("{:"):
        return "porcupine-kv"
    if stripped.startswith("{"):
        return "json"
    if "jepsen" in first:
        return "jepsen"
    raise ValueError(
        "line 1: not a history this tool reads (raftlab JSON, a Jepsen register log or a "
        f"Porcupine key-value log): {first.strip()[:80]!r}"
    )


def load(text: str) -> History:
    """Read a history in any of the three formats (see :func:`detect_format`)."""
    kind = detect_format(text)
    if kind == "json":
        return History.from_json(text)
    if kind == "jepsen":
        return History.from_jepsen(text)
    return History.from_porcupine_kv(text)


_JEPSEN_LINE = re.compile(
    r"^\s*INFO\s+jepsen\.util\s+-\s+(?P<process>\d+)\s+:(?P<type>invoke|ok|fail|info)"
    r"\s+:(?P<f>read|write|cas)\s+(?P<value>nil|:[\w-]+|-?\d+|\[\s*-?\d+\s+-?\d+\s*\])\s*$"
)
_JEPSEN_F = {"get": "read", "set": "write", "cas": "cas"}
_KV_LINE = re.compile(
    r"^\s*\{:process\s+(?P<process>\d+),\s*:type\s+:(?P<type>invoke|ok|fail|info),\s*"
    r':f\s+:(?P<f>get|put|append|delete|cas),\s*:key\s+"(?P<key>(?:[^"\\]|\\.)*)",\s*'
    r':value\s+(?P<value>nil|"(?:[^"\\]|\\.)*"|\[\s*"(?:[^"\\]|\\.)*"\s+"(?:[^"\\]|\\.)*"\s*\])'
    r"\s*\}\s*$"
)
_KV_PAIR = re.compile(r'^\[\s*"((?:[^"\\]|\\.)*)"\s+"((?:[^"\\]|\\.)*)"\s*\]$')
_CLJ_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _jepsen_value(raw: str, where: str) -> int | None:
    if raw == "nil":
        return None
    if raw.startswith(":") or raw.startswith("["):
        raise ValueError(f"{where}: expected a number or nil, got {raw}")
    return int(raw)


def _jepsen_pair(raw: str, where: str) -> tuple[int, int]:
    if not raw.startswith("["):
        raise ValueError(f"{where}: a cas needs [old new], got {raw}")
    old, new = raw[1:-1].split()
    return int(old), int(new)


def _clj_quote(text: str) -> str:
    """``text`` as a Clojure string literal (what :func:`_clj_string` reads back)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f'"{escaped}"'


def _clj_string(body: str) -> str:
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: _CLJ_ESCAPES.get(m.group(1), m.group(1)), body)
