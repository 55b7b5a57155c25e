"""Timing and batching knobs of a Raft cluster (§5.2, §5.6)."""

from __future__ import annotations

import math
from dataclasses import dataclass


def _check_range(name: str, value: object) -> tuple[float, float]:
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise ValueError(f"Config.{name} must be a pair (lo, hi) of milliseconds, got {value!r}")
    lo, hi = value
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"Config.{name} must hold numbers, got {value!r}")
        if not math.isfinite(v):  # NaN slips through every comparison below
            raise ValueError(f"Config.{name} must hold finite numbers, got {value!r}")
    if lo < 0 or hi < 0:
        raise ValueError(f"Config.{name} cannot be negative, got {value!r}")
    if lo > hi:
        raise ValueError(f"Config.{name} has lo > hi: {value!r}; write it as (lo, hi)")
    return (float(lo), float(hi))


@dataclass(frozen=True, slots=True)
class Config:
    """How a cluster keeps time and batches entries.

    - ``election_timeout_ms``: a follower that hears no leader for a time drawn uniformly
      from this range starts an election (§5.2). Randomness breaks split votes.
    - ``heartbeat_ms``: how often a leader sends AppendEntries when idle (§5.2). It must
      be strictly below the lowest election timeout, or followers time out between
      heartbeats and elections never settle (§5.6's timing requirement).
    - ``delay_ms``: one-way network delay, drawn uniformly (the simulator's default).
      A candidate needs a round trip to collect its votes, so the highest election
      timeout must be at least twice the highest delay, or no leader can be relied on.
    - ``max_batch``: at most this many entries in one AppendEntries.
    - ``max_inflight``: at most this many batches on their way to one follower that is
      catching up (pipelining; ``raftlab.progress``).  1 turns pipelining off.

    Stable leaders and fast reads (``raftlab.reads``; all off by default, so a cluster
    behaves exactly as the paper's §5 describes):

    - ``pre_vote``: before a node bumps its term, it asks whether it *would* win (PreVote,
      thesis §9.6), so a node that was cut off cannot depose a healthy leader on return.
    - ``check_quorum``: a leader that has not heard from a majority for an election timeout
      steps down (thesis §6.2), and followers that hear from a leader ignore vote requests
      for the lowest election timeout (leader stickiness, thesis §4.2.3).
    - ``lease_ms``: a leader serves lease reads (thesis §6.4.1) for this long after a
      heartbeat round a majority acknowledged; 0 turns leases off.  Followers are sticky
      while a lease may hold, so no other leader can be elected meanwhile.
    - ``max_drift``: how far any clock's rate may stray from real time, as a fraction
      (0.01: up to 1% fast or slow).  Leases assume it: the leader counts its lease as
      ``lease_ms * (1 - max_drift)`` on its own clock, and ``lease_ms`` may be at most the
      lowest election timeout divided by ``1 + max_drift`` (a follower's clock may run fast).
    """

    election_timeout_ms: tuple[float, float] = (150, 300)
    heartbeat_ms: float = 50
    delay_ms: tuple[float, float] = (2, 10)
    max_batch: int = 64
    max_inflight: int = 4
    pre_vote: bool = False
    check_quorum: bool = False
    lease_ms: float = 0
    max_drift: float = 0.01

    def __post_init__(self) -> None:
        et = _check_range("election_timeout_ms", self.election_timeout_ms)
        dl = _check_range("delay_ms", self.delay_ms)
        hb = self.heartbeat_ms
        if isinstance(hb, bool) or not isinstance(hb, int | float) or not 0 < hb < math.inf:
            raise ValueError(f"Config.heartbeat_ms must be a positive, finite number, got {hb!r}")
        if et[0] <= hb:
            raise ValueError(
                f"Config.election_timeout_ms's lowest value ({et[0]:g}) must be strictly above "
                f"Config.heartbeat_ms ({hb:g}), or followers time out between heartbeats"
            )
        if et[1] < 2 * dl[1]:
            raise ValueError(
                f"Config.election_timeout_ms's highest value ({et[1]:g}) is below a network "
                f"round trip (2 x Config.delay_ms's highest value = {2 * dl[1]:g}): a "
                "candidate's timer would fire before its votes come back, so no leader could "
                "be relied on to be elected; raise election_timeout_ms or lower delay_ms"
            )
        mb = self.max_batch
        if isinstance(mb, bool) or not isinstance(mb, int) or mb < 1:
            raise ValueError(f"Config.max_batch must be a whole number >= 1, got {mb!r}")
        mi = self.max_inflight
        if isinstance(mi, bool) or not isinstance(mi, int) or mi < 1:
            raise ValueError(f"Config.max_inflight must be a whole number >= 1, got {mi!r}")
        for name in ("pre_vote", "check_quorum"):
            flag = getattr(self, name)
            if not isinstance(flag, bool):
                raise ValueError(f"Config.{name} must be True or False, got {flag!r}")
        md = self.max_drift
        if isinstance(md, bool) or not isinstance(md, int | float) or not 0 <= md < 0.5:
            raise ValueError(
                f"Config.max_drift is the fraction a clock may run fast or slow, from 0 up to "
                f"(not including) 0.5, e.g. 0.01 for 1%; got {md!r}"
            )
        lease = self.lease_ms
        if (
            isinstance(lease, bool)
            or not isinstance(lease, int | float)
            or not 0 <= lease < math.inf
        ):
            raise ValueError(
                f"Config.lease_ms must be a number of milliseconds >= 0 (0: no leases), got "
                f"{lease!r}"
            )
        safe = et[0] / (1 + md)
        if lease > safe:
            raise ValueError(
                f"Config.lease_ms={lease:g} is unsafe: a follower's clock may run "
                f"{md:.0%} fast, so it may vote for a new leader {safe:g} ms after it last "
                f"heard from the old one (the lowest election timeout, {et[0]:g} ms, divided "
                f"by 1 + max_drift); a lease longer than that could serve a read after a new "
                f"leader has committed a write.  Use lease_ms <= {math.floor(safe * 100) / 100:g}"
            )
        object.__setattr__(self, "max_drift", float(md))
        object.__setattr__(self, "lease_ms", float(lease))
        object.__setattr__(self, "election_timeout_ms", et)
        object.__setattr__(self, "delay_ms", dl)
        object.__setattr__(self, "heartbeat_ms", float(hb))
