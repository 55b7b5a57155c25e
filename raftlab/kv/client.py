"""KVClient: a key-value client that runs the simulation until it has an answer (§8).

Where to start
--------------
``KVClient(cluster).set("x", "1")`` encodes a command (:mod:`raftlab.kv.commands`), hands
it to the leader with ``cluster.submit`` and runs simulated time until the entry is
applied.  A real client of a Raft cluster cannot see who leads, so neither does this one:

* It sends to the node it last heard was the leader.  A node that is not the leader
  answers ``NotLeader`` with a hint (§8: "If the client's request is rejected because the
  node is not the leader, the server points it to the most recent leader it has heard
  from"); the client follows the hint, or else tries the nodes in turn.  When every node
  has refused, it waits ``retry_ms`` (an election is probably under way) and starts over.
* A node that accepted the command can still lose it: it crashes (``LeadershipLost``), it
  is deposed and the entry overwritten (``LeadershipLost``), or it is cut off and simply
  never answers.  The client retries elsewhere after ``LeadershipLost`` and after
  ``attempt_ms`` without an answer.
* Retrying a write is only safe because every command carries a session envelope
  ``(client_id, seq)``: the state machine applies each ``seq`` of a client at most once and
  hands a retry the remembered result (:mod:`raftlab.kv.state_machine`).  So a client has
  one operation outstanding at a time; make more clients for concurrency.
* After ``timeout_ms`` of simulated time the client gives up with ``raftlab.Timeout``.  The
  write may or may not have happened (an earlier attempt may still commit), so the history
  records it with ``ret=None``: outcome unknown.

Every operation is recorded in ``cluster.history`` (:mod:`raftlab.history`) with its call
and return times, which is what :func:`raftlab.linearizability.check` judges.

Reads come in four modes (``get(key, mode=...)``):

* ``"log"`` (the default) goes through the log like a write, so it is linearizable, at the
  price of a log entry and a commit.
* ``"read_index"``: the leader notes its commit index, confirms with a heartbeat round that
  it still leads, and answers once it has applied that index (ReadIndex, thesis §6.4).
* ``"lease"``: the leader answers at once while its lease holds (§6.4.1; the cluster needs
  ``Config(lease_ms=...)``), else as ``"read_index"``.
* ``"relaxed"`` (or ``relaxed=True``; ``node=i`` picks the node) reads a local state
  machine at once: fast, but an isolated or lagging replica serves whatever it last
  applied (see ``examples/stale_read.py``).

Histories record the mode; relaxed reads are left out of the linearizability check.

Many clients at once
--------------------
``client.start_set(...)`` (and ``start_get``, ``start_delete``, ``start_cas``,
``start_append``) starts an operation and returns a :class:`PendingOp` at once.  Every
pending operation of every client of a cluster is advanced (answers taken, retries sent,
timeouts applied) whenever time is run through a :class:`Workload`:
``Workload(cluster).run(ms)``, ``Workload(cluster).run_until(pred, timeout_ms)``, or
``op.wait()``.  A blocking call is just ``start_...(...).wait()``, so other clients'
operations keep moving while one client waits.  Time run with plain ``cluster.run`` does
not retry anything; answers that arrived meanwhile are taken (with a later return time,
which only widens the operation's interval) at the next ``Workload`` call.

The client keeps no timers in the cluster's event queue: it computes when it next needs
to act and runs the cluster exactly up to then, so ``cluster.fork`` and replay see the
same events with or without clients.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from raftlab.errors import LeadershipLost, NotLeader, Timeout
from raftlab.history import READ_MODES, History
from raftlab.kv.commands import SESSION_MARKER, Command, Kind, encode_command
from raftlab.kv.state_machine import KeyNotFound, KVStateMachine
from raftlab.proposal import Proposal, ReadRequest

__all__ = ["KVClient", "PendingOp", "Workload"]

INF = float("inf")
# isinstance with tuples: ``A | B`` would build a union object at every call (hot paths).
_RETRY = (NotLeader, LeadershipLost)  # a proposal lost or refused: try again
_NUMBER = (int, float)


class _Registry:
    """Per cluster: the client ids in use and every client's pending operations.

    It holds no reference to the cluster, so a cluster with operations left pending can
    still be garbage collected (the registry lives in a ``WeakKeyDictionary``).
    """

    __slots__ = ("ids", "next_id", "pending", "completed")

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.next_id = 1
        self.pending: list[PendingOp] = []  # in start order, so retries are deterministic
        self.completed = 0  # operations finished so far (a cheap "something changed")


_REGISTRIES: weakref.WeakKeyDictionary[Any, _Registry] = weakref.WeakKeyDictionary()


def _registry(cluster: Any) -> _Registry:
    reg = _REGISTRIES.get(cluster)
    if reg is None:
        reg = _REGISTRIES[cluster] = _Registry()
    return reg


def _ids_in_replicated_state(cluster: Any) -> set[int]:
    """Client ids in any replica's exactly-once table or in any enveloped log entry."""
    ids: set[int] = set()
    for node in cluster.nodes.values():
        ids.update(node.state_machine.sessions)
        for entry in node.log:
            cmd = entry.command
            if isinstance(cmd, bytes) and len(cmd) >= 9 and cmd[0] == SESSION_MARKER:
                ids.add(int.from_bytes(cmd[1:9], "little"))
    return ids


