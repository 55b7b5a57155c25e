"""KVClient: blocking calls, leader hints, retries, exactly-once writes, timeouts, history."""

from __future__ import annotations

import pytest

from raftlab import Cluster, LeadershipLost, NotLeader, Timeout
from raftlab.kv import Command, KeyNotFound, Kind, KVClient, KVStateMachine, encode_command
from raftlab.kv.client import PendingOp, Workload
from raftlab.linearizability import check


def kv_cluster(seed: int = 1, n: int = 5) -> Cluster:
    return Cluster(n, seed=seed, state_machine=KVStateMachine)


# ------------------------------------------------------------------ blocking calls


def test_blocking_calls_return_the_state_machine_answers():
    cluster = kv_cluster()
    c = KVClient(cluster)
    assert c.set("x", "1") is None
    assert c.get("x") == "1"
    assert c.cas("x", "1", "2") is True
    assert c.cas("x", "1", "3") is False
    assert c.append("x", "a") == "2a"
    assert c.delete("x") is None
    with pytest.raises(KeyNotFound):
        c.get("x")
    assert c.cas("x", "2a", "4") is False  # CAS on a missing key fails


def test_every_call_is_recorded_with_its_interval_and_output():
    cluster = kv_cluster()
    c = KVClient(cluster)
    c.set("x", "1")
    t = cluster.now
    assert c.get("x") == "1"
    with pytest.raises(KeyNotFound):
        c.get("y")
    c.cas("x", "1", "2")
    c.append("x", "+")
    ops = list(cluster.history)
    assert [(o.op, o.key, o.value, o.expected, o.output) for o in ops] == [
        ("set", "x", "1", None, None),
        ("get", "x", None, None, "1"),
        ("get", "y", None, None, None),  # a missing key reads as None
        ("cas", "x", "2", "1", True),
        ("append", "x", "+", None, "2+"),
    ]
    assert all(o.client == c.client_id and not o.relaxed for o in ops)
    assert ops[1].call == t and ops[-1].ret == cluster.now
    for a, b in zip(ops, ops[1:], strict=False):
        assert a.call < a.ret <= b.call  # one at a time, each taking simulated time
    assert check(cluster.history).ok is True


def test_a_call_before_any_leader_exists_waits_for_the_election():
    cluster = kv_cluster(seed=4)
    assert cluster.leader() is None
    c = KVClient(cluster)
    c.set("x", "1")  # every node refuses at first; the client backs off and retries
    assert cluster.leader() is not None
    assert cluster.history[0].call == 0.0
    assert cluster.history[0].ret == cluster.now > 150  # no leader before a timeout


def test_client_ids_are_deterministic_and_unique_per_cluster():
    cluster = kv_cluster()
    assert [KVClient(cluster).client_id for _ in range(3)] == [1, 2, 3]
    assert KVClient(cluster, client_id=10).client_id == 10
    with pytest.raises(ValueError, match="already used"):
        KVClient(cluster, client_id=2)
    assert KVClient(cluster).client_id == 4
    assert KVClient(kv_cluster()).client_id == 1  # each cluster counts on its own


def test_bad_arguments_raise_and_record_nothing():
    with pytest.raises(ValueError, match="KVStateMachine"):
        KVClient(Cluster(3, seed=1))
    with pytest.raises(TypeError):
        KVClient("not a cluster")
    cluster = kv_cluster()
    with pytest.raises(ValueError, match="timeout_ms"):
        KVClient(cluster, timeout_ms=0)
    with pytest.raises(ValueError, match="client_id"):
        KVClient(cluster, client_id=-1)
    c = KVClient(cluster)
    with pytest.raises(TypeError):
        c.set("x", 5)
    with pytest.raises(ValueError, match="relaxed"):
        c.get("x", node=2)
    with pytest.raises(ValueError, match="unknown node"):
        c.get("x", relaxed=True, node=9)
    assert len(cluster.history) == 0
    c.set("x", "1")  # the failed calls used no sequence number
    assert cluster.nodes[cluster.leader()].state_machine.sessions[c.client_id].last_seq == 1


def test_one_operation_at_a_time_per_client():
    cluster = kv_cluster()
    c = KVClient(cluster)
    op = c.start_set("x", "1")
    assert c.busy
    with pytest.raises(ValueError, match="one at a time"):
        c.start_get("x")
    op.wait()
    assert not c.busy
    c.get("x")


# ------------------------------------------------------ leader hints and retries


