"""Membership changes, one server at a time (thesis §4.1, §4.2; ``raftlab.membership``)."""

from __future__ import annotations

import pytest

from raftlab import Cluster, NotLeader, Role
from raftlab.errors import ConfigurationChangeRefused, Timeout
from raftlab.membership import Configuration, changed_servers
from raftlab.membership_scenarios import lost_disk
from raftlab.scenarios import elect


def settled(n: int = 3, seed: int = 1) -> tuple[Cluster, int]:
    c = Cluster(n, seed=seed)
    leader = c.wait_for_leader()
    c.apply([b"a"])
    return c, leader


def test_configuration_validates_and_counts_a_majority_of_voters_only():
    conf = Configuration(frozenset({1, 2, 3}), frozenset({4}))
    assert conf.majority == 2 and 4 in conf and 4 not in conf.voters
    assert str(conf) == "voters S1 S2 S3, learners S4"
    with pytest.raises(ValueError, match="both a voter and a learner"):
        Configuration(frozenset({1, 2}), frozenset({2}))
    with pytest.raises(ValueError, match="server ids"):
        Configuration(frozenset({0}))
    assert changed_servers(conf, conf.promoted(4)) == [4]
    assert changed_servers(conf, conf.without(1).without(2)) == [1, 2]


def test_s4_1_a_follower_uses_a_configuration_as_soon_as_it_is_appended():
    c, leader = settled()
    followers = [i for i in c.ids if i != leader]
    c.add_server(4)
    idx = c.nodes[leader].log.last_index
    # Stop the instant the first follower holds the entry: nobody can know it committed.
    assert c.run_until(lambda c: any(c.nodes[i].log.last_index >= idx for i in followers), 500)
    node = next(c.nodes[i] for i in followers if c.nodes[i].log.last_index >= idx)
    assert node.commit_index < idx and c.nodes[leader].commit_index < idx
    assert node.configuration.learners == {4}
    assert c.members.learners == frozenset()  # not committed yet
    assert c.run_until(lambda c: c.members.learners == {4}, 500)


def test_s4_1_a_truncated_configuration_entry_is_reverted():
    c, leader = settled(5, seed=3)
    others = [i for i in c.ids if i != leader]
    c.isolate(leader)
    c.remove_server(others[0])  # appended on the cut-off leader only
    assert c.nodes[leader].configuration.voters == set(c.ids) - {others[0]}
    assert c.nodes[leader].peers == tuple(sorted(set(others) - {others[0]}))
    assert c.nodes[leader]._majority == 3
    assert c.run_until(lambda c: c.leader() not in (None, leader), 3000)
    c.apply([b"b"])  # the new leader commits an entry at the same index
    c.heal()
    assert c.run_until(lambda c: c.nodes[leader].role is Role.FOLLOWER, 1000)
    assert c.run_until(lambda c: c.nodes[leader].configuration.voters == set(c.ids), 1000)
    assert any(e.kind == "config" and "reverted" in e.detail for e in c.trace)
    assert c.nodes[leader]._majority == 3 and len(c.nodes[leader].peers) == 4


def test_s4_1_one_change_at_a_time_the_second_is_refused_and_changes_nothing():
    c, leader = settled()
    c.remove_server(3 if leader != 3 else 2)
    log_before = c.nodes[leader].log.last_index
    calls = len(c._calls)
    with pytest.raises(ConfigurationChangeRefused, match="one change at a time"):
        c.add_server(4)
    assert c.nodes[leader].log.last_index == log_before
    assert len(c._calls) == calls and 4 not in c.nodes


def test_new_leader_refuses_a_change_before_its_noop_is_committed():
    c = Cluster(3, seed=2)
    assert elect(c, 1, [2, 3], term=1)  # returns the instant S1 wins: no-op in flight
    with pytest.raises(ConfigurationChangeRefused, match="no-op"):
        c.remove_server(3)
    assert c.run_until(lambda c: c.nodes[1].commit_index >= 1, 500)
    c.remove_server(3)


def test_bad_input_is_a_value_error_and_leaves_the_cluster_as_it_was():
    c, leader = settled()
    before = (len(c._calls), len(c.trace), c.nodes[leader].log.last_index)
    for bad, call in [
        (0, c.add_server),
        ("4", c.add_server),
        (True, c.add_server),
        (2, c.add_server),  # already a voter
        (9, c.remove_server),  # unknown
    ]:
        with pytest.raises(ValueError):
            call(bad)
    assert (len(c._calls), len(c.trace), c.nodes[leader].log.last_index) == before
    lone = Cluster(1, seed=0)
    lone.wait_for_leader()
    lone.apply([b"x"])
    with pytest.raises(ValueError, match="last voter"):
        lone.remove_server(1)


def test_no_leader_is_not_leader():
    c = Cluster(3, seed=0)
    with pytest.raises(NotLeader):
        c.add_server(4)


