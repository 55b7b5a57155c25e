"""One chaos run: a cluster, concurrent clients, the nemesis, a healing, and the checks."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from raftlab.chaos.schedule import ALL_FAULTS, Fault, Nemesis, draw_config
from raftlab.chaos.script import (
    Action,
    ClientOp,
    ScriptedClients,
    ScriptedNemesis,
    WorkloadRecorder,
    schedule_of,
)
from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.errors import SafetyViolation
from raftlab.history import History
from raftlab.kv.client import KVClient, PendingOp, Workload
from raftlab.kv.state_machine import KVStateMachine
from raftlab.linearizability import CheckResult, check
from raftlab.node import RaftNode
from raftlab.trace import TraceEvent

#: After the faults stop, a leader must exist and every pending operation must have its
#: answer within this many simulated ms (see the package docstring).
HEAL_BOUND_MS = 3000.0

CLIENT_TIMEOUT_MS = 2500.0
KEYS = ("a", "b", "c")

# Which operation a client does next, and how often.
_OPS = ("get", "read_index", "lease", "set", "cas", "append", "delete", "relaxed")
_WEIGHTS = (12, 10, 8, 20, 20, 18, 5, 7)
# The same weights summed once: rng.choices(_OPS, _WEIGHTS) sums them at every call, then
# draws exactly as with these (the same random numbers, the same choices).
_CUM_WEIGHTS = tuple(itertools.accumulate(_WEIGHTS))
_TOTAL_WEIGHT = _CUM_WEIGHTS[-1] + 0.0
_INF = float("inf")


@dataclass(slots=True)
class ChaosReport:
    """What one chaos run did and found.  ``ok``: no safety violation, the history found
    linearizable, and the cluster healed within ``HEAL_BOUND_MS``.

    A checker that gave up (``linearizable is None``) is *unknown*, never ok: a silent pass
    would hide exactly the histories that are hardest to judge.  ``unknown`` says so.
    """

    seed: int
    ok: bool
    violation: SafetyViolation | None
    linearizable: bool | None
    history: History
    faults: tuple[Fault, ...]
    ops_ok: int
    ops_failed: int
    liveness: str | None = None  # why the healing failed, if it did
    relaxed_reads: int = 0
    heal_ms: float | None = None  # how long the healing took
    config: Config = field(default_factory=Config)
    bugs: tuple[str, ...] = ()
    nodes: int = 5
    duration_ms: float = 10_000
    clients: int = 4
    events: int = 0
    trace: list[TraceEvent] = field(default_factory=list, repr=False)
    check: CheckResult | None = None  # the linearizability verdict, with a failing set
    # What was injected and started, replayable with run(seed, schedule=, workload=).
    schedule: tuple[Action, ...] = field(default=(), repr=False)
    workload: tuple[ClientOp, ...] = field(default=(), repr=False)
    cluster: Cluster | None = field(default=None, repr=False)  # as it ended
    check_invariants: bool = True  # False: the run went on past safety violations
    client_attempt_ms: float = 400  # how long a client waits on one node

    @property
    def unknown(self) -> bool:
        """True when nothing failed but the linearizability check gave up: not a pass."""
        return self.linearizable is None and self.violation is None and self.liveness is None

    @property
    def faults_by_kind(self) -> dict[str, int]:
        out = {k: 0 for k in ALL_FAULTS}
        for f in self.faults:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    @property
    def replay_command(self) -> str:
        """The one command that replays this seed and prints its trace."""
        parts = ["python -m raftlab chaos", f"--seeds {self.seed}"]
        parts += [f"--bug {b}" for b in self.bugs]
        if self.nodes != 5:
            parts.append(f"--nodes {self.nodes}")
        if self.duration_ms != 10_000:
            parts.append(f"--duration {self.duration_ms:g}")
        if self.clients != 4:
            parts.append(f"--clients {self.clients}")
        if not self.check_invariants:
            parts.append("--no-invariants")
        if self.client_attempt_ms != 400:
            parts.append(f"--client-attempt {self.client_attempt_ms:g}")
        return " ".join(parts + ["--trace"])

    def summary(self) -> str:
        """One line: the seed, its verdict and why."""
        if self.violation is not None:
            why = str(self.violation)
        elif self.linearizable is False:
            ops = getattr(self.check, "operations", ())
            why = f"not linearizable on key {getattr(self.check, 'key', '?')!r}: " + "; ".join(
                op.describe() for op in ops
            )
        elif self.liveness is not None:
            why = self.liveness
        elif self.linearizable is None:
            nodes = getattr(self.check, "nodes", 0)
            why = (
                "linearizability unknown: the checker gave up before deciding "
                f"({nodes:,} search nodes); this is not a pass"
            )
        else:
            why = "ok"
        return f"seed {self.seed}: {why}"


class _Clients:
    """``n`` clients, each doing one operation at a time with a short pause in between."""

    def __init__(self, cluster: Cluster, rng: random.Random, n: int, attempt_ms: float = 400):
        self.rng = rng
        self.clients = [
            KVClient(cluster, timeout_ms=CLIENT_TIMEOUT_MS, attempt_ms=attempt_ms, retry_ms=20)
            for _ in range(n)
        ]
        self.next_start = [rng.uniform(0, 30) for _ in range(n)]
        self.ops: list[PendingOp | None] = [None] * n
        self.counter = 0
        self.seen: dict[str, str | None] = {}  # last value a client saw per key (for cas)
        self.stopped = False
        # In some seeds the first client only reads, always in one mode: a read-heavy
        # client that keeps asking the leader it knows, which is what a stale read needs.
        self.reader: str | None = None
        if n > 1 and rng.random() < 0.5:
            modes = ["log", "read_index"]
            if cluster.config.lease_ms:
                modes += ["lease"] * 4  # mostly lease reads, where a cluster has leases
            self.reader = rng.choice(modes)

    def next_time(self) -> float:
        if self.stopped:
            return float("inf")
        # A plain loop (this runs before every stretch of simulation): the earliest start
        # of a client that is not busy.
        best = _INF
        for t, op in zip(self.next_start, self.ops, strict=True):
            if op is None and t < best:
                best = t
        return best

    def act(self, now: float) -> None:
        """Note finished operations; start new ones where a client's pause is over."""
        for k, op in enumerate(self.ops):
            if op is not None and op.done:
                self.ops[k] = None
                if op.error is None and op.op in ("get", "append", "cas"):
                    self._learn(op)
                self.next_start[k] = now + self.rng.uniform(0, 25)
        if self.stopped:
            return
        for k, op in enumerate(self.ops):
            if op is None and self.next_start[k] <= now:
                self._start(k, now)

    def _learn(self, op: PendingOp) -> None:
        if op.op == "cas":
            if op.result:
                self.seen[op.key] = op.value
        else:
            self.seen[op.key] = op.result

    def _start(self, k: int, now: float) -> None:
        rng, client = self.rng, self.clients[k]
        key = rng.choice(KEYS)
        # rng.choices(_OPS, cum_weights=_CUM_WEIGHTS)[0], spelled out as choices draws it:
        # one random() scaled by the total weight, then a bisection.  The same numbers and
        # the same choice, without choices' checks, which cost more than the draw itself.
        what = _OPS[bisect.bisect(_CUM_WEIGHTS, rng.random() * _TOTAL_WEIGHT, 0, len(_OPS) - 1)]
        if k == 0 and self.reader is not None:
            what = "get" if self.reader == "log" else self.reader
        self.counter += 1
        value = f"{client.client_id}.{self.counter}"
        if what == "get":
            op = client.start_get(key)
        elif what == "read_index" or what == "lease":
            if what == "lease" and not client.cluster.config.lease_ms:
                what = "read_index"  # this seed drew no lease
            op = client.start_get(key, what)
        elif what == "relaxed":
            node = rng.choice(client.cluster.ids)
            client.start_get(key, relaxed=True, node=node)
            self.next_start[k] = now + rng.uniform(0, 25)
            return
        elif what == "set":
            op = client.start_set(key, value)
        elif what == "cas":
            expected = self.seen.get(key) or value  # usually the last value seen
            op = client.start_cas(key, expected, value)
        elif what == "append":
            op = client.start_append(key, value + ";")
        else:
            op = client.start_delete(key)
        self.ops[k] = op
        if op.done:
            self.act(now)


