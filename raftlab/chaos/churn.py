"""Membership churn: the nemesis removes servers and adds them back (thesis §4.1).

A ``churn`` episode asks the leader for one change: with every original server a voter it
removes a follower; with one outside the configuration it adds that one back (it rejoins
as a learner and the leader promotes it once caught up).  (A leader that removes itself
is left to the tests: the labs grade learners' ``leader_commit`` rules on these runs, and
a rule that counts the leader's own copy is right only while the leader is a voter.)  A
removed server keeps running and keeps its log, as a real one would until an operator
stops it.

Two plays aim at the rules that keep two majorities from disagreeing:

- ``double change`` (five voters): the leader removes one server and, at once, is asked
  to remove a second; then the network splits the leader and one follower from the other
  three.  With the rule "one change at a time" the second removal is refused, and the
  leader's side (two of the four voters it now counts) commits nothing.  A leader that
  accepts it counts two of three and commits, while the other three, a majority of the
  old five, elect a leader of their own (the ``concurrent_config_change`` bug).
- ``change before no-op`` (four voters, the raft-dev 2015 bug): the leader is cut off
  and appends a removal nobody receives; the instant another server wins the next
  election it is asked for a different removal, and the network splits so that each
  change has a majority of its own configuration.  With the rule "a new leader commits
  its no-op first" the second change is refused and nothing is lost; a leader that
  changes at once commits with a majority the old leader's configuration does not
  overlap (the ``config_before_noop`` bug).

Churn has its own clock and its own generator (seeded from the run's seed): the first
change comes 2 to 4 s into the run and the next ones every 0.5 to 1.2 s (a removed
server is added back 0.2 to 0.6 s after its removal, if it can be), so the other
faults are drawn exactly as without churn, and a run is the same as without it until the
first change.  A play runs alone, as the other plays do.  ``Churn`` is a mixin of
:class:`raftlab.chaos.schedule.Nemesis`, whose helpers (``_log``, ``_arm``, ``_at``) it uses.
"""

from __future__ import annotations

from raftlab.errors import RaftLabError
from raftlab.roles import Role


class Churn:
    """The membership episodes of the nemesis (see the module docstring)."""

    def _start_churn(self, rng) -> None:
        self.churn_rng = rng
        self._at(rng.uniform(2000, 4000), self._churn_tick)

    def _churn_tick(self) -> None:
        now = self.cluster.now
        if self.stopped:
            return
        if now >= self._play_until:
            self._episode_churn(now)
        self._at(now + self.churn_rng.uniform(500, 1200), self._churn_tick)

    def _change(self, what: str, i: int, why: str = "") -> bool:
        """Ask for one membership change; ``False`` if it was refused or impossible."""
        c = self.cluster
        try:
            if what == "add":
                c.add_server(i)
            else:
                c.remove_server(i)
        except (RaftLabError, ValueError):
            return False
        self._log("membership", f"{what} S{i}{why}")
        return True

    def _episode_churn(self, now: float) -> None:
        c, rng = self.cluster, self.churn_rng
        leader = c.leader()
        if leader is None or now < self._topology_until:
            return
        conf = c.nodes[leader].configuration
        outside = [i for i in c.ids if i not in conf]
        ready = all(i in c.alive for i in conf.voters) and "partition" in self.kinds
        if outside:
            if len(conf.voters) % 2 == 0 and ready and rng.random() < 0.6:
                self._play_change_before_noop(now, leader)
            else:
                self._change("add", rng.choice(outside))
            return
        if conf.learners:
            return  # a server is still catching up: let it be promoted first
        if ready and rng.random() < 0.35 and len(conf.voters) >= 5:
            self._play_double_change(now, leader)
            return
        if self._change("remove", rng.choice(sorted(conf.voters - {leader}))):
            # Add it back soon: a cluster one server short tolerates one crash fewer, and
            # the other plays are staged for all five.
            self._at(now + rng.uniform(200, 600), self._churn_tick)

    # ------------------------------------------------------------------- plays

    def _play_double_change(self, now: float, leader: int) -> None:
        c, rng = self.cluster, self.churn_rng
        others = sorted(i for i in c.nodes[leader].configuration.voters if i != leader)
        first, second = rng.sample(others, 2)
        if not self._change("remove", first, " (double change, 1)"):
            return
        self._change("remove", second, " (double change, 2: one change at a time refuses it)")
        partner = rng.choice([i for i in others if i not in (first, second)])
        side = sorted((leader, partner))
        rest = [i for i in c.ids if i not in side]
        c.partition(side, rest)
        self._log("partition", f"split {_names(side)} | {_names(rest)} (double change)")
        self._topology_until = self._play_until = until = now + rng.uniform(400, 1500)
        self._at(until, self._end_topology, until)

    def _play_change_before_noop(self, now: float, leader: int) -> None:
        c, rng = self.cluster, self.churn_rng
        conf = c.nodes[leader].configuration
        others = sorted(i for i in conf.voters if i != leader)
        removed = rng.choice(others)
        rest = [i for i in c.ids if i != leader]
        c.partition([leader], rest)
        self._log("partition", f"split S{leader} | {_names(rest)} (change before no-op, act 1)")
        if not self._change("remove", removed, " (on the cut-off leader alone)"):
            c.heal()
            return
        self._topology_until = self._play_until = until = now + 2500
        self._at(until, self._end_topology, until)
        self._arm(
            "win",
            until,
            1.0,
            lambda i, d: self._noop_win(i, d, leader, removed, others),
            once=True,
        )

    def _noop_win(self, i: int, detail: str, old: int, removed: int, others: list[int]) -> None:
        """Act 2: a new leader ``i`` is asked at once to remove ``z``, and the network splits
        ``i`` and ``w`` from ``old`` and ``z`` (see the module docstring)."""
        c, rng = self.cluster, self.churn_rng
        if i == old or i not in others or c.nodes[i].role is not Role.LEADER:
            return
        z = rng.choice([j for j in others if j not in (removed, i)])
        w = next(j for j in others if j not in (i, z))
        side = sorted((i, w))
        rest = [j for j in c.ids if j not in side]
        c.partition(side, rest)
        # The elected server comes first in the words: a shrunk replay waits for it to win
        # (raftlab.chaos.script.aim).
        self._log(
            "partition",
            f"S{i} just elected ({detail}): split {_names(side)} | {_names(rest)} "
            "(change before no-op)",
        )
        self._change("remove", z, " (before the new leader's no-op commits: the rule refuses)")
        self._topology_until = until = c.now + rng.uniform(500, 1500)
        self._at(until, self._end_topology, until)
        self._play_until = until


def _names(ids: list[int]) -> str:
    return " ".join(f"S{i}" for i in ids)
