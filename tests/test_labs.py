"""raftlab.labs.check: reference solutions pass, the common wrong answers fail with the
property that names their mistake, and the report tells a short story.

Few chaos seeds on purpose (the suite must stay fast): every wrong answer below is caught
by a staged scenario or by seed 0.
"""

from __future__ import annotations

import matplotlib
import pytest
from lab_solutions import CORRECT, WRONG

from raftlab import RaftNode
from raftlab.labs import RULES, check, overridden_rules

matplotlib.use("Agg")

FAST = dict(seeds=[0], shrink_runs=10)


@pytest.mark.parametrize(
    "cls", [c for items in CORRECT.values() for (c,) in items], ids=lambda c: c.__name__
)
def test_every_reference_solution_passes(cls):
    r = check(cls, seeds=[0])
    assert r.ok, r.summary()
    assert r.property is None and r.story == "" and r.seeds_passed == [0]
    assert r.passed  # at least one scenario exercised its rules


@pytest.mark.parametrize("lab", sorted(WRONG))
def test_each_lab_feeds_at_least_five_wrong_answers(lab):
    assert len(WRONG[lab]) >= 5
    assert len({cls for cls, _ in WRONG[lab]}) == len(WRONG[lab])


@pytest.mark.parametrize(
    ("cls", "prop"),
    [item for items in WRONG.values() for item in items],
    ids=lambda x: x.__name__ if isinstance(x, type) else x,
)
def test_a_common_wrong_answer_fails_with_the_right_property(cls, prop):
    r = check(cls, **FAST)
    assert not r.ok
    assert r.property == prop, r.summary()
    assert r.message and r.hint
    assert r.story_lines and r.story_lines[0].startswith("  1. ")
    assert len(r.story_lines) <= 60  # a story, not a log dump


def test_a_failing_report_tells_the_story_in_numbered_plain_words():
    from lab_solutions import SecondVoteSameTerm

    r = check(SecondVoteSameTerm, **FAST)
    assert r.property == "Election Safety" and r.scenario == "forget_vote"
    lines = r.story.splitlines()
    assert [int(line.split(".")[0]) for line in lines] == list(range(1, len(lines) + 1))
    assert any("votes for S1 in term 1" in line for line in lines)
    assert any("votes for S2 in term 1" in line for line in lines)
    assert "Election Safety violated" in lines[-1]
    assert "§5.2" in r.hint and "votedFor" in r.hint
    text = str(r)
    assert text.startswith("FAILED: Election Safety in scenario 'forget_vote'")
    assert "Hint:" in text


def test_draw_shows_messages_and_logs_at_the_moment_of_violation():
    from lab_solutions import CountsReplicas

    r = check(CountsReplicas, **FAST)
    fig = r.draw()
    assert len(fig.axes) >= 2
    titles = " ".join(ax.get_title() for ax in fig.axes).lower()
    assert "log" in titles
    matplotlib.pyplot.close(fig)


def test_a_chaos_failure_is_shrunk_and_reports_its_seed():
    from lab_solutions import IndexOnly

    # Graded on another rule's scenarios, the mistake gets past them to chaos seed 0.
    r = check(IndexOnly, rules=["leader_commit"], seeds=[0])
    assert r.property == "Log Matching" and r.seed == 0 and r.scenario is None
    assert r.story_before is not None and len(r._trace) < r.story_before
    fig = r.draw()
    matplotlib.pyplot.close(fig)


def test_check_is_deterministic():
    from lab_solutions import IndexOnly

    a = check(IndexOnly, rules=["leader_commit"], **FAST)
    b = check(IndexOnly, rules=["leader_commit"], **FAST)
    assert a.story == b.story and a.summary() == b.summary()


def test_check_runs_the_scenarios_of_the_rules_overridden():
    from lab_solutions import Commit, ConsistencyCheck

    assert overridden_rules(ConsistencyCheck) == ("prev_matches",)
    assert overridden_rules(Commit) == ("follower_commit", "leader_commit")
    r = check(ConsistencyCheck, seeds=[])
    assert r.ok and r.passed == [
        "lagging_follower",
        "no_prev_check",
        "newer_entry_at_prev",
        "stale_follower_commit",
    ]
    assert "forget_vote" not in r.passed
    r = check(RaftNode, rules="grants_vote", seeds=[])
    assert r.ok and "forget_vote" in r.passed and "figure8" not in r.passed
    assert check(RaftNode, seeds=[]).rules == RULES  # nothing overridden: every rule


