"""The nemesis: which faults a chaos run injects, and when, all drawn from the seed.

Two sources of faults
---------------------
*Episodes* start every few hundred simulated milliseconds.  Each draws one fault and,
usually, when it ends: a crash (of the leader, of a follower, rarely of a majority) and
the restart that follows; a partition of one of four shapes (majority/minority, a lone
node, a bridge node that hears both halves while they cannot hear each other, a ring in
which each node hears only its two neighbours); message loss, duplication or a delay
spike for a while.  At most one network shape holds at a time, and fewer than half the
nodes are down at once except in the rare majority crash, so clients get work done most
of the time.

*Aimed* episodes and *plays* (:mod:`raftlab.chaos.plays`) react to what the trace says
(a leader just elected, a leader's first commit, a vote just granted), because random
faults almost never land in the narrow windows where classic Raft mistakes bite.

Some seeds also draw narrow election timeouts (competing candidates in one term) and
small AppendEntries batches (entries of different terms committed one at a time), and
most compact their logs often (a small ``snapshot_threshold``, §7), so restarted and
lagging servers catch up by InstallSnapshot.

Nothing here reads a clock or the global ``random``: the nemesis has its own
``random.Random`` seeded from the run's seed, so a seed replays exactly.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from raftlab.chaos.churn import Churn
from raftlab.chaos.plays import AIMS, Plays, names
from raftlab.config import Config
from raftlab.roles import Role

#: Every kind of fault a chaos run can inject (the ``faults=`` argument picks a subset).
ALL_FAULTS: tuple[str, ...] = (
    "crash",
    "restart",
    "partition",
    "isolate",
    "drop",
    "duplicate",
    "delay",
    "membership",
    "drift",
)

__all__ = ["AIMS", "ALL_FAULTS", "Fault", "Nemesis", "draw_config"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: when, which kind (one of ``ALL_FAULTS``), and in words."""

    time: float
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.time:9.2f} {self.kind:<9} {self.detail}"


def draw_config(rng: random.Random) -> Config:
    """The cluster's timing for one seed: usually the defaults, sometimes sharper."""
    timeout: tuple[float, float] = (150, 300)
    if rng.random() < 0.35:
        # Narrow: followers whose leader died time out within a few ms of each other, so
        # two candidates often run in the same term.
        timeout = (150, 150 + rng.uniform(8, 30))
    batch = 64
    if rng.random() < 0.35:
        batch = rng.choice((1, 1, 2, 3))
    # Log compaction (§7) in most runs: a small threshold, so servers snapshot often, and
    # lagging or restarted ones catch up by InstallSnapshot, sometimes in small chunks.
    threshold, chunk = 0, 64 * 1024  # the defaults
    if rng.random() < 0.6:
        threshold = rng.choice((5, 10, 20, 50))
        chunk = rng.choice((32, 128, chunk))
    # Reads and stable leaders (drawn last, so the draws above stay what they were): a
    # drift bound the ``drift`` faults keep to, often wide; in most seeds a lease as long
    # as that bound allows (Config refuses a longer one); PreVote and CheckQuorum at times.
    max_drift = rng.choice((0.01, 0.05, 0.1, 0.2, 0.3, 0.4))
    lease = 0.0
    if rng.random() < 0.5:
        lease = math.floor(timeout[0] / (1 + max_drift))
    # PreVote and stickiness also make the split-vote play harmless (a second candidate
    # in the same term gets no pre-votes), so they are drawn rarely enough that the
    # classic bugs keep being exercised.
    pre_vote = rng.random() < 0.25
    check_quorum = rng.random() < 0.3
    return Config(
        election_timeout_ms=timeout,
        max_batch=batch,
        max_drift=max_drift,
        lease_ms=lease,
        pre_vote=pre_vote,
        check_quorum=check_quorum,
        snapshot_threshold=threshold,
        snapshot_chunk_bytes=chunk,
    )


def heal_everything(cluster, delay_ms: tuple[float, float], restart: Callable[[int], None]) -> None:
    """The healing that ends every chaos run: every link back, loss and duplication off,
    the delay the run started with, and every crashed node restarted by ``restart(i)``
    (which also writes the restart down)."""
    cluster.heal()
    net = cluster.network
    if net.drop_rate:
        net.drop_rate = 0.0
    if net.duplicate_rate:
        net.duplicate_rate = 0.0
    if net.delay_ms != delay_ms:
        net.delay_ms = delay_ms
    for i in cluster.ids:
        if cluster.clock_rate(i) != 1.0:
            cluster.clock_drift(i, 1.0)  # clocks keep real time again
    for i in cluster.ids:
        if i not in cluster.alive:
            restart(i)


