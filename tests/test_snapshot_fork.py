"""Snapshots are immutable pictures of the past; ``fork`` replays the run up to one of them
exactly, and then the fork and the original go their separate ways."""

from __future__ import annotations

import dataclasses

import pytest

from raftlab import Cluster, Role
from raftlab.kv import Command, Kind, KVStateMachine, encode_command


def everything(snap):
    """All a snapshot shows, as plain values (to compare before and after)."""
    return (
        snap,
        snap.time,
        snap.nodes,
        snap.in_flight,
        snap.groups,
        snap.cut_links,
        snap.leader,
        [str(e) for e in snap.trace],
        snap.message_log,
    )


def state(c: Cluster):
    return (
        c.snapshot(),
        [str(e) for e in c.trace],
        dict(c.network.stats),
        c.rng.getstate(),
        c.now,
        len(c.kernel),
    )


def first_part(c: Cluster) -> None:
    """A past with a bit of everything: commands, a lossy network, a crash, a partition."""
    c.wait_for_leader()
    c.apply([b"a", b"b"])
    c.network.drop_rate = 0.1
    c.network.delay_ms = (1, 20)
    c.crash(c.leader())
    c.run(400)
    c.partition([1, 2], [3, 4, 5])
    c.submit(b"maybe")
    c.run(37.5)
    assert c.run_until(lambda c: len(c.network.in_flight) > 0, 1000)


def second_part(c: Cluster) -> None:
    """The future both runs will share."""
    c.heal()
    for i in sorted(set(c.ids) - c.alive):
        c.restart(i)
    c.network.duplicate_rate = 0.2
    c.wait_for_leader()
    c.apply([b"c", b"d", b"e"])
    c.isolate(1)
    c.run(700)
    c.heal()
    c.run(300)


# ---------------------------------------------------------------------- snapshots


def test_a_snapshot_is_frozen():
    c = Cluster(3, seed=1)
    c.wait_for_leader()
    snap = c.snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.time = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.nodes[0].current_term = 99
    assert isinstance(snap.nodes, tuple) and isinstance(snap.nodes[0].log, tuple)
    assert isinstance(snap.in_flight, tuple)


def test_a_snapshot_stays_as_it_was_while_the_cluster_moves_on():
    c = Cluster(5, seed=2)
    first_part(c)
    snap = c.snapshot()
    assert snap.in_flight and snap.trace and snap.message_log and len(snap.groups) == 2
    before = everything(snap)
    second_part(c)
    # Messages were delivered or lost, the partition healed, terms moved on meanwhile...
    assert c.snapshot() != snap
    # ...and the picture of the past did not move.
    assert everything(snap) == before
    assert len(snap.trace) == snap.trace_len < len(c.trace)
    assert snap.trace == c.trace[: snap.trace_len]


def test_a_snapshot_keeps_log_entries_that_were_deleted_later():
    c = Cluster(5, seed=10)
    old = c.wait_for_leader()
    assert c.run_until(lambda c: all(n.commit_index == 1 for n in c.nodes.values()), 1000)
    c.partition([old], [i for i in c.ids if i != old])
    c.submit(b"doomed", node=old)
    snap = c.snapshot()
    c.run(1000)  # the others elect a new leader
    c.apply([b"winner"])
    c.heal()
    assert c.run_until(lambda c: c.nodes[old].commit_index >= 3, 2000)
    assert any(e.kind == "truncate" and e.node == old for e in c.trace)
    assert [e.command for e in c.nodes[old].log][1:] == [None, b"winner"]
    assert [e.command for e in snap.node(old).log] == [None, b"doomed"]


def test_a_snapshot_shows_what_it_should():
    c = Cluster(3, seed=3)
    leader = c.wait_for_leader()
    c.apply([b"x"])
    c.crash(next(i for i in c.ids if i != leader))
    snap = c.snapshot()
    assert snap.time == c.now and snap.leader == leader and snap.ids == [1, 2, 3]
    assert snap.alive == c.alive
    for i in c.ids:
        view, node = snap.node(i), c.nodes[i]
        assert view.log == node.log.as_tuple()
        assert (view.role, view.current_term, view.commit_index, view.voted_for) == (
            node.role,
            node.current_term,
            node.commit_index,
            node.voted_for,
        )
    assert dict(snap.node(leader).match_index) == c.nodes[leader].match_index
    assert snap.node(leader).role is Role.LEADER


