"""Cluster membership, one server at a time (Ongaro's thesis §4.1, §4.2).

Theory of operation
-------------------
A cluster's *configuration* is the set of servers whose votes count (the **voters**),
plus servers that receive the log but do not count yet (the **learners**, the thesis's
non-voting members of §4.2.1).  It is not kept on the side: a change is an ordinary log
entry whose command is a :class:`Configuration`, and

1. a server uses the latest configuration in its log **as soon as it is appended**,
   committed or not, and goes back to the one before if that entry is deleted by a
   conflict (§4.1);
2. a leader appends a new configuration only when the previous one is committed (at most
   one change in flight), and only after it has committed an entry of its own term, its
   no-op (§8).  The second rule is the fix Ongaro posted to raft-dev in 2015: without it,
   two leaders of different terms can each append a change to the same old configuration
   and commit with two majorities that do not overlap;
3. each change adds or removes **one** voter.

Why one voter at a time is safe: a majority of ``C`` and a majority of ``C`` plus or minus
one server always share a server (with ``C`` of 4, majorities are 3 of 4 and 3 of 5, or 3
of 4 and 2 of 3; 3 + 3 > 5 and 3 + 2 > 4).  So while servers disagree on which of the two
configurations is current, no two of them can be elected in the same term and no two
majorities can commit different entries at the same index: "a majority" always means a
majority of the voters of the configuration the deciding server holds, and the two
possible answers overlap.  Two changes in flight break this: ``C`` of 5 and ``C`` minus two
servers (majorities 3 of 5 and 2 of 3) can be disjoint.

New servers join as learners: the leader sends them the log, their acknowledgements do
not count, and once **caught up** (when an acknowledgement arrives, their log is within
one batch, ``Config.max_batch`` entries, of the leader's, so the next round trip brings
them level, or holds every committed entry, as the majority that commits does) the leader
promotes them to voters with a second change.  A server that
joins empty as a voter at once could make the cluster unavailable for as long as it takes
to catch up (§4.2.1).

A leader that removes itself keeps leading (without counting itself) until the change
is committed, then steps down (§4.2.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from raftlab.errors import ConfigurationChangeRefused, NotLeader
from raftlab.log import Entry
from raftlab.progress import Progress
from raftlab.roles import Role


def _ids(name: str, values: Iterable[int]) -> frozenset[int]:
    out = frozenset(values)
    for i in out:
        if isinstance(i, bool) or not isinstance(i, int) or i < 1:
            raise ValueError(
                f"Configuration.{name} holds server ids (whole numbers >= 1), got {i!r}"
            )
    return out


@dataclass(frozen=True, slots=True)
class Configuration:
    """Who is in the cluster: ``voters`` count in elections and commitment, ``learners``
    only receive the log (thesis §4.1, §4.2.1).  The command of a configuration entry."""

    voters: frozenset[int]
    learners: frozenset[int] = frozenset()
    # Where real servers reach each other: (id, Raft address) pairs, sorted, so that every
    # server learns a new member's address from the log (raftlab.server).  The simulator
    # leaves it empty.
    addresses: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        voters = _ids("voters", self.voters)
        learners = _ids("learners", self.learners)
        both = voters & learners
        if both:
            raise ValueError(
                f"S{min(both)} cannot be both a voter and a learner in one configuration"
            )
        object.__setattr__(self, "voters", voters)
        object.__setattr__(self, "learners", learners)
        addresses = tuple(sorted((int(i), str(a)) for i, a in dict(self.addresses).items()))
        object.__setattr__(self, "addresses", addresses)

    def address_of(self, i: int) -> str | None:
        """Server ``i``'s Raft address, if the configuration carries one."""
        return dict(self.addresses).get(i)

    @property
    def members(self) -> frozenset[int]:
        """Every server in the configuration, voter or learner."""
        return self.voters | self.learners

    @property
    def majority(self) -> int:
        """How many voters an election or a commit needs (§5.2, §4.1)."""
        return len(self.voters) // 2 + 1

    def with_learner(self, i: int, address: str | None = None) -> Configuration:
        addresses = dict(self.addresses)
        if address is not None:
            addresses[i] = address
        return Configuration(self.voters, self.learners | {i}, tuple(addresses.items()))

    def promoted(self, i: int) -> Configuration:
        return Configuration(self.voters | {i}, self.learners - {i}, self.addresses)

    def without(self, i: int) -> Configuration:
        addresses = tuple((j, a) for j, a in self.addresses if j != i)
        return Configuration(self.voters - {i}, self.learners - {i}, addresses)

    def __contains__(self, i: object) -> bool:
        return i in self.voters or i in self.learners

    def __str__(self) -> str:
        text = "voters " + (" ".join(f"S{i}" for i in sorted(self.voters)) or "none")
        if self.learners:
            text += ", learners " + " ".join(f"S{i}" for i in sorted(self.learners))
        return text

    def __repr__(self) -> str:
        return f"Configuration({self})"


