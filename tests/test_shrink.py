"""Chaos runs record their schedule and workload, replay them exactly, and shrink.

Short runs and few re-runs keep these fast; the figures for whole seeds are in
``benchmarks/bench_labs.py shrink``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from raftlab import chaos
from raftlab.chaos.cli import main as chaos_main
from raftlab.chaos.script import Action, ClientOp
from raftlab.chaos.shrink import ddmin, failed_property, shrink


def lines(report) -> list[str]:
    return [str(e) for e in report.trace]


@pytest.mark.parametrize(
    ("seed", "bugs"), [(1, ()), (1, ("forget_vote",)), (2, ("no_prev_check",))]
)
def test_the_recorded_schedule_and_workload_replay_the_same_run(seed, bugs):
    r = chaos.run(seed, bugs=bugs, duration_ms=3000)
    assert r.schedule and r.workload
    assert all(isinstance(a, Action) for a in r.schedule)
    assert all(isinstance(op, ClientOp) for op in r.workload)
    again = chaos.run(seed, bugs=bugs, duration_ms=3000, schedule=r.schedule, workload=r.workload)
    assert lines(again) == lines(r)
    assert again.ok == r.ok and again.schedule == r.schedule and again.workload == r.workload


def test_an_empty_schedule_and_workload_is_a_quiet_run():
    r = chaos.run(4, duration_ms=1000, schedule=(), workload=())
    assert r.ok and r.faults == () and r.workload == ()
    assert not any(e.kind in ("crash", "partition", "cut", "isolate") for e in r.trace)
    assert len(r.history) == 4  # only the final read of each client after the healing


def test_impossible_actions_are_skipped_not_raised():
    """A sub-schedule can restart a node that never crashed, or name a node that a
    smaller cluster lacks: those actions have nothing to do."""
    schedule = (
        Action(0, 50.0, "restart", (2,)),  # S2 is running
        Action(0, 60.0, "crash", (5,)),  # no S5 in a 3-node cluster
        Action(0, 70.0, "partition", ((1, 4), (2, 3, 5))),  # S4, S5 dropped: S1 | S2 S3
        Action(0, 80.0, "crash", (3,)),
    )
    r = chaos.run(0, nodes=3, duration_ms=500, schedule=schedule, workload=())
    faults = [(e.kind, e.node, e.detail) for e in r.trace if e.kind in ("crash", "partition")]
    assert faults[0] == ("partition", None, "S1 | S2 S3")
    assert faults[1][:2] == ("crash", 3)
    assert not any(e.kind == "restart" and e.time < 80 for e in r.trace)
    assert [f.kind for f in r.faults][:2] == ["partition", "crash"]


def test_ddmin_finds_a_one_minimal_failing_subset():
    calls = []

    def fails(xs):
        calls.append(list(xs))
        return {3, 7} <= set(xs)

    assert ddmin(list(range(10)), fails) == [3, 7]
    assert ddmin([1, 2, 3], lambda xs: True) == []  # nothing needed at all
    assert len(calls) < 60


def test_shrinking_keeps_the_property_and_tells_a_shorter_story():
    r = chaos.run(0, bugs=("no_log_check",))
    assert failed_property(r) == "Leader Completeness"
    s = shrink(r, budget_s=float("inf"), max_runs=70)  # it is 1-minimal after 66
    assert s.property == "Leader Completeness"
    assert failed_property(s.shrunk) == "Leader Completeness"
    assert s.after_lines < s.before_lines and s.after_lines <= 40
    assert len(s.shrunk.schedule) <= len(r.schedule)
    assert len(s.shrunk.workload) <= len(r.workload)
    # The shrunk run is a real run: replaying its options fails the same way, identically.
    again = chaos.run(0, **s.options)
    assert failed_property(again) == "Leader Completeness"
    assert lines(again) == lines(s.shrunk)


def test_a_run_that_cannot_be_linearized_ends_soon_after_its_failing_operations():
    """A stale read fails no invariant, so the run would go on to its end: the shrunk one
    stops 200 ms after the last answer among the operations that cannot be ordered, and
    keeps only what the story needs (the stale read, the write it missed)."""
    from raftlab.labs.story import tell

    r = chaos.run(2, bugs=("read_index_no_heartbeat",))
    assert failed_property(r) == "Linearizability"
    s = shrink(r, budget_s=float("inf"), max_runs=200)
    assert failed_property(s.shrunk) == "Linearizability"
    end = max(op.ret for op in s.shrunk.check.operations)
    assert s.shrunk.duration_ms <= end + 200 < r.duration_ms
    assert len(tell(s.shrunk.trace, s.shrunk.summary(), compact=True)) <= 40
    again = chaos.run(2, **s.options)
    assert failed_property(again) == "Linearizability"
    assert lines(again) == lines(s.shrunk)


def test_a_later_start_keeps_the_servers_removed_by_then():
    """The membership at the moment a shrunk run starts from is part of its scene: the
    servers outside the leader's configuration then are removed first."""
    from raftlab.chaos.shrink import _outside_at
    from raftlab.trace import TraceEvent

    trace = [
        TraceEvent(10.0, 1, "leader", "term=1", term=1),
        TraceEvent(20.0, 1, "config", "index=3 voters S1 S2 S3 S5", term=1),
        TraceEvent(25.0, 2, "config", "index=3 voters S1 S2 S3 S5", term=1),
        TraceEvent(30.0, 1, "config", "index=4 voters S1 S2 S3 S5, learners S4", term=1),
    ]
    assert _outside_at(trace, 15.0, 1, 5) == []  # nothing changed yet
    assert _outside_at(trace, 28.0, 1, 5) == [4]
    assert _outside_at(trace, 40.0, 1, 5) == []  # S4 is back, as a learner
    assert _outside_at(trace, 28.0, None, 5) == []  # no leader: no configuration to keep


