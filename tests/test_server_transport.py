"""The transport between servers: ordered frames, lossy when a peer is down, never stuck."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from raftlab.log import Entry
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply
from raftlab.server.codec import encode_messages
from raftlab.server.local import free_ports
from raftlab.server.peers import TERM_JUMP, PeerKey
from raftlab.server.transport import BAD_FRAMES, HttpTransport, rpc_app

KEY = PeerKey(b"a test key of more than sixteen bytes")


def heartbeat(k: int) -> AppendEntries:
    return AppendEntries(1, 2, 3, 1, k, 3 if k else 0, (), k)


class Peer:
    """Node 2's receiving side, on a real port."""

    def __init__(self, port: int, digest: str = "abc", key: PeerKey = KEY, term: int = 0):
        self.port = port
        self.got: list = []
        self.senders: list = []
        self.app = rpc_app(
            2, [1, 3], digest, self.deliver, key=key, max_bytes=1 << 20, current_term=lambda: term
        )
        self.runner: web.AppRunner | None = None

    def deliver(self, msgs, src, http):
        self.got.extend(msgs)
        self.senders.append((src, http))

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()


async def until(pred, timeout_s: float = 3.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def transport(port: int, digest: str = "abc", key: PeerKey = KEY) -> HttpTransport:
    return HttpTransport(
        1,
        {2: f"127.0.0.1:{port}"},
        http_url="http://s1:1",
        cluster_digest=digest,
        key=key,
        timeout_s=1.0,
    )


def test_messages_arrive_in_order_and_queued_ones_share_a_frame():
    async def main():
        (port,) = free_ports(1)
        peer, t = Peer(port), transport(port)
        await peer.start()
        t.start()
        try:
            big = AppendEntries(
                1, 2, 3, 1, 0, 0, tuple(Entry(i, 3, b"x" * 100) for i in range(1, 2001)), 0
            )
            msgs = [heartbeat(k) for k in range(50)] + [big]
            t.send(msgs)  # queued together: they leave as one frame
            assert await until(lambda: len(peer.got) == len(msgs))
            assert peer.got == msgs
            assert peer.senders[0] == (1, "http://s1:1")
            assert t.links[2].frames == 1 and t.links[2].connects == 1
        finally:
            await t.close()
            await peer.stop()

    asyncio.run(main())


def test_a_down_peer_loses_messages_and_a_returning_one_gets_the_next():
    async def main():
        (port,) = free_ports(1)
        peer, t = Peer(port), transport(port)
        t.start()
        try:
            t.send([heartbeat(1)])
            link = t.links[2]
            assert await until(lambda: link.dropped == 1)  # refused: lost, like the network
            assert link.reachable is False
            await peer.start()
            t.send([heartbeat(2)])
            assert await until(lambda: peer.got == [heartbeat(2)])
            assert link.reachable is True
            await peer.stop()  # closes the peer's end of the connection
            t.send([heartbeat(3)])
            await until(lambda: link.dropped == 2, 1.0)
            await peer.start()
            t.send([heartbeat(4)])
            assert await until(lambda: heartbeat(4) in peer.got)
            assert heartbeat(3) not in peer.got  # never resent: Raft does that itself
        finally:
            await t.close()
            await peer.stop()

    asyncio.run(main())


def test_nodes_with_different_cluster_lists_refuse_to_talk():
    async def main():
        (port,) = free_ports(1)
        peer, t = Peer(port, digest="abc"), transport(port, digest="xyz")
        await peer.start()
        t.start()
        try:
            t.send([RequestVote(1, 2, 1, 1, 0, 0)])
            assert await until(lambda: t.links[2].dropped == 1)
            assert peer.got == []
        finally:
            await t.close()
            await peer.stop()

    asyncio.run(main())


# ------------------------------------------------ forged peers and bad frames (issue 14)


async def _connect(port: int, headers: dict[str, str]):
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(f"http://127.0.0.1:{port}/raft", headers=headers)
    except BaseException:
        await session.close()
        raise
    return session, ws


def _hello(key: PeerKey, src: int = 1, digest: str = "abc") -> dict[str, str]:
    return {
        "X-Raftlab-From": str(src),
        "X-Raftlab-Http": "http://s1:1",
        "X-Raftlab-Cluster": digest,
        "X-Raftlab-Auth": key.handshake_tag(src, "http://s1:1", digest),
    }


def test_a_peer_without_the_cluster_key_cannot_connect():
    """The old credential was a digest of the public --cluster string: anyone could send."""

    async def main():
        (port,) = free_ports(1)
        peer = Peer(port)
        await peer.start()
        try:
            for headers in (
                {k: v for k, v in _hello(KEY).items() if k != "X-Raftlab-Auth"},
                _hello(PeerKey(b"somebody else's key, long enough")),
                {**_hello(KEY), "X-Raftlab-Http": "http://evil:1"},  # tag covers the address
            ):
                with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                    await _connect(port, headers)
                assert err.value.status == 401
            assert peer.got == []
        finally:
            await peer.stop()

    asyncio.run(main())


U64 = 2**64 - 1
FORGED = [
    # (what, message) - each must be dropped although its frame's tag is right
    ("vote with term 2**64-1", RequestVote(1, 2, U64, 1, 0, 0)),
    ("vote for somebody else", RequestVote(1, 2, 5, 3, 0, 0)),
    ("vote with last_log_term above its term", RequestVote(1, 2, 5, 1, 4, 6)),
    ("vote with a term for index 0", RequestVote(1, 2, 5, 1, 0, 2)),
    ("vote in term 0", RequestVote(1, 2, 0, 1, 0, 0)),
    ("vote with last index 2**64-1", RequestVote(1, 2, 5, 1, U64, 5)),
    ("vote reply with term 2**64-1", RequestVoteReply(1, 2, U64, True)),
    ("append with term 2**64-1", AppendEntries(1, 2, U64, 1, 0, 0, (), 0)),
    ("append from a pretend leader", AppendEntries(1, 2, 5, 3, 0, 0, (), 0)),
    ("append with commit 2**64-1", AppendEntries(1, 2, 5, 1, 0, 0, (), U64)),
    ("append with prev term above its term", AppendEntries(1, 2, 5, 1, 3, 9, (), 0)),
    ("append with prev index 2**64-2", AppendEntries(1, 2, 5, 1, U64 - 1, 5, (), 0)),
    (
        "append whose entries' terms go down",
        AppendEntries(1, 2, 5, 1, 0, 0, (Entry(1, 4, b"a"), Entry(2, 3, b"b")), 0),
    ),
    ("append with an entry past its term", AppendEntries(1, 2, 5, 1, 0, 0, (Entry(1, 6, b""),), 0)),
    ("append in term 0", AppendEntries(1, 2, 0, 1, 0, 0, (), 0)),
    ("reply with match 2**64-1", AppendEntriesReply(1, 2, 5, True, U64)),
    ("reply with conflict term above its term", AppendEntriesReply(1, 2, 5, False, 0, 3, 9, 1)),
    ("reply with term 2**64-1", AppendEntriesReply(1, 2, U64, False)),
    ("message for another node", RequestVote(1, 3, 5, 1, 0, 0)),
    ("message from another node", RequestVote(3, 2, 5, 3, 0, 0)),
]


def test_every_kind_of_forged_or_malformed_frame_is_dropped_and_the_link_stays_up():
    async def main():
        (port,) = free_ports(1)
        peer = Peer(port)
        await peer.start()
        session, ws = await _connect(port, _hello(KEY))
        try:
            good = heartbeat(1)
            frames = [KEY.seal(1, 2, encode_messages([m])) for _, m in FORGED]
            frames += [
                PeerKey(b"somebody else's key, long enough").seal(1, 2, encode_messages([good])),
                KEY.seal(2, 1, encode_messages([good])),  # a tag for the other direction
                KEY.seal(1, 2, encode_messages([good]))[:-1],  # cut short: tag fails
                KEY.seal(1, 2, b"\x07garbage"),  # right tag, undecodable payload
                b"short",
                KEY.seal(1, 2, encode_messages([good, FORGED[0][1]])),  # one bad: all dropped
            ]
            for frame in frames:
                await ws.send_bytes(frame)
            await ws.send_bytes(KEY.seal(1, 2, encode_messages([good])))
            assert await until(lambda: peer.got != [])
            assert peer.got == [good], "a forged message reached the node"
            assert peer.app[BAD_FRAMES]["count"] == len(frames)
        finally:
            await ws.close()
            await session.close()
            await peer.stop()

    asyncio.run(main())


def test_without_a_key_a_term_far_ahead_is_refused_and_a_near_one_passes():
    async def main():
        (port,) = free_ports(1)
        key = PeerKey.derived_from("abc")
        peer = Peer(port, key=key, term=7)
        await peer.start()
        session, ws = await _connect(port, _hello(key))
        try:
            far = RequestVote(1, 2, 7 + TERM_JUMP + 1, 1, 0, 0)
            near = RequestVote(1, 2, 7 + TERM_JUMP, 1, 0, 0)
            await ws.send_bytes(key.seal(1, 2, encode_messages([far])))
            await ws.send_bytes(key.seal(1, 2, encode_messages([near])))
            assert await until(lambda: peer.got != [])
            assert peer.got == [near]
        finally:
            await ws.close()
            await session.close()
            await peer.stop()

    asyncio.run(main())


def test_the_fault_hook_drops_messages_both_ways():
    async def main():
        (port,) = free_ports(1)
        blocked: list[frozenset[int]] = [frozenset({1})]
        peer = Peer(port)
        peer.app = rpc_app(
            2, [1, 3], "abc", peer.deliver, key=KEY, max_bytes=1 << 20, blocked=lambda: blocked[0]
        )
        t = transport(port)
        await peer.start()
        t.start()
        try:
            t.send([heartbeat(1)])  # sent, but the receiver's side of the partition drops it
            await asyncio.sleep(0.3)
            assert peer.got == []
            blocked[0] = frozenset()
            t.blocked = frozenset({2})  # now the sender's side drops it
            t.send([heartbeat(2)])
            await asyncio.sleep(0.3)
            assert peer.got == [] and t.links[2].sent == 1
            t.blocked = frozenset()
            t.send([heartbeat(3)])
            assert await until(lambda: peer.got == [heartbeat(3)])
        finally:
            await t.close()
            await peer.stop()

    asyncio.run(main())


def test_an_install_snapshot_frame_is_checked_with_its_configuration():
    """A snapshot carries its membership (§7, thesis §4.1): its server ids are range-checked
    like every other field, and a snapshot without one is let through."""
    from raftlab.membership import Configuration
    from raftlab.messages import InstallSnapshot
    from raftlab.server.peers import check_message

    def snap(conf):
        return InstallSnapshot(1, 2, 3, 1, 10, 2, 0, b"x", True, conf)

    check_message(snap(Configuration(frozenset({1, 2, 3}))), 1, 2, 3, True)
    check_message(snap(None), 1, 2, 3, True)
    with pytest.raises(ValueError, match="server id .* is out of range"):
        check_message(snap(Configuration(frozenset({1, 2**62}))), 1, 2, 3, True)
