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