def test_a_read_served_at_the_instant_it_was_taken_is_one_line():
    from raftlab.labs.story import tell
    from raftlab.trace import TraceEvent

    trace = [
        TraceEvent(5.0, 3, "read_index", "seq=4 index=1", term=1),
        TraceEvent(5.0, 3, "read", "index=1 read_index", term=1),
        TraceEvent(7.0, 3, "read_index", "seq=5 index=1", term=1),
        TraceEvent(9.0, 3, "read", "index=1 read_index", term=1),  # after its round: two lines
    ]
    story = tell(trace, compact=True)
    assert len(story) == 3 and len(tell(trace)) == 4
    assert "sends heartbeat round 4 and, at that same instant, serves the read" in story[0]
    assert "round 5" in story[1] and "(ReadIndex)" in story[2]


def test_a_leaders_appends_one_after_another_are_one_line():
    from raftlab.labs.story import tell
    from raftlab.trace import TraceEvent

    trace = [
        TraceEvent(1.0, 1, "propose", "index=4", term=2),
        TraceEvent(1.0, 1, "propose", "index=5", term=2),
        TraceEvent(2.5, 1, "propose", "index=6", term=2),
        TraceEvent(3.0, 1, "propose", "index=7..8", term=2),  # (a batch: one event)
        TraceEvent(4.0, 2, "commit", "index=5", term=2),
        TraceEvent(5.0, 1, "propose", "index=9", term=2),  # after another server's line
    ]
    story = tell(trace, compact=True)
    assert len(story) == 3 and len(tell(trace)) == 6
    assert story[0].endswith(
        "S1 appends client commands at index 4..5, then 6 (2.50 ms) and 7..8 (3.00 ms)"
    )
    assert story[2].endswith("S1 appends client command at index 9")


def test_a_passing_run_cannot_be_shrunk():
    r = chaos.run(0, duration_ms=500)
    with pytest.raises(ValueError, match="only a failing run"):
        shrink(r)


def test_the_cli_prints_the_shrunk_story(capsys):
    code = chaos_main(["--seeds", "0", "--bug", "no_log_check", "--quiet", "--shrink"])
    out = capsys.readouterr().out
    assert code == 1
    assert "== seed 0: shrunk Leader Completeness on seed 0" in out
    assert "story (" in out and "one line with its vote" in out and "  1. " in out
    assert "!! Leader Completeness violated" in out


def test_reactions_replay_on_their_trigger_event():
    """The nemesis's reactions (Figure 8's acts) are marked with the event they reacted
    to, and the marked schedule still replays the very same run."""
    from raftlab.chaos.script import aim

    # (Seed 12, the first that catches figure8 with snapshots, membership churn and reads in
    # the chaos mix, plays Figure 8 from 8.0 s to 8.9 s.)
    r = chaos.run(12, bugs=("figure8",), duration_ms=9000)
    aimed = aim(r.schedule, r.faults, r.trace)
    triggers = [a.trigger for a in aimed if a.trigger is not None]
    assert ("leader", 3) in triggers and ("commit", 4) in triggers
    assert "(when S3 becomes leader)" in " ".join(map(str, aimed))
    again = chaos.run(12, bugs=("figure8",), duration_ms=9000, schedule=aimed, workload=r.workload)
    assert lines(again) == lines(r)


def test_an_armed_crash_window_reads_as_words():
    from raftlab.chaos.script import Action, describe_action

    assert describe_action(Action(0, 0.0, "crash_window", (3, "after_persist"))) == (
        "crash S3 after persisting, before sending, in its next output that sends"
    )
    assert describe_action(Action(0, 0.0, "crash_window", (3, None))) == (
        "disarm S3's crash window"
    )


