"""The Jepsen-style run (``python -m raftlab nemesis``), short form: real processes, kill -9,
SIGSTOP and partitions while clients call; linearizable, and no acknowledged write lost."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from raftlab.history import History
from raftlab.server import nemesis


def test_a_short_nemesis_run_is_linearizable_and_loses_nothing(tmp_path):
    path = tmp_path / "history.json"
    report = nemesis.run(
        seconds=7.0,
        clients=4,
        seed=1,
        interval_s=0.6,
        directory=tmp_path / "cluster",
        history_path=path,
    )
    assert report.linearizable is True, "\n".join(report.lines())
    assert report.lost == [], report.lost
    assert report.ok
    # It did what it says: faults of every kind, every kind of call, many answers.
    assert set(report.faults) == {"kill", "pause", "isolate"}
    assert set(report.by_kind) == {"set", "get", "relaxed get", "cas", "append"}
    assert report.completed > 100 and report.acknowledged_writes > 20
    # The history is saved and reads back as it was checked.
    saved = History.from_json(path.read_text())
    assert len(saved) == report.operations
    assert json.loads(path.read_text())["operations"]


def test_reads_by_read_index_and_lease_stay_linearizable_under_the_nemesis(tmp_path):
    """ReadIndex and lease reads (thesis §6.4) on the real servers, whose reads cross from
    the client thread in batches and whose lease reads are served there: linearizable
    through kills, pauses and isolations of the leader."""
    report = nemesis.run(
        seconds=7.0,
        clients=6,
        seed=2,
        interval_s=0.6,
        directory=tmp_path / "cluster",
        history_path=tmp_path / "history.json",
        read_modes=("read_index", "lease"),
    )
    assert report.linearizable is True, "\n".join(report.lines())
    assert report.lost == [], report.lost
    ops = list(History.from_json((tmp_path / "history.json").read_text()))
    answered = Counter(op.mode for op in ops if op.op == "get" and op.ret is not None)
    assert answered["read_index"] > 20 and answered["lease"] > 20, answered
    assert set(report.faults) == {"kill", "pause", "isolate"}


def test_a_nemesis_read_mode_that_promises_nothing_is_refused():
    with pytest.raises(ValueError, match="read_modes holds 'relaxed'"):
        nemesis.run(read_modes=("relaxed",))
