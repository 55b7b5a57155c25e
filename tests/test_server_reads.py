"""Reads without a log entry on a real server (thesis §6.4; ``raftlab.server.reads``).

One ``NodeRuntime`` in one process, made leader of a three-server cluster by hand: its
network is a fake that records what leaves, and the followers' answers are delivered by
the test, so nothing moves unless the test says so (the heartbeat is 10 s away).
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from raftlab.config import Config
from raftlab.errors import LeadershipLost, NotLeader
from raftlab.kv import Command, Kind, encode_command
from raftlab.kv.state_machine import KVStateMachine
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVoteReply, TimeoutNow
from raftlab.roles import Role
from raftlab.server.reads import Deadlines
from raftlab.server.runtime import NodeRuntime
from raftlab.server.storage import DiskStorage

QUIET = Config(election_timeout_ms=(30_000, 30_000), heartbeat_ms=10_000)


class FakeTransport:
    """Records each message with what ``on_send`` says about the moment it left."""

    def __init__(self):
        self.sent: list = []
        self.on_send = lambda msg: None

    def start(self) -> None:
        pass

    def send(self, msgs) -> None:
        for m in msgs:
            self.sent.append((m, self.on_send(m)))

    async def close(self) -> None:
        pass

    def stats(self):
        return {}


def heartbeats(transport, after: int = 0) -> list[AppendEntries]:
    """The AppendEntries sent since message ``after``, to either follower."""
    return [m for m, _ in transport.sent[after:] if isinstance(m, AppendEntries)]


def ack(msg: AppendEntries) -> AppendEntriesReply:
    """The follower's yes to ``msg``, echoing its round (``seq``)."""
    match = msg.prev_log_index + len(msg.entries)
    return AppendEntriesReply(msg.dst, msg.src, msg.term, True, match_index=match, seq=msg.seq)


async def settle() -> None:
    await asyncio.sleep(0.05)


async def lead(rt: NodeRuntime, transport: FakeTransport) -> None:
    """S1 leads term 1 and has committed its no-op (§8) with S2's help; x = "1"."""
    rt.deliver([TimeoutNow(2, 1, 0)], 2, None)  # stand for election now (§3.10)
    await settle()
    rt.deliver([RequestVoteReply(2, 1, 1, True)], 2, None)
    await settle()
    assert rt.node.role is Role.LEADER
    set_x = encode_command(Command(Kind.SET, "x", "1"))
    proposal = asyncio.ensure_future(rt.propose([set_x], 5))
    answered = 0
    while not proposal.done():  # S2 acknowledges what it gets: the no-op, then the write
        await settle()
        sent = heartbeats(transport)
        rt.deliver([ack(m) for m in sent[answered:] if m.dst == 2], 2, None)
        answered = len(sent)
    await proposal
    assert rt.state_machine.data == {"x": "1"}


def run(tmp_path, scenario, config=QUIET):
    transport = FakeTransport()

    async def main():
        rt = NodeRuntime(
            1,
            [1, 2, 3],
            storage=DiskStorage(tmp_path, 1),
            transport=transport,
            config=config,
            state_machine=KVStateMachine(),
            http_url="http://s1",
        )
        rt.start()
        try:
            await lead(rt, transport)
            await scenario(rt, transport)
        finally:
            await rt.stop()

    asyncio.run(main())


def test_a_read_queued_while_a_round_is_out_waits_for_the_next_round_s6_4(tmp_path):
    """ReadIndex confirms a read only with a round sent after it arrived: B, queued while
    A's round is out, is not served by A's acknowledgement, but by the next round's."""

    async def scenario(rt, transport):
        start = len(transport.sent)
        a = rt.submit_read("read_index", "x")
        await settle()
        (round_a,) = {m.seq for m in heartbeats(transport, start)}
        b = rt.submit_read("read_index", "x")
        await settle()
        # B joins no round yet: one round out at a time, and B arrived after it left.
        assert {m.seq for m in heartbeats(transport, start)} == {round_a}
        assert not a.done() and not b.done()
        start = len(transport.sent)
        (to_s2,) = [m for m in heartbeats(transport) if m.dst == 2 and m.seq == round_a]
        rt.deliver([ack(to_s2)], 2, None)  # a majority: S1 and S2
        await settle()
        assert a.result() == (2, "1")  # (last applied, the value)
        assert not b.done()
        (round_b,) = {m.seq for m in heartbeats(transport, start)}
        assert round_b > round_a
        (to_s3,) = [m for m in heartbeats(transport) if m.dst == 3 and m.seq == round_b]
        rt.deliver([ack(to_s3)], 3, None)
        await settle()
        assert b.result() == (2, "1")

    run(tmp_path, scenario)


