"""NodeRuntime in one process: persist before send (§5, Figure 2), group commit, no polling.

The runtime drives the same RaftNode as the simulator.  Here its disk is a real
``DiskStorage`` whose writes are recorded, and its network a fake that records what
leaves, so the order of the two can be checked.
"""

from __future__ import annotations

import asyncio

from raftlab.config import Config
from raftlab.log import Entry
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply
from raftlab.node import HardState
from raftlab.roles import Role
from raftlab.server.runtime import NodeRuntime
from raftlab.server.storage import DiskStorage


class RecordingStorage(DiskStorage):
    def __init__(self, directory, node_id, events):
        super().__init__(directory, node_id)
        self.events = events

    def write(self, data: bytes) -> None:
        super().write(data)  # returns once fdatasync has returned
        self.events.append(("synced", self.syncs))


class FakeTransport:
    def __init__(self, events):
        self.events = events

    def start(self) -> None:
        pass

    def send(self, msgs) -> None:
        self.events.extend(("send", m) for m in msgs)

    async def close(self) -> None:
        pass

    def stats(self):
        return {}


def run(tmp_path, scenario, config=None):
    events: list = []
    storage = RecordingStorage(tmp_path, 1, events)
    config = config or Config(election_timeout_ms=(5000, 6000), heartbeat_ms=100)

    async def main():
        rt = NodeRuntime(
            1,
            [1, 2, 3],
            storage=storage,
            transport=FakeTransport(events),
            config=config,
            state_machine=None,
            http_url="http://s1",
        )
        rt.start()
        try:
            await scenario(rt)
        finally:
            await rt.stop()
        return rt

    rt = asyncio.run(main())
    return rt, events


def test_a_vote_is_synced_before_the_reply_that_grants_it_s5_2(tmp_path):
    async def scenario(rt):
        rt.deliver([RequestVote(2, 1, 5, 2, 0, 0)], 2, "http://s2")
        await asyncio.sleep(0.05)

    _, events = run(tmp_path, scenario)
    assert events[0] == ("synced", 1)
    assert events[1] == ("send", RequestVoteReply(1, 2, 5, True))
    with DiskStorage(tmp_path, 1) as again:
        assert again.load()[0] == HardState(5, 2)


def test_entries_are_synced_before_they_are_acknowledged_s5_3(tmp_path):
    entries = (Entry(1, 1, b"a"), Entry(2, 1, b"b"))

    async def scenario(rt):
        rt.deliver([AppendEntries(2, 1, 1, 2, 0, 0, entries, 0)], 2, "http://s2")
        await asyncio.sleep(0.05)

    rt, events = run(tmp_path, scenario)
    assert [kind for kind, _ in events] == ["synced", "send"]
    assert events[1][1] == AppendEntriesReply(1, 2, 1, True, match_index=2)
    assert rt.peer_http == {2: "http://s2"}  # how it learns where to redirect clients
    with DiskStorage(tmp_path, 1) as again:
        assert again.load() == (HardState(1, None), list(entries))


def test_messages_that_arrive_together_cost_one_sync(tmp_path):
    """Group commit: three AppendEntries queued before the round are written at once."""
    batches = [
        AppendEntries(2, 1, 1, 2, k, 1 if k else 0, (Entry(k + 1, 1, b"x"),), 0) for k in range(3)
    ]

    async def scenario(rt):
        rt.deliver(batches, 2, None)
        await asyncio.sleep(0.05)

    rt, events = run(tmp_path, scenario)
    assert [kind for kind, _ in events] == ["synced", "send", "send", "send"]
    assert rt.storage.syncs == 1 and rt.node.log.last_index == 3


def test_an_idle_follower_does_nothing_until_its_election_timeout(tmp_path):
    """No polling: the only wake-up is the timer at node.next_deadline (§5.2)."""
    config = Config(election_timeout_ms=(300, 300), heartbeat_ms=50)
    seen = {}

    async def scenario(rt):
        await asyncio.sleep(0.2)
        seen["rounds before"] = rt.rounds
        await asyncio.sleep(0.25)
        seen["role after"] = rt.node.role

    rt, events = run(tmp_path, scenario, config)
    assert seen == {"rounds before": 0, "role after": Role.CANDIDATE}
    assert rt.rounds == 1
    # It votes for itself, durably, before it asks anybody for a vote.
    assert events[0] == ("synced", 1)
    assert [m for _, m in events[1:]] == [
        RequestVote(1, 2, 1, 1, 0, 0),
        RequestVote(1, 3, 1, 1, 0, 0),
    ]
