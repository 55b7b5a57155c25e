"""Cluster: Raft nodes on a simulated network with simulated time.  Start reading here.

Theory of operation
-------------------
A ``Cluster`` owns everything that is not Raft: the clock (a ``Kernel`` of timed events),
the network (``Network``), each node's stable storage (``MemoryStorage``) and the one
seeded ``random.Random`` every random choice comes from.  The nodes themselves
(``raftlab.node.RaftNode``) only compute.

There are two kinds of event: a message arrives, or a node's timer fires.  For either,
the cluster hands the input to the node and then carries out its output in the order
the node's docstring demands: persist, send, apply.  Then it writes the trace, settles
client proposals and, unless ``check_invariants=False``, checks the safety properties
(``raftlab.invariants``).  A node says when it next needs its timer
(``next_deadline``), so an idle cluster jumps from heartbeat to heartbeat.

Every call that changes the world (crash, restart, partition, a proposal, a network
knob) is recorded with the moment it happened, so ``fork`` can replay the run up to any
snapshot and let a different future unfold from there.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterable
from typing import Any

from raftlab.bugs import check_bugs, check_node_class
from raftlab.bugs import node_class as planted_class
from raftlab.config import Config
from raftlab.driver import Driver, LazyTimer
from raftlab.errors import ConfigurationChangeRefused, LeadershipLost, NotLeader, Timeout
from raftlab.invariants import SafetyChecker
from raftlab.kernel import INF, Kernel
from raftlab.log import Log
from raftlab.membership import Configuration
from raftlab.network import Envelope, Network
from raftlab.node import RaftNode
from raftlab.proposal import ApplyResult, Proposal, ReadRequest
from raftlab.quorum import why_no_commit, why_no_leader
from raftlab.roles import Role
from raftlab.snapshot import ClusterSnapshot, NodeView
from raftlab.statemachine import CommandList
from raftlab.storage import MemoryStorage
from raftlab.trace import TraceEvent


class Cluster:
    """``n`` Raft nodes, ids ``1..n``, all followers in term 0 at time 0.

    ``node_class`` is the ``RaftNode`` subclass every node is made of (a learner's own
    rules); ``bugs`` plants the named mistakes of ``raftlab.bugs`` on top of it.
    """

    def __init__(
        self,
        n: int = 5,
        seed: int = 0,
        *,
        config: Config | None = None,
        state_machine: Callable[[], Any] | None = None,
        bugs: Iterable[str] = (),
        check_invariants: bool = True,
        node_class: type[RaftNode] = RaftNode,
    ):
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 15:
            raise ValueError(f"a cluster needs between 1 and 15 nodes, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be a whole number, got {seed!r}")
        if config is None:
            config = Config()
        elif not isinstance(config, Config):
            raise TypeError(f"config must be a raftlab.Config, got {type(config).__name__}")
        if state_machine is not None and not callable(state_machine):
            raise TypeError(
                "state_machine must be a class or function that makes a state "
                "machine, e.g. KVStateMachine (not an instance of one)"
            )
        self.config = config
        self.seed = seed
        self.bugs = check_bugs(bugs)
        self.base_class = check_node_class(node_class)
        # The class every node is made of: a learner's subclass, with planted bugs on top.
        self.node_class = planted_class(self.bugs, node_class)
        self._make_state_machine = state_machine or CommandList
        self.checking = bool(check_invariants)
        # Whether a node's output can be read straight off ``node._ready`` to see that it
        # is empty (see _deliver): not when the class changes what ``ready()`` hands out
        # (the planted bug send_before_persist holds part of one output back).
        self._plain_ready = self.node_class.ready is RaftNode.ready

        self.rng = random.Random(seed)
        self.kernel = Kernel()
        self.ids: list[int] = list(range(1, n + 1))
        self._alive: set[int] = set(self.ids)
        self._initial_n = n
        # Each server's configuration before its first log entry: the initial cluster for
        # the first n, empty for a server added later (it learns its place from the log).
        initial = Configuration(frozenset(self.ids))
        self._genesis: dict[int, Configuration] = {i: initial for i in self.ids}
        self.network = Network(
            self.ids,
            self.kernel,
            self.rng,
            config.delay_ms,
            self._deliver,
            self._alive.__contains__,
            self._network_changed,
        )
        self.storage = {i: MemoryStorage() for i in self.ids}
        self.trace: list[TraceEvent] = []
        self.checker = SafetyChecker()
        self.event_count = 0  # events processed (message arrivals and timers that acted)
        self._pops = 0  # every kernel pop, stale timers included: what replay counts
        self._timers = {i: LazyTimer() for i in self.ids}
        self._incarnation = {i: 0 for i in self.ids}
        # Each node's driver: persist, send, apply, and its clients' proposals.  It sends
        # with the network's own send_all (no cluster method around it: one call fewer
        # for every output that sends).
        send = self.network.send_all
        self._drivers = {i: Driver(i, self.storage[i].save, send) for i in self.ids}
        self._calls: list[tuple[int, float, str, tuple, dict]] = []
        self._listeners: list[Callable[[Cluster], None]] = []
        self._history = None
        self._log_copies: dict[int, tuple[int, int, tuple]] = {}
        self._windows: dict[int, str] = {}  # node -> armed crash window (crash_window)
        # Per-node clocks (clock_drift): node -> (real time, its reading then, its rate).
        # A node absent here reads the real time exactly: nothing changes for a cluster
        # that never drifts, down to the last bit.
        self._clocks: dict[int, tuple[float, float, float]] = {}
        self.nodes: dict[int, RaftNode] = {i: self._new_node(i) for i in self.ids}
        for i in self.ids:
            self._schedule_timer(i)

    # ------------------------------------------------------------ looking inside

    @property
    def now(self) -> float:
        return self.kernel.now

    @property
    def alive(self) -> frozenset[int]:
        return frozenset(self._alive)

    def leader(self) -> int | None:
        """The live leader with the highest term, or ``None``."""
        best = None
        leader = _LEADER
        for i in self.ids:
            n = self.nodes[i]
            if (
                n.role is leader
                and i in self._alive
                and (best is None or n.current_term > self.nodes[best].current_term)
            ):
                best = i
        return best

    @property
    def history(self):
        """Every client operation on this cluster (``raftlab.history.History``)."""
        if self._history is None:
            from raftlab.history import History

            self._history = History()
        return self._history

    def check_invariants(self) -> None:
        """Check every safety property from scratch now; raise ``SafetyViolation`` if broken."""
        self.checker.check_all(self.nodes)

    def subscribe(self, listener: Callable[[Cluster], None]) -> None:
        """Call ``listener(cluster)`` after every event and every call that changes the world."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Cluster], None]) -> None:
        self._listeners.remove(listener)

    # ------------------------------------------------------------- running time

    def step(self) -> TraceEvent | None:
        """Process exactly the next event; return the last trace line it wrote, if any."""
        mark = len(self.trace)
        while self.kernel.peek() < INF:
            if self._pop():
                return self.trace[-1] if len(self.trace) > mark else None
        return None

    def run(self, ms: float) -> None:
        """Process every event due at or before ``now + ms``; then ``now = now + ms``."""
        ms = _check_ms("ms", ms)
        if ms == INF:  # heartbeats never stop, so this would never return
            raise ValueError(
                "run(ms) needs a finite number of milliseconds; to wait for "
                "something, use run_until(pred, timeout_ms)"
            )
        self._run_to(self.now + ms, None)

    def run_until(self, pred: Callable[[Cluster], bool], timeout_ms: float = 5000) -> bool:
        """Run until ``pred(cluster)`` holds (``True``) or ``timeout_ms`` pass (``False``)."""
        end = self.now + _check_ms("timeout_ms", timeout_ms)
        if pred(self):
            return True
        return self._run_to(end, pred)

    def _run_to(self, end: float, pred: Callable[[Cluster], bool] | None) -> bool:
        """Handle every event due by ``end``, stopping early once ``pred`` holds (``True``);
        otherwise the clock ends at ``end`` (``False``)."""
        kernel = self.kernel
        heap = kernel._heap
        pop, listeners = heapq.heappop, self._listeners
        # _pop, inlined: this loop runs once per event.
        while heap and heap[0][0] <= end:
            kernel.now, _, callback, arg = pop(heap)
            self._pops += 1
            if callback(arg):
                self.event_count += 1
                for listener in listeners:
                    listener(self)
                if pred is not None and pred(self):
                    return True
        kernel.now = end
        return False

    def wait_for_leader(self, timeout_ms: float = 5000) -> int:
        """Run until a leader exists and return its id; ``Timeout`` if none comes."""
        if not self.run_until(lambda c: c.leader() is not None, timeout_ms):
            voters = sorted(self.members.voters)
            why = why_no_leader(voters, self._alive & set(voters), self.network.can_talk)
            raise Timeout(
                f"no leader was elected within {timeout_ms:g} ms: "
                + (
                    why
                    or "a majority of servers can talk, so the elections so far split their votes"
                )
                + f" (alive: {sorted(self._alive)}, "
                f"groups: {[sorted(g) for g in self.network.groups]})"
            )
        leader = self.leader()
        assert leader is not None
        return leader

    def _pop(self) -> bool:
        _, callback, arg = self.kernel.pop()
        self._pops += 1
        if not callback(arg):
            return False
        self.event_count += 1
        for listener in self._listeners:
            listener(self)
        return True

    # ---------------------------------------------------------- driving a node

    def _new_node(self, i: int) -> RaftNode:
        hard_state, entries = self.storage[i].load()
        # A restart restores the latest snapshot, then the log after it (§7).
        snap = self.storage[i].load_snapshot()
        log = Log(entries) if snap is None else Log(entries, snap.index, snap.term)
        return self.node_class(
            i,
            self.ids,
            config=self.config,
            rng=self.rng,
            now=self._local(i, self.now) if self._clocks else self.now,
            hard_state=hard_state,
            log=log,
            state_machine=self._make_state_machine(),
            configuration=self._genesis[i],
            snapshot=snap,
        )

    def _deliver(self, env: Envelope) -> None:
        msg = env.msg
        node = self.nodes[msg.dst]
        old_commit = node.commit_index
        now = self.kernel.now
        if self._clocks:
            now = self._local(node.id, now)  # the node reads its own clock
        node.step(msg, now)
        if (
            node.commit_index == node.last_applied
            and self._plain_ready
            and node._ready.is_empty()
            and not self._drivers[msg.dst].reads._waiting
        ):
            # The message changed nothing to persist, send, apply, trace or check (a
            # reply that moved no matchIndex, a duplicate): handling its empty output would
            # do nothing, so it is skipped, and the node keeps its empty Ready.  About a
            # quarter of a chaos run's messages.
            self._schedule_timer(msg.dst)
            return
        self._handle_ready(node, old_commit)

    def _on_timer(self, arg: tuple[int, int, float]) -> bool:
        i, incarnation, at = arg
        timer = self._timers[i]
        if incarnation != self._incarnation[i] or at != timer.at:
            return False  # superseded by an earlier timer, or the node crashed since
        timer.fired()
        node = self.nodes[i]
        now = self.kernel.now
        if self._clocks:
            now = self._local(i, now)  # the node's timers run on its own clock
        if now < node.next_deadline:
            self._schedule_timer(i)  # the deadline moved later meanwhile (e.g. a heartbeat)
            return False
        old_commit = node.commit_index
        node.tick(now)
        self._handle_ready(node, old_commit)
        return True

    def _schedule_timer(self, i: int) -> None:
        deadline = self.nodes[i].next_deadline
        if self._clocks and i in self._clocks:
            deadline = self._real(i, deadline)  # when its own clock shows the deadline
        # Timers are lazy (raftlab.driver.LazyTimer): a heartbeat costs no heap push.
        timer = self._timers[i]
        if deadline < timer.at:  # timer.needs(deadline), inlined: once per event
            timer.at = deadline
            self.kernel.schedule(
                max(deadline, self.kernel.now), self._on_timer, (i, self._incarnation[i], deadline)
            )

    def _handle_ready(self, node: RaftNode, old_commit: int) -> None:
        """Carry out a node's output in the order ``raftlab.node`` demands."""
        rd = node.ready()
        i = node.id
        window = self._windows.get(i) if self._windows and rd.messages else None
        if window is None:
            applied = self._drivers[i].handle(node, rd)  # persist, send, apply, settle
        else:
            applied = self._drivers[i].handle(node, rd, lambda phase: window == _AFTER[phase])
            if applied is None:
                self._crash_in_window(node, rd, old_commit)
                return
        now = self.kernel.now
        if rd.events:
            trace = self.trace
            term = node.current_term
            for kind, detail in rd.events:
                trace.append(TraceEvent(now, i, kind, detail, term))
        # Most inputs (a heartbeat and its reply) change nothing the checker watches.
        if self.checking and (rd.events or rd.persist_from is not None or applied):
            self.checker.observe(node, rd, applied, self.nodes, old_commit)
        self._schedule_timer(i)

    def _crash_in_window(self, node: RaftNode, rd: Any, old_commit: int) -> None:
        """An armed crash window (``crash_window``) is reached: what happened so far is
        traced and checked, then the node stops before the rest of its output."""
        i = node.id
        window = self._windows.pop(i)
        now = self.kernel.now
        for kind, detail in rd.events:
            self.trace.append(TraceEvent(now, i, kind, detail, node.current_term))
        if self.checking and (rd.events or rd.persist_from is not None):
            self.checker.observe(node, rd, [], self.nodes, old_commit)
        where = WINDOWS[window]
        self._crash(i, f" ({where})")

    # ------------------------------------------------------------------ faults

    def crash_window(self, i: int, window: str | None) -> None:
        """Crash node ``i`` in the middle of handling its next output that sends messages:
        ``"after_persist"`` (its term, vote and log are on stable storage, nothing is sent
        yet) or ``"after_send"`` (sent, nothing applied yet).  ``None`` disarms it.

        These are the windows the order persist, send, apply (``raftlab.node``) is about:
        a crash in either must lose nothing anyone was told.
        """
        self._check_id(i)
        if window is not None and window not in WINDOWS:
            raise ValueError(
                f"unknown crash window {window!r}; the windows are: {', '.join(WINDOWS)}"
            )
        if window is not None and i not in self._alive:
            raise ValueError(f"S{i} is crashed; restart it before arming a crash window")
        self._record("crash_window", (i, window))
        if window is None:
            self._windows.pop(i, None)
        else:
            self._windows[i] = window

    def crash(self, i: int) -> None:
        """Stop node ``i``: messages to and from it are lost; only its persistent state
        (term, vote, log) survives (§5, Figure 2)."""
        self._check_id(i)
        if i not in self._alive:
            raise ValueError(f"S{i} is already crashed; restart it with cluster.restart({i})")
        self._record("crash", (i,))
        self._crash(i)

    def _crash(self, i: int, why: str = "") -> None:
        self._windows.pop(i, None)
        self._alive.discard(i)
        self._incarnation[i] += 1
        self._timers[i].fired()
        self.network.drop_node(i, keep_sent=bool(why))
        self._drivers[i].proposals.fail_all(
            lambda index: LeadershipLost(f"S{i} crashed before entry {index} was applied")
        )
        if self._drivers[i].reads:
            self._drivers[i].reads.fail_all(LeadershipLost(f"S{i} crashed before the read"))
        term = self.nodes[i].current_term
        self._note(i, "crash", f"term={term}{why}", term=term)

    def restart(self, i: int) -> None:
        """Start a new incarnation of node ``i`` from its persistent state: a follower with
        ``commit_index == last_applied == 0`` and a fresh state machine."""
        self._check_id(i)
        if i in self._alive:
            raise ValueError(f"S{i} is running; crash it first with cluster.crash({i})")
        self._record("restart", (i,))
        self._incarnation[i] += 1
        node = self.nodes[i] = self._new_node(i)
        self._alive.add(i)
        term = node.current_term
        self._note(i, "restart", f"term={term} last={node.log.last_index}", term=term)
        self._schedule_timer(i)

    def partition(self, *groups: Iterable[int]) -> None:
        """Only nodes in the same group can talk, e.g. ``partition([1, 2], [3, 4, 5])``."""
        if len(groups) == 1 and groups[0] and not isinstance(next(iter(groups[0])), int):
            groups = tuple(groups[0])  # partition([[1, 2], [3, 4, 5]]) works too
        parts = [sorted(self._check_group(g)) for g in groups]
        seen: dict[int, int] = {}
        for k, g in enumerate(parts):
            for i in g:
                if i in seen:
                    raise ValueError(
                        f"S{i} is in two partition groups; every node must be in exactly one"
                    )
                seen[i] = k
        missing = [i for i in self.ids if i not in seen]
        if missing:
            raise ValueError(
                f"partition groups must cover every node; missing "
                f"{', '.join(f'S{i}' for i in missing)}"
            )
        self._record("partition", tuple(tuple(g) for g in parts))
        self.network.set_groups(parts)
        self._note(
            None,
            "partition",
            " | ".join(" ".join(f"S{i}" for i in g) for g in parts),
            groups=tuple(tuple(g) for g in parts),
        )

    def isolate(self, i: int) -> None:
        """Cut every link of node ``i``: it can talk to nobody."""
        self._check_id(i)
        self._record("isolate", (i,))
        for j in self.ids:
            if j != i:
                self.network.cut(i, j)
        self._note(None, "isolate", f"S{i}", groups=((i,),))

    def cut(self, a: int, b: int) -> None:
        """Cut the single link between ``a`` and ``b`` (both ways)."""
        self._check_link(a, b)
        self._record("cut", (a, b))
        self.network.cut(a, b)
        self._note(None, "cut", f"S{a}-S{b}", groups=((a, b),))

    def connect(self, a: int, b: int) -> None:
        """Restore the single link between ``a`` and ``b``."""
        self._check_link(a, b)
        self._record("connect", (a, b))
        self.network.connect(a, b)
        self._note(None, "connect", f"S{a}-S{b}", groups=((a, b),))

    def heal(self) -> None:
        """Everyone can talk again."""
        self._record("heal", ())
        self.network.heal()
        self._note(None, "heal", "")

    # ------------------------------------------------------------------ clocks

    def clock_drift(self, i: int, rate: float) -> None:
        """Make node ``i``'s clock run at ``rate`` times real time from now on (1.0: exact;
        1.1: 10% fast).  Its timers and its lease run on that clock.  ``Config.max_drift``
        is the bound leases assume; a rate beyond it is allowed, to show what breaks."""
        self._check_id(i)
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not math.isfinite(rate)
            or not 0.1 <= rate <= 10
        ):
            raise ValueError(
                f"a clock rate is a number from 0.1 to 10 (1.0 keeps real time, 1.05 runs 5% "
                f"fast, 0.95 runs 5% slow), got {rate!r}"
            )
        self._record("clock_drift", (i, rate))
        now = self.now
        self._clocks[i] = (now, self._local(i, now), float(rate))
        bound = self.config.max_drift
        beyond = abs(rate - 1) > bound + 1e-12
        self._note(
            i,
            "drift",
            f"S{i} clock x{rate:g}" + (f" (beyond max_drift={bound:g})" if beyond else ""),
        )
        if i in self._alive:
            # Its deadline moved in real time: arm it anew (the old timer, for another
            # time, is then ignored by _on_timer).
            self._timers[i].fired()
            self._schedule_timer(i)

    def clock(self, i: int) -> float:
        """What node ``i``'s clock reads now (the real time, unless it drifts)."""
        self._check_id(i)
        return self._local(i, self.now)

    def clock_rate(self, i: int) -> float:
        """How fast node ``i``'s clock runs (1.0 unless ``clock_drift`` changed it)."""
        self._check_id(i)
        c = self._clocks.get(i)
        return 1.0 if c is None else c[2]

    def _local(self, i: int, real: float) -> float:
        c = self._clocks.get(i)
        if c is None:
            return real
        r0, l0, rate = c
        return l0 + (real - r0) * rate

    def _real(self, i: int, local: float) -> float:
        """The real time at which node ``i``'s clock shows ``local`` (never a hair early)."""
        c = self._clocks.get(i)
        if c is None or local == INF:
            return local
        r0, l0, rate = c
        t = r0 + (local - l0) / rate
        while self._local(i, t) < local:  # rounding must not fire a timer before its time
            t = math.nextafter(t, INF)
        return t

    # ------------------------------------------------------------ stable leaders

    def transfer_leadership(self, to: int) -> None:
        """Ask the leader to hand leadership to node ``to`` (thesis §3.10): it brings
        ``to``'s log up to date, then tells it to stand for election at once (TimeoutNow).
        New proposals and reads are refused (``NotLeader`` pointing at ``to``) while it
        runs; the leader gives up after an election timeout.  Run the cluster to see it happen."""
        self._check_id(to)
        leader = self.leader()
        if leader is None:
            raise NotLeader(None, "no leader right now; run the cluster until one is elected")
        if to == leader:
            raise ValueError(f"S{to} already leads; name another server to hand over to")
        if to not in self._alive:
            raise ValueError(f"S{to} is down; restart it before handing it leadership")
        node = self.nodes[leader]
        if node.transfer_target is not None:
            raise ValueError(
                f"S{leader} is already handing leadership to S{node.transfer_target}; "
                "wait until that transfer ends"
            )
        self._record("transfer_leadership", (to,))
        old_commit = node.commit_index
        node.transfer_leadership(to, self._local(leader, self.now))
        self._handle_ready(node, old_commit)
        self._notify()

    def submit_read(
        self,
        query: Callable[[Any], Any] | None,
        *,
        mode: str = "read_index",
        node: int | None = None,
    ) -> ReadRequest:
        """Ask ``node`` (default: the leader) for a linearizable read without a log entry:
        ``mode="read_index"`` (confirm leadership with a heartbeat round, thesis §6.4) or
        ``"lease"`` (at once while the leader's lease holds, §6.4.1).  Once served,
        ``query(state_machine)`` runs on the leader's state machine.  Like ``submit`` it
        never raises for a cluster condition: a node that is down or not the leader gives a
        request already done with ``error=NotLeader``."""
        if mode not in ("read_index", "lease"):
            raise ValueError(
                f"submit_read's mode is 'read_index' or 'lease', got {mode!r}; a read through "
                "the log is cluster.submit of a get command"
            )
        if mode == "lease" and not self.config.lease_ms:
            raise ValueError(
                "lease reads need a lease: make the cluster with Config(lease_ms=...), "
                "e.g. Cluster(config=Config(lease_ms=100))"
            )
        if query is not None and not callable(query):
            raise TypeError(
                "query must be a function of the state machine, e.g. lambda sm: sm.data"
            )
        target = self._target(node)
        r = ReadRequest(query, target, mode)
        error = self._not_leader(target)
        if error is not None:
            r._finish(error=error)
            return r
        self._read(r, target)
        return r

    def _read(self, r: ReadRequest, target: int) -> None:
        self._record("_read_raw", (r.mode, target))
        node = self.nodes[target]
        old_commit = node.commit_index
        now = self._local(target, self.now) if self._clocks else self.now
        if r.mode == "lease":
            node.lease_read(r, now)
        else:
            node.read_index(r, now)
        self._handle_ready(node, old_commit)
        self._notify()

    def _read_raw(self, mode: str, target: int) -> None:
        """Replay of a recorded read (see ``fork``)."""
        self._read(ReadRequest(None, target, mode), target)

    def _send_all(self, messages: list) -> None:
        self.network.send_all(messages)

    def _network_changed(self, name: str, args: tuple) -> None:
        self._record(f"_set_{name}", args)
        value = args[0]
        shown = f"({value[0]:g}, {value[1]:g})" if isinstance(value, tuple) else f"{value:g}"
        self._note(None, "network", f"{name}={shown}")

    def _set_drop_rate(self, p: float) -> None:
        self.network.drop_rate = p

    def _set_duplicate_rate(self, p: float) -> None:
        self.network.duplicate_rate = p

    def _set_delay_ms(self, d: tuple[float, float]) -> None:
        self.network.delay_ms = d

    # ----------------------------------------------------------------- clients

    def submit(self, command: bytes, *, node: int | None = None) -> Proposal:
        """Hand ``command`` to ``node`` (default: the leader).  Never raises for a cluster
        condition: a node that is down or not the leader gives a proposal already done with
        ``error=NotLeader(hint)``."""
        command = _check_command(command)
        target = self.leader() if node is None else self._target(node)
        p = Proposal(command, target)
        error = self._not_leader(target)
        if error is not None:
            p._finish(error=error)
            return p
        self._propose([p], target)
        return p

    def apply(
        self, commands: list[bytes], *, node: int | None = None, timeout_ms: float = 5000
    ) -> list[ApplyResult]:
        """The seed's batched ``Apply``: append all commands together and run until every one
        is applied.  Raises ``NotLeader``, ``LeadershipLost`` or ``Timeout``."""
        if isinstance(commands, bytes | bytearray) or not isinstance(commands, list | tuple):
            raise TypeError("apply takes a list of commands, e.g. cluster.apply([b'x'])")
        commands = [_check_command(c) for c in commands]
        _check_ms("timeout_ms", timeout_ms)
        if not commands:
            return []
        target = self._target(node)
        error = self._not_leader(target)
        if error is not None:
            raise error
        proposals = [Proposal(c, target) for c in commands]
        self._propose(proposals, target)
        if not self.run_until(lambda c: all(p.done for p in proposals), timeout_ms):
            why = why_no_commit(target, self.ids, self._alive, self.network.can_talk)
            raise Timeout(
                f"the {len(commands)} command(s) were not applied within {timeout_ms:g} ms"
                + (f": {why}" if why else "")
            )
        for p in proposals:
            # Only the cluster's own errors are raised.  What a state machine raised is
            # that command's result, even a RaftLabError such as the kv store's KeyNotFound.
            if isinstance(p.error, NotLeader | LeadershipLost | Timeout):
                raise p.error
        return [ApplyResult(p.result, p.error) for p in proposals]

    def _target(self, node: int | None) -> int | None:
        if node is None:
            return self.leader()
        self._check_id(node)
        return node

    def _not_leader(self, target: int | None) -> NotLeader | None:
        if target is None:
            return NotLeader(None, "no leader right now; run the cluster until one is elected")
        if target not in self._alive:
            return NotLeader(None, f"S{target} is down")
        n = self.nodes[target]
        if n.role is not _LEADER:
            hint = n.leader_id if n.leader_id in self._alive else None
            return NotLeader(hint)
        if n.transfer_target is not None:
            # Handing leadership over (§3.10): new commands wait for the new leader.
            to = n.transfer_target
            return NotLeader(to, f"S{target} is handing leadership to S{to}; try S{to}")
        return None

    def _propose(self, proposals: list[Proposal], target: int) -> None:
        # (One client command is the usual case: no list comprehension, a call on 3.11.)
        commands = [proposals[0].command] if len(proposals) == 1 else [p.command for p in proposals]
        now = self.kernel.now
        # self._record, inlined (this runs for every client command)
        self._calls.append((self._pops, now, "_propose_raw", (tuple(commands), target), {}))
        node = self.nodes[target]
        old_commit = node.commit_index
        if self._clocks:
            now = self._local(target, now)
        first, term = node.propose(commands, now)
        track = self._drivers[target].proposals.track
        for k, p in enumerate(proposals):
            p.index, p.term = first + k, term
            track(p, p.index, term)
        self._handle_ready(node, old_commit)
        for listener in self._listeners:  # self._notify(), inlined
            listener(self)

    def _propose_raw(self, commands: tuple[bytes, ...], target: int) -> None:
        """Replay of a recorded proposal (see ``fork``)."""
        self._propose([Proposal(c, target) for c in commands], target)

    # --------------------------------------------------------------- membership

    @property
    def members(self) -> Configuration:
        """The committed configuration (thesis §4.1): the latest one any server knows to
        be committed.  ``members.voters`` count in elections and commitment,
        ``members.learners`` are catching up.  A server's own latest, possibly uncommitted,
        one is ``cluster.nodes[i].configuration``."""
        best = max(self.ids, key=lambda i: (self.nodes[i].commit_index, -i))
        return self.nodes[best].committed_configuration

    def add_server(self, i: int) -> Proposal:
        """Add server ``i`` to the cluster, one server at a time (thesis §4.1, §4.2.1).

        ``i`` may be a server the cluster has never had (it starts empty, outside any
        configuration) or one removed earlier.  The leader appends a configuration that
        makes ``i`` a learner and returns that entry's ``Proposal``; once ``i`` has caught
        up, the leader promotes it to a voter by itself (see ``raftlab.membership``):
        ``cluster.run_until(lambda c: i in c.members.voters)``.

        Raises ``ValueError`` for a bad id or one already in the configuration,
        ``NotLeader`` when there is no leader, ``ConfigurationChangeRefused`` while another
        change is in flight or before the leader has committed its no-op.  Nothing changes
        then.
        """
        if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= 99:
            raise ValueError(f"a server id is a whole number from 1 to 99, got {i!r}")
        leader = self._change_leader()
        conf = self.nodes[leader].configuration
        if i in conf:
            role = "a voter" if i in conf.voters else "a learner"
            raise ValueError(f"S{i} is already {role} in the configuration ({conf})")
        return self._change(leader, conf.with_learner(i), "add_server", i)

    def remove_server(self, i: int) -> Proposal:
        """Remove server ``i`` from the cluster (thesis §4.1, §4.2.2); the entry's
        ``Proposal``.  The leader itself may be removed: it steps down once the change is
        committed.  A removed server keeps running outside the configuration: nobody
        sends it entries and nobody answers its vote requests.

        Raises as ``add_server`` does; ``ValueError`` also for the last voter.
        """
        self._check_id(i)
        leader = self._change_leader()
        conf = self.nodes[leader].configuration
        if i not in conf:
            raise ValueError(f"S{i} is not in the configuration ({conf}); nothing to remove")
        if conf.voters == {i}:
            raise ValueError(f"S{i} is the last voter; a cluster cannot remove all its voters")
        return self._change(leader, conf.without(i), "remove_server", i)

    def lose_disk(self, i: int) -> None:
        """Server ``i``'s disk is lost: it crashes (if running) and its term, vote and log
        are gone.  Restarting it (``restart(i)``) is the *unsafe* shortcut: it comes back
        empty, believing it is a voter, and its vote can elect a leader that lacks an
        acknowledged write.  ``rejoin(i)`` is the safe way back."""
        self._check_id(i)
        self._record("lose_disk", (i,))
        if i in self._alive:
            self._crash(i)
        self._new_disk(i)
        self._note(i, "lose_disk", "term, vote and log erased")

    def rejoin(self, i: int, timeout_ms: float = 5000) -> None:
        """The safe way back for a server whose disk was lost (``lose_disk``): it rejoins
        as a new member.  Remove it from the configuration (and wait until that is
        committed), start it empty and outside any configuration, then add it back and wait
        until it is a voter again.  Until it is removed, its old place counts in every
        majority, so nothing it once acknowledged depends on its empty disk.

        Raises ``ValueError`` if ``i`` is running (lose its disk first), ``Timeout`` if a
        step does not finish in ``timeout_ms``.
        """
        self._check_id(i)
        if i in self._alive:
            raise ValueError(
                f"S{i} is running; rejoin is for a server whose disk was lost "
                f"(cluster.lose_disk({i}) first)"
            )
        if i in self.members or i in self._latest_configuration():
            self._wait_for_change(lambda: self.remove_server(i), timeout_ms)
            if not self.run_until(lambda c: i not in c.members, timeout_ms):
                raise Timeout(f"S{i}'s removal was not committed within {timeout_ms:g} ms")
        self._start_empty(i)
        self._wait_for_change(lambda: self.add_server(i), timeout_ms)
        if not self.run_until(lambda c: i in c.members.voters, timeout_ms):
            raise Timeout(f"S{i} did not become a voter within {timeout_ms:g} ms")

    def _wait_for_change(self, change: Callable[[], Proposal], timeout_ms: float) -> None:
        """Run until a leader accepts ``change`` (there may be none yet, or it may have a
        change in flight or an uncommitted no-op)."""
        end = self.now + _check_ms("timeout_ms", timeout_ms)
        while True:
            try:
                change()
                return
            except (NotLeader, ConfigurationChangeRefused) as exc:
                if self.now >= end:
                    raise Timeout(
                        f"no leader accepted the change within {timeout_ms:g} ms: {exc}"
                    ) from None
            self.run(min(self.config.heartbeat_ms, max(0.0, end - self.now)))

    def _latest_configuration(self) -> Configuration:
        leader = self.leader()
        return self.nodes[leader].configuration if leader is not None else self.members

    def _start_empty(self, i: int) -> None:
        """Start server ``i`` with an empty disk and no configuration: a new server that
        waits to be added (``add_server``)."""
        self._record("_start_empty", (i,))
        self._boot_empty(i)

    def _new_disk(self, i: int) -> None:
        self.storage[i] = MemoryStorage()
        self._drivers[i] = Driver(i, self.storage[i].save, self.network.send_all)

    def _boot_empty(self, i: int) -> None:
        if i not in self.storage:
            self.ids.append(i)
            self.ids.sort()
            self.network.ids = tuple(self.ids)
            self._timers[i] = LazyTimer()
            self._incarnation[i] = 0
        elif i in self._alive:
            self._crash(i)
        self._new_disk(i)
        self._genesis[i] = Configuration(frozenset())
        self._incarnation[i] += 1
        self.nodes[i] = self._new_node(i)
        self._alive.add(i)
        self._note(i, "start", "empty, outside the configuration", term=0)
        self._schedule_timer(i)

    def _change_leader(self) -> int:
        leader = self.leader()
        if leader is None:
            raise NotLeader(None, "no leader right now; run the cluster until one is elected")
        return leader

    def _change(self, leader: int, conf: Configuration, name: str, i: int) -> Proposal:
        node = self.nodes[leader]
        why = node.change_refused()
        if why is not None:
            raise ConfigurationChangeRefused(why)
        self._record(name, (i,))
        if i not in self.storage:
            self._boot_empty(i)  # a server the cluster never had
        p = Proposal(conf, leader)  # type: ignore[arg-type]  # the command is the configuration
        old_commit = node.commit_index
        p.index, p.term = node.propose_configuration(conf, self.now)
        self._drivers[leader].proposals.track(p, p.index, p.term)
        self._handle_ready(node, old_commit)
        self._notify()
        return p

    # ------------------------------------------------------- snapshots and forks

    def snapshot(self) -> ClusterSnapshot:
        """An immutable copy of what the pictures draw (cheap: logs are shared)."""
        net = self.network
        return ClusterSnapshot(
            time=self.now,
            event_index=self.event_count,
            nodes=tuple(self._node_view(i) for i in self.ids),
            in_flight=tuple(e.view() for e in net._in_flight.values()),
            groups=net.groups,
            cut_links=frozenset(net.cut_links),
            leader=self.leader(),
            _trace=self.trace,
            trace_len=len(self.trace),
            _message_log=net.log,
            message_log_len=len(net.log),
            kernel_steps=self._pops,
            calls_len=len(self._calls),
            members=self.members,
        )

    def _node_view(self, i: int) -> NodeView:
        n = self.nodes[i]
        cached = self._log_copies.get(i)
        key = (id(n.log), n.log.version)
        if cached is None or cached[:2] != key:
            cached = self._log_copies[i] = (*key, n.log.as_tuple())
        leader = n.role is Role.LEADER
        return NodeView(
            id=i,
            alive=i in self._alive,
            role=n.role,
            current_term=n.current_term,
            voted_for=n.voted_for,
            log=cached[2],
            commit_index=n.commit_index,
            last_applied=n.last_applied,
            next_index=tuple(sorted(n.next_index.items())) if leader else (),
            match_index=tuple(sorted(n.match_index.items())) if leader else (),
            votes=frozenset(n.votes),
            election_deadline=None
            if leader
            else (self._real(i, n.election_deadline) if self._clocks else n.election_deadline),
            election_timeout=n.election_timeout,
            voters=n.configuration.voters,
            learners=n.configuration.learners,
            snapshot_index=n.log.snapshot_index,
            snapshot_term=n.log.snapshot_term,
        )

    def fork(self, at: ClusterSnapshot | None = None) -> Cluster:
        """A new cluster that replays this run up to ``at`` (default: now), exactly.

        Acting on the fork changes only the fork: a different future from the same past.
        """
        steps = self._pops if at is None else at.kernel_steps
        calls = len(self._calls) if at is None else at.calls_len
        time = self.now if at is None else at.time
        new = Cluster(
            self._initial_n,
            self.seed,
            config=self.config,
            state_machine=self._make_state_machine,
            bugs=self.bugs,
            check_invariants=self.checking,
            node_class=self.base_class,
        )
        for pops, t, name, args, kwargs in self._calls[:calls]:
            new._replay_to(pops, t)
            getattr(new, name)(*args, **kwargs)
        new._replay_to(steps, time)
        return new

    def _replay_to(self, pops: int, time: float) -> None:
        while self._pops < pops:
            self._pop()
        self.kernel.now = max(self.kernel.now, time)

    # ----------------------------------------------------------------- helpers

    def _record(self, name: str, args: tuple, kwargs: dict | None = None) -> None:
        self._calls.append((self._pops, self.now, name, args, kwargs or {}))

    def _note(
        self,
        node: int | None,
        kind: str,
        detail: str,
        term: int | None = None,
        groups: tuple[tuple[int, ...], ...] | None = None,
    ) -> None:
        self.trace.append(TraceEvent(self.now, node, kind, detail, term, groups))
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener(self)

    def _check_id(self, i: object) -> None:
        if isinstance(i, bool) or not isinstance(i, int) or i not in self.storage:
            raise ValueError(
                f"unknown node {i!r}; this cluster's nodes are {', '.join(map(str, self.ids))}"
            )

    def _check_link(self, a: int, b: int) -> None:
        self._check_id(a)
        self._check_id(b)
        if a == b:
            raise ValueError(f"a link joins two different nodes; got S{a} twice")

    def _check_group(self, group: Iterable[int]) -> list[int]:
        if isinstance(group, int | str | bytes) or not isinstance(group, Iterable):
            raise ValueError(f"each partition group must be a list of node ids, got {group!r}")
        members = list(group)
        if not members:
            raise ValueError("a partition group cannot be empty")
        for i in members:
            self._check_id(i)
        if len(set(members)) != len(members):
            raise ValueError(f"partition group {members} names a node twice")
        return members

    def __repr__(self) -> str:
        leader = self.leader()
        return (
            f"Cluster({len(self.ids)} nodes, seed={self.seed}, now={self.now:.2f} ms, "
            f"leader={f'S{leader}' if leader else None})"
        )


_AFTER = {"persist": "after_persist", "send": "after_send"}

#: The crash windows of ``Cluster.crash_window``, and how the trace says where a crash fell.
WINDOWS = {
    "after_persist": "after persisting, before sending",
    "after_send": "after sending, before applying",
}

# isinstance with a tuple: ``int | float`` would build a union object at every call, and
# these checks run for every client command and every run() call.
_NUMBER = (int, float)
_BYTES = (bytes, bytearray)
# An enum member read through a module name: on Python 3.11 ``Role.LEADER`` goes through
# the enum metaclass's __getattr__ hook (about 0.25 us), and leader() runs for every command.
_LEADER = Role.LEADER


def _check_ms(name: str, ms: object) -> float:
    if isinstance(ms, bool) or not isinstance(ms, _NUMBER) or ms != ms or ms < 0:
        raise ValueError(f"{name} must be a number of milliseconds >= 0, got {ms!r}")
    return float(ms)


def _check_command(command: object) -> bytes:
    if not isinstance(command, _BYTES):
        raise TypeError(
            f"a command is bytes, e.g. b'set x=1', got {type(command).__name__}; "
            "encode text with .encode()"
        )
    return bytes(command)
