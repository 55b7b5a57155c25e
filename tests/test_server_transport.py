"""The transport between servers: ordered frames, lossy when a peer is down, never stuck."""

from __future__ import annotations

import asyncio

from aiohttp import web

from raftlab.log import Entry
from raftlab.messages import AppendEntries, RequestVote
from raftlab.server.local import free_ports
from raftlab.server.transport import HttpTransport, rpc_app


def heartbeat(k: int) -> AppendEntries:
    return AppendEntries(1, 2, 3, 1, k, 3, (), k)


class Peer:
    """Node 2's receiving side, on a real port."""

    def __init__(self, port: int, digest: str = "abc"):
        self.port = port
        self.got: list = []
        self.senders: list = []
        self.app = rpc_app(2, [1, 3], digest, self.deliver, max_bytes=1 << 20)
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


def transport(port: int, digest: str = "abc") -> HttpTransport:
    return HttpTransport(
        1, {2: f"127.0.0.1:{port}"}, http_url="http://s1:1", cluster_digest=digest, timeout_s=1.0
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
