"""raftlab.timetravel: the recording is exact, forks replay the past, the session's logic."""

from __future__ import annotations

import pytest

from raftlab import Cluster, SafetyViolation
from raftlab.kv import KVStateMachine
from raftlab.timetravel import Recorder, Session, status, trace_tail


def _full_snapshots(cluster: Cluster) -> list:
    snaps = []
    cluster.subscribe(lambda c: snaps.append(c.snapshot()))
    return snaps


def _moment(s) -> tuple:
    return (s.time, s.kernel_steps, s.calls_len, s.trace_len)


def _truncating_run(cluster: Cluster) -> None:
    """A leader cut off in a minority takes writes that a new leader later overwrites (§5.3),
    so some logs shrink: the recorder must start new lines for them."""
    old = cluster.wait_for_leader()
    rest = [i for i in cluster.ids if i != old]
    cluster.partition([old, rest[0]], rest[1:])
    for k in range(3):
        cluster.submit(f"lost {k}".encode())
        cluster.run(5)
    cluster.run_until(lambda c: any(c.nodes[i].role == "leader" for i in rest[1:]), 3000)
    new = next(i for i in rest[1:] if cluster.nodes[i].role == "leader")
    for k in range(3):
        cluster.submit(f"kept {k}".encode(), node=new)
        cluster.run(20)
    cluster.heal()
    cluster.run(600)


def test_every_frame_is_exactly_the_snapshot_of_its_moment_even_across_truncations():
    cluster = Cluster(5, seed=3)
    snaps = _full_snapshots(cluster)
    rec = Recorder(cluster)
    _truncating_run(cluster)
    rewritten = [
        b
        for a, b in zip(snaps, snaps[1:], strict=False)
        if any(y.log[: len(x.log)] != x.log for x, y in zip(a.nodes, b.nodes, strict=True))
    ]
    assert rewritten, "the scenario must truncate some log, or it tests nothing"
    assert any(e.kind == "truncate" for e in cluster.trace)
    by_moment = {_moment(s): s for s in snaps}
    compared = 0
    for k in range(len(rec)):
        frame = rec.at(k)
        if _moment(frame) in by_moment:
            assert frame == by_moment[_moment(frame)]
            compared += 1
    assert compared == len(snaps)  # every notified moment was recorded
    # Backwards and jumping about too (at() reuses the log tuples it made last time).
    for k in [*range(len(rec) - 1, -1, -1), *range(0, len(rec), 7), *range(len(rec) - 1, 0, -13)]:
        frame = rec.at(k)
        if _moment(frame) in by_moment:
            assert frame == by_moment[_moment(frame)]


def test_frames_share_unchanged_node_views_instead_of_copying_them():
    cluster = Cluster(3, seed=1)
    rec = Recorder(cluster)
    cluster.run(400)
    frames = rec._frames
    shared = sum(
        a.snap.nodes[k] is b.snap.nodes[k]
        for a, b in zip(frames, frames[1:], strict=False)
        for k in range(3)
    )
    assert shared > len(frames)  # most events touch one node; the others are shared


