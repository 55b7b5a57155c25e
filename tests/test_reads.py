"""Reads and stable leaders (thesis §6.4, §6.4.1, §9.6, §6.2, §3.10): every rule, its bad
inputs, and the runs of ``raftlab.reads``."""

from __future__ import annotations

import random

import pytest

from raftlab import Cluster, Config, NotLeader
from raftlab.errors import LeadershipLost
from raftlab.history import History, Operation
from raftlab.kv import KVClient, KVStateMachine
from raftlab.linearizability import check
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, TimeoutNow
from raftlab.node import RaftNode, ReadState
from raftlab.reads import deposed_leader_read, isolated_node_terms, transfer
from raftlab.roles import Role

# ------------------------------------------------------------------------- Config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lease_ms=-1), r"lease_ms must be a number of milliseconds >= 0"),
        (dict(lease_ms=float("nan")), r"lease_ms must be"),
        (dict(lease_ms="100"), r"lease_ms must be"),
        (dict(max_drift=0.5), r"max_drift is the fraction"),
        (dict(max_drift=-0.1), r"max_drift is the fraction"),
        (dict(max_drift=True), r"max_drift is the fraction"),
        (dict(pre_vote=1), r"pre_vote must be True or False"),
        (dict(check_quorum="yes"), r"check_quorum must be True or False"),
        # 150 / 1.01 = 148.5: a follower whose clock runs 1% fast may vote after 148.5 ms.
        (dict(lease_ms=149), r"lease_ms=149 is unsafe: .* Use lease_ms <= 148\.51"),
        (dict(lease_ms=130, max_drift=0.2), r"lease_ms=130 is unsafe: .*20% fast.*125"),
    ],
)
def test_config_refuses_unsafe_or_bad_read_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Config(**kwargs)


def test_config_accepts_a_lease_up_to_the_bound():
    assert Config(lease_ms=125, max_drift=0.2).lease_ms == 125.0
    assert Config().lease_ms == 0 and not Config().pre_vote and not Config().check_quorum


# ------------------------------------------------------------------------- ReadIndex


def kv_cluster(seed: int = 1, **config) -> Cluster:
    return Cluster(5, seed, config=Config(**config), state_machine=KVStateMachine)


def get_x(sm):
    return sm.data.get("x")


def test_read_index_waits_for_a_majority_to_acknowledge_a_round_sent_after_it():
    c = kv_cluster()
    KVClient(c).set("x", "1")
    leader = c.leader()
    c.network.keep_log = True
    r = c.submit_read(get_x)
    assert not r.done  # step 2: a heartbeat round must come back first
    arrival = c.now
    assert c.run_until(lambda c: r.done, 100)
    assert r.ok and r.result == "1" and r.index == c.nodes[leader].commit_index
    # The round went out at once, to every follower, carrying the read's round number.
    seq = c.nodes[leader]._seq
    sent = [e.msg for e in c.network.log if isinstance(e.msg, AppendEntries)]
    assert {m.dst for m in sent if m.seq == seq and m.src == leader} == set(c.ids) - {leader}
    acks = [e for e in c.network.log if isinstance(e.msg, AppendEntriesReply) and e.msg.seq == seq]
    assert len(acks) >= 2 and all(e.sent_at >= arrival for e in acks)


def test_read_index_never_answers_on_a_leader_cut_off_from_the_majority():
    c = kv_cluster()
    KVClient(c).set("x", "1")
    leader = c.leader()
    c.isolate(leader)
    r = c.submit_read(get_x, node=leader)
    c.run(100)
    assert not r.done  # no majority acknowledges its round
    c.run(3000)  # the others elect a leader; once healed, the old one learns it is deposed
    c.heal()
    assert c.run_until(lambda c: r.done, 1000)
    assert not r.ok and isinstance(r.error, LeadershipLost)


def test_a_new_leader_serves_no_read_before_its_no_op_commits():
    c = kv_cluster()
    leader = c.wait_for_leader()
    node = c.nodes[leader]
    # Freeze everything just after the election: the no-op of the new term is not committed.
    c2 = Cluster(5, 1, config=Config(), state_machine=KVStateMachine)
    c2.run_until(lambda c: any(n.role is Role.LEADER for n in c.nodes.values()), 2000)
    new = next(i for i, n in c2.nodes.items() if n.role is Role.LEADER)
    assert c2.nodes[new].log.term(c2.nodes[new].commit_index) != c2.nodes[new].current_term
    r = c2.submit_read(get_x, node=new)
    assert not r.done
    assert c2.nodes[new]._reads[0].index is None  # the index is only known after the no-op
    assert c2.run_until(lambda c: r.done, 200) and r.ok
    assert r.index >= 1 and c2.nodes[new].log.term(r.index) == c2.nodes[new].current_term
    assert node.role is Role.LEADER


