"""Aimed faults: reactions and multi-act plays that hit the moments where Raft bugs bite.

Random faults almost never land in the narrow windows where classic Raft mistakes
matter, so the nemesis (:mod:`raftlab.chaos.schedule`) also watches the trace and reacts.

Single reactions, armed for a while by an ``aim`` episode:

- ``win``: a leader is crashed (or cut off) the instant it is elected, before its no-op
  (§8) leaves; its log now ends in an entry of a term nobody else has.
- ``first_commit``: a leader is crashed right after its first commit of its term, before
  followers hear of it.
- ``vote``: a server that just granted a vote is crashed as soon as its reply has
  arrived and restarted within milliseconds.
- ``window``: when a candidate asks for votes or a new leader sends its first entries,
  one of the servers about to answer is crashed *inside* its next output: after it persisted and
  before it sent, or after it sent and before it applied (``Cluster.crash_window``), and
  restarted within milliseconds.  The order persist, send, apply is what keeps a vote or
  an acknowledgement from being forgotten there.

Plays, which chain reactions into the classic scenarios:

- ``figure8``: the paper's Figure 8 (§5.4.2), which a leader that commits an earlier
  term's entry by counting replicas gets wrong.
- ``split``: two candidates in one term and voters that restart in between (§5.2), which
  a server that does not persist its vote gets wrong.
- ``read_cut``: the leader is cut off from everyone just after a client read reaches it
  (thesis §6.4), which a leader that serves ReadIndex reads without a heartbeat round
  gets wrong.
- ``lease_edge``: the leader's clock runs as slow as ``Config.max_drift`` allows and every
  other clock as fast, then the leader is cut off just after a read: a lease that does
  not allow for drift outlives the followers' patience (thesis §6.4.1).

A play runs alone: no other episode starts until it is over.  ``Plays`` is a mixin of
:class:`raftlab.chaos.schedule.Nemesis`, whose helpers (``_crash``, ``_arm``, ``_at``...) it
uses.
"""

from __future__ import annotations

from raftlab.cluster import WINDOWS
from raftlab.messages import RequestVoteReply
from raftlab.roles import Role

#: The single reactions an ``aim`` episode can arm.
AIMS = ("win", "first_commit", "vote", "window")


class Plays:
    """The aimed episodes and reactions of the nemesis (see the module docstring)."""

    def _episode_aim(self, now: float) -> None:
        """Arm some of the single reactions for a while (see the module docstring)."""
        rng = self.rng
        aims = [a for a in AIMS if a not in ("vote", "window") or "restart" in self.kinds]
        chosen = rng.sample(aims, rng.randint(1, len(aims)))
        until = now + rng.uniform(400, 2000)
        fns = {
            "win": self._crash_new_leader,
            "first_commit": self._crash_committer,
            "vote": self._bounce_voter,
            "window": self._crash_in_window,
        }
        for aim in sorted(chosen):
            self._arm(aim, until, rng.uniform(0.4, 1.0), fns[aim])

    def _episode_read_cut(self, now: float) -> None:
        """Arm: cut the leader off just after a client read reaches it (``read_cut``)."""
        if now < self._topology_until:
            return
        self._arm("read", now + self.rng.uniform(200, 1000), 1.0, self._cut_reader, once=True)

    def _cut_reader(self, i: int, detail: str) -> None:
        c = self.cluster
        if i not in c.alive or c.nodes[i].role is not Role.LEADER:
            return
        if c.now < self._topology_until:
            return
        self._isolate(i, f"(leader, just after a read: {detail})", (200, 1500))

    def _episode_lease_edge(self, now: float) -> None:
        """Clocks at the edge of the drift bound, then the leader cut off after a read."""
        c, rng = self.cluster, self.rng
        leader = c.leader()
        if leader is None or now < self._topology_until or now < self._rates_until["drift"]:
            return
        bound = c.config.max_drift
        slow, fast = round(1 - bound, 4), round(1 + bound, 4)
        for i in c.ids:
            c.clock_drift(i, slow if i == leader else fast)
        self._log("drift", f"S{leader}'s clock runs x{slow:g}, every other x{fast:g}")
        self._rates_until["drift"] = until = now + rng.uniform(1000, 2500)
        self._at(until, self._clocks_back)
        self._play_until = now + 600
        self._arm("read", until, 1.0, self._cut_reader, once=True)

    def _clocks_back(self) -> None:
        c = self.cluster
        for i in c.ids:
            if c.clock_rate(i) != 1.0:
                c.clock_drift(i, 1.0)

    def _crash_in_window(self, node: int, detail: str) -> None:
        """Arm a crash window on a server about to answer ``node`` (see ``window`` above)."""
        c, rng = self.cluster, self.rng
        targets = [i for i in sorted(c.alive) if i != node and i not in self._in_window]
        if not targets or self._down() + len(self._in_window) >= self.max_down:
            return
        i = rng.choice(targets)
        window = rng.choice(("after_persist", "after_send"))
        c.crash_window(i, window)
        self._in_window.add(i)
        self._log("crash", f"S{i} at its next answer, {WINDOWS[window]} ({detail})")

    def _watch_windows(self) -> None:
        """A server armed with a crash window went down: restart it within milliseconds."""
        c = self.cluster
        for i in sorted(self._in_window):
            if i not in c.alive:
                self._in_window.discard(i)
                self._restarting.add(i)
                self._at(c.now + self.rng.uniform(2, 60), self._restart, i)

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
        self._log("partition", f"split {names(pair)} | {names(rest)} (Figure 8, act 1)")
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
            if m.src == i and isinstance(m, RequestVoteReply) and m.vote_granted and not m.pre_vote:
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


def names(ids: list[int]) -> str:
    return " ".join(f"S{i}" for i in ids)
