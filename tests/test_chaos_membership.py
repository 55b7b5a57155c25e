"""Membership churn in chaos runs (``raftlab.chaos.churn``): servers removed and added back,
the two plays aimed at the membership rules, and exact replay of a run that changes the
configuration."""

from __future__ import annotations

from raftlab.chaos import ALL_FAULTS, run


def test_churn_has_its_own_generator_so_a_run_is_unchanged_until_the_first_change():
    # A change can wait for a play or a leaderless moment, so not every 6 s run has one:
    # every run that does must match the run without churn up to its first change.
    changed = 0
    for seed in range(5):
        with_churn = run(seed, duration_ms=6000)
        times = [f.time for f in with_churn.faults if f.kind == "membership"]
        if not times:
            continue
        changed += 1
        first = times[0]
        assert first >= 2000, "churn's clock starts 2 to 4 s into the run"
        without = run(seed, duration_ms=6000, faults=[k for k in ALL_FAULTS if k != "membership"])
        before = [str(e) for e in with_churn.trace if e.time < first]
        assert before == [str(e) for e in without.trace if e.time < first]
    assert changed >= 2, "seeds 0-4 should change the configuration at least twice"


def test_servers_are_removed_and_added_back_and_the_plays_run():
    details = []
    for seed in range(12):
        r = run(seed)
        assert r.ok, r.summary()
        details += [f"{f.kind} {f.detail}" for f in r.faults]
    text = " / ".join(details)
    for phrase in (
        "membership remove S",
        "membership add S",
        "membership remove S1 (double change, 1)",
        "(change before no-op, act 1)",
        "(change before no-op)",  # act 2: a new leader, asked at once (and refusing)
    ):
        assert phrase in text, phrase


def test_a_run_with_membership_changes_replays_from_its_schedule():
    r = next(
        r
        for r in (run(seed, duration_ms=6000) for seed in range(10))
        if any(a.name == "remove_server" for a in r.schedule)
    )
    again = run(r.seed, duration_ms=6000, schedule=r.schedule, workload=r.workload)
    assert [str(e) for e in again.trace] == [str(e) for e in r.trace]
    assert again.ok and r.ok
