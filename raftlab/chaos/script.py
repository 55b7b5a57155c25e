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

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raftlab.chaos.schedule import Fault, heal_everything
from raftlab.cluster import WINDOWS
from raftlab.errors import RaftLabError
from raftlab.messages import RequestVoteReply

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
    "add_server": "membership",
    "remove_server": "membership",
    "clock_drift": "drift",
}


#: An aimed action is armed this long before its recorded time, and dropped this long
#: after it if its trigger has not come (see ``ScriptedNemesis``).
AIM_EARLY_MS = 20.0
AIM_LATE_MS = 1000.0
#: In a shrunk script whose start moved (``Action.anyone``), how much sooner an event may
#: come: the run before it is a different one.
AIM_EARLY_ANY_MS = 300.0


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
    # A reaction came this long after its trigger event (a voter crashed once its reply
    # had arrived): replayed, it waits as long after the event (in a shrunk script,
    # ``anyone``, a bounced voter waits for its own reply's arrival instead).
    after: float = 0.0
    # Shrinking only: the trigger may come from any server, which then takes the
    # recorded one's name in the rest of the script (see ``ScriptedNemesis``).
    anyone: bool = False
    # The trigger event's own words (``TraceEvent.detail``, e.g. ``index=303``): an exact
    # replay waits for that very event, not an earlier one of the same kind and server.
    event: str = ""
    # An exact replay: that event comes after ``nth`` others with the same words within
    # the window an aimed action waits in (a leader serving two reads at one index a few
    # ms apart), so it waits for the one after them.
    nth: int = 0

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
    "vote": "votes",
    "read_index": "starts a read-index round",
    "read": "serves a read",
}
# Words of the nemesis's fault descriptions (raftlab.chaos.plays) -> the event reacted to.
_AIMED = (
    ("just elected", "leader"),
    ("right after its first commit", "commit"),
    ("just stood", "candidate"),
    ("right after its vote", "vote"),
    ("just after a read", "read"),  # read_index (detail seq=...) or read (index=...)
)