def test_read_index_on_a_follower_is_refused_with_a_hint():
    c = kv_cluster()
    leader = c.wait_for_leader()
    c.run(60)  # a heartbeat has told the followers who leads
    follower = next(i for i in c.ids if i != leader)
    r = c.submit_read(get_x, node=follower)
    assert r.done and isinstance(r.error, NotLeader) and r.error.leader_hint == leader
    with pytest.raises(NotLeader):
        c.nodes[follower].read_index(object(), c.now)


def test_a_read_confirmed_is_served_only_once_its_index_is_applied():
    # Driven by hand: the ReadState comes out in Ready.read_states with the commit index.
    c = kv_cluster()
    KVClient(c).set("x", "1")
    leader = c.nodes[c.leader()]
    leader.read_index("ctx", c.now)
    rd = leader.ready()
    assert rd.read_states == [] and rd.messages  # the heartbeat round
    for m in rd.messages:
        leader.step(
            AppendEntriesReply(
                m.dst, leader.id, m.term, True, match_index=m.prev_log_index, seq=m.seq
            ),
            c.now,
        )
    assert leader.ready().read_states == [ReadState("ctx", leader.commit_index)]


# ------------------------------------------------------------------------- leases


def test_a_lease_read_is_served_at_once_and_the_lease_is_shortened_for_drift():
    c = kv_cluster(lease_ms=120, max_drift=0.1)
    KVClient(c).set("x", "1")
    c.run(100)
    leader = c.nodes[c.leader()]
    assert leader.lease_expiry() == pytest.approx(leader.lease_start + 120 * 0.9)
    assert leader.lease_start <= c.now < leader.lease_expiry()
    r = c.submit_read(get_x, mode="lease")
    assert r.done and r.ok and r.result == "1"  # no round trip


def test_a_lease_starts_when_the_round_was_sent_not_when_it_was_acknowledged():
    c = kv_cluster(lease_ms=120)
    KVClient(c).set("x", "1")
    leader = c.nodes[c.leader()]
    c.network.keep_log = True
    c.run(200)
    rounds = {
        e.msg.seq: e.sent_at
        for e in c.network.log
        if isinstance(e.msg, AppendEntries) and e.msg.src == leader.id
    }
    assert leader.lease_start in rounds.values()
    assert leader.lease_start < c.now


def test_an_expired_lease_falls_back_to_read_index():
    c = kv_cluster(lease_ms=100)
    KVClient(c).set("x", "1")
    leader = c.leader()
    c.isolate(leader)
    c.run(200)  # no round acknowledged since: the lease ran out
    node = c.nodes[leader]
    assert node.role is Role.LEADER and not node.lease_holds(c.now)
    r = c.submit_read(get_x, mode="lease", node=leader)
    assert not r.done and node._reads  # waiting for a heartbeat round, like ReadIndex


def test_lease_reads_need_a_lease():
    c = kv_cluster()
    c.wait_for_leader()
    before = len(c._calls)
    with pytest.raises(ValueError, match="lease reads need a lease"):
        c.submit_read(get_x, mode="lease")
    with pytest.raises(ValueError, match="lease reads need a lease"):
        c.nodes[c.leader()].lease_read("ctx", c.now)
    with pytest.raises(ValueError, match="mode is 'read_index' or 'lease'"):
        c.submit_read(get_x, mode="log")
    assert len(c._calls) == before


def test_followers_that_heard_from_the_leader_ignore_vote_requests():
    # Leader stickiness (§4.2.3): the request neither raises the term nor gets a vote.
    c = kv_cluster(lease_ms=100)
    leader = c.wait_for_leader()
    c.run(100)
    f = c.nodes[next(i for i in c.ids if i != leader)]
    term = f.current_term
    f.step(RequestVote(0, f.id, term + 5, 0, 99, 99), c.now)
    rd = f.ready()
    assert f.current_term == term and rd.messages == [] and ("ignore_vote" in dict(rd.events))
    # ... unless the leader itself asked for it (TimeoutNow, §3.10).
    f.step(RequestVote(0, f.id, term + 5, 0, 99, 99, transfer=True), c.now)
    assert f.current_term == term + 5