class _Session:
    """A client's own state, shared with its operations (no reference to the cluster)."""

    __slots__ = ("client_id", "seq", "guess", "rr", "ids", "busy")

    def __init__(self, client_id: int, ids: list[int]):
        self.client_id = client_id
        self.seq = 0  # the last sequence number used; each operation takes the next one
        self.guess: int | None = None  # whom the client believes leads
        self.rr = 0  # where the round of "try every node" continues
        self.ids = ids
        self.busy: PendingOp | None = None


class PendingOp:
    """One client operation in progress, advanced by a :class:`Workload`.

    ``done`` once it has an answer or gave up.  Then ``result`` is the answer (the value
    read, ``None`` for a missing key; ``True``/``False`` for ``cas``; the new value for
    ``append``; ``None`` for ``set`` and ``delete``) and ``error`` is ``None``, or the
    error ``wait()`` raises: ``KeyNotFound`` for a get of a missing key, ``Timeout`` when
    ``timeout_ms`` passed (``timed_out``; the outcome is then unknown unless ``accepted``
    is ``False``: no node ever took the command, so it certainly did not happen).
    """

    __slots__ = (
        "op",
        "key",
        "value",
        "expected",
        "relaxed",
        "mode",
        "client_id",
        "call",
        "ret",
        "done",
        "result",
        "error",
        "accepted",
        "attempts",
        "_session",
        "_history",
        "_index",
        "_command",
        "_proposal",
        "_attempt_end",
        "_retry_at",
        "_deadline",
        "_tried",
        "_cluster_ref",
        "_attempt_ms",
        "_retry_ms",
    )

    def __init__(
        self,
        cluster: Any,
        session: _Session,
        history: History,
        op: str,
        key: str,
        value: Any,
        expected: Any,
        command: bytes | None,
        now: float,
        timeout_ms: float,
        attempt_ms: float,
        retry_ms: float,
        relaxed: bool = False,
        mode: str | None = None,
    ):
        self.op = op
        self.key = key
        self.value = value
        self.expected = expected
        self.relaxed = relaxed
        # How a get is served; other operations have no mode.
        self.mode = (mode or ("relaxed" if relaxed else "log")) if op == "get" else None
        self.client_id = session.client_id
        self.call = now
        self.ret: float | None = None
        self.done = False
        self.result: Any = None
        self.error: Exception | None = None
        self.accepted = False  # some node appended the command to its log
        self.attempts = 0  # proposals that some node accepted
        self._session = session
        self._cluster_ref = weakref.ref(cluster)
        self._history = history
        self._index = history.call(
            session.client_id, op, key, value, expected, time=now, relaxed=relaxed, mode=self.mode
        )
        self._command = command
        self._proposal: Proposal | ReadRequest | None = None
        self._attempt_end = INF
        self._retry_at = now
        self._deadline = now + timeout_ms
        self._tried: set[int] = set()
        self._attempt_ms = attempt_ms
        self._retry_ms = retry_ms

    @property
    def timed_out(self) -> bool:
        return isinstance(self.error, Timeout)

    @property
    def proposal(self) -> Proposal | None:
        """The current attempt: the ``Proposal`` of the node that took the command.

        ``None`` before any node took it and once the operation is done.  When that node
        crashes or loses its leadership, this proposal fails (``LeadershipLost``) before
        the client notices and retries (§8).
        """
        return self._proposal

    @property
    def deadline(self) -> float:
        """When the client gives up (``call + timeout_ms``, unless extended)."""
        return self._deadline

    def extend(self, deadline: float) -> None:
        """Give the operation until ``deadline`` (never earlier than it already had)."""
        self._deadline = max(self._deadline, deadline)

    def wait(self) -> Any:
        """Run the cluster (and every other pending operation) until this one is done;
        return its result or raise its error."""
        if not self.done:
            cluster = self._cluster_ref()
            if cluster is None:
                raise RuntimeError("the cluster of this operation no longer exists")
            Workload(cluster).run_until(lambda _: self.done, INF)
        if self.error is not None:
            raise self.error
        return self.result

    # ---------------------------------------------------------------- driving

    def _next_wakeup(self) -> float:
        """The earliest time this operation must act if no answer arrives first."""
        if self._proposal is None:
            return min(self._retry_at, self._deadline)
        return min(self._attempt_end, self._deadline)

    def _advance(self, cluster: Any) -> None:
        """Take the answer if one came, give up if it is too late, or (re)send."""
        now = cluster.now
        while not self.done:
            p = self._proposal
            if p is not None:
                if p.done:
                    self._proposal = None
                    if self._take(p, now):
                        return
                    self._session.guess = None
                    continue  # lost: try again at once, elsewhere
                if now < self._attempt_end:
                    if now >= self._deadline:
                        self._give_up(now)
                    return
                # No answer for attempt_ms: the node may be cut off.  Leave the proposal
                # (it may still commit; the session makes that harmless) and try elsewhere.
                self._proposal = None
                self._session.guess = None
            if now >= self._deadline:
                self._give_up(now)
                return
            if now < self._retry_at:
                return
            self._send(cluster, now)
            if self._proposal is None:
                return  # every node refused: wait until _retry_at

    def _take(self, p: Proposal | ReadRequest, now: float) -> bool:
        """Handle a finished proposal; ``True`` when the operation is done."""
        err = p.error
        if isinstance(err, _RETRY):
            return False
        if isinstance(p, ReadRequest):
            # Served by the leader's state machine without a log entry (§6.4).
            if p.result is None:
                self._finish(now, None, KeyNotFound(self.key))
            else:
                self._finish(now, p.result, None)
            return True
        if isinstance(err, KeyNotFound):
            self._finish(now, None, err)
            return True
        if err is not None:
            # The state machine applied the entry and raised something else: a definite
            # answer, but one this client cannot turn into a result.
            self._finish(now, None, err)
            return True
        raw: bytes = p.result
        if self.op == "get" or self.op == "append":
            result: Any = raw.decode("utf-8")
        elif self.op == "cas":
            result = raw == b"true"
        else:
            result = None
        self._finish(now, result, None)
        return True

    def _send(self, cluster: Any, now: float) -> None:
        """Offer the command to the likely leader; follow hints; back off after a round."""
        s = self._session
        ids = s.ids
        while True:
            target = s.guess if s.guess is not None and s.guess not in self._tried else None
            if target is None:
                for _ in range(len(ids)):
                    candidate = ids[s.rr % len(ids)]
                    s.rr += 1
                    if candidate not in self._tried:
                        target = candidate
                        break
            if target is None:
                # Everyone refused this round: most likely no leader yet.  Wait a little.
                self._tried.clear()
                self._retry_at = now + self._retry_ms
                return
            self._tried.add(target)
            # A node that is down or not the leader refuses at once and changes nothing:
            # submit would hand back a proposal already failed with exactly this error.
            # Asking first spares that proposal on the most common answer of an election
            # (every client tries every node every retry_ms until a leader is known).
            refusal = cluster._not_leader(target)
            if refusal is not None:
                s.guess = refusal.leader_hint
                continue
            if self.mode == "read_index" or self.mode == "lease":
                p = cluster.submit_read(_value_of(self.key), mode=self.mode, node=target)
            else:
                p = cluster.submit(self._command, node=target)
            if p.done and isinstance(p.error, NotLeader):
                s.guess = p.error.leader_hint
                continue
            self.accepted = True
            self.attempts += 1
            s.guess = target
            self._tried.clear()
            self._proposal = p
            self._attempt_end = now + self._attempt_ms
            return

    def _give_up(self, now: float) -> None:
        what = (
            "it may still take effect later"
            if self.accepted
            else "no node ever accepted it, so it did not happen"
        )
        self._finish(
            None,
            None,
            Timeout(
                f"client {self.client_id}: {self.op} {self.key!r} got no answer within "
                f"{self._deadline - self.call:g} ms; {what}"
            ),
        )

    def _finish(self, ret: float | None, result: Any, error: Exception | None) -> None:
        self.done = True
        self.ret = ret
        self.result = result
        self.error = error
        self._proposal = None
        if ret is not None:
            self._history.complete(self._index, result, time=ret)
        if self._session.busy is self:
            self._session.busy = None

    def __repr__(self) -> str:
        args = {
            "set": f"{self.value!r}",
            "append": f"{self.value!r}",
            "cas": f"{self.expected!r} -> {self.value!r}",
        }.get(self.op, "")
        head = f"client {self.client_id}: {self.op}({self.key!r}{', ' if args else ''}{args})"
        if not self.done:
            return f"<PendingOp {head}, pending since {self.call:g} ms>"
        if self.error is not None:
            return f"<PendingOp {head}, {type(self.error).__name__}>"
        return f"<PendingOp {head} = {self.result!r} [{self.call:g}, {self.ret:g}]>"


