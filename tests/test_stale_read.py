"""The stale read, shown: a relaxed read of a cut-off replica returns an overwritten value,
while a read through the log returns the new one (§8, "read-only operations")."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from raftlab import Cluster, Role
from raftlab.history import History
from raftlab.kv import KeyNotFound, KVClient, KVStateMachine
from raftlab.linearizability import check

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "stale_read.py"


def _example():
    spec = importlib.util.spec_from_file_location("stale_read_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kv_cluster(seed: int) -> tuple[Cluster, KVClient]:
    cluster = Cluster(5, seed=seed, state_machine=KVStateMachine)
    return cluster, KVClient(cluster)


def test_isolated_old_leader_serves_stale_relaxed_read_while_consensus_read_is_new():
    cluster, client = _kv_cluster(11)
    client.set("x", "old")
    cluster.run(200)
    old_leader = cluster.leader()
    cluster.isolate(old_leader)
    client.set("x", "new")
    assert cluster.leader() != old_leader
    # The cut-off leader has heard of no newer term, so it still believes it leads (§5.2).
    assert cluster.nodes[old_leader].role is Role.LEADER
    cluster.run(10)

    assert client.get("x", relaxed=True, node=old_leader) == "old"
    assert client.get("x") == "new"
    assert client.get("x", relaxed=True, node=cluster.leader()) == "new"


def test_isolated_follower_serves_the_value_it_last_applied():
    cluster, client = _kv_cluster(5)
    client.set("x", "1")
    cluster.run(200)
    leader = cluster.leader()
    follower = next(i for i in cluster.ids if i != leader)
    cluster.isolate(follower)
    client.set("x", "2")
    client.set("x", "3")
    cluster.run(10)
    assert client.get("x", relaxed=True, node=follower) == "1"
    assert client.get("x") == "3"
    cluster.heal()
    cluster.run(300)  # heartbeats bring the follower's log and commit index up to date
    assert client.get("x", relaxed=True, node=follower) == "3"


def test_restarted_replica_forgets_everything_until_it_learns_the_commit_index():
    cluster, client = _kv_cluster(3)
    client.set("x", "1")
    cluster.run(200)
    follower = next(i for i in cluster.ids if i != cluster.leader())
    cluster.crash(follower)
    cluster.restart(follower)
    # A new incarnation starts with commit_index 0 and an empty state machine: its log
    # still holds x=1, but it does not know yet that the entry is committed.
    with pytest.raises(KeyNotFound):
        client.get("x", relaxed=True, node=follower)
    cluster.run(200)
    assert client.get("x", relaxed=True, node=follower) == "1"


def test_relaxed_reads_are_recorded_and_left_out_of_the_check():
    cluster, client = _kv_cluster(11)
    client.set("x", "old")
    cluster.run(200)
    old_leader = cluster.leader()
    cluster.isolate(old_leader)
    client.set("x", "new")
    cluster.run(10)
    client.get("x", relaxed=True, node=old_leader)
    relaxed = [op for op in cluster.history if op.relaxed]
    assert [(op.op, op.output) for op in relaxed] == [("get", "old")]
    assert relaxed[0].call == relaxed[0].ret  # answered at once, from local state
    assert check(cluster.history, model="kv").ok is True
    counted = History([replace(op, relaxed=False) for op in cluster.history])
    verdict = check(counted, model="kv")
    assert verdict.ok is False
    assert any(op.output == "old" for op in verdict.operations)


def test_documented_example_shows_the_stale_value_and_both_verdicts(capsys):
    example = _example()
    r = example.stale_read()
    assert r["relaxed"] == "old"
    assert r["consensus"] == "new"
    assert r["old_leader"] != r["new_leader"]
    assert r["old_leader_still_thinks_it_leads"] is True
    assert r["check"].ok is True
    assert r["check_counting_relaxed"].ok is False

    example.main()
    out = capsys.readouterr().out
    assert "relaxed read of x at" in out and "'old'" in out and "(stale)" in out
    assert "consensus read of x:           'new'" in out
    assert "linearizable, relaxed reads counted:  False" in out