def aim(
    schedule: Sequence[Action], faults: Sequence[Fault], trace: Sequence[Any] = ()
) -> tuple[Action, ...]:
    """``schedule`` with each reaction of the seeded nemesis marked with its trigger.

    A fault the nemesis logged as a reaction (a crash "just elected", "right after its
    first commit"...) and every action at that same moment wait for the same event when
    replayed, so a smaller run whose timing shifted still meets them where they bite.
    With the run's ``trace``, a reaction that came some time after its event (a voter
    crashed once its vote had arrived) keeps that delay (``Action.after``).
    """
    triggers: dict[float, tuple[str, int]] = {}
    said: dict[float, str] = {}  # the fault's words, which quote its event's detail
    for f in faults:
        if "at its next answer" in f.detail and "(" in f.detail:
            # A crash window armed when a candidate stood or a leader won: "S2 at its
            # next answer, ... (S3 candidate term=5)" waits for S3 to stand again.
            who, _, what = f.detail.rsplit("(", 1)[1].partition(" ")
            kind = what.split(" ", 1)[0]
            if who[1:].isdigit() and kind in _TRIGGERS:
                triggers.setdefault(f.time, (kind, int(who[1:])))
                said.setdefault(f.time, f.detail)
            continue
        for words, kind in _AIMED:
            if words in f.detail:
                node = f.detail.split("(")[1] if kind == "candidate" else f.detail
                digits = node.split("S", 1)[1].split()[0].split("-")[0].rstrip(",)")
                if kind == "read":
                    # The play quotes the read's event: a read-index round's says seq=.
                    quoted = f.detail.split(f"{words}: ", 1)[-1]
                    kind = "read_index" if quoted.startswith("seq=") else "read"
                triggers.setdefault(f.time, (kind, int(digits)))
                said.setdefault(f.time, f.detail)
    out = []
    for a in schedule:
        trigger = triggers.get(a.time, a.trigger)
        after, event, nth = a.after, a.event, a.nth
        if trigger is not None and trigger != a.trigger and trace:
            words = said.get(a.time, "")
            seen = [
                ev
                for ev in trace
                if ev.time <= a.time and (ev.kind, ev.node) == trigger and ev.detail in words
            ]
            if seen:
                after, event = a.time - seen[-1].time, seen[-1].detail
                # The same words within the window before it (see ``Action.nth``).
                early = seen[-1].time - (1e-6 if after else AIM_EARLY_MS)
                nth = sum(
                    1
                    for ev in seen[:-1]
                    if ev.time >= early and _without_term(ev.detail) == _without_term(event)
                )
        out.append(Action(a.pops, a.time, a.name, a.args, trigger, after, a.anyone, event, nth))
    return tuple(out)


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
    if name == "add_server":
        return f"add S{args[0]} to the cluster"
    if name == "remove_server":
        return f"remove S{args[0]} from the cluster"
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
        # How many more events with its words each exact reaction lets pass (``nth``).
        self._skips = {id(a): a.nth for a in self.aimed if a.nth and not a.anyone}
        # Reactions whose event came, waiting out their ``after`` delay: (due, action).
        self.waiting: list[tuple[float, Action]] = []
        # How far the script's clock runs behind the run's: a reaction that came later
        # (or sooner) than recorded moves every timed action after it as much.
        self.offset = 0.0
        # Recorded server -> the server playing its part (see ``Action.anyone``).
        self.names: dict[int, int] = {}
        self.bound: dict[int, int] = {}  # the parts already bound by a trigger event
        self._trace_pos = len(cluster.trace)
        self.faults: list[Fault] = []
        self._delay = cluster.config.delay_ms
        self.stopped = False

    def next_time(self) -> float:
        if self.stopped:
            return float("inf")
        t = None
        if self.pos < len(self.actions) and not self._held(self.actions[self.pos]):
            t = self.actions[self.pos].time + self.offset
        w = self.waiting[0][0] if self.waiting else None
        return min((x for x in (t, w) if x is not None), default=float("inf"))

    def _held(self, a: Action) -> bool:
        """Shrinking only (``Action.anyone``): a timed action waits while a reaction the
        script has before it still waits for its event or its delay, so a restart never
        comes before the crash it undoes; an exact replay never holds."""
        return any(b.anyone and b.time < a.time for b in self.aimed) or any(
            b.anyone and b.time < a.time for _, b in self.waiting
        )

    def _due(self) -> bool:
        if self.stopped or self.pos >= len(self.actions):
            return False
        a, c = self.actions[self.pos], self.cluster
        if self._held(a):
            return False
        if self.offset:
            return c.now >= a.time + self.offset
        return c.now >= a.time and (c._pops >= a.pops or c.kernel.peek() > c.now)

    def watch(self, cluster: Any) -> bool:
        if self.aimed and not self.stopped:
            self._look_for_triggers(cluster)
        if self.fired or (self.waiting and cluster.now >= self.waiting[0][0]):
            return True
        a = self.actions[self.pos] if self.pos < len(self.actions) and not self.stopped else None
        if a is None or self._held(a):
            return False
        if self.offset:
            return cluster.now >= a.time + self.offset
        return cluster.now >= a.time and cluster._pops >= a.pops

    def _look_for_triggers(self, cluster: Any) -> None:
        trace, now = cluster.trace, cluster.now
        new, self._trace_pos = trace[self._trace_pos :], len(trace)
        # Too late for some: their trigger never came.
        self.aimed = [a for a in self.aimed if now <= a.time + self.offset + AIM_LATE_MS]
        for ev in new:
            for a in list(self.aimed):
                if a not in self.aimed or ev.kind != a.trigger[0]:
                    continue
                # A delayed reaction's event came ``after`` ms before it; no sooner than
                # that (an earlier vote of the same server is another event).
                early = AIM_EARLY_ANY_MS if a.anyone else (1e-6 if a.after else AIM_EARLY_MS)
                if ev.time < a.time - a.after + self.offset - early:
                    continue
                if a.anyone and any(b.anyone and b.time < a.time for b in self.aimed):
                    continue  # an earlier reaction of the script first
                if (
                    a.anyone
                    and self.pos < len(self.actions)
                    and self.actions[self.pos].time < a.time - a.after
                ):
                    # The script's timed actions before it first (the crash of a leader
                    # sets the scene its reactions react in), not the first election.
                    continue
                if a.event and not a.anyone and _without_term(ev.detail) != _without_term(a.event):
                    continue  # another event of that kind and server
                node = a.trigger[1]
                if ev.node != self.names.get(node, node):
                    if not a.anyone or ev.node is None:
                        continue
                    if node in self.bound or ev.node in self.bound.values():
                        continue  # each part is played by one server
                    self._rename(node, ev.node)
                if self._skips.get(id(a)):
                    self._skips[id(a)] -= 1  # an earlier event with the same words
                    continue
                if a.anyone:
                    self.bound[node] = ev.node
                self.aimed.remove(a)
                if a.after:
                    due = ev.time + a.after
                    if a.anyone and a.name == "crash" and a.trigger[0] == "vote":
                        # A voter crashed once its vote had arrived (the nemesis's
                        # bounce): in a shrunk script the network's delays differ, so
                        # it waits for its own reply's arrival, not the recorded delay.
                        due = _vote_arrives(cluster, ev.node, ev.time)
                    if not self.offset and abs(due - a.time) < 1e-6:
                        # As recorded (an exact replay): at its very time and event count.
                        k = self.pos
                        while k < len(self.actions) and (
                            self.actions[k].time,
                            self.actions[k].pops,
                        ) <= (a.time, a.pops):
                            k += 1
                        self.actions.insert(k, a)
                    else:
                        self.waiting.append((due, a))
                        self.waiting.sort(key=lambda w: w[0])
                else:
                    self.fired.append(a)

    def _rename(self, recorded: int, now: int) -> None:
        """From now on the server ``now`` plays ``recorded``'s part, and the other way
        round (shrinking only: see ``Action.anyone``)."""
        inverse = {v: k for k, v in self.names.items()}
        other = inverse.get(now, now)  # the recorded name ``now`` was playing so far
        was = self.names.get(recorded, recorded)
        self.names[recorded], self.names[other] = now, was

    def act(self) -> None:
        fired, self.fired = self.fired, []
        now = self.cluster.now
        while self.waiting and self.waiting[0][0] <= now:
            fired.append(self.waiting.pop(0)[1])
        for a in fired:
            self._follow(a)
            self._apply(a)
        while self._due():
            a = self.actions[self.pos]
            self.pos += 1
            self._apply(a)

    def _follow(self, a: Action) -> None:
        """A reaction fired now: the script's later timed actions keep their distance."""
        offset = self.cluster.now - a.time
        if abs(offset - self.offset) > 1e-6 and a.anyone:
            self.offset = offset

    def _apply(self, a: Action) -> None:
        c = self.cluster
        args = _renamed(a.args, self.names) if self.names else a.args
        if a.name == "partition":
            # A smaller cluster keeps the groups' surviving members.
            groups = [[i for i in g if i in c.storage] for g in args]
            args = tuple(g for g in groups if g)
            if len(args) < 2:
                return
        try:
            getattr(c, a.name)(*args)
        except (ValueError, RaftLabError):
            # Impossible here (a node already down, or not in this cluster; a membership
            # change with no leader or another change in flight): skip.
            return
        said = describe_action(Action(a.pops, a.time, a.name, args))
        self.faults.append(Fault(c.now, FAULT_CALLS[a.name], said))

    def stop(self) -> None:
        """The healing, as the seeded nemesis does it: undo every fault."""
        self.stopped = True
        c = self.cluster
        # A crash window still armed is disarmed first, as the seeded nemesis does: the
        # healing's restarts and elections must not meet it.
        for i in sorted(c._windows):
            if i in c.alive:
                c.crash_window(i, None)

        def restart(i: int) -> None:
            c.restart(i)
            self.faults.append(Fault(c.now, "restart", f"S{i}"))

        heal_everything(c, self._delay, restart)