def test_reads_from_another_thread_cross_as_one_batch_and_come_back_in_one_wake_up(tmp_path):
    """Ten reads from the client thread's loop while a round is out: one round for all
    ten, and their answers cross back to that loop in one wake-up."""
    client_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=client_loop.run_forever, daemon=True)
    thread.start()

    async def ten_reads(rt):
        keys = ["x", "y"] * 5
        return await asyncio.gather(*(rt.submit_read("read_index", k) for k in keys))

    async def scenario(rt, transport):
        start = len(transport.sent)
        first = rt.submit_read("read_index", "x")
        await settle()
        (round_1,) = {m.seq for m in heartbeats(transport, start)}
        batch = asyncio.run_coroutine_threadsafe(ten_reads(rt), client_loop)
        await settle()
        assert len(heartbeats(transport, start)) == 2  # still the one round, to S2 and S3
        start = len(transport.sent)
        (to_s2,) = [m for m in heartbeats(transport) if m.dst == 2 and m.seq == round_1]
        rt.deliver([ack(to_s2)], 2, None)
        await settle()
        assert first.done() and not batch.done()
        round_2 = heartbeats(transport, start)
        assert sorted(m.dst for m in round_2) == [2, 3] and round_2[0].seq > round_1
        rt.deliver([ack(round_2[0])], round_2[0].dst, None)
        answers = await asyncio.wrap_future(batch)
        assert answers == [(2, "1"), (2, None)] * 5
        (box,) = rt._mailboxes.values()
        assert box.loop is client_loop and box.wakeups == 1

    try:
        run(tmp_path, scenario)
    finally:
        client_loop.call_soon_threadsafe(client_loop.stop)
        thread.join(5)
        client_loop.close()


def test_a_read_on_a_follower_is_refused_at_once_with_the_leader(tmp_path):
    async def scenario(rt, transport):
        rt.deliver([AppendEntries(2, 1, 5, 2, 2, 1, (), 2)], 2, None)  # S2 leads term 5
        await settle()
        with pytest.raises(NotLeader) as refused:
            rt.submit_read("read_index", "x")
        assert refused.value.leader_hint == 2
        assert rt.read_under_lease("x") is None

    run(tmp_path, scenario)


def test_reads_out_when_the_leader_is_deposed_fail_and_stop_fails_queued_ones(tmp_path):
    async def scenario(rt, transport):
        out = rt.submit_read("read_index", "x")
        await settle()
        rt.deliver([AppendEntries(2, 1, 5, 2, 2, 1, (), 2)], 2, None)  # a newer leader
        await settle()
        with pytest.raises(LeadershipLost, match="stopped leading"):
            out.result()

    run(tmp_path, scenario)

    async def queued(rt, transport):
        out = rt.submit_read("read_index", "x")
        await rt.stop()  # before the node's loop took it
        with pytest.raises(LeadershipLost, match="stopped before the read was served"):
            out.result()

    run(tmp_path / "again", queued)


LEASE = Config(election_timeout_ms=(30_000, 30_000), heartbeat_ms=10_000, lease_ms=300)


