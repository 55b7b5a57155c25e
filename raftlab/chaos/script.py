"""A chaos run's faults and client operations written down, so they can be replayed.

A seeded chaos run draws its faults (:mod:`raftlab.chaos.schedule`) and its clients'
operations (``raftlab.chaos.run``) as it goes.  Every such run also records them here:

- its **schedule**, one :class:`Action` per call the nemesis made on the cluster
  (``crash``, ``restart``, ``partition``, ``cut``, ``heal``, a network knob...), stamped
  with the simulated time *and* the number of kernel events processed before it, so a
  reaction that fired right after one event is replayed right after that same event;
- its **workload**, one :class:`ClientOp` per operation a client started.

``raftlab.chaos.run(seed, schedule=..., workload=...)`` then replays exactly those, in
place of the random nemesis and clients: the full lists give back the very same run (same
trace), and any sub-list gives another deterministic run.  That is what the shrinker
(:mod:`raftlab.chaos.shrink`) needs: delta debugging is a series of plain re-runs.

When a sub-list makes an action impossible (restarting a node that never crashed,
naming a node beyond a smaller cluster), the action is skipped: it has nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raftlab.chaos.schedule import Fault, heal_everything
from raftlab.cluster import WINDOWS

#: The cluster calls that are faults (and their undoing); anything else is not a fault.
FAULT_CALLS = {
    "crash": "crash",
    "crash_window": "crash",  # armed now, the crash comes inside the node's next output
    "restart": "restart",
    "partition": "partition",
    "isolate": "isolate",
    "cut": "partition",
    "connect": "partition",
    "heal": "partition",
    "_set_drop_rate": "drop",
    "_set_duplicate_rate": "duplicate",
    "_set_delay_ms": "delay",
    "clock_drift": "drift",
}


#: An aimed action is armed this long before its recorded time, and dropped this long
#: after it if its trigger has not come (see ``ScriptedNemesis``).
AIM_EARLY_MS = 20.0
AIM_LATE_MS = 1000.0


@dataclass(frozen=True, slots=True)
class Action:
    """One call the nemesis made: ``cluster.<name>(*args)`` at ``time``, after ``pops``
    kernel events.  ``trigger`` (a trace event kind and node, e.g. ``("leader", 3)``)
    marks a reaction: replayed, it waits for that event rather than for the clock."""

    pops: int
    time: float
    name: str
    args: tuple
    trigger: tuple[str, int] | None = None

    def __str__(self) -> str:
        when = ""
        if self.trigger is not None:
            kind, node = self.trigger
            when = f" (when S{node} {_TRIGGERS.get(kind, kind)})"
        return f"{self.time:9.2f} {describe_action(self)}{when}"


_TRIGGERS = {
    "leader": "becomes leader",
    "commit": "commits",
    "candidate": "stands for election",
}
# Words of the nemesis's fault descriptions (raftlab.chaos.plays) -> the event reacted to.
_AIMED = (
    ("just elected", "leader"),
    ("right after its first commit", "commit"),
    ("just stood", "candidate"),
)


def aim(schedule: Sequence[Action], faults: Sequence[Fault]) -> tuple[Action, ...]:
    """``schedule`` with each reaction of the seeded nemesis marked with its trigger.

    A fault the nemesis logged as a reaction (a crash "just elected", "right after its
    first commit"...) and every action at that same moment wait for the same event when
    replayed, so a smaller run whose timing shifted still meets them where they bite.
    """
    triggers: dict[float, tuple[str, int]] = {}
    for f in faults:
        for words, kind in _AIMED:
            if words in f.detail:
                node = f.detail.split("(")[1] if kind == "candidate" else f.detail
                digits = node.split("S", 1)[1].split()[0].split("-")[0].rstrip(",)")
                triggers.setdefault(f.time, (kind, int(digits)))
    return tuple(
        Action(a.pops, a.time, a.name, a.args, triggers.get(a.time, a.trigger)) for a in schedule
    )


@dataclass(frozen=True, slots=True)
class ClientOp:
    """One operation client number ``client`` (0-based) started at ``time``."""

    time: float
    client: int
    op: str  # get | read_index | lease | set | cas | append | delete | relaxed
    key: str
    value: str | None = None
    expected: str | None = None
    node: int | None = None  # the node a relaxed read asks

    def __str__(self) -> str:
        return f"{self.time:9.2f} client {self.client + 1}: {describe_op(self)}"


def describe_action(a: Action) -> str:
    """An action in words, e.g. ``crash S3`` or ``partition S1 S2 | S3 S4 S5``."""
    name, args = a.name, a.args
    if name in ("crash", "restart", "isolate"):
        return f"{name} S{args[0]}"
    if name == "crash_window":
        i, window = args
        if window is None:
            return f"disarm S{i}'s crash window"
        return f"crash S{i} {WINDOWS[window]}, in its next output that sends"
    if name == "partition":
        return "partition " + " | ".join(" ".join(f"S{i}" for i in g) for g in args)
    if name in ("cut", "connect"):
        return f"{name} S{args[0]}-S{args[1]}"
    if name == "heal":
        return "heal the network"
    if name == "_set_drop_rate":
        return f"lose {args[0]:.0%} of messages"
    if name == "_set_duplicate_rate":
        return f"duplicate {args[0]:.0%} of messages"
    if name == "_set_delay_ms":
        return f"one-way delay {args[0][0]:g}-{args[0][1]:g} ms"
    if name == "clock_drift":
        return f"S{args[0]}'s clock runs x{args[1]:g}"
    return f"{name}{args}"


def describe_op(op: ClientOp) -> str:
    if op.op == "relaxed":
        return f"relaxed get {op.key} from S{op.node}"
    if op.op in ("read_index", "lease"):
        return f"get {op.key} ({op.op})"
    if op.op == "get" or op.op == "delete":
        return f"{op.op} {op.key}"
    if op.op == "cas":
        return f"cas {op.key} from {op.expected!r} to {op.value!r}"
    return f"{op.op} {op.key} {op.value!r}"


def schedule_of(cluster: Any, upto: int | None = None) -> tuple[Action, ...]:
    """The fault calls among the first ``upto`` recorded calls of ``cluster``."""
    calls = cluster._calls if upto is None else cluster._calls[:upto]
    return tuple(
        Action(pops, time, name, tuple(args))
        for pops, time, name, args, _ in calls
        if name in FAULT_CALLS
    )


class WorkloadRecorder:
    """Wraps each client's ``start_*`` methods to write down what it starts."""

    def __init__(self, cluster: Any, clients: Sequence[Any]):
        self.ops: list[ClientOp] = []
        self.cluster = cluster
        self.on = True
        for k, client in enumerate(clients):
            for what in ("get", "set", "cas", "append", "delete"):
                name = f"start_{what}"
                setattr(client, name, self._wrap(k, what, getattr(client, name)))

    def _wrap(self, k: int, what: str, start):
        def recorded(key, *args, **kwargs):
            if self.on:
                op = what
                value = expected = node = None
                mode = args[0] if what == "get" and args else kwargs.get("mode", "log")
                if what == "get" and (kwargs.get("relaxed") or mode == "relaxed"):
                    op, node = "relaxed", kwargs.get("node")
                elif what == "get" and mode != "log":
                    op = mode
                elif what == "cas":
                    expected, value = args
                elif what in ("set", "append"):
                    (value,) = args
                self.ops.append(ClientOp(self.cluster.now, k, op, key, value, expected, node))
            return start(key, *args, **kwargs)

        return recorded


class ScriptedNemesis:
    """Plays a recorded schedule instead of drawing faults (the driver's nemesis interface).

    An action recorded at ``(pops, time)`` fires once simulated time reaches ``time`` and,
    if events of that very time are still due, once ``pops`` events have been processed:
    with the full schedule this is exactly where the seeded nemesis acted.
    """

    def __init__(self, cluster: Any, schedule: Sequence[Action]):
        self.cluster = cluster
        self.actions = sorted(
            (a for a in schedule if a.trigger is None), key=lambda a: (a.time, a.pops)
        )
        self.pos = 0
        # Reactions wait for their trigger event (see ``Action``), apart from the clock.
        self.aimed = sorted(
            (a for a in schedule if a.trigger is not None), key=lambda a: (a.time, a.pops)
        )
        self.fired: list[Action] = []
        self._trace_pos = len(cluster.trace)
        self.faults: list[Fault] = []
        self._delay = cluster.config.delay_ms
        self.stopped = False

    def next_time(self) -> float:
        if self.stopped or self.pos >= len(self.actions):
            return float("inf")
        return self.actions[self.pos].time

    def _due(self) -> bool:
        if self.stopped or self.pos >= len(self.actions):
            return False
        a, c = self.actions[self.pos], self.cluster
        return c.now >= a.time and (c._pops >= a.pops or c.kernel.peek() > c.now)

    def watch(self, cluster: Any) -> bool:
        if self.aimed and not self.stopped:
            self._look_for_triggers(cluster)
        if self.fired:
            return True
        a = self.actions[self.pos] if self.pos < len(self.actions) and not self.stopped else None
        return a is not None and cluster.now >= a.time and cluster._pops >= a.pops

    def _look_for_triggers(self, cluster: Any) -> None:
        trace, now = cluster.trace, cluster.now
        new, self._trace_pos = trace[self._trace_pos :], len(trace)
        # Too late for some: their trigger never came.
        self.aimed = [a for a in self.aimed if now <= a.time + AIM_LATE_MS]
        for ev in new:
            for a in list(self.aimed):
                if a.time - AIM_EARLY_MS <= ev.time and a.trigger == (ev.kind, ev.node):
                    self.aimed.remove(a)
                    self.fired.append(a)

    def act(self) -> None:
        fired, self.fired = self.fired, []
        for a in fired:
            self._apply(a)
        while self._due():
            a = self.actions[self.pos]
            self.pos += 1
            self._apply(a)

    def _apply(self, a: Action) -> None:
        c = self.cluster
        args = a.args
        if a.name == "partition":
            # A smaller cluster keeps the groups' surviving members.
            groups = [[i for i in g if i in c.storage] for g in args]
            args = tuple(g for g in groups if g)
            if len(args) < 2:
                return
        try:
            getattr(c, a.name)(*args)
        except ValueError:
            return  # impossible here (a node already down, or not in this cluster): skip
        self.faults.append(Fault(c.now, FAULT_CALLS[a.name], describe_action(a)))

    def stop(self) -> None:
        """The healing, as the seeded nemesis does it: undo every fault."""
        self.stopped = True
        c = self.cluster

        def restart(i: int) -> None:
            c.restart(i)
            self.faults.append(Fault(c.now, "restart", f"S{i}"))

        heal_everything(c, self._delay, restart)


class ScriptedClients:
    """Starts recorded client operations instead of drawing them (the driver's crowd).

    Each client still does one operation at a time: an operation whose client is busy
    waits until the client is free (with the full workload that never happens).
    """

    def __init__(self, clients: Sequence[Any], workload: Sequence[ClientOp]):
        self.clients = list(clients)
        self.queues: list[list[ClientOp]] = [[] for _ in self.clients]
        for op in sorted(workload, key=lambda o: o.time):
            if 0 <= op.client < len(self.clients):
                self.queues[op.client].append(op)
        self.busy: list[Any] = [None] * len(self.clients)
        self.stopped = False

    def next_time(self) -> float:
        if self.stopped:
            return float("inf")
        return min(
            (q[0].time for q, b in zip(self.queues, self.busy, strict=True) if q and b is None),
            default=float("inf"),
        )

    def act(self, now: float) -> None:
        for k, op in enumerate(self.busy):
            if op is not None and op.done:
                self.busy[k] = None
        if self.stopped:
            return
        for k, q in enumerate(self.queues):
            while q and self.busy[k] is None and q[0].time <= now:
                self._start(k, q.pop(0))

    def _start(self, k: int, op: ClientOp) -> None:
        client = self.clients[k]
        try:
            if op.op == "relaxed":
                client.start_get(op.key, relaxed=True, node=op.node)
                return
            if op.op == "get":
                pending = client.start_get(op.key)
            elif op.op in ("read_index", "lease"):
                pending = client.start_get(op.key, op.op)
            elif op.op == "set":
                pending = client.start_set(op.key, op.value)
            elif op.op == "cas":
                pending = client.start_cas(op.key, op.expected, op.value)
            elif op.op == "append":
                pending = client.start_append(op.key, op.value)
            else:
                pending = client.start_delete(op.key)
        except ValueError:
            return  # e.g. a relaxed read of a node this smaller cluster lacks
        if not pending.done:
            self.busy[k] = pending