def test_s4_2_1_a_new_server_joins_as_a_learner_and_is_promoted_once_caught_up():
    c, leader = settled()
    c.apply([b"w%d" % k for k in range(200)])  # a log longer than a batch
    p = c.add_server(6)
    assert 6 in c.ids and c.nodes[6].configuration.voters == frozenset()
    assert c.run_until(lambda c: p.done, 1000) and p.ok
    assert c.members.learners == {6}
    lead = c.nodes[leader]
    # A learner does not count: with S6 catching up, commitment needs 2 of the 3 voters.
    assert lead._majority == 2 and lead.peers == tuple(i for i in (1, 2, 3) if i != leader)
    assert c.run_until(lambda c: 6 in c.members.voters, 3000)
    promoted = next(
        e
        for e in c.trace
        if e.kind == "config" and e.node == leader and "voters S1 S2 S3 S6" in e.detail
    )
    # Promotion waited until S6 was within one batch of the leader.
    assert c.nodes[6].log.last_index >= 200
    assert promoted.time > p_time(c, p)
    assert lead._majority == 3
    c.apply([b"after"])
    c.check_invariants()


def p_time(c: Cluster, p) -> float:
    return next(
        e.time
        for e in c.trace
        if e.kind == "commit" and e.node == p.node and int(e.detail.split("=")[1]) >= p.index
    )


def test_a_learner_never_starts_an_election():
    c, leader = settled()
    c.add_server(4)
    c.crash(leader)
    c.run(2000)
    assert not any(e.kind == "candidate" and e.node == 4 for e in c.trace)


def test_s4_2_2_a_leader_that_removes_itself_steps_down_once_committed():
    c, leader = settled(5, seed=4)
    p = c.remove_server(leader)
    lead = c.nodes[leader]
    assert lead.role is Role.LEADER and leader not in lead.configuration.voters
    assert c.run_until(lambda c: p.done, 1000) and p.ok
    assert lead.role is Role.FOLLOWER
    assert any(e.kind == "stepdown" and e.node == leader for e in c.trace)
    new = c.wait_for_leader()
    assert new != leader and c.members.voters == set(c.ids) - {leader}
    c.apply([b"x"])
    c.run(2000)  # the removed server never disrupts: it does not campaign
    assert c.leader() == new
    assert not any(
        e.kind == "candidate" and e.node == leader and e.time > p_time(c, p) for e in c.trace
    )
    c.check_invariants()


def test_votes_and_commit_count_only_voters_and_peers_follow_the_configuration():
    c, leader = settled(5, seed=5)
    victim = next(i for i in c.ids if i != leader)
    p = c.remove_server(victim)
    assert c.run_until(lambda c: p.done, 1000)
    for i in c.ids:
        if i == victim:
            continue
        n = c.nodes[i]
        assert c.run_until(lambda c, i=i: victim not in c.nodes[i].configuration, 500)
        assert victim not in n.peers and n._majority == 3
    # Crash two of the four voters: two of four is no majority, nothing commits.
    survivors = [i for i in c.ids if i not in (victim, leader)]
    c.crash(survivors[0])
    c.crash(survivors[1])
    q = c.submit(b"stuck")
    c.run(1000)
    assert not q.done
    c.restart(survivors[0])
    assert c.run_until(lambda c: q.done, 2000) and q.ok


def test_removed_server_vote_requests_are_ignored():
    c, leader = settled(3, seed=6)
    victim = next(i for i in c.ids if i != leader)
    c.isolate(victim)  # it never hears of its removal
    p = c.remove_server(victim)
    assert c.run_until(lambda c: p.done, 1000)
    terms = {i: c.nodes[i].current_term for i in c.ids}
    c.heal()
    c.run(2000)
    assert c.nodes[victim].current_term > terms[victim]  # it campaigns, alone
    assert c.nodes[leader].current_term == terms[leader]  # nobody listens
    assert c.leader() == leader


def test_fork_replays_membership_changes_exactly():
    c, leader = settled()
    c.add_server(7)
    c.run_until(lambda c: 7 in c.members.voters, 3000)
    c.remove_server(2 if leader != 2 else 1)
    c.run(500)
    f = c.fork()
    assert [str(e) for e in f.trace] == [str(e) for e in c.trace]
    assert f.members == c.members and f.ids == c.ids


def test_snapshot_views_show_members_and_learners():
    c, leader = settled()
    c.add_server(5)
    snap = c.snapshot()
    assert snap.node(5).id == 5
    assert snap.node(leader).learners == {5}
    assert 5 not in snap.members.voters


def test_base_configuration_can_be_set_by_a_snapshot_restore():
    c, leader = settled()
    n = c.nodes[leader]
    n.base_configuration = Configuration(frozenset({1, 2, 3, 8}))
    assert n.configuration.voters == {1, 2, 3, 8} and n._majority == 3


# -------------------------------------------------------------------- lost disk


def test_lost_disk_unsafe_shortcut_loses_an_acknowledged_write():
    from raftlab import SafetyViolation

    with pytest.raises(SafetyViolation, match="Leader Completeness"):
        lost_disk(safe=False)
    _, found = lost_disk(safe=False, check_invariants=False)
    assert found is False


def test_lost_disk_rejoining_as_a_new_member_keeps_the_write():
    c, found = lost_disk(safe=True)
    assert found is True
    assert c.members.voters == {1, 2, 3}
    kinds = [e.kind for e in c.trace if e.node == 2]
    assert "lose_disk" in kinds and "start" in kinds
    c.check_invariants()


def test_rejoin_refuses_a_running_server_and_times_out_without_a_majority():
    c, leader = settled()
    with pytest.raises(ValueError, match="lose_disk"):
        c.rejoin(leader)
    others = [i for i in c.ids if i != leader]
    c.lose_disk(others[0])
    c.crash(others[1])
    with pytest.raises(Timeout):
        c.rejoin(others[0], timeout_ms=1000)