def test_a_passing_report_says_what_passed():
    from lab_solutions import Votes

    r = check(Votes, seeds=[0])
    text = r.summary()
    assert text.startswith("PASSED: candidate_up_to_date, grants_vote.")
    assert "forget_vote" in text and "1 chaos seed(s) (0) passed" in text
    with pytest.raises(ValueError, match="nothing to draw"):
        r.draw()


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((object,), {}, TypeError, "subclass of it"),
        ((RaftNode(1, [1], rng=__import__("random").Random(0)),), {}, TypeError, "subclass"),
        ((RaftNode,), {"rules": ["grant_vote"]}, ValueError, "unknown rule name"),
        ((RaftNode,), {"rules": []}, ValueError, "at least one"),
        ((RaftNode,), {"seeds": "0-3"}, TypeError, "seeds must be"),
        ((RaftNode,), {"seeds": [-1]}, ValueError, "whole number >= 0"),
        ((RaftNode,), {"nodes": 2}, ValueError, "from 3 to 9"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        check(*args, **kwargs)


def _first_failing_seed(bug: str) -> int:
    from raftlab import chaos

    for seed in range(100):
        if not chaos.run(seed, bugs=(bug,)).ok:
            return seed
    raise AssertionError(f"no seed in 0-99 catches {bug}")


# The planted bugs whose first failing seed shrinks to a story of at most 40 lines on the
# default chaos mix (snapshots, membership churn and reads included).  Not there yet, and
# asserted only to shrink to under half the trace and replay below:
# snapshot_forgets_sessions (55 lines: its failure needs writes enough for a snapshot, a
# retried one among them, and a restart between, and 200 re-runs run out while the faults
# before them still go one by one) and send_before_persist (174 lines with 200 re-runs, 107
# with 800: its crashes are aimed at the instant between an answer and its write to disk,
# and removing an earlier fault moves that instant, so most removals lose the failure).
STORIES_WITHIN_40 = [
    "concurrent_config_change",
    "config_before_noop",
    "figure8",
    "forget_vote",
    "no_log_check",
    "no_prev_check",
    "send_before_persist",
]
STORIES_NOT_YET_40 = ["snapshot_forgets_sessions"]


@pytest.mark.parametrize("bug", STORIES_WITHIN_40 + STORIES_NOT_YET_40)
def test_each_planted_bug_shrinks_to_a_short_story(bug):
    """``python -m raftlab chaos --seeds ... --bug BUG --shrink`` on the first seed that
    catches it: the story (compact, ending included) is shorter than the trace, at most
    40 lines for the bugs of ``STORIES_WITHIN_40``, and the shrunk run replays
    identically and fails the same way."""
    from raftlab import chaos
    from raftlab.chaos.shrink import failed_property, shrink
    from raftlab.labs.story import tell

    seed = _first_failing_seed(bug)
    original = chaos.run(seed, bugs=(bug,))
    s = shrink(original, budget_s=float("inf"), max_runs=200)
    story = tell(s.shrunk.trace, s.shrunk.summary(), compact=True)
    if bug in STORIES_WITHIN_40:
        assert len(story) <= 40, "\n".join(story)
    assert len(story) < len(original.trace) / 2
    again = chaos.run(seed, **s.options)
    assert failed_property(again) == s.property == failed_property(original)
    assert [str(e) for e in again.trace] == [str(e) for e in s.shrunk.trace]


@pytest.mark.parametrize("bug", ["forget_vote", "no_log_check", "no_prev_check"])
def test_check_shrinks_each_planted_bug_that_reaches_chaos_to_at_most_40_lines(bug):
    """``check`` grades a planted bug on a rule whose scenarios it gets past, so chaos
    catches it: the shrunk story it reports has at most 40 lines and replays."""
    from raftlab import chaos
    from raftlab.bugs import node_class
    from raftlab.chaos.shrink import failed_property

    cls = node_class([bug])
    # Up to the bug's first failing chaos seed, not just the default three: a planted bug
    # may need a few more seeds to meet its fault.
    seeds = range(_first_failing_seed(bug) + 1)
    for rule in RULES:
        r = check(cls, rules=[rule], seeds=seeds)
        if r.seed is not None:
            break
    else:
        pytest.fail(f"the scenarios catch {bug} for every rule; nothing reaches chaos")
    assert not r.ok and r.story_before is not None
    assert len(r.story_lines) <= 40, r.story
    assert len(r._trace) < r.story_before
    assert "told in" in r.summary() and "one line with its vote" in r.summary()
    final = r._cluster
    again = chaos.run(r.seed, node_class=cls, **r._options)
    assert failed_property(again) == r.property
    assert [str(e) for e in again.trace] == [str(e) for e in final.trace]


# ------------------------------------------------------------ lab 4: read index


def test_the_read_lab_runs_the_read_scenarios_then_chaos_with_every_read_mode():
    """The read rules are graded on stories with clients (every read in the history with
    its mode), then on chaos seeds whose clients read in every mode."""
    from lab_solutions import ReadIndex

    from raftlab import chaos
    from raftlab.labs.grader import CHAOS_MS, DEFAULT_SEEDS, READ_RULES
    from raftlab.labs.read_scenarios import READ_SCENARIOS

    assert overridden_rules(ReadIndex) == READ_RULES
    r = check(ReadIndex)
    assert r.ok, r.summary()
    assert r.passed == list(READ_SCENARIOS)  # no scenario of the log rules
    assert r.seeds_passed == list(DEFAULT_SEEDS)
    modes: set[str] = set()
    for seed in DEFAULT_SEEDS:
        run = chaos.run(seed, duration_ms=CHAOS_MS, node_class=ReadIndex)
        modes |= {op.mode for op in run.history if op.op == "get"}
    assert {"read_index", "lease", "log"} <= modes


def test_a_stale_read_is_caught_by_the_linearizability_checker_with_a_hint_at_section_6_4():
    from lab_solutions import NoHeartbeatRound

    r = check(NoHeartbeatRound, **FAST)
    assert r.property == "Linearizability" and r.scenario == "deposed_leader_read"
    assert "(read_index)" in r.message and "stale read" in r.message
    assert any("serves a read at index" in line for line in r.story_lines)
    assert "§6.4" in r.hint
    for answer in ("round_acknowledged", "majority of the voters", "term_started", ">="):
        assert answer not in r.hint  # a pointer at the paper, not the solution
    assert "Linearizability" in str(r) and "Hint:" in str(r)
    fig = r.draw()
    assert len(fig.axes) >= 2
    matplotlib.pyplot.close(fig)


def test_the_read_hint_is_given_only_when_a_read_rule_is_checked():
    from raftlab.labs.hints import HINTS, READ_HINTS, hint

    assert hint("Linearizability", ["read_index_confirmed"]) == READ_HINTS["Linearizability"]
    assert hint("Linearizability", ["leader_commit"]) == HINTS["Linearizability"]
    assert hint("Linearizability") == HINTS["Linearizability"]


def test_chaos_catches_a_stale_read_once_the_scenarios_are_passed():
    """Graded on a log rule, a read mistake meets no read scenario; the chaos clients'
    reads (in every mode) reach the checker, which finds the stale one.  No seed is pinned:
    some seed of the first thirty must catch it."""
    from lab_solutions import NoHeartbeatRound

    r = check(NoHeartbeatRound, rules=["leader_commit"], seeds=range(30), shrink_runs=10)
    assert not r.ok and r.property == "Linearizability" and r.seed is not None, r.summary()
    assert r.seeds_passed == list(range(r.seed))
    assert "not linearizable" in r.message


def test_an_unwritten_read_rule_is_reported_as_the_exception_it_raised():
    class Unwritten(RaftNode):
        def read_index_confirmed(self, seq):
            raise NotImplementedError("write read_index_confirmed")

    r = check(Unwritten, **FAST)
    assert r.property == "Exception" and r.scenario == "deposed_leader_read"
    assert "NotImplementedError: write read_index_confirmed" in r.message
    assert "in read_index_confirmed" in r.message


#: Lab 4's wrong answers that a default chaos seed catches when graded on
#: ``leader_commit`` alone (``bench_labs.py check --lab reads``), by their shrunk story.
READ_STORIES_WITHIN_40 = [
    "NoHeartbeatRound",
    "AnyRoundCounts",
    "HalfIsEnough",
    "SelfCountedTwice",
    "OneAnswerIsEnough",
]
READ_STORIES_NOT_YET_40 = ["SkipsNoopCheck", "LastEntryOfMyTerm"]


@pytest.mark.parametrize("name", READ_STORIES_WITHIN_40)
def test_a_stale_read_past_the_scenarios_shrinks_to_at_most_40_lines(name):
    """A read mistake graded on a log rule meets no read scenario, so a chaos seed's
    clients catch it: the shrunk story (the partition or cut that deposes the leader, the
    writes and the stale read around it) has at most 40 lines and replays."""
    import lab_solutions

    from raftlab import chaos
    from raftlab.chaos.shrink import failed_property

    cls = getattr(lab_solutions, name)
    r = check(cls, rules=["leader_commit"])
    assert not r.ok and r.property == "Linearizability" and r.seed is not None, r.summary()
    assert len(r.story_lines) <= 40, r.story
    again = chaos.run(r.seed, node_class=cls, **r._options)
    assert failed_property(again) == "Linearizability"
    assert [str(e) for e in again.trace] == [str(e) for e in r._cluster.trace]


def test_the_read_stories_lists_name_lab_4s_wrong_answers_that_chaos_catches():
    from lab_solutions import WRONG

    names = {cls.__name__ for cls, _ in WRONG["reads"]}
    assert set(READ_STORIES_WITHIN_40 + READ_STORIES_NOT_YET_40) <= names
