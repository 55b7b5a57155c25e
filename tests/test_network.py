"""The simulated network (``raftlab.network``): delay, loss, duplication, reordering,
partitions and crashes, seen through ``cluster.network``."""

from __future__ import annotations

import pytest

from raftlab import AppendEntries, Cluster, Config, RequestVote


def delivered(c: Cluster, since: float = 0.0):
    return [e for e in c.network.log if not e.dropped and e.sent_at >= since]


def balance(c: Cluster) -> None:
    """Every envelope sent (duplicates included) is delivered, dropped or still in flight."""
    s = c.network.stats
    assert s["sent"] + s["duplicated"] == s["delivered"] + s["dropped"] + len(c.network.in_flight)
    assert len(c.network.log) == s["delivered"] + s["dropped"]


def test_delays_stay_within_the_configured_range_and_follow_changes():
    c = Cluster(5, seed=1, config=Config(delay_ms=(3, 7)))
    c.wait_for_leader()
    c.run(1000)
    delays = [e.deliver_at - e.sent_at for e in delivered(c)]
    assert len(delays) > 100
    assert all(3 <= d <= 7 for d in delays)
    assert max(delays) - min(delays) > 2  # drawn across the range, not a constant
    c.network.delay_ms = (20, 25)
    old = {id(e) for e in c.network.log} | {id(e) for e in c.network.in_flight}
    c.run(1000)
    new = [e for e in delivered(c) if id(e) not in old]
    assert len(new) > 50
    assert all(20 <= e.deliver_at - e.sent_at <= 25 for e in new)


def test_counters_balance_after_every_event_under_every_fault():
    c = Cluster(5, seed=2)
    c.subscribe(balance)
    c.network.drop_rate = 0.2
    c.network.duplicate_rate = 0.2
    c.network.delay_ms = (1, 30)
    c.run(1000)
    c.crash(1)
    c.partition([2, 3], [1, 4, 5])
    c.run(1000)
    c.isolate(4)
    c.run(500)
    c.heal()
    c.restart(1)
    c.run(1000)
    s = c.network.stats
    assert s["delivered"] > 0 and s["dropped"] > 0 and s["duplicated"] > 0


def test_a_drop_rate_of_one_loses_every_message():
    c = Cluster(3, seed=3)
    c.wait_for_leader()
    c.network.drop_rate = 1.0
    travelling = len(c.network.in_flight)  # sent before: they may still arrive
    old = {id(e) for e in c.network.log} | {id(e) for e in c.network.in_flight}
    since = c.now
    before = dict(c.network.stats)
    c.run(2000)
    after = c.network.stats
    assert after["sent"] > before["sent"] + 20
    assert after["delivered"] - before["delivered"] <= travelling
    assert [e for e in delivered(c) if id(e) not in old] == []
    assert c.leader() is None or all(e.kind != "leader" for e in c.trace if e.time > since)


def test_the_drop_rate_is_roughly_the_fraction_lost():
    c = Cluster(5, seed=4)
    c.wait_for_leader()
    c.network.drop_rate = 0.3
    before = dict(c.network.stats)
    c.run(20_000)
    sent = c.network.stats["sent"] - before["sent"]
    dropped = c.network.stats["dropped"] - before["dropped"]
    assert sent > 1000
    assert 0.25 < dropped / sent < 0.35


def test_a_duplicate_rate_of_one_delivers_every_message_twice_and_raft_copes():
    c = Cluster(3, seed=5)
    c.wait_for_leader()
    c.network.duplicate_rate = 1.0
    before = dict(c.network.stats)
    since = c.now
    results = c.apply([b"x", b"y", b"z"])
    assert [r.result for r in results] == [1, 2, 3]  # each applied once, in order
    c.run(500)
    assert c.network.stats["duplicated"] - before["duplicated"] == (
        c.network.stats["sent"] - before["sent"]
    )
    copies: dict[int, int] = {}
    for e in delivered(c, since=since):
        copies[id(e.msg)] = copies.get(id(e.msg), 0) + 1
    assert copies and set(copies.values()) <= {1, 2}
    assert sum(1 for v in copies.values() if v == 2) > len(copies) / 2
    for i in c.ids:
        assert c.nodes[i].state_machine.commands == [b"x", b"y", b"z"]
    c.check_invariants()


def test_random_delays_reorder_messages_between_two_nodes():
    # Delays longer than the heartbeat interval: consecutive heartbeats overtake each other.
    c = Cluster(3, seed=6, config=Config(election_timeout_ms=(400, 800), heartbeat_ms=50))
    c.network.delay_ms = (0, 120)
    c.wait_for_leader()
    c.run(2000)
    reordered = 0
    last_arrival: dict[tuple[int, int], float] = {}
    for e in sorted(delivered(c), key=lambda e: e.sent_at):
        link = (e.src, e.dst)
        if e.deliver_at < last_arrival.get(link, -1.0):
            reordered += 1
        last_arrival[link] = max(last_arrival.get(link, -1.0), e.deliver_at)
    assert reordered > 0