def test_without_stickiness_a_vote_request_raises_the_term():
    c = kv_cluster()
    leader = c.wait_for_leader()
    f = c.nodes[next(i for i in c.ids if i != leader)]
    term = f.current_term
    f.step(RequestVote(0, f.id, term + 5, 0, 99, 99), c.now)
    assert f.current_term == term + 5


# ------------------------------------------------------------------------- PreVote


def test_prevote_keeps_the_term_of_a_node_cut_off_for_5_s():
    without = isolated_node_terms(pre_vote=False)
    with_pv = isolated_node_terms(pre_vote=True)
    # Without PreVote the cut-off node runs election after election; on return its term
    # deposes the leader.
    assert without.isolated_term > without.term_before + 10
    assert without.term_after > without.isolated_term > without.term_before
    # With PreVote nobody answers its pre-votes: its term, and the cluster's, stay.
    assert with_pv.term_before == with_pv.isolated_term == with_pv.term_after
    assert with_pv.leader_after == with_pv.leader_before
    assert {s[2] for s in with_pv.samples} == {with_pv.term_before}


def test_a_pre_candidate_asks_for_the_next_term_without_entering_it():
    rng = random.Random(0)
    node = RaftNode(1, [1, 2, 3], config=Config(pre_vote=True), rng=rng)
    node.tick(node.election_deadline)
    rd = node.ready()
    assert node.current_term == 0 and node.role is Role.FOLLOWER and node.pre_candidate
    assert rd.hard_state is None  # nothing to persist: no term, no vote
    asks = [m for m in rd.messages if isinstance(m, RequestVote)]
    assert {m.dst for m in asks} == {2, 3} and all(m.pre_vote and m.term == 1 for m in asks)


def test_a_pre_vote_is_refused_while_the_leader_is_heard():
    c = kv_cluster(pre_vote=True)
    leader = c.wait_for_leader()
    c.run(60)
    f = c.nodes[next(i for i in c.ids if i != leader)]
    ask = RequestVote(0, f.id, f.current_term + 1, 0, 99, 99, pre_vote=True)
    f.step(ask, c.now)
    (reply,) = f.ready().messages
    assert reply.pre_vote and not reply.vote_granted and f.voted_for in (None, leader)


# ------------------------------------------------------------------------- CheckQuorum


@pytest.mark.parametrize("check_quorum", [True, False])
def test_check_quorum_makes_a_cut_off_leader_step_down(check_quorum):
    c = kv_cluster(check_quorum=check_quorum)
    leader = c.wait_for_leader()
    c.isolate(leader)
    c.run(700)  # more than two election timeouts
    stepped = c.nodes[leader].role is not Role.LEADER
    assert stepped == check_quorum
    if check_quorum:
        assert any(e.kind == "step_down" and e.node == leader for e in c.trace)


# ------------------------------------------------------------------------- transfer


def test_transfer_hands_leadership_to_the_target_and_refuses_writes_meanwhile():
    story = transfer(seed=0)
    assert story.new_leader == story.target != story.old_leader
    assert isinstance(story.refused, NotLeader) and story.refused.leader_hint == story.target
    kinds = [e.kind for e in story.events]
    assert kinds.index("transfer") < kinds.index("timeout_now") < kinds.index("leader")
    assert story.took_ms < 100  # no election timeout to wait out


def test_transfer_catches_a_lagging_target_up_first():
    c = Cluster(5, 0)
    old = c.wait_for_leader()
    target = next(i for i in c.ids if i != old)
    c.isolate(target)
    c.apply([b"a", b"b", b"c"])
    c.heal()
    c.network.keep_log = True
    c.transfer_leadership(target)
    assert c.run_until(lambda c: c.leader() == target, 1000)
    sent = [e for e in c.network.log if e.msg.src == old and e.msg.dst == target]
    first_tn = next(k for k, e in enumerate(sent) if isinstance(e.msg, TimeoutNow))
    assert any(isinstance(e.msg, AppendEntries) and e.msg.entries for e in sent[:first_tn])
    assert c.nodes[target].log.last_index >= 4