@pytest.mark.parametrize(
    ("bug", "seed"),
    [("forget_vote", 1), ("forget_vote", 2), ("send_before_persist", 2), ("no_log_check", 2)],
)
def test_every_marked_reaction_waits_for_its_very_event(bug, seed):
    """Reactions to a vote (a voter bounced once its reply arrived, some ms later), armed
    crash windows and a leader's first commit are marked with their event; the marked
    schedule still replays the very same run (a reaction waits for the event it reacted
    to, not an earlier one of the same kind and server)."""
    from raftlab.chaos.script import aim

    r = chaos.run(seed, bugs=(bug,))
    aimed = aim(r.schedule, r.faults, r.trace)
    kinds = {a.trigger[0] for a in aimed if a.trigger is not None}
    assert "vote" in kinds or "commit" in kinds
    assert any(a.after > 0 for a in aimed) or "commit" in kinds
    again = chaos.run(seed, bugs=(bug,), schedule=aimed, workload=r.workload)
    assert lines(again) == lines(r)


def test_a_shrunk_scripts_bounced_voter_crashes_when_its_vote_arrives():
    """In a shrunk script (``Action.anyone``) a voter crashed "once its vote had arrived"
    waits for its own reply's arrival, not for the delay recorded in another run (the
    network draws other delays there): so a server that sends its vote before persisting
    it (``send_before_persist``) still forgets it, whichever server votes first."""
    schedule = (
        Action(0, 300.0, "crash", (1,)),  # S1 led term 1 (seed 1, five servers)
        # Recorded 50 ms after the vote: far later than any reply takes (2-10 ms).
        Action(0, 460.0, "crash", (2,), ("vote", 2), 50.0, True),
        Action(0, 461.5, "restart", (2,)),
    )
    r = chaos.run(1, bugs=("send_before_persist",), duration_ms=700, schedule=schedule, workload=())
    first_vote = next(e for e in r.trace if e.kind == "vote" and e.time > 300)
    crash = next(e for e in r.trace if e.kind == "crash" and e.time > 300)
    restart = next(e for e in r.trace if e.kind == "restart" and e.time > 300)
    assert crash.node == restart.node == first_vote.node != 2  # bound to the first voter
    assert 0 < crash.time - first_vote.time <= 10.0  # its reply's arrival, not 50 ms
    assert restart.detail.startswith("term=1 ")  # the vote it sent was never persisted
    again = chaos.run(
        1, bugs=("send_before_persist",), duration_ms=700, schedule=schedule, workload=()
    )
    assert lines(again) == lines(r)


def test_a_reaction_waits_for_its_very_read_among_reads_with_the_same_words():
    """A leader serves three reads at one index within a few ms; a reaction to the last
    one (the nemesis's ``read_cut``) is marked as coming after the two others with the
    same words (``Action.nth``), and replayed it waits for that very read."""
    from raftlab.chaos.schedule import Fault
    from raftlab.chaos.script import aim

    w = tuple(ClientOp(t, k, "read_index", "a") for k, t in enumerate((400.0, 401.0, 403.0)))
    quiet = chaos.run(4, duration_ms=600, schedule=(), workload=w)
    reads = [e for e in quiet.trace if e.kind == "read"]
    assert [(e.node, e.detail) for e in reads] == [(5, "index=1 read_index")] * 3
    assert reads[0].time < reads[1].time == reads[2].time
    t = reads[-1].time
    said = Fault(t, "partition", "S5 (leader, just after a read: index=1 read_index)")
    (aimed,) = aim((Action(0, t, "isolate", (5,)),), (said,), quiet.trace)
    assert (aimed.trigger, aimed.event, aimed.after, aimed.nth) == (
        ("read", 5),
        "index=1 read_index",
        0.0,
        2,
    )
    r = chaos.run(4, duration_ms=600, schedule=(aimed,), workload=w)
    kinds = [(e.kind, e.time) for e in r.trace if e.time > 400 and e.kind in ("read", "isolate")]
    assert kinds == [("read", reads[0].time), ("read", t), ("read", t), ("isolate", t)]
    first = chaos.run(4, duration_ms=600, schedule=(replace(aimed, nth=0),), workload=w)
    kinds = [
        (e.kind, e.time) for e in first.trace if e.time > 400 and e.kind in ("read", "isolate")
    ]
    assert kinds[:2] == [("read", reads[0].time), ("isolate", reads[0].time)]


def test_a_crash_window_still_armed_when_the_chaos_ends_is_disarmed_as_in_the_seeded_run():
    """The seeded nemesis disarms its crash windows before the healing; a replay of its
    schedule (here with its reactions marked) does the same, so the very same run."""
    from raftlab.chaos.script import aim

    # Seed 26 arms a crash window on S1 at 4.97 s that no output meets before the end.
    r = chaos.run(26, duration_ms=5000, check_timeout_s=0.0)
    assert r.schedule[-1].name == "crash_window" and r.schedule[-1].time > 4900
    aimed = aim(r.schedule, r.faults, r.trace)
    again = chaos.run(26, duration_ms=5000, schedule=aimed, workload=r.workload)
    assert lines(again) == lines(r)
