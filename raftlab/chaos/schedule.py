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

*Aimed* episodes arm reactions to what the trace says, because random faults almost
never land in the narrow windows where classic Raft mistakes bite:

- ``win``: a leader is crashed (or cut off) the instant it is elected, before its no-op
  (§8) leaves; its log now ends in an entry of a term nobody else has.
- ``first_commit``: a leader is crashed right after its first commit of its term, before
  followers hear of it.  Together with ``win`` this is the paper's Figure 8 (§5.4.2).
- ``vote``: a server that just granted a vote is crashed as soon as its reply has
  arrived and restarted within milliseconds.  A server that forgets its vote across a
  restart can then vote again in the same term (§5.2).

Some seeds also draw narrow election timeouts (competing candidates in one term) and
small AppendEntries batches (entries of different terms committed one at a time).

Nothing here reads a clock or the global ``random``: the nemesis has its own
``random.Random`` seeded from the run's seed, so a seed replays exactly.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

from raftlab.config import Config
from raftlab.messages import RequestVoteReply
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
)

AIMS = ("win", "first_commit", "vote")


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
    return Config(election_timeout_ms=timeout, max_batch=batch)


class Nemesis:
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
        self._rates_until = {"drop": 0.0, "duplicate": 0.0, "delay": 0.0}
        self._restarting: set[int] = set()  # crashed, with a restart already scheduled
        self._armed: dict[str, _Aim] = {}  # what to react to, and how
        self._trace_pos = 0
        self._due: list[tuple[Callable[..., None], tuple]] = []  # reactions to run now
        self._first_commit_seen: set[tuple[int, int]] = set()
        self._delay = cluster.config.delay_ms
        self.stopped = False
        choices = [
            k for k in ("crash", "partition", "isolate", "drop", "duplicate", "delay") if k in kinds
        ]
        weights = {
            "crash": 3,
            "partition": 2,
            "isolate": 1.5,
            "drop": 1,
            "duplicate": 1,
            "delay": 1,
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
        c.heal()
        net = c.network
        if net.drop_rate:
            net.drop_rate = 0.0
        if net.duplicate_rate:
            net.duplicate_rate = 0.0
        if net.delay_ms != self._delay:
            net.delay_ms = self._delay
        for i in c.ids:
            if i not in c.alive:
                self._restart(i)

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
            detail = f"split {_names(minority)} | {_names(majority)}"
        elif shape == "bridge":
            bridge, rest = ids[0], ids[1:]
            half = len(rest) // 2
            a, b = sorted(rest[:half]), sorted(rest[half:])
            for x in a:
                for y in b:
                    c.cut(x, y)
            detail = f"bridge S{bridge} between {_names(a)} and {_names(b)}"
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

    def _episode_aim(self, now: float) -> None:
        """Arm some of the single reactions for a while (see the module docstring)."""
        rng = self.rng
        aims = [a for a in AIMS if a != "vote" or "restart" in self.kinds]
        chosen = rng.sample(aims, rng.randint(1, len(aims)))
        until = now + rng.uniform(400, 2000)
        fns = {
            "win": self._crash_new_leader,
            "first_commit": self._crash_committer,
            "vote": self._bounce_voter,
        }
        for aim in sorted(chosen):
            self._arm(aim, until, rng.uniform(0.4, 1.0), fns[aim])

    def _episode_figure8(self, now: float) -> None:
        """The paper's Figure 8 (§5.4.2), as a play in four acts.

        1. Cut the leader off with one follower: it keeps taking client writes that only
           the two of them store.
        2. The majority elects a new leader; crash it the instant it wins, so its log ends
           in its no-op, an entry of a term no one else has.
        3. Heal.  The old leader's side wins again (its log is the longest); crash that
           leader right after its first commit, which a leader that counts replicas of an
           earlier term's entry makes too early.
        4. Restart the node crashed in act 2 and cut off the other node of act 1's pair.
           The restarted node's last term is now the highest among the three that can
           still talk, so it wins, and it lacks whatever act 3 committed from the earlier
           term.  Other episodes wait while the play runs.
        """
        c, rng = self.cluster, self.rng
        leader = c.leader()
        if leader is None or now < self._topology_until or self._down() > 0:
            return
        partner = rng.choice([i for i in sorted(c.alive) if i != leader])
        pair = sorted((leader, partner))
        rest = [i for i in c.ids if i not in pair]
        c.partition(pair, rest)
        self._log("partition", f"split {_names(pair)} | {_names(rest)} (Figure 8, act 1)")
        self._topology_until = self._play_until = until = now + 3000
        self._at(until, self._end_topology, until)
        self._arm("win", until, 1.0, lambda i, d: self._f8_win(i, d, pair), once=True)

    def _f8_win(self, i: int, detail: str, pair: list[int]) -> None:
        c = self.cluster
        if i not in c.alive or c.nodes[i].role is not Role.LEADER or i in pair:
            return
        c.crash(i)
        self._log("crash", f"S{i} (just elected, {detail}; Figure 8, act 2)")
        self._restarting.add(i)
        heal_at = c.now + self.rng.uniform(50, 600)
        self._topology_until = heal_at
        self._at(heal_at, self._end_topology, heal_at)
        self._play_until = heal_at + 2000
        self._at(self._play_until, self._restart, i)  # act 4 comes sooner if act 3 does
        self._arm(
            "first_commit",
            self._play_until,
            1.0,
            lambda j, d: self._f8_commit(j, d, i, pair),
            once=True,
        )

    def _f8_commit(self, i: int, detail: str, victim: int, pair: list[int]) -> None:
        c = self.cluster
        if i not in c.alive or i not in pair or victim in c.alive:
            return
        c.crash(i)
        self._log(
            "crash", f"S{i} (leader, right after its first commit, {detail}; Figure 8, act 3)"
        )
        self._restarting.add(i)
        self._at(c.now + self.rng.uniform(300, 800), self._restart, i)
        other = pair[0] if pair[1] == i else pair[1]
        if other in c.alive and c.now >= self._topology_until and "isolate" in self.kinds:
            self._isolate(other, "(Figure 8, act 4)", (300, 800))
        self._restart(victim)
        self._play_until = c.now + 800

    def _episode_split(self, now: float) -> None:
        """A voter that restarts right after voting, and a second candidate (§5.2).

        1. Crash the leader; the followers' election timers run out one by one.
        2. When a follower whose log would win stands for election, cut its link to the
           follower whose timer runs out last, which so never hears of the new term.
        3. Every voter is crashed as soon as its vote has arrived and restarted within
           milliseconds; the winner is cut off the instant it wins, before its first
           AppendEntries tells anyone of its term's entries.
        4. The last follower's timer runs out: it stands in the same term and asks the
           restarted voters.  A server that remembers its vote refuses; one that forgot
           it (``forget_vote``) votes again, and the term gets a second leader.
        """
        c, rng = self.cluster, self.rng
        leader = c.leader()
        if leader is None or self._down() >= self.max_down or now < self._topology_until:
            return
        self._crash(
            leader, f"(leader of term {c.nodes[leader].current_term}, split vote)", (300, 1200)
        )
        until = now + rng.uniform(500, 1000)
        self._play_until = until
        self._arm("candidate", until, 1.0, self._split_cut)

    def _split_cut(self, i: int, detail: str) -> None:
        c = self.cluster
        if i not in c.alive or c.now < self._topology_until:
            return
        others = [j for j in sorted(c.alive) if j != i]
        mine = (c.nodes[i].log.last_term, c.nodes[i].log.last_index)
        if not others or any(
            (c.nodes[j].log.last_term, c.nodes[j].log.last_index) > mine for j in others
        ):
            return  # this candidate cannot win; wait for one that can
        self._armed.pop("candidate", None)
        # The second candidate: a log the restarted voters will accept, and the timer
        # that runs out last, so that the voters are back before it asks them.
        best = max((c.nodes[j].log.last_term, c.nodes[j].log.last_index) for j in others)
        able = [j for j in others if (c.nodes[j].log.last_term, c.nodes[j].log.last_index) == best]
        last = max(able, key=lambda j: (c.nodes[j].election_deadline, j))
        c.cut(i, last)  # also loses the vote request already on its way
        self._log("partition", f"cut S{i}-S{last} (S{i} just stood for election, {detail})")
        self._topology_until = until = c.now + self.rng.uniform(300, 700)
        self._at(until, self._end_topology, until)
        self._arm("vote", until, 1.0, self._bounce_voter)
        if "isolate" in self.kinds:
            self._arm("win", until, 1.0, self._split_win, once=True)

    def _split_win(self, i: int, detail: str) -> None:
        c = self.cluster
        if i not in c.alive:
            return
        for j in c.ids:
            if j != i:
                c.cut(i, j)
        self._log("isolate", f"S{i} (just elected, {detail}; split vote)")

    # --------------------------------------------------------------- reactions

    def _crash_new_leader(self, i: int, detail: str) -> None:
        c = self.cluster
        if i not in c.alive or c.nodes[i].role is not Role.LEADER:
            return
        if "isolate" in self.kinds and c.now >= self._topology_until and self.rng.random() < 0.3:
            self._isolate(i, f"(just elected, {detail})", (50, 600))
        elif self._down() < self.max_down:
            self._crash(i, f"(just elected, {detail})", (20, 600))

    def _crash_committer(self, i: int, detail: str) -> None:
        c = self.cluster
        if i in c.alive and self._down() < self.max_down:
            self._crash(i, f"(leader, right after its first commit, {detail})", (20, 600))

    def _bounce_voter(self, i: int, detail: str) -> None:
        """Crash a voter once its granted vote has arrived; restart it at once."""
        c = self.cluster
        if i not in c.alive or i in self._restarting or self._down() >= self.max_down:
            return
        when = c.now
        for env in c.network.in_flight:
            m = env.msg
            if m.src == i and isinstance(m, RequestVoteReply) and m.vote_granted:
                when = max(when, env.deliver_at)
        self._restarting.add(i)
        self._at(when, self._bounce, i, detail)

    def _bounce(self, i: int, detail: str) -> None:
        c = self.cluster
        if i not in c.alive:
            self._restarting.discard(i)
            return
        c.crash(i)
        self._log("crash", f"S{i} (right after its vote, {detail})")
        self._at(c.now + self.rng.uniform(0.05, 3), self._restart, i)


@dataclass(frozen=True, slots=True)
class _Aim:
    until: float
    p: float
    fn: Callable[..., None]
    once: bool


def _names(ids: list[int]) -> str:
    return " ".join(f"S{i}" for i in ids)