async def renew_lease(rt: NodeRuntime, transport: FakeTransport, mode: str = "read_index") -> None:
    """One round (a ReadIndex's) that S2 acknowledges: the lease runs from when it left.
    (``mode="lease"``: a lease read that has no lease goes through the node the same way.)"""
    start = len(transport.sent)
    read = rt.submit_read(mode, "x")
    await settle()
    (to_s2,) = [m for m in heartbeats(transport, start) if m.dst == 2]
    rt.deliver([ack(to_s2)], 2, None)
    await settle()
    assert read.result() == (2, "1")


def test_a_lease_read_is_served_on_the_calling_thread_while_the_lease_holds_s6_4_1(tmp_path):
    async def scenario(rt, transport):
        assert rt.read_under_lease("x") is None  # no round acknowledged yet: no lease
        await renew_lease(rt, transport)
        assert rt.node.lease_holds(rt._now())
        rounds = rt.rounds
        assert rt.read_under_lease("x") == (2, "1")
        assert rt.read_under_lease("nope") == (2, None)
        assert rt.rounds == rounds  # the node's loop was not woken
        # Past the lease (shortened for drift) the view is no good, with no round since.
        await asyncio.sleep(rt.node.lease_expiry() / 1000 - rt._loop.time() + 0.01)
        assert rt.rounds == rounds
        assert rt.read_under_lease("x") is None
        # A lease read then goes through the node, as a ReadIndex (one round).
        await renew_lease(rt, transport, mode="lease")
        assert rt.read_under_lease("x") == (2, "1")  # and that round renewed the lease

    run(tmp_path, scenario, LEASE)


def test_the_lease_is_withdrawn_before_a_timeout_now_or_a_vote_leaves_s3_10(tmp_path):
    """The client thread trusts the published lease only while it is published: the node
    withdraws it before anything that could let another leader in is sent."""

    async def scenario(rt, transport):
        transport.on_send = lambda msg: rt._lease_view
        await renew_lease(rt, transport)
        assert rt.read_under_lease("x") == (2, "1")
        rt.node.transfer_leadership(2, rt._now())  # S2 is up to date: TimeoutNow at once
        rt._wake.set()
        await settle()
        (timeout_now,) = [(m, view) for m, view in transport.sent if isinstance(m, TimeoutNow)]
        assert timeout_now[1] is None
        assert rt.read_under_lease("x") is None

    run(tmp_path, scenario, LEASE)

    async def deposed(rt, transport):
        transport.on_send = lambda msg: rt._lease_view
        await renew_lease(rt, transport)
        assert rt.read_under_lease("x") == (2, "1")
        rt.deliver([AppendEntries(3, 1, 5, 3, 2, 1, (), 2)], 3, None)  # a newer leader
        await settle()
        ((reply, view),) = [(m, v) for m, v in transport.sent if m.term == 5]
        assert isinstance(reply, AppendEntriesReply) and view is None
        assert rt.read_under_lease("x") is None

    run(tmp_path / "again", deposed, LEASE)


def test_deadlines_time_out_only_the_futures_still_waiting():
    async def main():
        loop = asyncio.get_running_loop()
        limit = Deadlines(0.05)
        answered, late = limit.add(loop.create_future()), limit.add(loop.create_future())
        answered.set_result(1)
        await asyncio.sleep(0.02)
        later = limit.add(loop.create_future())
        await asyncio.sleep(0.04)
        assert answered.result() == 1
        with pytest.raises(TimeoutError):
            late.result()
        assert not later.done()  # its own 50 ms are not over
        await asyncio.sleep(0.03)
        with pytest.raises(TimeoutError):
            later.result()

    asyncio.run(main())


def test_a_read_the_node_cannot_serve_is_refused_before_it_reaches_the_node(tmp_path):
    async def scenario(rt, transport):
        with pytest.raises(ValueError, match="lease reads need a lease"):
            rt.submit_read("lease", "x")  # QUIET has no lease
        with pytest.raises(ValueError, match="'read_index' or 'lease', not 'log'"):
            rt.submit_read("log", "x")
        await settle()
        assert rt.failure is None and rt.node.role is Role.LEADER
        await renew_lease(rt, transport)  # a ReadIndex read still goes through

    run(tmp_path, scenario)