def test_a_transfer_gives_up_after_an_election_timeout():
    c = Cluster(5, 0)
    old = c.wait_for_leader()
    target = next(i for i in c.ids if i != old)
    c.isolate(target)
    c.transfer_leadership(target)
    assert c.submit(b"x").error is not None
    c.run(350)  # more than the highest election timeout
    assert c.leader() == old and c.nodes[old].transfer_target is None
    assert c.submit(b"x").error is None  # writes are taken again
    assert any(e.kind == "transfer_end" for e in c.trace)


@pytest.mark.parametrize(
    "to, message",
    [(9, "unknown node 9"), ("2", "unknown node"), ("self", "already leads")],
)
def test_bad_transfers_are_refused_and_change_nothing(to, message):
    c = Cluster(5, 0)
    leader = c.wait_for_leader()
    if to == "self":
        to = leader
    before = (len(c._calls), len(c.trace), c.nodes[leader].transfer_target)
    with pytest.raises(ValueError, match=message):
        c.transfer_leadership(to)
    assert (len(c._calls), len(c.trace), c.nodes[leader].transfer_target) == before


def test_a_transfer_to_a_down_server_or_during_a_transfer_is_refused():
    c = Cluster(5, 0)
    leader = c.wait_for_leader()
    a, b = [i for i in c.ids if i != leader][:2]
    c.crash(a)
    with pytest.raises(ValueError, match="is down"):
        c.transfer_leadership(a)
    c.transfer_leadership(b)
    with pytest.raises(ValueError, match="already handing leadership"):
        c.transfer_leadership(b)


def test_the_old_leader_takes_no_lease_once_it_sent_timeout_now():
    c = kv_cluster(lease_ms=120)
    old = c.wait_for_leader()
    c.run(100)
    assert c.nodes[old].lease_holds(c.now)
    c.transfer_leadership(next(i for i in c.ids if i != old))
    assert not c.nodes[old].lease_holds(c.now)


# ------------------------------------------------------------------------- clocks


def test_a_drifting_clock_runs_its_node_timers_and_lease():
    c = Cluster(5, 0)
    c.wait_for_leader()
    t = c.now
    c.clock_drift(2, 1.25)
    c.run(400)
    assert c.clock(2) == pytest.approx(t + 1.25 * 400)
    assert c.clock(3) == c.now and c.clock_rate(2) == 1.25 and c.clock_rate(3) == 1.0
    assert any(e.kind == "drift" and e.node == 2 for e in c.trace)


def test_a_fast_clock_times_out_first():
    # The same seed with S3's clock twice as fast: S3 stands for election first.
    c = Cluster(5, 4)
    c.clock_drift(3, 2.0)
    c.run_until(lambda c: any(e.kind == "candidate" for e in c.trace), 1000)
    assert next(e.node for e in c.trace if e.kind == "candidate") == 3


@pytest.mark.parametrize("rate", [0, -1, 0.05, 11, float("nan"), "1", True])
def test_bad_clock_rates_are_refused_and_change_nothing(rate):
    c = Cluster(5, 0)
    c.run(100)
    before = (len(c._calls), len(c.trace), c._clocks.copy())
    with pytest.raises(ValueError, match="clock rate is a number from 0.1 to 10"):
        c.clock_drift(1, rate)
    assert (len(c._calls), len(c.trace), c._clocks) == before
    with pytest.raises(ValueError, match="unknown node"):
        c.clock_drift(7, 1.1)


def test_drift_reads_and_transfers_replay_exactly():
    def story():
        c = kv_cluster(seed=5, lease_ms=100, max_drift=0.2, pre_vote=True, check_quorum=True)
        k = KVClient(c)
        k.set("x", "1")
        c.clock_drift(2, 1.2)
        c.clock_drift(4, 0.8)
        k.get("x", "read_index")
        k.get("x", "lease")
        c.transfer_leadership(next(i for i in c.ids if i != c.leader()))
        c.run(300)
        k.set("x", "2")
        return c

    a, b = story(), story()
    assert [str(e) for e in a.trace] == [str(e) for e in b.trace]
    fork = a.fork()
    assert [str(e) for e in fork.trace] == [str(e) for e in a.trace]
    assert {i: n.log.as_tuple() for i, n in fork.nodes.items()} == {
        i: n.log.as_tuple() for i, n in a.nodes.items()
    }


# ------------------------------------------------------------------------- client