class Workload:
    """Runs a cluster while advancing every pending client operation on it.

    ``Workload(cluster)`` is cheap: the pending operations live with the cluster, so any
    number of ``Workload`` objects (and ``op.wait()``) drive the same set.
    """

    __slots__ = ("cluster", "_reg")

    def __init__(self, cluster: Any):
        self.cluster = cluster
        self._reg = _registry(cluster)

    @property
    def pending(self) -> list[PendingOp]:
        """Operations started and not yet done, in the order they were started."""
        return list(self._reg.pending)

    @property
    def completed(self) -> int:
        """How many operations have finished (answered or given up) on this cluster."""
        return self._reg.completed

    def advance(self) -> None:
        """Let every pending operation act on what has happened, at the current time."""
        reg = self._reg
        pending = reg.pending
        if not pending:
            return
        cluster = self.cluster
        now = cluster.now
        finished = 0
        for op in pending:
            # Most operations have nothing to do at a given moment: no answer yet and none
            # of their own times due.  That is exactly when _advance would return at once,
            # so skip the call (this runs at every stop of the simulation).
            p = op._proposal
            if p is None:
                if now < op._retry_at and now < op._deadline:
                    continue
            elif not p.done and now < op._attempt_end and now < op._deadline:
                continue
            op._advance(cluster)
            if op.done:
                finished += 1
        if finished:
            reg.completed += finished
            reg.pending = [op for op in pending if not op.done]

    def run(self, ms: float) -> None:
        """Like ``cluster.run(ms)``, with every pending operation advancing as it goes."""
        self.run_until(lambda _: False, ms)

    def run_until(self, pred: Callable[[Any], bool], timeout_ms: float = 5000) -> bool:
        """Like ``cluster.run_until``: ``True`` as soon as ``pred(cluster)`` holds (checked
        after operations have taken their answers), ``False`` when ``timeout_ms`` pass."""
        if (
            isinstance(timeout_ms, bool)
            or not isinstance(timeout_ms, _NUMBER)
            or not (timeout_ms >= 0)
        ):
            raise ValueError(
                f"timeout_ms must be a number of milliseconds >= 0, got {timeout_ms!r}"
            )
        cluster = self.cluster
        reg = self._reg
        end = cluster.now + timeout_ms
        while True:
            self.advance()
            if pred(cluster):
                return True
            now = cluster.now
            if now >= end:
                return False
            # When the next operation must act if no answer comes first
            # (PendingOp._next_wakeup, inlined), and the proposals whose answers to watch.
            wake = end
            watch = []
            for op in reg.pending:
                p = op._proposal
                t = op._retry_at if p is None else op._attempt_end
                if op._deadline < t:
                    t = op._deadline
                if t < wake:
                    wake = t
                if p is not None:
                    watch.append(p)
            if watch:

                def stop(c: Any, watch: list[Proposal] = watch) -> bool:
                    for p in watch:
                        if p.done:
                            return True
                    return pred(c)
            else:
                stop = pred
            if wake == INF:
                # No end and nothing due: one event at a time until something happens.
                if cluster.step() is None and cluster.kernel.peek() == INF:
                    raise RuntimeError("nothing left to run: no events and no pending operation")
                continue
            # Returns early when an answer arrives or pred holds; either way, loop so that
            # operations act on it (or on their wake-up time having come).
            cluster.run_until(stop, max(0.0, wake - now))