def _vote_arrives(cluster: Any, voter: int, now: float) -> float:
    """When the granted vote ``voter`` just sent arrives (``now`` if none is on its way)."""
    due = now
    for env in cluster.network.in_flight:
        m = env.msg
        if m.src == voter and isinstance(m, RequestVoteReply) and m.vote_granted and not m.pre_vote:
            due = max(due, env.deliver_at)
    return due


_TERM = re.compile(r"\bterm=\d+")


def _without_term(detail: str) -> str:
    """An event's words without its term number (``for=S2 term=7`` -> ``for=S2``).

    A term counts the elections so far, so a smaller script (a fault removed before the
    event) meets the same event in another term; the server, the candidate voted for, the
    index and the time window still tell it from any other (one server cannot stand, win
    or vote for the same candidate twice within ``AIM_EARLY_MS``: an election timeout is
    longer), so the full script still replays exactly."""
    return _TERM.sub("", detail)


def _renamed(args: Any, names: dict[int, int]) -> Any:
    """``args`` with the servers in ``names`` renamed (any whole number, at any depth of
    tuples: the way every cluster call names its servers)."""
    if isinstance(args, tuple):
        return tuple(_renamed(x, names) for x in args)
    if isinstance(args, int) and not isinstance(args, bool):
        return names.get(args, args)
    return args


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