def test_client_follows_the_hint_to_a_new_leader_without_waiting():
    cluster = kv_cluster(seed=2)
    c = KVClient(cluster)
    c.set("x", "1")
    old = cluster.leader()
    assert c.leader_guess == old
    cluster.crash(old)
    new = cluster.wait_for_leader()
    op = c.start_set("x", "2")
    # The old leader is down; the next node tried points to the new leader, which takes
    # the command at once: one accepted attempt, no back-off.
    assert op.attempts == 1 and c.leader_guess == new
    op.wait()
    assert op.ret - op.call < 50


def test_client_retries_after_leadership_lost():
    cluster = kv_cluster(seed=3)
    c = KVClient(cluster)
    c.set("x", "1")
    leader = cluster.leader()
    op = c.start_set("x", "2")
    proposal = op._proposal
    cluster.crash(leader)  # the proposal fails at once with LeadershipLost
    assert isinstance(proposal.error, LeadershipLost)
    assert op.wait() is None
    assert op.attempts == 2
    assert c.get("x") == "2"


def test_pending_op_shows_the_attempt_that_failed_before_the_retry():
    cluster = kv_cluster(seed=3)
    c = KVClient(cluster)
    c.set("x", "1")
    leader = cluster.leader()
    op = c.start_set("x", "2")
    assert op.proposal is not None and op.proposal.node == leader and not op.proposal.done
    cluster.crash(leader)
    assert isinstance(op.proposal.error, LeadershipLost)  # seen before the client retries
    op.wait()
    assert op.proposal is None  # done: no attempt in progress


def test_client_gives_up_on_a_cut_off_leader_after_attempt_ms():
    cluster = kv_cluster(seed=11)
    c = KVClient(cluster, attempt_ms=300)
    c.set("x", "1")
    old = cluster.leader()
    cluster.isolate(old)
    op = c.start_set("x", "2")  # the cut-off leader accepts it and never answers
    assert op.attempts == 1
    op.wait()
    assert op.attempts >= 2 and op.ret - op.call >= 300
    assert c.get("x") == "2"
    assert c.leader_guess != old


def test_not_leader_carries_a_hint_that_the_client_uses():
    cluster = kv_cluster(seed=5)
    leader = cluster.wait_for_leader()
    cluster.run(100)
    follower = next(i for i in cluster.ids if i != leader)
    p = cluster.submit(b"x", node=follower)
    assert isinstance(p.error, NotLeader) and p.error.leader_hint == leader


# ---------------------------------------------------------------- exactly once


def _crash_leader_after_majority_stores_but_before_commit(cluster: Cluster, op: PendingOp) -> int:
    """Step until a majority holds the op's entry but the leader has not counted it yet,
    then crash the leader: the entry will commit, and the client never hears so."""
    leader = op._proposal.node
    index = op._proposal.index
    followers = [i for i in cluster.ids if i != leader]
    while sum(cluster.nodes[f].log.last_index >= index for f in followers) < 2:
        cluster.step()
    assert cluster.nodes[leader].commit_index < index
    cluster.crash(leader)
    return index


def test_append_retried_after_a_lost_reply_takes_effect_once():
    cluster = kv_cluster(seed=6)
    c = KVClient(cluster)
    c.set("k", "")
    op = c.start_append("k", "a")
    _crash_leader_after_majority_stores_but_before_commit(cluster, op)
    assert op.wait() == "a"  # not "aa": the retry was recognised as one
    assert op.attempts == 2
    assert c.get("k") == "a"
    leader = cluster.nodes[cluster.leader()]
    command = encode_command(Command(Kind.APPEND, "k", "a", client_id=c.client_id, seq=2))
    # The write is in the log twice, and was applied once.
    assert sum(e.command == command for e in leader.log) == 2
    assert leader.state_machine.duplicates >= 1
    assert check(cluster.history).ok is True


def test_cas_retried_after_a_lost_reply_reports_its_own_success():
    cluster = kv_cluster(seed=7)
    c = KVClient(cluster)
    c.set("x", "0")
    op = c.start_cas("x", "0", "1")
    _crash_leader_after_majority_stores_but_before_commit(cluster, op)
    # A second application would compare "1" with "0" and answer False; the session
    # table hands the retry the first application's answer instead.
    assert op.wait() is True
    assert c.cas("x", "1", "2") is True
    assert c.get("x") == "2"


def test_append_sequence_survives_lost_replies_without_doubles():
    cluster = kv_cluster(seed=8)
    c = KVClient(cluster)
    for letter in "abcd":
        op = c.start_append("s", letter)
        if letter in "bd":
            _crash_leader_after_majority_stores_but_before_commit(cluster, op)
        op.wait()
        for i in sorted(set(cluster.ids) - cluster.alive):
            cluster.restart(i)
    assert c.get("s") == "abcd"