def test_each_read_mode_reads_the_value_and_is_recorded():
    c = kv_cluster(lease_ms=100)
    k = KVClient(c)
    k.set("x", "1")
    assert [k.get("x", m) for m in ("log", "read_index", "lease", "relaxed")] == ["1"] * 4
    assert k.get("x", relaxed=True) == "1"
    gets = [op for op in c.history if op.op == "get"]
    assert [op.mode for op in gets] == ["log", "read_index", "lease", "relaxed", "relaxed"]
    assert [op.relaxed for op in gets] == [False, False, False, True, True]
    assert c.history[0].mode is None  # a set has no read mode
    assert check(c.history, model="kv").ok is True


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda k: k.get("x", "fast"), r"unknown read mode 'fast'; a get is served in one of"),
        (lambda k: k.start_get("x", "read_index", relaxed=True), r"cannot be combined"),
        (lambda k: k.get("x", "read_index", node=2), r"node= only applies to a relaxed read"),
        (lambda k: k.get("x", "lease"), r"lease reads need a lease"),
    ],
)
def test_bad_read_modes_are_refused_and_record_nothing(call, message):
    c = kv_cluster()
    k = KVClient(c)
    k.set("x", "1")
    before = (len(c.history), len(c._calls), k.busy)
    with pytest.raises(ValueError, match=message):
        call(k)
    assert (len(c.history), len(c._calls), k.busy) == before


def test_a_missing_key_read_index_is_key_not_found():
    from raftlab.kv import KeyNotFound

    c = kv_cluster()
    with pytest.raises(KeyNotFound):
        KVClient(c).get("nope", "read_index")


def test_histories_keep_the_mode_and_check_every_mode_but_relaxed():
    ops = [
        Operation(1, "set", "x", "1", call=0, ret=1),
        Operation(1, "set", "x", "2", call=2, ret=3),
        Operation(2, "get", "x", output="1", call=4, ret=5, mode="read_index"),
    ]
    h = History(ops)
    assert History.from_json(h.to_json()) == h
    assert check(h, model="kv").ok is False  # a stale read_index read is checked
    relaxed = History(ops[:2] + [Operation(2, "get", "x", output="1", call=4, ret=5, relaxed=True)])
    assert relaxed[2].mode == "relaxed" and check(relaxed, model="kv").ok is True
    with pytest.raises(ValueError, match="unknown read mode"):
        Operation(1, "get", "x", mode="fresh")
    with pytest.raises(ValueError, match="only a get has a read mode"):
        Operation(1, "set", "x", "1", mode="lease")


# ------------------------------------------------------------------------- the stories


@pytest.mark.parametrize(
    "mode, bug", [("read_index", "read_index_no_heartbeat"), ("lease", "lease_ignores_drift")]
)
def test_a_deposed_leader_serves_a_stale_read_only_with_the_bug(mode, bug):
    good = deposed_leader_read(mode)
    assert good.value == "2" and good.verdict.ok is True and not good.stale
    bad = deposed_leader_read(mode, {bug})
    assert bad.value == "1" and bad.stale and bad.verdict.ok is False
    assert [op.output for op in bad.verdict.operations if op.op == "get"][-1] == "1"
    assert bad.old_leader != bad.new_leader


def test_the_lease_bug_needs_drift():
    # With every clock exact, a lease of the whole lowest election timeout is just safe.
    c = Cluster(5, 3, config=Config(lease_ms=100, max_drift=0.0), bugs={"lease_ignores_drift"})
    leader = c.wait_for_leader()
    c.run(100)
    node = c.nodes[leader]
    assert node.lease_expiry() == node.lease_start + 150


def test_a_transfer_draws_its_timeout_now():
    import matplotlib

    matplotlib.use("Agg")
    from raftlab.viz import draw_messages

    c = Cluster(5, 0)
    c.network.keep_log = True
    old = c.wait_for_leader()
    t0 = c.now
    c.transfer_leadership(next(i for i in c.ids if i != old))
    c.run(100)
    assert any(m.kind == "TimeoutNow" for m in c.snapshot().message_log)
    ax = draw_messages(c.snapshot(), t0, c.now)
    assert ax is not None


@pytest.mark.parametrize("bad", ["5000", -1, float("nan"), True])
def test_isolated_node_terms_refuses_a_bad_duration_with_a_sentence(bad):
    with pytest.raises(ValueError, match="isolate_ms is a number of milliseconds >= 0"):
        isolated_node_terms(pre_vote=False, isolate_ms=bad)
