"""Time travel: record a cluster after every event, show any moment again, fork a new future.

Theory of operation
-------------------
A :class:`Recorder` subscribes to a cluster (``Cluster.subscribe``) and keeps one *frame*
after every event and every call that changes the world.  ``at(k)`` gives frame ``k``
back as a :class:`~raftlab.snapshot.ClusterSnapshot`, which every picture in
``raftlab.viz`` can draw.  ``fork(k)`` gives a new ``Cluster`` that replayed the run up
to frame ``k`` (``Cluster.fork``): because the same seed and the same calls give the same
run, the fork *is* that past, and whatever you do to it is a different future.

Memory.  A snapshot holds each node's log as a tuple, so keeping one snapshot per event
would copy every log after every append: quadratic in the length of the run.  A frame
stores instead, per node, a reference into a shared append-only list of entries (a
*line*) and a length; a truncation starts a new line.  Node views that did not change
are shared between frames.  That keeps 10,000 events of a busy cluster within a few tens
of megabytes (``benchmarks/bench_timetravel.py``).  Past ``max_frames`` the older half
of the recording is thinned (every other frame dropped), so a run of any length stays
bounded; the recent past keeps every event.

A :class:`Session` is what a dashboard drives: the current cluster, its recorder, the
moment shown, and one method per button (run, step, crash, cut, client requests...).
Each returns an :class:`Outcome`, a plain message for the learner.  Acting while a past
moment is shown first forks a new future from that moment.  A ``SafetyViolation`` is
caught, reported by name and pauses the run there.  ``raftlab.widgets`` only wires
controls to these methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from raftlab.cluster import Cluster
from raftlab.errors import RaftLabError, SafetyViolation
from raftlab.log import Entry
from raftlab.roles import Role
from raftlab.snapshot import ClusterSnapshot

__all__ = ["Outcome", "Recorder", "Session", "status", "trace_tail"]


class _Frame:
    """One recorded moment: a snapshot whose node views have empty logs, plus, per node,
    ``(line, length)``: the log is ``tuple(line[:length])``; and the network knobs
    ``(drop_rate, duplicate_rate, delay_ms)``, which snapshots do not hold."""

    __slots__ = ("snap", "logs", "knobs")

    def __init__(
        self,
        snap: ClusterSnapshot,
        logs: tuple[tuple[list[Entry], int], ...],
        knobs: tuple[float, float, tuple[float, float]],
    ):
        self.snap = snap
        self.logs = logs
        self.knobs = knobs


class Recorder:
    """Keeps a frame of ``cluster`` after every event and every call; see the module doc."""

    def __init__(self, cluster: Cluster, *, max_frames: int = 50_000):
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 4:
            raise ValueError(f"max_frames must be a whole number of at least 4, got {max_frames!r}")
        self.cluster = cluster
        self.max_frames = max_frames
        self.thinnings = 0  # how many times the older half was thinned
        self.held: _Frame | None = None  # a frame on show, which thinning must keep
        self._frames: list[_Frame] = []
        # node id -> (line, the log tuple last seen, the (line, length) ref for it)
        self._lines: dict[int, tuple[list[Entry], tuple[Entry, ...], tuple]] = {}
        self._cache: tuple[int, _Frame, ClusterSnapshot] | None = None
        self._made: dict[int, tuple[tuple, tuple[Entry, ...]]] = {}  # id(ref) -> (ref, log)
        self._undo: tuple[Cluster, list[_Frame]] | None = None
        cluster.subscribe(self._on_change)
        self.capture()

    def __len__(self) -> int:
        return len(self._frames)

    def _on_change(self, cluster: Cluster) -> None:
        self.capture()

    def capture(self) -> bool:
        """Record the cluster now, unless the last frame already shows this very moment.

        The cluster notifies after events and calls; ``Cluster.run`` also moves the clock
        past the last event without notifying, which is why callers capture at the end.
        """
        snap = self.cluster.snapshot()
        if self._frames:
            last = self._frames[-1].snap
            if (last.time, last.kernel_steps, last.calls_len, last.trace_len) == (
                snap.time,
                snap.kernel_steps,
                snap.calls_len,
                snap.trace_len,
            ):
                return False
        self._frames.append(self._compact(snap))
        if len(self._frames) > self.max_frames:
            self._thin()
        return True

    def _compact(self, snap: ClusterSnapshot) -> _Frame:
        prev = self._frames[-1].snap if self._frames else None
        nodes, logs = [], []
        for k, view in enumerate(snap.nodes):
            logs.append(self._line_ref(view.id, view.log))
            slim = replace(view, log=())
            if prev is not None and prev.nodes[k] == slim:
                slim = prev.nodes[k]  # unchanged: share it
            nodes.append(slim)
        groups, cuts = snap.groups, snap.cut_links
        if prev is not None:
            groups = prev.groups if prev.groups == groups else groups
            cuts = prev.cut_links if prev.cut_links == cuts else cuts
        slim_snap = replace(snap, nodes=tuple(nodes), groups=groups, cut_links=cuts)
        net = self.cluster.network
        knobs = (net.drop_rate, net.duplicate_rate, net.delay_ms)
        if self._frames and self._frames[-1].knobs == knobs:
            knobs = self._frames[-1].knobs
        return _Frame(slim_snap, tuple(logs), knobs)

    def _line_ref(self, i: int, log: tuple[Entry, ...]) -> tuple[list[Entry], int]:
        known = self._lines.get(i)
        if known is not None:
            line, seen, ref = known
            if log is seen:
                return ref
            # An append extends the line; anything else (a truncation) starts a new one.
            # Comparing the prefix is exact even when a planted bug breaks Log Matching.
            if len(log) >= len(seen) and log[: len(seen)] == seen:
                line.extend(log[len(seen) :])
            else:
                line = list(log)
        else:
            line = list(log)
        ref = (line, len(log))
        self._lines[i] = (line, log, ref)
        return ref

    def _thin(self) -> None:
        """Drop every other frame of the older half (frame 0 and the ``held`` one stay)."""
        half = len(self._frames) // 2
        old = self._frames[:half]
        self._frames[:half] = [f for k, f in enumerate(old) if k % 2 == 0 or f is self.held]
        self._cache = None
        self.thinnings += 1

    def _index(self, k: int) -> int:
        n = len(self._frames)
        if isinstance(k, bool) or not isinstance(k, int) or not -n <= k < n:
            raise ValueError(f"no frame {k!r}: the recording holds frames 0..{n - 1}")
        return k % n

    def at(self, k: int) -> ClusterSnapshot:
        """Frame ``k`` (negative counts from the end) as a full ``ClusterSnapshot``."""
        k = self._index(k)
        frame = self._frames[k]
        if self._cache is not None and self._cache[0] == k and self._cache[1] is frame:
            return self._cache[2]
        # Neighbouring frames mostly share (line, length) refs: reuse the tuples made last time.
        made = self._made
        self._made = {}
        views = []
        for v, ref in zip(frame.snap.nodes, frame.logs, strict=True):
            known = made.get(id(ref))
            log = known[1] if known is not None and known[0] is ref else tuple(ref[0][: ref[1]])
            self._made[id(ref)] = (ref, log)
            views.append(replace(v, log=log))
        snap = replace(frame.snap, nodes=tuple(views))
        self._cache = (k, frame, snap)
        return snap

    def network_at(self, k: int) -> dict[str, object]:
        """The network knobs at frame ``k``: ``drop_rate``, ``duplicate_rate``, ``delay_ms``."""
        drop, dup, delay = self._frames[self._index(k)].knobs
        return {"drop_rate": drop, "duplicate_rate": dup, "delay_ms": delay}

    def times(self) -> list[float]:
        """The simulated time of every frame, in order."""
        return [f.snap.time for f in self._frames]

    def fork(self, k: int) -> Cluster:
        """A new cluster replaying this run up to frame ``k``; the recording is untouched."""
        return self.cluster.fork(self.at(k))

    def branch(self, k: int) -> Cluster:
        """Fork at frame ``k`` and record the fork from now on, forgetting frames after ``k``.

        ``unbranch()`` undoes this (while nothing happened on the fork yet).
        """
        k = self._index(k)
        new = self.fork(k)
        self._undo = (self.cluster, self._frames[k + 1 :])
        self._follow(new, k)
        self.capture()  # the fork stands at frame k's moment, so this records nothing new
        return new

    def unbranch(self) -> None:
        """Go back to the cluster and frames that the last ``branch`` replaced."""
        if self._undo is None:
            raise ValueError("there is no branch to undo")
        old, tail = self._undo
        self._follow(old, len(self._frames) - 1)
        self._frames.extend(tail)
        self._undo = None

    def _follow(self, cluster: Cluster, keep: int) -> None:
        self.cluster.unsubscribe(self._on_change)
        del self._frames[keep + 1 :]
        self._lines = {}  # the next log seen starts a fresh line
        self._cache = None
        self.cluster = cluster
        cluster.subscribe(self._on_change)

    def close(self) -> None:
        """Stop recording."""
        self.cluster.unsubscribe(self._on_change)


# ----------------------------------------------------------------- in words


def status(snap: ClusterSnapshot) -> str:
    """The moment in words: time, term, who leads, who is down or cut off."""
    term = max((n.current_term for n in snap.nodes), default=0)
    if snap.leader is not None:
        lead = snap.node(snap.leader)
        who = f"S{lead.id} is the leader of term {lead.current_term}"
        if lead.current_term < term:
            who += f" (a higher term {term} exists: it will step down when it hears of it)"
    else:
        candidates = [f"S{n.id}" for n in snap.nodes if n.alive and n.role is Role.CANDIDATE]
        who = f"no leader; the highest term is {term}"
        if candidates:
            who += (
                f"; {_join(candidates)} {'is' if len(candidates) == 1 else 'are'} asking for votes"
            )
    parts = [f"At {snap.time:.2f} ms: {who}."]
    down = [f"S{n.id}" for n in snap.nodes if not n.alive]
    if down:
        parts.append(f"{_join(down)} {'is' if len(down) == 1 else 'are'} down.")
    if len(snap.groups) > 1:
        parts.append(
            "Network split: "
            + " | ".join(" ".join(f"S{i}" for i in sorted(g)) for g in sorted(snap.groups, key=min))
            + "."
        )
    elif snap.cut_links:
        parts.append(
            "Cut links: " + ", ".join(f"S{a}-S{b}" for a, b in sorted(snap.cut_links)) + "."
        )
    return " ".join(parts)


def trace_tail(snap: ClusterSnapshot, n: int = 12) -> list[str]:
    """The last ``n`` trace lines written up to that moment."""
    # The snapshot shares the cluster's trace list; slicing only the tail keeps this O(n).
    end = snap.trace_len
    return [str(e) for e in snap._trace[max(0, end - n) : end]]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# ------------------------------------------------------------------ session


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a dashboard action did, in words.

    ``kind`` is ``"ok"``, ``"error"`` (the action could not be done: the message says why)
    or ``"violation"`` (a safety property broke: the run is paused there).  ``answer`` is a
    client read's value (``None`` for a missing key); ``reply`` is what a client got, in a
    word or two (``'1'``, ``no such key``, ``ok``); ``forked`` says the action started a new
    future from the past.
    """

    kind: str
    message: str
    forked: bool = False
    answer: str | None = None
    reply: str | None = None
    violation: SafetyViolation | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class Session:
    """A cluster, its recording and the moment shown: the logic behind the dashboard."""

    def __init__(
        self, cluster: Cluster, *, max_frames: int = 50_000, client_timeout_ms: float = 2000
    ):
        if not isinstance(cluster, Cluster):
            raise TypeError(f"a Session drives a raftlab.Cluster, got {type(cluster).__name__}")
        if (
            isinstance(client_timeout_ms, bool)
            or not isinstance(client_timeout_ms, int | float)
            or not client_timeout_ms > 0
        ):
            raise ValueError(
                f"client_timeout_ms must be a positive number of milliseconds, "
                f"got {client_timeout_ms!r}"
            )
        self.client_timeout_ms = client_timeout_ms
        self.recorder = Recorder(cluster, max_frames=max_frames)
        # The frame shown when it is not the latest; None follows the latest frame, also when
        # the cluster is driven from outside (e.g. ``cluster.run`` in another notebook cell).
        self._pinned: tuple[int, _Frame] | None = None
        self.violation: SafetyViolation | None = None
        self._kv = None  # the KVClient of the current cluster
        self.last: Outcome | None = None

    @property
    def cluster(self) -> Cluster:
        """The cluster the next action acts on (after a fork, the fork)."""
        return self.recorder.cluster

    @property
    def position(self) -> int:
        """The number of the frame shown."""
        if self._pinned is None:
            return len(self.recorder) - 1
        k, frame = self._pinned
        frames = self.recorder._frames
        if k >= len(frames) or frames[k] is not frame:  # thinned since: find it again
            k = next(j for j, f in enumerate(frames) if f is frame)  # ``held`` keeps it
            self._pinned = (k, frame)
        return k

    @position.setter
    def position(self, k: int) -> None:
        k = self.recorder._index(k)
        last = len(self.recorder) - 1
        self._pinned = None if k == last else (k, self.recorder._frames[k])
        self.recorder.held = None if self._pinned is None else self._pinned[1]

    @property
    def live(self) -> bool:
        """Whether the moment shown is the latest one."""
        return self._pinned is None

    @property
    def shown(self) -> ClusterSnapshot:
        return self.recorder.at(self.position)

    def seek(self, k: int) -> ClusterSnapshot:
        """Show frame ``k``; the next action will fork a new future from it."""
        self.position = k
        return self.shown

    def status(self) -> str:
        return status(self.shown)

    def trace_tail(self, n: int = 12) -> list[str]:
        return trace_tail(self.shown, n)

    def network(self) -> dict[str, object]:
        """The network knobs at the moment shown (see ``Recorder.network_at``)."""
        return self.recorder.network_at(self.position)

    # ------------------------------------------------------------ time

    def run(self, ms: float) -> Outcome:
        def go() -> str:
            self.cluster.run(ms)
            return f"Ran {ms:g} ms to {self.cluster.now:.2f} ms."

        return self._act(go)

    def step(self) -> Outcome:
        def go() -> str:
            event = self.cluster.step()
            if event is None:
                return (
                    f"One event at {self.cluster.now:.2f} ms (it wrote no trace line: "
                    "a heartbeat, a reply or a timer with nothing to do)."
                )
            return f"One event: {str(event).strip()}"

        return self._act(go)

    # ---------------------------------------------------------- faults

    def toggle(self, i: int) -> Outcome:
        """Crash node ``i`` if it is up at the moment shown, else restart it."""
        up = any(n.id == i and n.alive for n in self.shown.nodes)
        return self.crash(i) if up else self.restart(i)

    def crash(self, i: int) -> Outcome:
        return self._act(lambda: self.cluster.crash(i) or f"Crashed S{i}.")

    def restart(self, i: int) -> Outcome:
        return self._act(lambda: self.cluster.restart(i) or f"Restarted S{i} from its disk.")

    def isolate(self, i: int) -> Outcome:
        return self._act(lambda: self.cluster.isolate(i) or f"Isolated S{i}: it hears nobody.")

    def split(self, minority: Iterable[int] | None = None) -> Outcome:
        """Partition a minority from the majority; by default the leader goes in the minority,
        so the majority must elect a new leader while the old one carries on alone (§5.2)."""

        def go() -> str:
            ids = self.cluster.ids
            small = sorted(self._minority() if minority is None else minority)
            rest = [i for i in ids if i not in small]
            if not small or len(small) * 2 >= len(ids):
                raise ValueError(
                    f"a minority has at most {(len(ids) - 1) // 2} of the "
                    f"{len(ids)} nodes; got {small}"
                )
            self.cluster.partition(small, rest)
            return f"Split {_names(small)} | {_names(rest)}: {self._who_can_commit(rest)}"

        return self._act(go)

    def _who_can_commit(self, side: list[int]) -> str:
        """Which side of a split has a live majority, so can elect a leader and commit (§5.2).

        Counted from the servers that are up: a crashed server on the bigger side does
        not vote, so that side may be left without a majority, and then neither side is.
        """
        n, alive = len(self.cluster.ids), self.cluster.alive
        live = [i for i in side if i in alive]
        if len(live) * 2 > n:
            return (
                f"{len(live)} of {n} servers are up on the {_names(side)} side, a majority: "
                "only that side can elect a leader and commit."
            )
        down = [i for i in side if i not in alive]
        return (
            f"only {len(live)} of {n} servers are up on the {_names(side)} side "
            f"({_names(down)} down), so neither side has a live majority: nothing can "
            "commit until you restart a server there or heal the network."
        )

    def _minority(self) -> list[int]:
        ids, leader = self.cluster.ids, self.cluster.leader()
        size = (len(ids) - 1) // 2
        first = [leader] if leader is not None else []
        return (first + [i for i in ids if i != leader])[:size]

    def cut(self, a: int, b: int) -> Outcome:
        return self._act(lambda: self.cluster.cut(a, b) or f"Cut the link S{a}-S{b}.")

    def connect(self, a: int, b: int) -> Outcome:
        return self._act(lambda: self.cluster.connect(a, b) or f"Reconnected S{a}-S{b}.")

    def heal(self) -> Outcome:
        return self._act(lambda: self.cluster.heal() or "Healed the network: all can talk.")

    def set_drop_rate(self, p: float) -> Outcome:
        return self._network("drop_rate", p, f"Each message is now lost with probability {p:g}.")

    def set_duplicate_rate(self, p: float) -> Outcome:
        return self._network(
            "duplicate_rate", p, f"Each message is now duplicated with probability {p:g}."
        )

    def set_delay(self, lo: float, hi: float) -> Outcome:
        return self._network(
            "delay_ms", (lo, hi), f"Messages now take between {lo:g} and {hi:g} ms."
        )

    def _network(self, name: str, value: object, message: str) -> Outcome:
        if self.network()[name] == value:
            return self._done(Outcome("ok", message))  # unchanged: no trace line, no fork
        return self._act(lambda: setattr(self.cluster.network, name, value) or message)

    # --------------------------------------------------------- clients
    # One ``KVClient`` per cluster: it follows leader hints, retries, and records every
    # operation in ``cluster.history``.

    def client_set(self, key: str, value: str) -> Outcome:
        def go() -> str:
            client, start = self._client(), self.cluster.now
            client.set(key, value)
            self._reply = "ok"
            return f"set {key}={value} -> ok ({self._took(client, start)})"

        return self._act(go)

    def client_get(self, key: str, mode: str = "log") -> Outcome:
        """A linearizable read: through the log (``mode="log"``, §8: it waits for the entry
        to commit), by ReadIndex (``"read_index"``, thesis §6.4: a heartbeat round) or
        from the leader's lease (``"lease"``, §6.4.1; the cluster needs a lease)."""

        def go() -> str:
            client, start = self._client(), self.cluster.now
            self._read(lambda: client.get(key, mode))
            how = "" if mode == "log" else f" ({mode})"
            return f"get {key}{how} -> {self._reply} ({self._took(client, start)})"

        return self._act(go)

    def relaxed_get(self, key: str, node: int) -> Outcome:
        """Node ``node``'s local copy: fast, possibly stale (not linearizable)."""

        def go() -> str:
            client = self._client()
            self._read(lambda: client.get(key, relaxed=True, node=node))
            return f"relaxed get {key} at S{node} -> {self._reply} (its local copy, maybe stale)"

        return self._act(go)

    def _read(self, get: Callable[[], str]) -> None:
        from raftlab.kv import KeyNotFound

        try:
            self._answer = get()
            self._reply = repr(self._answer)
        except KeyNotFound:
            self._answer, self._reply = None, "no such key"

    def _took(self, client, start: float) -> str:
        return f"answered by S{client.leader_guess} in {self.cluster.now - start:.2f} ms"

    def _client(self):
        """This cluster's client, made on first use (and anew on each fork)."""
        from raftlab.kv import KVClient, KVStateMachine

        cluster = self.cluster
        if self._kv is not None and self._kv.cluster is cluster:
            return self._kv
        sm = cluster.nodes[cluster.ids[0]].state_machine
        if not isinstance(sm, KVStateMachine):
            raise ValueError(
                f"this cluster's state machine is {type(sm).__name__}, not a "
                "key-value store; make the cluster with "
                "Cluster(..., state_machine=KVStateMachine) to use the client"
            )
        # KVClient's default id skips every id the replicated state knows, so a client
        # made anew on a fork never reuses a past client's id.
        self._kv = KVClient(cluster, timeout_ms=self.client_timeout_ms)
        return self._kv

    # ----------------------------------------------------------- core

    def blocked(self) -> Outcome | None:
        """Why no action can be taken at the moment shown, or ``None`` if one can.

        After a safety violation the cluster is broken: acting is refused at the latest
        moment, and allowed anywhere in the past (it forks a new future).
        """
        if self.violation is not None and self.live:
            return Outcome(
                "violation",
                f"The run is paused at a safety violation: {self.violation}. "
                "Slide back in time and act there to try another future.",
                violation=self.violation,
            )
        return None

    def _act(self, action: Callable[[], str]) -> Outcome:
        """Run one action on the live cluster, forking first if the past is shown."""
        refused = self.blocked()
        if refused is not None:
            return self._done(refused)
        forked = not self.live
        if forked:
            start = self.position
            self.recorder.branch(start)
            self.violation = None
        self._answer = self._reply = None
        try:
            message = action()
            outcome = Outcome("ok", message, answer=self._answer, reply=self._reply)
        except SafetyViolation as v:
            self.violation = v
            outcome = Outcome(
                "violation",
                f"Safety violation at {self.cluster.now:.2f} ms: {v}. The run is paused here.",
                violation=v,
            )
        except (ValueError, TypeError, RaftLabError) as e:
            outcome = Outcome("error", str(e))
        self.recorder.capture()
        if forked and len(self.recorder) == start + 1 and outcome.kind != "violation":
            self.recorder.unbranch()  # nothing happened: keep the future we had
            self.position = start
            return self._done(replace(outcome, forked=False))
        self._pinned = self.recorder.held = None
        if forked:
            outcome = replace(
                outcome,
                forked=True,
                message=f"New future from {self.recorder.at(start).time:.2f} ms. {outcome.message}",
            )
        return self._done(outcome)

    def _done(self, outcome: Outcome) -> Outcome:
        self.last = outcome
        return outcome


def _names(ids: Iterable[int]) -> str:
    return " ".join(f"S{i}" for i in ids)
