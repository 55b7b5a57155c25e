"""Progress per follower (raftlab.progress): probe and replicate, pipelining up to
``Config.max_inflight`` batches, and loss detection that a slow network does not fool."""

from __future__ import annotations

from nodeutil import ack, all_acknowledge, make_leader, refusal, sent

from raftlab import Cluster, Config
from raftlab.messages import AppendEntries
from raftlab.progress import State


def batches_to(leader, peer):
    return [m for m in sent(leader.ready(), AppendEntries, dst=peer) if m.entries]


def test_a_new_leader_probes_one_batch_at_a_time():
    leader = make_leader(term=2, log=(1,) * 20, config=Config(max_batch=4))
    assert all(pr.state is State.PROBE for pr in leader.progress.values())
    leader.propose([b"x"] * 20, 300)
    assert batches_to(leader, 2) == []  # the no-op's batch is still in flight: wait
    leader.step(refusal(2, 1, 2, rejected=20, conflict_index=5), 301)  # S2 holds 1..4
    retry = batches_to(leader, 2)
    assert len(retry) == 1 and retry[0].prev_log_index == 4
    assert leader.progress[2].state is State.PROBE


def test_a_matching_follower_more_than_a_batch_behind_gets_a_pipeline():
    """Replicate state: up to max_inflight full batches at once, each after the last."""
    leader = make_leader(term=1, config=Config(max_batch=3, max_inflight=4))
    all_acknowledge(leader, 300)
    assert leader.progress[2].state is State.REPLICATE
    leader.propose([b"c%d" % i for i in range(20)], 301)  # indexes 2..21
    out = batches_to(leader, 2)
    assert [(m.prev_log_index, len(m.entries)) for m in out] == [(1, 3), (4, 3), (7, 3), (10, 3)]
    # Each reply opens the window for one more batch; matchIndex moves as replies come.
    leader.step(ack(2, 1, 1, 4), 310)
    assert [(m.prev_log_index, len(m.entries)) for m in batches_to(leader, 2)] == [(13, 3)]
    assert leader.match_index[2] == 4 and leader.next_index[2] == 5


def test_less_than_a_batch_behind_new_proposals_wait_for_the_reply():
    """Ordinary load is unchanged: proposals made while a batch is in flight travel
    together in the next one (a follower less than a batch behind gets no pipeline)."""
    leader = make_leader(term=1, config=Config(max_batch=64, max_inflight=4))
    all_acknowledge(leader, 300)
    leader.propose([b"a"], 301)
    assert len(batches_to(leader, 2)) == 1
    leader.propose([b"b"], 302)
    leader.propose([b"c"], 303)
    assert batches_to(leader, 2) == []
    leader.step(ack(2, 1, 1, 2), 304)
    assert [[e.command for e in m.entries] for m in batches_to(leader, 2)] == [[b"b", b"c"]]


def test_a_batch_that_overtook_the_one_before_it_is_sent_again_not_backed_up():
    """Messages can be reordered: a pipelined batch that arrives first is refused (the
    follower lacks its prevLogIndex).  That is no conflict: nextIndex stays, and the
    batch goes again once the one before it is acknowledged."""
    leader = make_leader(term=1, config=Config(max_batch=3, max_inflight=2))
    all_acknowledge(leader, 300)
    leader.propose([b"c%d" % i for i in range(6)], 301)  # indexes 2..7
    first, second = batches_to(leader, 2)
    assert second.prev_log_index == 4
    leader.step(refusal(2, 1, 1, rejected=4, conflict_index=2), 305)  # second came first
    assert leader.next_index[2] == 2 and batches_to(leader, 2) == []
    leader.step(ack(2, 1, 1, 4), 306)  # then the first arrived
    again = batches_to(leader, 2)
    assert [(m.prev_log_index, len(m.entries)) for m in again] == [(4, 3)]


def test_a_slow_round_trip_is_not_mistaken_for_a_loss():
    """§5.3 retries lost AppendEntries; with a round trip longer than a heartbeat round,
    a batch must not be presumed lost (and sent again) just because it is slow."""
    leader = make_leader(term=1, config=Config(heartbeat_ms=50))
    leader.tick(leader.heartbeat_deadline)  # one heartbeat round
    leader.ready()
    now = leader.heartbeat_deadline - 1
    for peer in leader.peers:  # the no-op's batch came back after 99 ms
        leader.step(ack(peer, 1, 1, 1), now)
    leader.ready()
    assert leader.progress[2].rtt == 99
    leader.propose([b"a"], now)
    assert len(batches_to(leader, 2)) == 1
    ticks = []
    while not batches_to(leader, 2):
        leader.tick(leader.heartbeat_deadline)
        ticks.append(round(leader._now - now))
    # Without a reply for two heartbeat rounds it would once have been sent again at
    # 51 ms; now only once it is older than two round trips (198 ms).
    assert ticks == [1, 51, 101, 151, 201]


def catch_up_ms(max_inflight: int, entries: int = 2000) -> float:
    c = Cluster(3, seed=1, config=Config(delay_ms=(5, 5), max_inflight=max_inflight))
    leader = c.wait_for_leader()
    behind = next(i for i in c.ids if i != leader)
    c.crash(behind)
    c.apply([b"x"] * entries, timeout_ms=60_000)
    c.restart(behind)
    target = c.nodes[leader].log.last_index
    assert c.run_until(lambda c: c.nodes[behind].leader_id == leader, 1000)
    start = c.now
    assert c.run_until(lambda c: c.nodes[behind].log.last_index >= target, 60_000)
    return c.now - start


def test_pipelining_catches_up_in_far_fewer_round_trips():
    """2,000 entries, 64 per batch, 10 ms round trips: about 32 round trips one batch at a
    time, about 8 with four in flight (benchmarks/bench_catchup.py prints the figures)."""
    one, four = catch_up_ms(1), catch_up_ms(4)
    assert one >= 2000 / 64 * 10
    assert four <= one / 2.5
