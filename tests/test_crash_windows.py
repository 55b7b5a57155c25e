"""Crash windows: a node that crashes between persisting and sending, or between sending
and applying (``Cluster.crash_window``), loses nothing anyone was told (§5, Figure 2:
persistent state is updated on stable storage before responding to RPCs)."""

from __future__ import annotations

import pytest

from raftlab import Cluster, SafetyViolation
from raftlab.messages import RequestVoteReply
from raftlab.node import HardState
from raftlab.scenarios import elect


def voter_crashes_in_window(window: str, bugs=()) -> tuple[Cluster, HardState]:
    """S2 is down.  Of S1 and S3, the first to time out runs for term 1; the other votes
    for it and crashes inside that output.  Returns the cluster and the voter's stored
    hard state."""
    c = Cluster(3, seed=12, bugs=bugs)
    c.crash(2)
    candidate, voter = sorted((1, 3), key=lambda i: c.nodes[i].election_deadline)
    assert (candidate, voter) == (1, 3)
    c.crash_window(voter, window)
    assert c.run_until(lambda c: voter not in c.alive, 1000)
    return c, c.storage[voter].load()[0]


def test_after_persist_the_vote_is_durable_and_nothing_was_sent():
    c, stored = voter_crashes_in_window("after_persist")
    assert stored == HardState(1, 1)  # the vote is on stable storage
    crash = c.trace[-1]
    assert (crash.node, crash.kind) == (3, "crash")
    assert crash.detail.endswith("(after persisting, before sending)")
    assert not [m for m in c.network.in_flight if m.msg.src == 3]  # the reply never left


def test_after_send_the_reply_stays_on_the_wire():
    c, stored = voter_crashes_in_window("after_send")
    assert stored == HardState(1, 1)
    assert c.trace[-1].detail.endswith("(after sending, before applying)")
    replies = [e.msg for e in c.network.in_flight if e.msg.src == 3]
    assert replies == [RequestVoteReply(3, 1, 1, True)]
    assert c.wait_for_leader() == 1  # S1 wins with the vote S3 sent before it crashed


@pytest.mark.parametrize("window", ["after_persist", "after_send"])
def test_a_restarted_voter_remembers_its_vote(window):
    c, _ = voter_crashes_in_window(window)
    assert not elect(c, 2, [3], term=1)  # S3 voted for S1 in term 1: it refuses S2
    c.check_invariants()


def test_send_before_persist_is_caught_in_the_after_send_window():
    """The planted bug answers before its vote is durable: crashed right after sending,
    the voter comes back without its vote and elects a second leader in term 1."""
    c, stored = voter_crashes_in_window("after_send", bugs={"send_before_persist"})
    assert stored == HardState(0, None)  # the vote (and its term) were sent, not stored
    assert c.wait_for_leader() == 1
    with pytest.raises(SafetyViolation, match="Election Safety"):
        elect(c, 2, [3], term=1)


def test_a_bad_window_is_refused_and_changes_nothing():
    c = Cluster(3, seed=1)
    with pytest.raises(ValueError, match="unknown crash window 'before_persist'"):
        c.crash_window(2, "before_persist")
    assert c._windows == {} and c._calls == []
    c.crash(2)
    with pytest.raises(ValueError, match="restart it"):
        c.crash_window(2, "after_send")


def test_a_fork_replays_a_window_crash_exactly():
    c, _ = voter_crashes_in_window("after_send")
    c.run(300)
    assert [str(e) for e in c.fork().trace] == [str(e) for e in c.trace]
