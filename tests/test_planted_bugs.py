"""Each planted bug (``raftlab.BUGS``) is caught by the safety checker in a scripted run,
and the same run without the bug is clean.

Every scenario is a few staged elections (``raftlab.scenarios.elect``: crashes and restarts
only) on three nodes, chosen so that the one rule the bug breaks is the only thing standing
between the cluster and a violation.  Without the bug the rule holds, the staged election
or append is refused, and the cluster carries on safely.
"""

from __future__ import annotations

import pytest

from raftlab import BUGS, Cluster, Role, SafetyViolation
from raftlab.bugs import READ_BUGS
from raftlab.labs.scenarios import figure8, forget_vote, no_log_check, no_prev_check, terms
from raftlab.reads import deposed_leader_read
from raftlab.scenarios import elect


def finish_cleanly(c: Cluster) -> None:
    """Everyone back up: the cluster must elect a leader, agree, and pass every check."""
    for i in sorted(set(c.ids) - c.alive):
        c.restart(i)
    p = None
    for _ in range(10):
        p = c.submit(b"after", node=c.wait_for_leader(3000))
        if c.run_until(lambda c, p=p: p.done, 2000) and p.ok:
            break
    assert p is not None and p.ok
    assert c.run_until(lambda c: all(n.commit_index >= p.index for n in c.nodes.values()), 3000)
    logs = {tuple(n.log.entries(1, p.index + 1)) for n in c.nodes.values()}
    assert len(logs) == 1
    c.check_invariants()


# ----------------------------------------------------------------------- scenarios
# The scenarios live in raftlab.labs.scenarios, where the labs run them on learners' rules.


def send_before_persist(bugs) -> Cluster:
    """S2 acknowledges S1's entry x, and S1 commits it (S1 and S2 of three); S2 crashes
    right after its acknowledgement, then S1.  S2 must have written x before it said so
    (Figure 2: persistent state is updated before responding to RPCs): then S2 wins the
    next election with x.  Had it answered first, it comes back without x and wins anyway
    (S3, down all along, has not got it either): a leader lacking a committed entry."""
    c = Cluster(3, seed=15, bugs=bugs)
    assert elect(c, 1, [2, 3], term=1)
    assert c.run_until(lambda c: all(n.commit_index == 1 for n in c.nodes.values()), 1000)
    c.crash(3)
    p = c.submit(b"x", node=1)
    assert c.run_until(lambda c: c.nodes[1].commit_index >= 2, 1000)  # S2's ack arrived
    c.crash(2)  # right after its acknowledgement, before anything else reached it
    c.crash(1)
    assert p.index == 2
    assert elect(c, 2, [3], term=2)
    return c


SCENARIOS = {
    "figure8": (figure8, "Leader Completeness"),
    "forget_vote": (forget_vote, "Election Safety"),
    "no_log_check": (no_log_check, "Leader Completeness"),
    "no_prev_check": (no_prev_check, "Log Matching"),
    "send_before_persist": (send_before_persist, "Leader Completeness"),
}

# Pairs of bugs that break the same rule by the same road: a vote that is not on stable
# storage when it is answered (forget_vote never writes it, send_before_persist writes it
# too late), so each one's scenario catches the other too.
SAME_RULE = {frozenset({"forget_vote", "send_before_persist"})}


# The two read bugs break no invariant of the logs: what they break is what a client is
# told, so the linearizability checker catches them (raftlab.reads, thesis §6.4).
READ_SCENARIOS = {
    "read_index_no_heartbeat": "read_index",
    "lease_ignores_drift": "lease",
}


def test_every_planted_bug_has_a_scenario():
    assert set(SCENARIOS) == set(BUGS) and set(READ_SCENARIOS) == set(READ_BUGS)


@pytest.mark.parametrize("bug", sorted(READ_SCENARIOS))
def test_the_linearizability_checker_catches_each_read_bug(bug):
    mode = READ_SCENARIOS[bug]
    story = deposed_leader_read(mode, {bug})
    assert story.verdict.ok is False and story.value == "1"
    story.cluster.check_invariants()  # the logs themselves are fine
    assert deposed_leader_read(mode).verdict.ok is True


@pytest.mark.parametrize("bug", sorted(SCENARIOS))
def test_the_checker_catches_the_planted_bug(bug):
    scenario, invariant = SCENARIOS[bug]
    with pytest.raises(SafetyViolation) as caught:
        scenario({bug})
    assert caught.value.invariant == invariant
    assert str(caught.value).startswith(f"{invariant} violated: ")
    assert "§5" in str(caught.value)


@pytest.mark.parametrize("bug", sorted(SCENARIOS))
def test_the_same_scenario_without_the_bug_is_safe(bug):
    scenario, _ = SCENARIOS[bug]
    c = scenario(set())
    finish_cleanly(c)


@pytest.mark.parametrize("bug", sorted(SCENARIOS))
def test_another_planted_bug_does_not_trigger_this_scenario_by_accident(bug):
    # Each scenario exercises its own rule: switched on alone, every *other* bug leaves it
    # safe, except where two bugs break the same rule (figure8 and no_log_check both end
    # with a leader that lacks a committed entry, but by different roads).
    scenario, _ = SCENARIOS[bug]
    for other in sorted(set(BUGS) - {bug}):
        if frozenset({bug, other}) in SAME_RULE:
            continue
        try:
            c = scenario({other})
        except (SafetyViolation, AssertionError) as exc:
            pytest.fail(f"bug {other!r} disturbed the {bug!r} scenario: {exc}")
        c.check_invariants()


def test_forget_vote_without_the_bug_refuses_the_second_vote_in_term_1():
    c = forget_vote(set())
    assert c.nodes[3].voted_for == 1 and c.nodes[3].current_term == 1
    assert c.nodes[2].role is not Role.LEADER
    assert c.checker.leaders == {1: 1}


def test_figure8_without_the_bug_never_commits_the_old_entry_and_overwrites_it():
    c = figure8(set())
    assert 2 not in c.checker.committed
    assert c.run_until(lambda c: terms(c, 2) == [1, 3, 5], 1000)


def test_no_log_check_without_the_bug_refuses_the_candidate_with_an_empty_log():
    c = no_log_check(set())
    assert c.nodes[3].role is not Role.LEADER and len(c.nodes[3].log) == 0
    assert 2 not in c.checker.leaders