class Nemesis(Plays, Churn):
    """Injects faults into ``cluster``: timed episodes plus aimed reactions.

    The driver calls ``act()`` whenever simulated time reaches ``next_time()``, and
    ``watch(cluster)`` after every event: it returns ``True`` when a reaction is due now.
    """

    def __init__(self, cluster, rng: random.Random, kinds: frozenset[str]):
        self.cluster = cluster
        self.rng = rng
        self.kinds = kinds
        self.faults: list[Fault] = []
        self.n = len(cluster.ids)
        self.max_down = (self.n - 1) // 2  # a majority stays up, except in a majority crash
        self._timers: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._seq = 0
        self._next_episode = rng.uniform(100, 400)  # a leader is usually elected by then
        self._topology_until = 0.0  # one network shape at a time
        self._play_until = 0.0  # a multi-act play (Figure 8) runs alone until then
        self._rates_until = {"drop": 0.0, "duplicate": 0.0, "delay": 0.0, "drift": 0.0}
        self._restarting: set[int] = set()  # crashed, with a restart already scheduled
        self._armed: dict[str, _Aim] = {}  # what to react to, and how
        self._trace_pos = 0
        self._due: list[tuple[Callable[..., None], tuple]] = []  # reactions to run now
        self._first_commit_seen: set[tuple[int, int]] = set()
        self._in_window: set[int] = set()  # armed with a crash window (plays: window)
        self._delay = cluster.config.delay_ms
        self.stopped = False
        choices = [
            k
            for k in ("crash", "partition", "isolate", "drop", "duplicate", "delay", "drift")
            if k in kinds
        ]
        weights = {
            "crash": 3,
            "partition": 2,
            "isolate": 1.5,
            "drop": 1,
            "duplicate": 1,
            "delay": 1,
            "drift": 1,
        }
        if "crash" in kinds:
            choices.append("aim")
            weights["aim"] = 2
            if {"restart", "partition"} <= kinds:
                choices += ["figure8", "split"]
                # Figure 8 bites when entries of an earlier term commit one small batch
                # at a time, so play it mostly where batches are small.
                weights["figure8"] = 1.5 if cluster.config.max_batch <= 3 else 0.5
                weights["split"] = 1
        if "membership" in kinds:
            # Servers removed and added back (raftlab.chaos.churn), on a clock and a
            # generator of their own, so the other faults are drawn as they always were.
            self._start_churn(random.Random(f"raftlab.chaos.churn:{cluster.seed}"))
        if "isolate" in kinds:
            # Aimed at the reads of raftlab.reads: the leader cut off just after a client
            # read starts, and (with leases) drift at the edge of the bound.
            choices.append("read_cut")
            weights["read_cut"] = 1
            if "drift" in kinds and cluster.config.lease_ms:
                choices.append("lease_edge")
                weights["lease_edge"] = 2
        self._episodes = choices
        self._weights = [weights[k] for k in choices]

    # ----------------------------------------------------------------- driving

    def next_time(self) -> float:
        """When the nemesis next wants to act (if no reaction comes first)."""
        if self.stopped or not self._episodes:
            return self._timers[0][0] if self._timers else float("inf")
        t = self._next_episode
        if self._timers and self._timers[0][0] < t:
            t = self._timers[0][0]
        return t

    def act(self) -> None:
        """Run every reaction and timed action that is due, then start an episode if due."""
        now = self.cluster.now
        if self._due:  # reactions are rare: most calls find none
            due, self._due = self._due, []
            for fn, args in due:
                fn(*args)
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, fn, args = heapq.heappop(timers)
            fn(*args)
        if not self.stopped and now >= self._next_episode and self._episodes:
            if now < self._play_until:
                self._next_episode = self._play_until  # a play is running: let it
                return
            kind = self.rng.choices(self._episodes, self._weights)[0]
            getattr(self, f"_episode_{kind}")(now)
            self._next_episode = now + self.rng.uniform(150, 600)

    def watch(self, cluster) -> bool:
        """Scan new trace lines for what armed aims react to; ``True`` if one is due now."""
        trace = cluster.trace
        end = len(trace)
        if end == self._trace_pos:
            return bool(self._due)
        start, self._trace_pos = self._trace_pos, end
        if self._in_window:
            self._watch_windows()
        armed = self._armed
        if not armed:
            return bool(self._due)
        now = cluster.now
        for ev in trace[start:end]:
            kind = ev.kind
            if kind == "leader":
                if "win" in armed:
                    self._react("win", now, ev.node, ev.detail)
            elif kind == "commit":
                if "first_commit" in armed:
                    node = cluster.nodes[ev.node]
                    if node.role is Role.LEADER:
                        key = (ev.node, node.current_term)
                        if key not in self._first_commit_seen:
                            self._first_commit_seen.add(key)
                            self._react("first_commit", now, ev.node, ev.detail)
            elif kind == "vote":
                if "vote" in armed:
                    self._react("vote", now, ev.node, ev.detail)
            elif kind == "candidate" and "candidate" in armed:
                self._react("candidate", now, ev.node, ev.detail)
            elif (kind == "read_index" or kind == "read") and "read" in armed:
                self._react("read", now, ev.node, ev.detail)
            if kind in ("candidate", "leader") and "window" in armed:
                self._react("window", now, ev.node, f"S{ev.node} {kind} {ev.detail}")
        return bool(self._due)

    def _arm(
        self, aim: str, until: float, p: float, fn: Callable[..., None], once: bool = False
    ) -> None:
        """React to ``aim`` with ``fn(node, detail)``, with probability ``p``, until ``until``."""
        self._armed[aim] = _Aim(until, p, fn, once)

    def _react(self, aim: str, now: float, node: int, detail: str) -> None:
        a = self._armed[aim]
        if now > a.until:
            del self._armed[aim]
        elif self.rng.random() < a.p:
            if a.once:
                del self._armed[aim]
            self._due.append((a.fn, (node, detail)))

    def stop(self) -> None:
        """End the chaos: no new episode or reaction; undo every fault (the healing)."""
        self.stopped = True
        self._armed.clear()
        self._due.clear()
        self._timers.clear()
        c = self.cluster
        for i in sorted(self._in_window):
            if i in c.alive:
                c.crash_window(i, None)
        self._in_window.clear()
        heal_everything(c, self._delay, self._restart)

    # ----------------------------------------------------------------- helpers

    def _at(self, t: float, fn: Callable[..., None], *args) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (t, self._seq, fn, args))

    def _log(self, kind: str, detail: str) -> None:
        self.faults.append(Fault(self.cluster.now, kind, detail))

    def _down(self) -> int:
        return self.n - len(self.cluster.alive)

    def _crash(self, i: int, why: str, downtime: tuple[float, float]) -> None:
        c = self.cluster
        if i not in c.alive:
            return
        c.crash(i)
        self._log("crash", f"S{i} {why}".rstrip())
        if "restart" in self.kinds:
            self._restarting.add(i)
            self._at(c.now + self.rng.uniform(*downtime), self._restart, i)

    def _restart(self, i: int) -> None:
        c = self.cluster
        self._restarting.discard(i)
        if i in c.alive:
            return
        c.restart(i)
        self._log("restart", f"S{i}")

    def _end_topology(self, until: float) -> None:
        """Heal the shape that was to last ``until`` (a stale timer of an earlier one: no-op)."""
        if until != self._topology_until:
            return
        if self.cluster.network.cut_links:
            self.cluster.heal()
        self._topology_until = 0.0

    # ---------------------------------------------------------------- episodes

    def _episode_crash(self, now: float) -> None:
        c, rng = self.cluster, self.rng
        alive = sorted(c.alive)
        if rng.random() < 0.06 and self._down() == 0:
            # Occasionally a majority goes down at once: nothing can commit until enough
            # of them are back.
            victims = rng.sample(alive, self.n // 2 + 1)
            for i in sorted(victims):
                self._crash(i, "(majority crash)", (100, 700))
            return
        if self._down() >= self.max_down:
            # Enough are down; bring one back early instead (if restarts are allowed).
            down = sorted(set(c.ids) - c.alive)
            if down and "restart" in self.kinds:
                self._restart(rng.choice(down))
            return
        leader = c.leader()
        if leader is not None and rng.random() < 0.5:
            self._crash(leader, f"(leader of term {c.nodes[leader].current_term})", (50, 1200))
        else:
            followers = [i for i in alive if i != leader]
            if followers:
                self._crash(rng.choice(followers), "(follower)", (50, 1500))

    def _episode_partition(self, now: float) -> None:
        c, rng = self.cluster, self.rng
        if now < self._topology_until or self.n < 3:
            return
        ids = list(c.ids)
        rng.shuffle(ids)
        shape = rng.choice(("split", "split", "bridge", "ring") if self.n >= 4 else ("split",))
        if shape == "split":
            k = rng.randint(1, (self.n - 1) // 2)
            minority, majority = sorted(ids[:k]), sorted(ids[k:])
            c.partition(minority, majority)
            detail = f"split {names(minority)} | {names(majority)}"
        elif shape == "bridge":
            bridge, rest = ids[0], ids[1:]
            half = len(rest) // 2
            a, b = sorted(rest[:half]), sorted(rest[half:])
            for x in a:
                for y in b:
                    c.cut(x, y)
            detail = f"bridge S{bridge} between {names(a)} and {names(b)}"
        else:
            # A ring: everyone hears only its two neighbours in a random cyclic order.
            pos = {node: k for k, node in enumerate(ids)}
            for x in sorted(ids):
                for y in sorted(ids):
                    d = abs(pos[x] - pos[y])
                    if x < y and d not in (1, self.n - 1):
                        c.cut(x, y)
            detail = "ring " + "-".join(f"S{i}" for i in ids)
        self._log("partition", detail)
        self._topology_until = now + rng.uniform(200, 2000)
        self._at(self._topology_until, self._end_topology, self._topology_until)

    def _episode_isolate(self, now: float) -> None:
        c, rng = self.cluster, self.rng
        if now < self._topology_until:
            return
        leader = c.leader()
        i = leader if leader is not None and rng.random() < 0.5 else rng.choice(c.ids)
        self._isolate(i, "(leader)" if i == leader else "", (100, 1500))

    def _isolate(self, i: int, why: str, span: tuple[float, float]) -> None:
        c = self.cluster
        c.isolate(i)
        self._log("isolate", f"S{i} {why}".rstrip())
        self._topology_until = c.now + self.rng.uniform(*span)
        self._at(self._topology_until, self._end_topology, self._topology_until)

    def _rate_episode(
        self,
        kind: str,
        now: float,
        apply: Callable[[], str],
        undo: Callable[[], None],
        span: tuple[float, float],
    ) -> None:
        if now < self._rates_until[kind]:
            return
        self._log(kind, apply())
        self._rates_until[kind] = until = now + self.rng.uniform(*span)
        self._at(until, undo)

    def _episode_drop(self, now: float) -> None:
        net = self.cluster.network

        def apply() -> str:
            net.drop_rate = round(self.rng.uniform(0.05, 0.35), 3)
            return f"lose {net.drop_rate:.0%} of messages"

        self._rate_episode("drop", now, apply, lambda: setattr(net, "drop_rate", 0.0), (200, 1500))

    def _episode_duplicate(self, now: float) -> None:
        net = self.cluster.network

        def apply() -> str:
            net.duplicate_rate = round(self.rng.uniform(0.05, 0.5), 3)
            return f"duplicate {net.duplicate_rate:.0%} of messages"

        self._rate_episode(
            "duplicate", now, apply, lambda: setattr(net, "duplicate_rate", 0.0), (200, 1500)
        )

    def _episode_delay(self, now: float) -> None:
        net = self.cluster.network
        default = self._delay

        def apply() -> str:
            hi = round(self.rng.uniform(25, 110), 1)
            net.delay_ms = (default[0], hi)
            return f"delay spike: {default[0]:g}-{hi:g} ms one way"

        self._rate_episode(
            "delay", now, apply, lambda: setattr(net, "delay_ms", default), (100, 1000)
        )

    def _episode_drift(self, now: float) -> None:
        """One clock runs fast or slow for a while, within ``Config.max_drift``."""
        c, rng = self.cluster, self.rng
        bound = c.config.max_drift
        i = rng.choice(c.ids)

        def apply() -> str:
            # Often right at the edge of the bound: that is where a lease is tested.
            rate = round(1 + rng.choice((-1, 1)) * bound * rng.choice((1.0, 1.0, rng.random())), 4)
            c.clock_drift(i, rate)
            return f"S{i}'s clock runs x{rate:g}"

        def undo() -> None:
            if c.clock_rate(i) != 1.0:
                c.clock_drift(i, 1.0)

        self._rate_episode("drift", now, apply, undo, (300, 2000))


@dataclass(frozen=True, slots=True)
class _Aim:
    until: float
    p: float
    fn: Callable[..., None]
    once: bool
