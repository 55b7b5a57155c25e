"""Chaos runs: many seeds clean, every planted bug caught, replay exact, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace

import pytest

from raftlab import Config
from raftlab.chaos import ALL_FAULTS, HEAL_BOUND_MS, run
from raftlab.chaos.cli import main, parse_seeds, run_seeds

DEFAULT = dict(nodes=5, duration_ms=10_000, clients=4, faults=ALL_FAULTS, bugs=())

# The first seed of the default configuration at which each planted bug is caught, and
# the safety property that catches it, each found by searching seeds 0..59, not guessed.
# (The runs change whenever the default mix does: pipelining and crash windows, then the
# reads of issue 11 (read modes, drift, leases and PreVote drawn per seed), log compaction
# and membership churn of issue 12 each moved some of these, and so did the probe's guard
# against stale refusals; figure8 was at seed 3, 7, 8 and 4 before, forget_vote at 0, 1
# and 4.)
FIRST_CATCH = {
    "figure8": (12, "Leader Completeness"),
    "forget_vote": (16, "Election Safety"),
    "no_log_check": (0, "Leader Completeness"),
    "no_prev_check": (0, "Log Matching"),
    "send_before_persist": (1, "Election Safety"),
    "concurrent_config_change": (0, "Leader Completeness"),
    "config_before_noop": (3, "Leader Completeness"),
    "snapshot_forgets_sessions": (0, "State Machine Safety"),
}
F8 = FIRST_CATCH["figure8"][0]  # a seed that fails with the figure8 bug


def test_200_seeds_are_clean_and_each_does_real_work():
    results = list(run_seeds(range(200), DEFAULT, jobs=2))
    assert [r.seed for r in results] == list(range(200))
    failing = [r.summary for r in results if not r.ok]
    assert failing == []
    assert all(r.linearizable is True for r in results)
    kinds: Counter[str] = Counter()
    for r in results:
        faults = dict(r.faults)
        kinds.update(faults)
        injected = sum(n for k, n in faults.items() if k != "restart")
        # Not a calm run: dozens of answered operations and many faults in every seed.
        assert r.ops_ok >= 40, (r.seed, r.ops_ok)
        assert injected >= 10, (r.seed, faults)
        assert r.liveness is None and r.heal_ms is not None and r.heal_ms <= HEAL_BOUND_MS
    assert set(kinds) == set(ALL_FAULTS) and min(kinds.values()) >= 50
    assert sum(r.ops_ok for r in results) / len(results) >= 200


@pytest.mark.parametrize("bug", sorted(FIRST_CATCH))
def test_each_planted_bug_is_caught_within_60_seeds(bug):
    first = next(seed for seed in range(60) if not run(seed, bugs=(bug,)).ok)
    expected_seed, invariant = FIRST_CATCH[bug]
    assert first == expected_seed
    report = run(first, bugs=(bug,))
    assert report.violation is not None and report.violation.invariant == invariant
    # The same seed without the bug is clean: the bug, not the schedule, broke it.
    assert run(first).ok


# The two read bugs break no invariant of the logs, only what clients are told: the
# linearizability checker catches them.  A deposed leader's lease (lease_ignores_drift)
# outlives the followers' patience by tens of milliseconds only, so a client must find the
# new leader that fast and another must still read at the old one: eight clients that give
# up on a silent node after 50 ms, not four after 400.  (With four such clients it was
# seed 17 before snapshots and membership churn joined the mix; no seed below 150 now.)
FIRST_READ_CATCH = {
    "read_index_no_heartbeat": (2, {"client_attempt_ms": 400}),
    "lease_ignores_drift": (0, {"client_attempt_ms": 50, "clients": 8}),
}


@pytest.mark.parametrize("bug", sorted(FIRST_READ_CATCH))
def test_each_read_bug_is_caught_by_the_checker_within_60_seeds(bug):
    expected_seed, clients = FIRST_READ_CATCH[bug]
    first = next(seed for seed in range(60) if not run(seed, bugs=(bug,), **clients).ok)
    assert first == expected_seed
    report = run(first, bugs=(bug,), **clients)
    assert report.violation is None and report.linearizable is False
    stale = [op for op in report.check.operations if op.op == "get"]
    assert stale and all(op.mode in ("read_index", "lease") for op in stale)
    assert run(first, **clients).ok  # the bug did it


def test_reads_in_every_mode_drift_and_the_read_plays_occur():
    reports = [run(seed) for seed in range(12)]
    modes = {op.mode for r in reports for op in r.history if op.op == "get"}
    assert modes == {"log", "read_index", "lease", "relaxed"}
    details = " / ".join(f.detail for r in reports for f in r.faults)
    assert "clock runs x" in details and "every other x" in details  # drift, at the edge
    assert "just after a read" in details  # a leader cut off right after a client read
    assert any(r.config.pre_vote for r in reports) and any(r.config.check_quorum for r in reports)


def test_aimed_faults_and_every_partition_shape_occur():
    details = " / ".join(f.detail for seed in range(25) for f in run(seed).faults)
    for phrase in (
        "just elected",  # a leader crashed or cut off the moment it wins
        "right after its first commit",
        "right after its vote",  # a voter restarted within milliseconds
        "Figure 8, act 4",
        "majority crash",
        "split ",
        "bridge ",
        "ring ",
    ):
        assert phrase in details, phrase


def test_small_batches_and_narrow_timeouts_now_and_then():
    configs = [run(seed, duration_ms=0).config for seed in range(40)]
    assert 5 <= sum(c.max_batch <= 3 for c in configs) <= 25
    assert 5 <= sum(c.election_timeout_ms[1] < 200 for c in configs) <= 25
    # Many runs keep the default timing and batching (the reads' knobs are drawn apart,
    # below: no drawn config of issue 11 equals Config() as a whole, by design).
    timing = dict(pre_vote=False, check_quorum=False, lease_ms=0, max_drift=0.01)
    assert any(replace(c, **timing) == Config() for c in configs)


def test_leases_prevote_and_check_quorum_are_drawn_within_the_drift_bound():
    configs = [run(seed, duration_ms=0).config for seed in range(40)]
    leased = [c for c in configs if c.lease_ms]
    assert 10 <= len(leased) <= 30
    # As long as Config allows: the lowest election timeout / (1 + max_drift), rounded down.
    assert all(c.lease_ms == int(c.election_timeout_ms[0] / (1 + c.max_drift)) for c in leased)
    assert {c.max_drift for c in configs} == {0.01, 0.05, 0.1, 0.2, 0.3, 0.4}
    assert 4 <= sum(c.pre_vote for c in configs) <= 20
    assert 4 <= sum(c.check_quorum for c in configs) <= 22


def test_a_replayed_seed_gives_the_identical_run():
    a, b = run(F8, bugs=("figure8",)), run(F8, bugs=("figure8",))
    assert [str(e) for e in a.trace] == [str(e) for e in b.trace]
    assert a.faults == b.faults
    assert a.history.to_json() == b.history.to_json()
    assert str(a.violation) == str(b.violation)


def test_replay_command_reproduces_the_trace_in_another_process():
    report = run(F8, bugs=("figure8",))
    assert report.replay_command == f"python -m raftlab chaos --seeds {F8} --bug figure8 --trace"
    argv = report.replay_command.split()[4:]
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-m", "raftlab", "chaos", *argv, "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    start = lines.index(f"== seed {F8}: trace ==") + 1
    trace = lines[start : start + len(report.trace)]
    assert trace == [str(e) for e in report.trace]


def test_cli_summary_for_clean_seeds(capsys):
    assert main(["--seeds", "0-2", "--jobs", "2"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "chaos: 3 seeds (0-2)" in out
    assert "operations:" in out and "answered" in out
    assert "faults: crash" in out and "restart" in out
    assert "violations: 0 failing seed(s)" in out
    assert "seeds/min" in captured.err and "3/3 seeds" in captured.err  # the progress bar


def test_cli_prints_a_replay_command_per_failing_seed_and_exits_1(capsys):
    assert main(["--seeds", f"0-{F8}", "--bug", "figure8", "--quiet"]) == 1  # F8 alone fails
    out = capsys.readouterr().out
    assert "violations: 1 failing seed(s)" in out
    assert f"seed {F8}: Leader Completeness violated" in out
    assert f"replay: python -m raftlab chaos --seeds {F8} --bug figure8 --trace" in out


# The first seed at which the linearizability checker *alone* catches each planted bug: the
# invariants are off (``check_invariants=False``), so the run goes on past the violation and
# only the clients' history can give the bug away.  figure8 is absent: with the default
# clients it never shows in the history (see the test after this one).
# (Before the reads of issue 11: forget_vote 0, no_prev_check 29; with the reads, forget_vote
# at 84.  Since snapshots and membership churn joined the mix, no seed below 100 shows
# forget_vote with four clients: PreVote and leader stickiness, drawn in some seeds, defuse
# its split-vote play, and a double vote changes an answer only if a client wrote to the
# leader that loses.  With eight clients it shows at seed 24.  no_prev_check with four
# clients shows in no seed below 100 (the bug's divergent logs rarely reach an answer a
# client sees); with eight clients at seed 3.  Values: (seed, clients).
FIRST_LINEARIZABILITY_CATCH = {
    "forget_vote": (24, 8),
    "no_log_check": (0, 4),
    "no_prev_check": (3, 8),
}


@pytest.mark.parametrize("bug", sorted(FIRST_LINEARIZABILITY_CATCH))
def test_the_checker_alone_catches_each_planted_bug(bug):
    expected_seed, clients = FIRST_LINEARIZABILITY_CATCH[bug]
    first = next(
        seed
        for seed in range(100)
        if run(seed, bugs=(bug,), check_invariants=False, clients=clients).linearizable is False
    )
    assert first == expected_seed
    report = run(first, bugs=(bug,), check_invariants=False, clients=clients)
    assert report.violation is None and not report.ok
    assert report.check.operations and report.check.minimal
    assert "not linearizable on key" in report.summary()
    more = f" --clients {clients}" if clients != 4 else ""
    assert report.replay_command.endswith(f"--bug {bug}{more} --no-invariants --trace")
    # The same seed without the bug is linearizable: the bug did it.
    assert run(first, check_invariants=False, clients=clients).linearizable is True


def test_figure8_reaches_the_history_only_with_clients_that_wait_through_the_play():
    # figure8's overwritten entry can carry client writes (the entries are the clients'),
    # but a client gives up on a node after 400 ms and retries elsewhere; its retry lands
    # in a later term and commits properly, so the write happens once, inside the
    # operation's interval: linearizable.  A client that waits 2500 ms stays on the entry
    # that the re-elected leader commits by counting; it is told "done", and then the
    # entry is overwritten.  Seed 23 is the first to show it (the play must also hit
    # that client's entry and a later operation must look at the key).  (Seed 19 was the
    # first before membership churn joined the default mix; its play comes after churn
    # starts, so its run changed.  Seed 23's play is over before churn starts.)
    bug = {"figure8"}
    patient = run(23, bugs=bug, check_invariants=False, client_attempt_ms=2500)
    assert patient.linearizable is False
    assert "--client-attempt 2500" in patient.replay_command
    assert run(23, bugs=bug, check_invariants=False).linearizable is True  # impatient
    assert run(23, check_invariants=False, client_attempt_ms=2500).linearizable is True


def test_a_checker_that_gives_up_is_unknown_never_ok(monkeypatch, capsys):
    from raftlab.chaos import runner
    from raftlab.linearizability import CheckResult

    monkeypatch.setattr(runner, "check", lambda *a, **k: CheckResult(None, "kv", nodes=7))
    report = run(0)
    assert report.linearizable is None and report.unknown and not report.ok
    assert "linearizability unknown" in report.summary() and "not a pass" in report.summary()
    assert main(["--seeds", "0-1", "--quiet"]) == 2  # nothing failed, but two unknowns
    out = capsys.readouterr().out
    assert "violations: 0 failing seed(s); 2 unknown" in out
    assert "replay: python -m raftlab chaos --seeds 1 --trace" in out


def test_cli_no_invariants_lets_the_checker_catch_the_bug(capsys):
    assert main(["--seeds", "0", "--bug", "no_log_check", "--no-invariants", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "with bug no_log_check, invariants off" in out
    assert "seed 0: not linearizable on key" in out
    assert "--bug no_log_check --no-invariants --trace" in out


def test_parallel_and_serial_runs_agree():
    serial = list(run_seeds(range(4), DEFAULT, jobs=1))
    parallel = list(run_seeds(range(4), DEFAULT, jobs=2))
    assert serial == parallel


def test_only_the_requested_fault_kinds_are_injected():
    report = run(4, faults=("drop", "duplicate"))
    assert report.faults and {f.kind for f in report.faults} <= {"drop", "duplicate"}
    assert report.ok
    for seed in range(3):
        crashes = run(seed, faults=("crash", "restart"))
        assert {f.kind for f in crashes.faults} == {"crash", "restart"}
        assert not any(e.kind in ("partition", "cut", "isolate") for e in crashes.trace)
    calm = run(4, faults=())
    assert calm.faults == () and calm.ok and calm.ops_failed == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown fault"):
        run(0, faults=("meteor",))
    with pytest.raises(ValueError, match="unknown bug"):
        run(0, bugs=("typo",))
    with pytest.raises(ValueError, match="seed"):
        run("7")
    assert parse_seeds("7") == range(7, 8)
    assert parse_seeds("3-5") == range(3, 6)
    for bad in ("5-3", "x", "-1", "1-"):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    with pytest.raises(SystemExit):
        main(["--seeds", "9-1"])