def changed_servers(old: Configuration, new: Configuration) -> list[int]:
    """The servers whose place differs between ``old`` and ``new`` (joined, left, promoted,
    demoted): one server at a time means exactly one (§4.1)."""
    return sorted(
        i
        for i in old.members | new.members
        if (i in old.voters, i in old.learners) != (i in new.voters, i in new.learners)
    )


def is_configuration(command: object) -> bool:
    """Is this log entry's command a configuration (a membership change)?"""
    return command.__class__ is Configuration


class Membership:
    """The membership half of ``raftlab.node.RaftNode`` (thesis §4.1), mixed into it.

    It uses the node's fields (``log``, ``commit_index``, ``progress``...) and helpers
    (``_replicate``, ``_emit``...), and keeps the node's ``peers`` (the other voters: whose
    votes count), ``_majority`` (a majority of the voters) and a leader's ``progress``
    (voters, learners, and servers whose removal is not committed yet) in line with the
    latest configuration.  The two rules a leader checks before a change are public
    methods, like the node's other rules, so a planted bug (``raftlab.bugs``) can override
    one.
    """

    # Set by RaftNode.__init__ (and kept up to date here).
    _configs: list[tuple[int, Configuration]]
    _base_configuration: Configuration
    _voters: frozenset[int]
    _learners: frozenset[int]
    _targets: tuple[int, ...]
    _leaving: tuple[int, ...]
    _plain: bool

    def change_in_progress(self) -> bool:
        """§4.1: is a configuration entry in our log not committed yet?  Then no other
        change may start: at most one change is in flight."""
        return bool(self._configs) and self._configs[-1][0] > self.commit_index

    def term_started(self) -> bool:
        """Ongaro (raft-dev, 2015): has this leader committed an entry of its own term
        (its no-op, §8)?  Only then may it append a change: the commit proves a majority
        of the old configuration has heard of this term, so no leader of an older term
        can still commit a change of its own."""
        commit = self.commit_index
        # (A commit index past the log's end happens only when a planted bug broke Log
        # Matching with the checks off: then nothing of this term is known committed.)
        return commit <= self.log.last_index and self.log.term(commit) == self.current_term

    @property
    def configuration(self) -> Configuration:
        """The latest configuration in this node's log, committed or not (§4.1)."""
        return self._configs[-1][1] if self._configs else self._base_configuration

    @property
    def base_configuration(self) -> Configuration:
        """The configuration in force before the first entry this log holds."""
        return self._base_configuration

    @base_configuration.setter
    def base_configuration(self, configuration: Configuration) -> None:
        # A snapshot restore sets this (the configuration stored with the snapshot); the
        # log's own configuration entries are read again on top of it.
        self._base_configuration = configuration
        self._load_configurations()

    def configuration_at(self, index: int) -> Configuration:
        """The configuration of the latest configuration entry at or before ``index``."""
        for at, conf in reversed(self._configs):
            if at <= index:
                return conf
        return self._base_configuration

    @property
    def committed_configuration(self) -> Configuration:
        """The latest configuration this node knows to be committed."""
        return self.configuration_at(self.commit_index)

    def caught_up(self, peer: int) -> bool:
        """Is learner ``peer`` caught up (thesis §4.2.1)?  Its log is within one batch
        (``Config.max_batch`` entries) of ours, so the next round trip brings it level, or
        it holds every committed entry, as the majority that commits does (under a steady
        load a log can trail the leader's by more than a batch and still keep up).  Either
        way counting it as a voter will not stall commitment while it catches up."""
        pr = self.progress.get(peer)
        if pr is None:
            return False
        return pr.match >= min(self.commit_index, self.log.last_index - self.config.max_batch)

    def change_refused(self) -> str | None:
        """Why this node cannot start a membership change now, in words, or ``None``."""
        if self.role is not Role.LEADER:
            return f"S{self.id} is not the leader"
        if self.change_in_progress():
            index, conf = self._configs[-1]
            return (
                f"S{self.id} has a membership change in progress ({conf} at index {index}, "
                f"not committed yet; commit index {self.commit_index}); one change at a time "
                "(thesis §4.1)"
            )
        if not self.term_started():
            return (
                f"S{self.id} was just elected and has not yet committed its no-op of term "
                f"{self.current_term}; a new leader commits an entry of its term before any "
                "membership change (Ongaro, raft-dev 2015)"
            )
        return None

    def propose_configuration(self, configuration: Configuration, now: float) -> tuple[int, int]:
        """Append a configuration entry (leader only); return ``(index, term)``.

        One server at a time: ``configuration`` differs from the current one in exactly
        one server.  Raises ``NotLeader`` on a follower, ``ConfigurationChangeRefused``
        while a change is in flight or before the no-op is committed, ``ValueError`` for
        a change of more (or fewer) than one server.
        """
        if not isinstance(configuration, Configuration):
            raise TypeError(
                f"propose_configuration takes a raftlab.membership.Configuration, "
                f"got {type(configuration).__name__}"
            )
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader_id)
        changed = changed_servers(self.configuration, configuration)
        if len(changed) != 1:
            raise ValueError(
                f"a membership change adds, promotes or removes exactly one server "
                f"(thesis §4.1); from {self.configuration} to {configuration} changes "
                f"{len(changed)}"
            )
        if not configuration.voters:
            raise ValueError("a configuration needs at least one voter")
        why = self.change_refused()
        if why is not None:
            raise ConfigurationChangeRefused(why)
        return self._append_configuration(configuration, now)

    def _append_configuration(self, configuration: Configuration, now: float) -> tuple[int, int]:
        self._now = now
        index, term = self.log.last_index + 1, self.current_term
        self.log.append([Entry(index, term, configuration)])
        self._log_changed(index)
        self._appended_configurations(self.log.entries(index))
        for peer in self._targets:
            self._replicate(peer)
        self._advance_leader_commit()
        return index, term

    def _maybe_promote(self, peer: int) -> None:
        """A learner acknowledged: make it a voter once it is caught up (§4.2.1)."""
        if self.caught_up(peer) and self.change_refused() is None:
            self._append_configuration(self.configuration.promoted(peer), self._now)

    def _step_down_if_removed(self) -> None:
        """A leader not in its own configuration steps down once that is committed (§4.2.2)."""
        if self.commit_index >= (self._configs[-1][0] if self._configs else 0):
            # One last round tells the others the commit index, then no more heartbeats.
            for peer in self._targets:
                if not self._replicate(peer):
                    self._send_heartbeat(peer, self.progress[peer])
            self._emit("stepdown", f"removed from the configuration, term={self.current_term}")
            self._become_follower(self.current_term, None, self._now)

    def _load_configurations(self) -> None:
        self._configs = [
            (e.index, e.command) for e in self.log if e.command.__class__ is Configuration
        ]
        self._use_configuration()

    def _appended_configurations(self, entries: Iterable[Entry]) -> None:
        """New entries were appended: a configuration among them is used at once (§4.1)."""
        found = False
        for e in entries:
            if e.command.__class__ is Configuration:
                self._configs.append((e.index, e.command))
                found = True
        if found:
            self._use_configuration()
            self._emit("config", f"index={self._configs[-1][0]} {self.configuration}")

    def _use_configuration(self) -> None:
        """Make ``peers``, ``_majority`` and a leader's ``progress`` follow the configuration."""
        conf = self.configuration
        me = self.id
        self._voters = conf.voters
        self.peers = tuple(sorted(i for i in conf.voters if i != me))  # whom votes come from
        self._learners = frozenset(i for i in conf.learners if i != me)
        # Servers the change in flight removes still get entries until it commits, so
        # they learn of their removal (from the entry) and stop standing for election.
        previous = self.configuration_at(self.commit_index)
        self._leaving = tuple(sorted(i for i in previous.members - conf.members if i != me))
        # Whom the leader feeds: voters, learners, and servers being removed.
        self._targets = self.peers + tuple(sorted(self._learners)) + self._leaving
        self._plain = not self._learners and not self._leaving and me in conf.voters
        self._majority = conf.majority
        if self.role is Role.LEADER:
            progress = self.progress
            for p in [p for p in progress if p not in self._targets]:
                del progress[p]
            for p in self._targets:
                if p not in progress:
                    progress[p] = Progress(self.log.last_index + 1)
