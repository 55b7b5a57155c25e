"""Golden transcripts of the classic scenarios (etcd's datadriven style).

Each ``tests/scenarios/*.txt`` is a script for ``raftlab.scenarios`` with, under every
command, the exact answer it produced: the trace lines it caused and its result.  The test
replays the script on a fresh cluster and compares the whole text.  A transcript "highlights
unexpected behaviour much more readily" than an assertion: any change in who votes when,
what commits where, or which message is lost shows up as a diff.

When a change of behaviour is intended, rewrite the transcripts and review the diff::

    RAFTLAB_REWRITE_GOLDEN=1 pytest tests/test_golden.py
    git diff tests/scenarios

To add a scenario, write a ``.txt`` file with commands only, each followed by a line
``----`` and an empty line, and run the rewrite.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from raftlab.scenarios import (
    Script,
    ScriptError,
    parse_transcript,
    render_transcript,
    replay_transcript,
)

SCENARIOS = Path(__file__).parent / "scenarios"
FILES = sorted(SCENARIOS.glob("*.txt"))
REWRITE = os.environ.get("RAFTLAB_REWRITE_GOLDEN") == "1"
REWRITE_LINE = (
    "# Rewrite every transcript with: RAFTLAB_REWRITE_GOLDEN=1 pytest tests/test_golden.py"
)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_transcript_matches(path: Path):
    expected = path.read_text()
    actual = replay_transcript(expected)
    if REWRITE:
        if actual != expected:
            path.write_text(actual)
        return
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"{path.name} (recorded)",
                tofile=f"{path.name} (now)",
            )
        )
        pytest.fail(
            f"{path.name} no longer matches the simulator:\n{diff}\n"
            "If the change is intended: RAFTLAB_REWRITE_GOLDEN=1 pytest tests/test_golden.py",
            pytrace=False,
        )


def test_the_classic_scenarios_are_all_there():
    names = {p.stem for p in FILES}
    assert {
        "initial_election",
        "leader_crash",
        "replication",
        "partitioned_leader",
        "follower_catchup",
        "figure8",
        "figure8_bug",
    } <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_transcript_says_how_to_rewrite_it_and_ends_as_it_should(path: Path):
    text = path.read_text()
    assert text.splitlines()[0] == REWRITE_LINE
    cases, _ = parse_transcript(text)
    answers = {c.command: c.expected for c in cases}
    if path.stem == "figure8_bug":
        assert any(a.startswith("SafetyViolation: Leader Completeness") for a in answers.values())
    else:
        assert cases[-1].command == "check" and cases[-1].expected == "ok"
        assert not any("SafetyViolation" in a for a in answers.values())


def test_golden_transcripts_tell_the_expected_stories():
    # Beyond byte equality, a few facts each story is about, so a careless rewrite that
    # records broken behaviour does not pass unnoticed.
    def answers(name):
        return "\n".join(c.expected for c in parse_transcript((SCENARIOS / name).read_text())[0])

    assert "leader S4 term=1" in answers("initial_election.txt")
    assert "candidate    term=2" not in answers("initial_election.txt")
    lost = answers("partitioned_leader.txt")
    assert lost.count("failed LeadershipLost") == 2
    assert "S5 truncate     from=3 removed=2" in lost
    f8 = answers("figure8.txt")
    assert "S2 truncate     from=2 removed=1" in f8
    assert "S1 commit       index=2" not in f8
    assert "S1 commit       index=2" in answers("figure8_bug.txt")
    assert "S1 commit       index=6" in answers("follower_catchup.txt")


# ------------------------------------------------------------------ the interpreter


def test_render_of_parse_gives_back_the_same_text():
    for path in FILES:
        text = path.read_text()
        assert render_transcript(*parse_transcript(text)) == text


def test_script_run_gives_the_transcript_a_golden_file_holds():
    path = SCENARIOS / "replication.txt"
    text = path.read_text()
    cases, _ = parse_transcript(text)
    script = "\n".join(line for c in cases for line in (*c.comments, c.command))
    assert Script().run(script).startswith(REWRITE_LINE)
    assert Script().run(script) == text


def test_an_unknown_command_is_a_script_error_with_its_line():
    with pytest.raises(ScriptError, match=r"line 3: unknown command 'crash-all'"):
        Script().run("cluster 3\n# a comment\ncrash-all\n")


def test_a_missing_separator_is_a_script_error_with_its_line():
    with pytest.raises(ScriptError, match=r"line 2: expected '----'"):
        parse_transcript("cluster 3\nrun 10\n----\n")


@pytest.mark.parametrize(
    "line, message",
    [
        ("run", "usage: run MS"),
        ("run ten", "MS must be a number"),
        ("crash X", "expected a node"),
        ("partition", "usage: partition"),
        ("delay 5", "range LO-HI"),
        ("wait-leader soon", "usage: wait-leader"),
        ("elect 1", "usage: elect"),
        ("submit x y", "usage: submit"),
        ("run 10 fast=yes", "unknown option"),
        ("step 1.5", "whole number"),
        ("wait-commit -1", "whole number"),
        ("cluster 3 max_batch=1.5", "whole number"),
    ],
)
def test_bad_script_lines_raise_script_errors(line, message):
    script = Script()
    script.execute("cluster 3 seed=1")
    with pytest.raises(ScriptError, match=message):
        script.execute(line)


def test_a_command_before_the_cluster_is_a_script_error():
    with pytest.raises(ScriptError, match="needs a cluster"):
        Script().execute("run 10")


def test_cluster_conditions_are_part_of_the_story():
    script = Script()
    script.execute("cluster 3 seed=1")
    assert script.execute("crash 9").startswith("error: ValueError: unknown node 9")
    assert script.execute("crash leader") == "error: RaftLabError: there is no leader right now"
    assert script.execute("apply a") == (
        "error: NotLeader: no leader right now; run the cluster until one is elected"
    )
    assert script.execute("drop 2") == (
        "error: ValueError: network.drop_rate must be a probability between 0 and 1, got 2.0"
    )
    assert script.execute("wait-leader").splitlines()[-1].endswith("term=1")
    assert script.execute("crash 1").endswith("S1 crash        term=1")
    assert script.execute("crash 1") == (
        "error: ValueError: S1 is already crashed; restart it with cluster.restart(1)"
    )
    assert script.execute("check") == "ok"