def test_without_the_session_a_duplicated_append_applies_twice():
    # The control experiment: the same append offered twice without an envelope.
    cluster = kv_cluster(seed=6)
    cluster.wait_for_leader()
    raw = encode_command(Command(Kind.APPEND, "k", "a"))
    cluster.apply([raw, raw])
    c = KVClient(cluster)
    assert c.get("k") == "aa"


# --------------------------------------------------------------------- timeouts


def test_timeout_when_a_majority_is_down_records_an_unknown_outcome():
    cluster = kv_cluster(seed=9)
    c = KVClient(cluster, timeout_ms=1000)
    c.set("x", "1")
    leader = cluster.leader()
    for i in [i for i in cluster.ids if i != leader][:3]:
        cluster.crash(i)
    t = cluster.now
    with pytest.raises(Timeout, match="may still take effect"):
        c.set("x", "2")
    assert cluster.now == t + 1000
    last = cluster.history[-1]
    assert last.op == "set" and last.ret is None and last.output is None


def test_timeout_when_nobody_accepts_says_the_write_did_not_happen():
    cluster = kv_cluster(seed=9)
    c = KVClient(cluster, timeout_ms=700)
    c.set("x", "1")
    leader = cluster.leader()
    for i in [leader] + [i for i in cluster.ids if i != leader][:2]:
        cluster.crash(i)  # the leader and two more: nobody can lead
    op = c.start_set("x", "2")
    with pytest.raises(Timeout, match="did not happen"):
        op.wait()
    assert op.timed_out and not op.accepted and op.ret is None


def test_relaxed_read_of_a_crashed_node_times_out_at_once():
    cluster = kv_cluster()
    c = KVClient(cluster)
    c.set("x", "1")
    cluster.crash(3)
    t = cluster.now
    with pytest.raises(Timeout):
        c.get("x", relaxed=True, node=3)
    assert cluster.now == t
    last = cluster.history[-1]
    assert last.relaxed and last.ret is None
    assert not c.busy


def test_relaxed_read_answers_at_once_from_local_state():
    cluster = kv_cluster()
    c = KVClient(cluster)
    c.set("x", "1")
    cluster.run(200)
    t = cluster.now
    assert [c.get("x", relaxed=True, node=i) for i in cluster.ids] == ["1"] * 5
    assert cluster.now == t
    assert all(op.relaxed and op.call == op.ret == t for op in cluster.history[1:])


# --------------------------------------------------------------- many clients


def test_concurrent_appends_from_four_clients_each_land_once():
    cluster = kv_cluster(seed=10)
    clients = [KVClient(cluster) for _ in range(4)]
    work = Workload(cluster)
    ops = [c.start_append("k", f"{c.client_id};") for c in clients]
    assert len(work.pending) == 4
    cluster.crash(cluster.wait_for_leader())  # mid-way: everyone must retry
    assert work.run_until(lambda _: not work.pending, 5000)
    assert all(op.done and op.error is None for op in ops)
    final = clients[0].get("k")
    assert sorted(final.split(";")[:-1]) == ["1", "2", "3", "4"]
    calls = sorted(op.call for op in ops)
    assert calls[0] == calls[-1]  # all four called at once: overlapping intervals
    assert check(cluster.history).ok is True


def test_workload_run_advances_retries_but_plain_cluster_run_does_not():
    cluster = kv_cluster(seed=12)
    c = KVClient(cluster)
    c.set("x", "1")
    cluster.crash(cluster.leader())
    op = c.start_set("x", "2")  # nobody takes it: waiting for retry_ms
    cluster.run(2000)
    assert not op.done and op.attempts == 0
    Workload(cluster).run(1)  # the client notices the time and retries
    assert op.attempts == 1
    assert op.wait() is None


def test_same_seed_and_calls_give_the_same_history():
    def script() -> list:
        cluster = kv_cluster(seed=13)
        a, b = KVClient(cluster), KVClient(cluster)
        ops = [a.start_set("x", "1"), b.start_append("x", "z")]
        Workload(cluster).run(400)
        cluster.crash(cluster.leader())
        ops += [a.start_cas("x", "1", "2") if ops[0].done else ops[0]]
        Workload(cluster).run_until(lambda _: all(o.done for o in ops), 5000)
        return [repr(op) for op in cluster.history]

    assert script() == script()
