"""Why no leader can be elected (§5.2): the sentence a ``Timeout`` carries."""

import pytest

from raftlab import Cluster, Timeout
from raftlab.quorum import majority, why_no_leader
from raftlab.teaching import explain_until


def everyone_talks(a: int, b: int) -> bool:
    return True


@pytest.mark.parametrize(("n", "need"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_majority_is_more_than_half(n, need):
    assert majority(n) == need


def test_why_no_leader_counts_the_live_servers_against_a_majority():
    assert why_no_leader([1, 2, 3, 4, 5], [1, 2, 3], everyone_talks) is None
    why = why_no_leader([1, 2, 3, 4, 5], [4, 5], everyone_talks)
    assert why is not None and "only 2 of 5 servers are alive" in why and "needs 3 votes" in why


def test_why_no_leader_counts_only_the_servers_a_candidate_can_reach():
    def two_sides(a: int, b: int) -> bool:
        return (a <= 2) == (b <= 2)

    assert why_no_leader([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], two_sides) is None
    why = why_no_leader([1, 2, 3, 4, 5], [1, 2, 3, 4], two_sides)
    assert why is not None and "no server can reach more than 2" in why


def test_wait_for_leader_timeout_says_a_majority_is_down():
    cluster = Cluster(5, seed=42)
    cluster.wait_for_leader()
    for i in (1, 3, 2):
        cluster.crash(i)
    with pytest.raises(Timeout, match=r"only 2 of 5 servers are alive; an election needs 3 votes"):
        cluster.wait_for_leader(1000)


def test_wait_for_leader_timeout_says_the_network_is_cut():
    cluster = Cluster(5, seed=42)
    cluster.partition([1, 2], [3, 4], [5])
    with pytest.raises(Timeout, match=r"no server can reach more than 2 live server"):
        cluster.wait_for_leader(1000)


def test_explain_until_timeout_says_why_no_leader_can_come():
    cluster = Cluster(5, seed=42)
    cluster.wait_for_leader()
    for i in (1, 3, 2):
        cluster.crash(i)
    with pytest.raises(Timeout, match=r"within 500 events: only 2 of 5 servers are alive"):
        explain_until(cluster, lambda c: c.leader() is not None)


def test_explain_until_timeout_adds_nothing_while_a_leader_exists():
    cluster = Cluster(5, seed=42)
    cluster.wait_for_leader()
    with pytest.raises(Timeout) as caught:
        explain_until(cluster, lambda c: False, max_steps=5)
    assert str(caught.value) == "the condition did not hold within 5 events"


def test_apply_timeout_says_a_minority_leader_cannot_commit_s5_3():
    c = Cluster(5, seed=1)
    leader = c.wait_for_leader()
    others = [i for i in c.ids if i != leader]
    c.partition([leader, others[0]], others[1:])
    with pytest.raises(Timeout) as caught:
        c.apply([b"x"], node=leader, timeout_ms=500)
    assert str(caught.value) == (
        "the 1 command(s) were not applied within 500 ms: "
        f"S{leader} can reach only 2 of 5 servers, itself included, and an entry is "
        "committed once a majority (3) stores it"
    )


def test_apply_timeout_adds_nothing_when_a_majority_is_reachable():
    c = Cluster(3, seed=1)
    c.wait_for_leader()
    with pytest.raises(Timeout) as caught:
        c.apply([b"x"], timeout_ms=0.001)  # too short for any round trip
    assert str(caught.value) == "the 1 command(s) were not applied within 0.001 ms"