def test_fork_at_a_frame_replays_exactly_that_moment():
    cluster = Cluster(5, seed=7)
    rec = Recorder(cluster)
    _truncating_run(cluster)
    for k in (0, 1, len(rec) // 3, len(rec) // 2, len(rec) - 1):
        fork = rec.fork(k)
        assert fork.snapshot() == rec.at(k)
        assert [str(e) for e in fork.trace] == [str(e) for e in rec.at(k).trace]


def test_two_forks_from_one_moment_with_the_same_actions_have_the_same_future():
    cluster = Cluster(5, seed=11)
    rec = Recorder(cluster)
    cluster.wait_for_leader()
    cluster.run(300)
    k = len(rec) // 2
    futures = []
    for _ in range(2):
        fork = rec.fork(k)
        fork.crash(fork.wait_for_leader())
        fork.run(800)
        futures.append([str(e) for e in fork.trace])
    assert futures[0] == futures[1]
    assert len(futures[0]) > len(rec.at(k).trace)


def test_thinning_bounds_the_frames_and_keeps_the_start_and_the_recent_past():
    cluster = Cluster(3, seed=2)
    rec = Recorder(cluster, max_frames=60)
    snaps = _full_snapshots(cluster)
    cluster.run(3000)
    rec.capture()
    assert rec.thinnings > 0
    assert len(rec) <= 60
    assert rec.at(0).time == 0.0 and rec.at(0).event_index == 0
    assert rec.at(-1) == cluster.snapshot()
    times = rec.times()
    assert times == sorted(times)
    # The newest quarter keeps every event: consecutive frames are consecutive snapshots.
    recent = [_moment(rec.at(k)) for k in range(len(rec) - 10, len(rec) - 1)]
    all_moments = [_moment(s) for s in snaps]
    start = all_moments.index(recent[0])
    assert all_moments[start : start + len(recent)] == recent


def test_network_knobs_are_recorded_per_frame():
    cluster = Cluster(3, seed=2)
    rec = Recorder(cluster)
    cluster.run(100)
    cluster.network.drop_rate = 0.25
    cluster.network.delay_ms = (5, 40)
    cluster.run(100)
    assert rec.network_at(0) == {"drop_rate": 0.0, "duplicate_rate": 0.0, "delay_ms": (2.0, 10.0)}
    assert rec.network_at(-1) == {"drop_rate": 0.25, "duplicate_rate": 0.0, "delay_ms": (5.0, 40.0)}


def test_bad_frame_numbers_and_sizes_are_refused_in_words():
    rec = Recorder(Cluster(3, seed=0))
    with pytest.raises(ValueError, match="frames 0..0"):
        rec.at(5)
    with pytest.raises(ValueError, match="max_frames"):
        Recorder(Cluster(3, seed=0), max_frames=1)
    with pytest.raises(ValueError, match="no branch"):
        rec.unbranch()


# ------------------------------------------------------------------ session


def test_status_names_the_leader_and_term_and_who_is_down():
    session = Session(Cluster(5, seed=4))
    session.run(600)
    leader = session.cluster.leader()
    term = session.cluster.nodes[leader].current_term
    assert f"S{leader} is the leader of term {term}" in session.status()
    session.crash(leader)
    assert f"S{leader} is down" in session.status()
    assert "no leader; the highest term is 0" in status(session.recorder.at(0))


def test_trace_tail_shows_the_last_lines_of_the_moment_shown():
    session = Session(Cluster(3, seed=4))
    session.run(600)
    live = session.trace_tail(3)
    assert live == [str(e) for e in session.cluster.trace[-3:]]
    session.seek(0)
    assert session.trace_tail(3) == []
    assert trace_tail(session.recorder.at(-1), 100) == [str(e) for e in session.cluster.trace]


def test_acting_in_the_past_forks_a_new_future_from_that_moment():
    session = Session(Cluster(5, seed=5))
    session.run(1000)
    original = session.cluster
    k = len(session.recorder) // 2
    past = session.seek(k)
    assert not session.live
    outcome = session.crash(1) if past.node(1).alive else session.restart(1)
    assert outcome.ok and outcome.forked
    assert "New future from" in outcome.message
    assert session.cluster is not original
    assert session.live and len(session.recorder) == k + 2
    assert session.recorder.at(k) == past
    # The new future shares the past's trace and then differs from the old future.
    new_trace = [str(e) for e in session.cluster.trace]
    assert new_trace[: past.trace_len] == [str(e) for e in original.trace[: past.trace_len]]
    assert "crash" in new_trace[past.trace_len] or "restart" in new_trace[past.trace_len]


def test_a_failed_action_in_the_past_keeps_the_recorded_future():
    session = Session(Cluster(3, seed=5))
    session.run(800)
    frames, cluster = len(session.recorder), session.cluster
    session.seek(3)
    outcome = session.cut(1, 1)
    assert outcome.kind == "error" and "two different nodes" in outcome.message
    assert not outcome.forked
    assert session.cluster is cluster and len(session.recorder) == frames
    assert session.position == 3


def test_toggle_crashes_a_live_node_and_restarts_a_crashed_one():
    session = Session(Cluster(3, seed=5))
    session.run(500)
    assert session.toggle(2).message == "Crashed S2."
    assert 2 not in session.cluster.alive
    assert session.toggle(2).message == "Restarted S2 from its disk."
    assert 2 in session.cluster.alive


def test_split_puts_the_leader_in_the_minority_and_the_majority_elects_anew():
    session = Session(Cluster(5, seed=8))
    session.run(600)
    old = session.cluster.leader()
    outcome = session.split()
    assert outcome.ok and f"S{old}" in outcome.message.split("|")[0]
    session.run(1500)
    new = session.cluster.leader()
    assert new is not None and new != old
    assert session.cluster.nodes[new].current_term > session.cluster.nodes[old].current_term
    assert session.split([1, 2, 3]).kind == "error"  # three of five is not a minority


def test_network_knobs_change_through_the_session_and_bad_values_change_nothing():
    session = Session(Cluster(3, seed=5))
    assert session.set_drop_rate(0.3).ok
    assert session.set_delay(4, 30).ok
    assert session.network()["drop_rate"] == 0.3
    assert session.cluster.network.delay_ms == (4.0, 30.0)
    bad = session.set_duplicate_rate(1.5)
    assert bad.kind == "error" and "between 0 and 1" in bad.message
    assert session.cluster.network.duplicate_rate == 0.0


def test_client_set_then_consensus_get_and_relaxed_get_answer():
    session = Session(Cluster(3, seed=6, state_machine=KVStateMachine))
    session.run(600)
    assert session.client_set("x", "1").ok
    got = session.client_get("x")
    assert got.ok and got.answer == "1" and "'1'" in got.message
    missing = session.client_get("nope")
    assert missing.ok and missing.answer is None and "no such key" in missing.message
    leader = session.cluster.leader()
    relaxed = session.relaxed_get("x", leader)
    assert relaxed.ok and relaxed.answer == "1"


def test_relaxed_get_at_a_crashed_node_gets_no_answer():
    session = Session(Cluster(3, seed=6, state_machine=KVStateMachine))
    session.run(600)
    session.crash(1)
    outcome = session.relaxed_get("x", 1)
    assert outcome.kind == "error" and "S1 is down" in outcome.message


def test_client_without_a_key_value_store_says_how_to_make_one():
    session = Session(Cluster(3, seed=6))
    session.run(600)
    outcome = session.client_set("x", "1")
    assert outcome.kind == "error" and "state_machine=KVStateMachine" in outcome.message


def test_client_without_a_leader_times_out_in_words():
    session = Session(Cluster(3, seed=6, state_machine=KVStateMachine), client_timeout_ms=500)
    session.run(600)
    session.crash(1)
    session.crash(2)
    session.crash(3)
    start = session.cluster.now
    outcome = session.client_set("x", "1")
    assert outcome.kind == "error" and "no answer within 500 ms" in outcome.message
    assert session.cluster.now == start + 500


def test_client_writes_in_a_forked_future_take_effect():
    # The past's client is in every replica's exactly-once table; a client on the fork
    # that reused its id would have its writes dropped as old duplicates.
    session = Session(Cluster(3, seed=6, state_machine=KVStateMachine))
    session.run(600)
    session.client_set("x", "1")
    session.client_set("x", "2")
    session.run(50)
    session.seek(len(session.recorder) - 2)
    assert session.client_set("x", "3").forked
    assert session.client_get("x").answer == "3"
    ops = [(op.op, op.value, op.output) for op in session.cluster.history]
    assert ops[-2:] == [("set", "3", None), ("get", None, "3")]


def _violating_session() -> tuple[Session, int]:
    """With votes granted without the log check (§5.4.1), a node missing a committed entry
    wins an election: Leader Completeness breaks (seed 2, found by search)."""
    cluster = Cluster(3, seed=2, bugs={"no_log_check"})
    session = Session(cluster)
    leader = cluster.wait_for_leader()
    behind = next(i for i in cluster.ids if i != leader)
    session.crash(behind)
    cluster.submit(b"a")
    session.run(100)
    session.restart(behind)
    mark = session.position
    session.crash(leader)
    return session, mark


def test_a_safety_violation_is_reported_by_name_and_pauses_the_run():
    session, _ = _violating_session()
    outcome = session.run(2000)
    assert outcome.kind == "violation"
    assert isinstance(outcome.violation, SafetyViolation)
    assert "Leader Completeness" in outcome.message and "paused" in outcome.message
    assert session.cluster.now < 1000  # it stopped at the violating event, not after 2000 ms
    again = session.run(100)
    assert again.kind == "violation" and "Slide back" in again.message
    assert session.step().kind == "violation"


def test_after_a_violation_sliding_back_and_acting_differently_forks_a_safe_future():
    session, mark = _violating_session()
    session.run(2000)
    session.seek(mark)  # just before the leader crashed
    outcome = session.run(1000)
    assert outcome.ok and outcome.forked
    assert session.violation is None
    assert session.cluster.leader() is not None


def test_the_session_follows_a_cluster_driven_from_outside_unless_a_past_moment_is_shown():
    cluster = Cluster(3, seed=9)
    session = Session(cluster, max_frames=40)
    cluster.run(300)  # e.g. from another notebook cell
    assert session.live and session.shown.event_index == cluster.event_count
    past = session.seek(10)
    cluster.run(2000)  # enough to thin the recording several times
    assert session.recorder.thinnings > 0
    assert not session.live and session.shown == past