def test_a_partition_stops_messages_between_groups_including_those_in_flight():
    c = Cluster(5, seed=7)
    c.wait_for_leader()
    c.run(3)
    crossing = [e for e in c.network.in_flight if (e.src in (1, 2)) != (e.dst in (1, 2))]
    assert crossing  # some heartbeats are on their way across the future cut
    c.partition([1, 2], [3, 4, 5])
    assert all(e.dropped for e in crossing)
    assert all((e.src in (1, 2)) == (e.dst in (1, 2)) for e in c.network.in_flight)
    since = c.now
    c.run(2000)
    assert all((e.src in (1, 2)) == (e.dst in (1, 2)) for e in delivered(c, since=since))
    assert any(
        (e.src in (1, 2)) != (e.dst in (1, 2))
        for e in c.network.log
        if e.sent_at >= since and e.dropped
    )
    c.heal()
    since = c.now
    c.run(500)
    assert any((e.src in (1, 2)) != (e.dst in (1, 2)) for e in delivered(c, since=since))


def test_cutting_one_link_loses_what_travels_on_it_and_only_that():
    c = Cluster(3, seed=8)
    leader = c.wait_for_leader()
    other = next(i for i in c.ids if i != leader)
    c.run(51)  # heartbeats just left
    on_link = [e for e in c.network.in_flight if {e.src, e.dst} == {leader, other}]
    elsewhere = [e for e in c.network.in_flight if {e.src, e.dst} != {leader, other}]
    c.cut(leader, other)
    assert on_link and all(e.dropped for e in on_link)
    assert not any(e.dropped for e in elsewhere)
    assert not c.network.can_talk(leader, other) and not c.network.can_talk(other, leader)
    c.connect(leader, other)
    assert c.network.can_talk(leader, other)


def test_a_crash_loses_messages_to_and_from_the_node():
    c = Cluster(3, seed=9)
    leader = c.wait_for_leader()
    victim = next(i for i in c.ids if i != leader)
    c.run(51)
    touching = [e for e in c.network.in_flight if victim in (e.src, e.dst)]
    assert touching
    c.crash(victim)
    assert all(e.dropped for e in touching)
    assert not any(victim in (e.src, e.dst) for e in c.network.in_flight)
    since = c.now
    c.run(500)
    to_victim = [e for e in c.network.log if e.sent_at >= since and e.dst == victim]
    assert to_victim and all(e.dropped and e.deliver_at == e.sent_at for e in to_victim)


def test_groups_are_who_can_reach_whom():
    c = Cluster(5, seed=10)
    assert c.network.groups == (frozenset({1, 2, 3, 4, 5}),)
    c.cut(1, 2)  # 1 and 2 still reach each other through the others
    assert c.network.groups == (frozenset({1, 2, 3, 4, 5}),)
    c.isolate(3)
    assert sorted(map(sorted, c.network.groups)) == [[1, 2, 4, 5], [3]]
    c.partition([1, 2], [3, 4, 5])
    assert sorted(map(sorted, c.network.groups)) == [[1, 2], [3, 4, 5]]
    c.connect(2, 3)  # a bridge: one component, although 1 cannot talk to 3
    assert c.network.groups == (frozenset({1, 2, 3, 4, 5}),)
    assert not c.network.can_talk(1, 3)
    c.heal()
    assert c.network.groups == (frozenset({1, 2, 3, 4, 5}),) and not c.network.cut_links


def test_messages_in_flight_carry_their_stamps_and_fields():
    c = Cluster(3, seed=11)
    c.run_until(lambda c: any(isinstance(e.msg, RequestVote) for e in c.network.in_flight), 1000)
    c.wait_for_leader()
    c.submit(b"x")
    kinds = set()
    for e in c.network.in_flight:
        assert e.src in c.ids and e.dst in c.ids and e.src != e.dst
        assert e.term >= 1
        assert e.sent_at <= c.now <= e.deliver_at
        kinds.add(e.kind)
        if isinstance(e.msg, AppendEntries):
            assert e.leader_id == e.src and isinstance(e.entries, tuple)
            assert e.prev_log_index >= 0 and e.leader_commit >= 0
    assert "AppendEntries" in kinds
    assert any(isinstance(e.msg, AppendEntries) and e.entries for e in c.network.in_flight)


def test_knob_changes_are_in_the_trace():
    c = Cluster(3, seed=12)
    c.network.drop_rate = 0.25
    c.network.duplicate_rate = 0.5
    c.network.delay_ms = (1, 2)
    shown = [str(e) for e in c.trace if e.kind == "network"]
    assert [s.split("network", 1)[1].strip() for s in shown] == [
        "drop_rate=0.25",
        "duplicate_rate=0.5",
        "delay_ms=(1, 2)",
    ]


@pytest.mark.parametrize("keep", [True, False])
def test_the_message_log_can_be_switched_off(keep):
    c = Cluster(3, seed=13)
    c.network.keep_log = keep
    c.wait_for_leader()
    c.run(500)
    assert bool(c.network.log) is keep
    assert c.network.stats["delivered"] > 0