def run(
    seed: int,
    *,
    nodes: int = 5,
    duration_ms: float = 10_000,
    clients: int = 4,
    faults: Iterable[str] = ALL_FAULTS,
    bugs: Iterable[str] = (),
    check_timeout_s: float | None = 30.0,
    node_class: type[RaftNode] = RaftNode,
    schedule: Sequence[Action] | None = None,
    workload: Sequence[ClientOp] | None = None,
    keep_log: bool = False,
    check_invariants: bool = True,
    client_attempt_ms: float = 400,
) -> ChaosReport:
    """Run one seed of chaos and check it (see the package docstring).

    ``node_class`` is the ``RaftNode`` subclass the servers are made of (a learner's own
    rules); ``bugs`` plants named mistakes on top of it.  ``schedule`` and ``workload``
    (a report's own, or part of them) replace the faults and client operations drawn
    from the seed (:mod:`raftlab.chaos.script`); ``keep_log`` keeps every message, for
    pictures.

    ``check_invariants=False`` turns the safety checks off: the run goes on past a
    violation, so a planted bug can reach the clients' history and the linearizability
    checker has to catch it on its own (``violation`` is then always ``None``).

    ``client_attempt_ms`` is how long a client waits on one node before it tries another.
    The ``figure8`` bug reaches the clients' history only when a client is still waiting
    on the very entry that a re-elected leader commits by counting, and that entry is
    overwritten afterwards: clients patient enough (e.g. 2500, their whole timeout) to wait
    through the play's partition and two elections (see ``raftlab.chaos.plays``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be a whole number, got {seed!r}")
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ValueError(f"clients must be a whole number >= 1, got {clients!r}")
    if (
        isinstance(duration_ms, bool)
        or not isinstance(duration_ms, int | float)
        or not (duration_ms >= 0)
    ):
        raise ValueError(f"duration_ms must be a number of milliseconds >= 0, got {duration_ms!r}")
    kinds = frozenset([faults] if isinstance(faults, str) else faults)
    unknown = sorted(kinds - set(ALL_FAULTS))
    if unknown:
        raise ValueError(
            f"unknown fault kind(s) {', '.join(map(repr, unknown))}; "
            f"known kinds are: {', '.join(ALL_FAULTS)}"
        )
    bugs = tuple(sorted([bugs] if isinstance(bugs, str) else bugs))

    rng = random.Random(f"raftlab.chaos:{seed}")
    config = draw_config(rng)
    cluster = Cluster(
        nodes,
        seed,
        config=config,
        state_machine=KVStateMachine,
        bugs=bugs,
        node_class=node_class,
        check_invariants=check_invariants,
    )
    cluster.network.keep_log = keep_log  # by default nobody looks at delivered messages
    nemesis = Nemesis(cluster, random.Random(f"raftlab.chaos.nemesis:{seed}"), kinds)
    crowd = _Clients(
        cluster, random.Random(f"raftlab.chaos.clients:{seed}"), clients, client_attempt_ms
    )
    if schedule is not None:
        nemesis = ScriptedNemesis(cluster, schedule)
    if workload is not None:
        crowd = ScriptedClients(crowd.clients, workload)
    recorder = WorkloadRecorder(cluster, crowd.clients)
    work = Workload(cluster)
    calls = None  # how many cluster calls came before the healing

    violation: SafetyViolation | None = None
    liveness: str | None = None
    heal_ms: float | None = None
    try:
        _drive(cluster, work, nemesis, crowd, duration_ms)
        calls, recorder.on = len(cluster._calls), False
        # The healing: every fault undone, no new operations; the cluster must elect a
        # leader and answer everything still pending within HEAL_BOUND_MS.
        nemesis.stop()
        crowd.stopped = True
        start = cluster.now
        for op in work.pending:
            op.extend(start + HEAL_BOUND_MS)
        healed = work.run_until(
            lambda c: c.leader() is not None and not work.pending, HEAL_BOUND_MS
        )
        if healed:
            heal_ms = cluster.now - start
            # One more operation per client shows the healed cluster serves requests.
            finals = [c.start_get(KEYS[k % len(KEYS)]) for k, c in enumerate(crowd.clients)]
            for op in finals:
                op.extend(start + HEAL_BOUND_MS)
            work.run_until(
                lambda c: all(op.done for op in finals),
                max(0.0, start + HEAL_BOUND_MS - cluster.now),
            )
            late = [op for op in finals if not op.done or op.timed_out]
            if late:
                liveness = f"after healing, {late[0]!r} got no answer within the bound"
            heal_ms = cluster.now - start
        else:
            waiting = work.pending
            liveness = (
                f"no progress within {HEAL_BOUND_MS:g} ms of healing: "
                + ("no leader" if cluster.leader() is None else "a leader")
                + f", {len(waiting)} operation(s) still pending"
                + (f" (first: {waiting[0]!r})" if waiting else "")
            )
        if check_invariants:
            cluster.check_invariants()  # everything visible now, from scratch
    except SafetyViolation as exc:
        violation = exc

    result = check(cluster.history, model="kv", timeout_s=check_timeout_s)
    done = [op for op in cluster.history if not op.relaxed]
    ops_ok = sum(op.ret is not None for op in done)
    return ChaosReport(
        seed=seed,
        ok=violation is None and result.ok is True and liveness is None,
        violation=violation,
        linearizable=result.ok,
        history=cluster.history,
        faults=tuple(nemesis.faults),
        ops_ok=ops_ok,
        ops_failed=len(done) - ops_ok,
        liveness=liveness,
        relaxed_reads=len(cluster.history) - len(done),
        heal_ms=heal_ms,
        config=config,
        bugs=bugs,
        nodes=nodes,
        duration_ms=duration_ms,
        clients=clients,
        events=cluster.event_count,
        trace=cluster.trace,
        check=result,
        schedule=schedule_of(cluster, calls),
        workload=tuple(recorder.ops),
        cluster=cluster,
        check_invariants=check_invariants,
        client_attempt_ms=client_attempt_ms,
    )


def _drive(
    cluster: Cluster, work: Workload, nemesis: Nemesis, crowd: _Clients, duration_ms: float
) -> None:
    """Until ``duration_ms``: clients work, the nemesis strikes; each acts when due."""
    marks = [work.completed]
    reg, trace = work._reg, cluster.trace

    def wake(c: Cluster) -> bool:
        # After every event: does the nemesis react, or did an operation finish?
        return nemesis.watch(c) or reg.completed != marks[0]

    if type(nemesis) is Nemesis:  # the drawn nemesis (a replay's ScriptedNemesis differs)

        def wake(c: Cluster) -> bool:
            # The same, with Nemesis.watch's no-new-trace-line case inlined: this runs
            # after every event of the run.
            if len(trace) != nemesis._trace_pos:
                if nemesis.watch(c):
                    return True
            elif nemesis._due:
                return True
            return reg.completed != marks[0]

    # Bound once: this loop turns at every stop of the simulation (an answer, a client's
    # start, a reaction, a timed fault), tens of thousands of times in a run.
    kernel = cluster.kernel
    nemesis_act, nemesis_next = nemesis.act, nemesis.next_time
    crowd_act, crowd_next = crowd.act, crowd.next_time
    run_until = work.run_until
    while kernel.now < duration_ms:
        now = kernel.now
        nemesis_act()
        crowd_act(now)
        marks[0] = reg.completed
        until = min(nemesis_next(), crowd_next(), duration_ms)
        run_until(wake, max(0.0, until - now))