def _value_of(key: str) -> Callable[[Any], Any]:
    """The query a read-index or lease read runs on the leader's state machine."""
    return lambda sm: sm.data.get(key)


def _check_mode(mode: object, relaxed: object, cluster: Any) -> str:
    """A read mode, checked before anything is recorded (``relaxed=True`` is an alias)."""
    if mode not in READ_MODES:
        raise ValueError(
            f"unknown read mode {mode!r}; a get is served in one of: "
            + ", ".join(repr(m) for m in READ_MODES)
        )
    if relaxed:
        if mode not in ("log", "relaxed"):
            raise ValueError(
                f"relaxed=True is the mode 'relaxed'; it cannot be combined with mode={mode!r}"
            )
        return "relaxed"
    if mode == "lease" and not cluster.config.lease_ms:
        raise ValueError(
            "lease reads need a lease: make the cluster with Config(lease_ms=...), "
            "e.g. Config(lease_ms=100); or read with mode='read_index'"
        )
    return mode  # type: ignore[return-value]


class KVClient:
    """A client of the key-value store running on ``cluster`` (see the module docstring).

    ``client_id`` defaults to the next free id on this cluster (1, 2, 3, ...), so runs
    replay exactly.  ``timeout_ms`` bounds each operation in simulated time;
    ``attempt_ms`` is how long one node gets to answer before the client tries another;
    ``retry_ms`` is the pause after every node refused.
    """

    def __init__(
        self,
        cluster: Any,
        client_id: int | None = None,
        timeout_ms: float = 5000,
        *,
        attempt_ms: float = 500,
        retry_ms: float = 20,
    ):
        from raftlab.cluster import Cluster

        if not isinstance(cluster, Cluster):
            raise TypeError(f"KVClient needs a raftlab.Cluster, got {type(cluster).__name__}")
        if not isinstance(cluster.nodes[cluster.ids[0]].state_machine, KVStateMachine):
            raise ValueError(
                "KVClient needs a cluster that runs the key-value store: "
                "Cluster(n, seed, state_machine=KVStateMachine)"
            )
        for name, ms in (
            ("timeout_ms", timeout_ms),
            ("attempt_ms", attempt_ms),
            ("retry_ms", retry_ms),
        ):
            if isinstance(ms, bool) or not isinstance(ms, int | float) or not ms > 0:
                raise ValueError(f"{name} must be a positive number of milliseconds, got {ms!r}")
        reg = _registry(cluster)
        if client_id is None:
            # Skip ids the replicated state already knows: on a fork (Cluster.fork) the
            # past's clients are remembered by every exactly-once table and log, and a new
            # client reusing one of their ids would have its writes dropped as duplicates.
            known = reg.ids | _ids_in_replicated_state(cluster)
            while reg.next_id in known:
                reg.next_id += 1
            client_id = reg.next_id
        elif (
            isinstance(client_id, bool)
            or not isinstance(client_id, int)
            or not (0 <= client_id < 2**64)
        ):
            raise ValueError(
                f"client_id must be a whole number from 0 to 2**64-1, got {client_id!r}"
            )
        elif client_id in reg.ids:
            raise ValueError(
                f"client id {client_id} is already used on this cluster; two clients with one "
                "id would have each other's retries dropped as duplicates"
            )
        reg.ids.add(client_id)
        self.cluster = cluster
        self.client_id = client_id
        self.timeout_ms = float(timeout_ms)
        self.attempt_ms = float(attempt_ms)
        self.retry_ms = float(retry_ms)
        self._session = _Session(client_id, list(cluster.ids))
        # This cluster's pending operations, found once (a weak-dictionary lookup) rather
        # than at every operation started.
        self._work = Workload(cluster)

    @property
    def busy(self) -> bool:
        """True while an operation of this client is pending (one at a time, see above)."""
        return self._session.busy is not None

    @property
    def leader_guess(self) -> int | None:
        """The node this client will try first: the last one that accepted or was hinted."""
        return self._session.guess

    # ---------------------------------------------------------- blocking calls

    def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (through the log)."""
        return self.start_set(key, value).wait()

    def get(
        self, key: str, mode: str = "log", *, relaxed: bool = False, node: int | None = None
    ) -> str:
        """The value of ``key``; ``KeyNotFound`` if missing.  ``mode`` (see the module
        docstring): ``"log"`` through the log (the default), ``"read_index"``, ``"lease"``,
        or ``"relaxed"`` (also ``relaxed=True``): node ``node``'s local copy, possibly stale
        (by default the node this client last reached, else the leader); ``Timeout`` at
        once if it is down."""
        return self.start_get(key, mode, relaxed=relaxed, node=node).wait()

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is missing)."""
        return self.start_delete(key).wait()

    def cas(self, key: str, expected: str, new: str) -> bool:
        """Set ``key`` to ``new`` if it holds ``expected``; whether it did."""
        return self.start_cas(key, expected, new).wait()

    def append(self, key: str, value: str) -> str:
        """Append ``value`` to ``key`` (a missing key counts as ``""``); the new value."""
        return self.start_append(key, value).wait()

    # ------------------------------------------------------- non-blocking calls

    def start_set(self, key: str, value: str) -> PendingOp:
        return self._start("set", Kind.SET, key, value=value)

    def start_get(
        self, key: str, mode: str = "log", *, relaxed: bool = False, node: int | None = None
    ) -> PendingOp:
        mode = _check_mode(mode, relaxed, self.cluster)
        if mode == "relaxed":
            return self._relaxed_get(key, node)
        if node is not None:
            raise ValueError(
                "node= only applies to a relaxed read: get(key, mode='relaxed', node=i); "
                "the other modes ask the leader"
            )
        return self._start("get", Kind.GET, key, mode=mode)

    def start_delete(self, key: str) -> PendingOp:
        return self._start("delete", Kind.DELETE, key)

    def start_cas(self, key: str, expected: str, new: str) -> PendingOp:
        return self._start("cas", Kind.CAS, key, value=new, expected=expected)

    def start_append(self, key: str, value: str) -> PendingOp:
        return self._start("append", Kind.APPEND, key, value=value)

    # ---------------------------------------------------------------- helpers

    def _check_idle(self) -> None:
        if self._session.busy is not None:
            raise ValueError(
                f"client {self.client_id} already has an operation pending "
                f"({self._session.busy!r}); a client has one at a time, so that its sequence "
                "numbers make retries safe. Wait for it, or use another KVClient"
            )

    def _start(
        self,
        op: str,
        kind: Kind,
        key: str,
        value: str = "",
        expected: str | None = None,
        mode: str | None = None,
    ) -> PendingOp:
        self._check_idle()
        s = self._session
        # Build (and so validate) the command before anything is recorded.
        command = encode_command(Command(kind, key, value, expected, s.client_id, s.seq + 1))
        s.seq += 1
        pending = PendingOp(
            self.cluster,
            s,
            self.cluster.history,
            op,
            key,
            value if op in ("set", "cas", "append") else None,
            expected,
            command,
            self.cluster.now,
            self.timeout_ms,
            self.attempt_ms,
            self.retry_ms,
            mode=mode,
        )
        s.busy = pending
        work = self._work
        work._reg.pending.append(pending)
        work.advance()  # send it now, at the call time
        return pending

    def _relaxed_get(self, key: str, node: int | None) -> PendingOp:
        cluster = self.cluster
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, got {key!r}")
        if node is None:
            guess = self._session.guess
            node = guess if guess is not None and guess in cluster.alive else None
            if node is None:
                node = cluster.leader() or min(cluster.alive, default=cluster.ids[0])
        else:
            cluster._check_id(node)
        self._check_idle()
        now = cluster.now
        pending = PendingOp(
            cluster,
            self._session,
            cluster.history,
            "get",
            key,
            None,
            None,
            None,
            now,
            0.0,
            0.0,
            0.0,
            relaxed=True,
        )
        if node not in cluster.alive:
            # A crashed node never answers: the client would wait for nothing.
            pending._finish(
                None, None, Timeout(f"S{node} is down; a relaxed read of it gets no answer")
            )
        else:
            value = cluster.nodes[node].state_machine.data.get(key)
            error = None if value is not None else KeyNotFound(key)
            pending._finish(now, value, error)
        self._work._reg.completed += 1
        return pending

    def __repr__(self) -> str:
        return f"KVClient(id={self.client_id}, seq={self._session.seq})"