# -------------------------------------------------------------------------- forks


def test_fork_at_now_is_an_exact_twin():
    c = Cluster(5, seed=4)
    first_part(c)
    twin = c.fork()
    assert state(twin) == state(c)


def test_fork_at_a_past_snapshot_replays_it_and_then_the_same_future():
    c = Cluster(5, seed=5)
    first_part(c)
    snap = c.snapshot()
    second_part(c)
    f = c.fork(snap)
    # The fork stands exactly where the snapshot was taken.
    assert f.snapshot() == snap
    assert f.trace == snap.trace
    # Driven the same way, it lives the same future, event for event.
    second_part(f)
    assert [str(e) for e in f.trace] == [str(e) for e in c.trace]
    assert state(f) == state(c)


def test_fork_at_a_snapshot_taken_between_two_events():
    c = Cluster(5, seed=6)
    snaps = []

    def record(c: Cluster) -> None:
        snaps.append(c.snapshot())

    c.subscribe(record)
    first_part(c)
    c.unsubscribe(record)
    picked = [snaps[len(snaps) // 3], snaps[len(snaps) // 2], snaps[-1]]
    for snap in picked:
        f = c.fork(snap)
        assert f.snapshot() == snap
        assert f.trace == snap.trace


def test_two_forks_of_one_moment_agree_until_they_are_driven_apart():
    c = Cluster(5, seed=7)
    first_part(c)
    snap = c.snapshot()
    a, b = c.fork(snap), c.fork(snap)
    a.run(500)
    b.run(500)
    assert state(a) == state(b)
    up = sorted(a.alive)
    a.crash(up[0])
    b.crash(up[1])
    a.run(500)
    b.run(500)
    assert [str(e) for e in a.trace] != [str(e) for e in b.trace]
    assert a.trace[: snap.trace_len] == b.trace[: snap.trace_len] == snap.trace


def test_acting_on_a_fork_does_not_touch_the_original():
    c = Cluster(5, seed=8)
    first_part(c)
    pending = c.submit(b"original", node=c.leader()) if c.leader() else None
    before = state(c)
    f = c.fork()
    f.heal()
    for i in sorted(set(f.ids) - f.alive):
        f.restart(i)
    f.wait_for_leader()
    f.apply([b"only in the fork"])
    f.network.drop_rate = 0.5
    f.crash(f.leader())
    f.run(1000)
    assert state(c) == before
    assert all(b"only in the fork" not in [e.command for e in n.log] for n in c.nodes.values())
    if pending is not None:
        assert not pending.done  # the fork's copy of the proposal is its own


def test_a_fork_of_a_fork_and_the_settings_travel_along():
    c = Cluster(3, seed=9, state_machine=KVStateMachine, bugs={"figure8"})
    c.wait_for_leader()
    c.apply([encode_command(Command(Kind.SET, "k", "v"))])
    snap = c.snapshot()
    c.run(200)
    f = c.fork(snap)
    g = f.fork()
    assert g.snapshot() == snap
    assert (g.bugs, g.config, g.seed) == (c.bugs, c.config, c.seed)
    g.run(200)
    assert state(g) == state(c)
    leader = g.leader()
    assert isinstance(g.nodes[leader].state_machine, KVStateMachine)
    assert g.nodes[leader].state_machine is not c.nodes[leader].state_machine


def test_a_new_kv_client_on_a_fork_does_not_reuse_a_past_clients_id():
    # The fork replays the past's writes, so every replica remembers client 1's session.
    # A new client that took id 1 again would have its first write dropped as a retry.
    from raftlab.kv import KVClient, KVStateMachine

    cluster = Cluster(5, seed=1, state_machine=KVStateMachine)
    alice = KVClient(cluster)
    alice.set("x", "1")
    alice.set("x", "2")
    fork = cluster.fork()
    bob = KVClient(fork)
    assert bob.client_id != alice.client_id
    bob.set("x", "3")
    assert KVClient(fork).get("x") == "3"
    assert KVClient(cluster).get("x") == "2"  # the original run is untouched
