"""Raft messages between real servers: one kept-alive connection per peer and direction.

Theory of operation
-------------------
The simulator's network takes a message and delivers it later, or loses it.  This is the
same contract over real connections, nothing more:

- **Sending** (:class:`PeerLink`): every peer has a queue and one task that drains it.
  The task keeps one WebSocket open to the peer's ``/raft`` (an ``aiohttp.ClientSession``
  per peer) and sends *everything* queued as one binary frame (``raftlab.server.codec``).
  While a frame is being written, new messages queue up and leave together in the next
  one: under load, messages batch themselves.  A frame that cannot be sent (peer down,
  connection refused or broken, a write that takes longer than ``timeout_s``) loses its
  messages, exactly like a lossy network: Raft already retries (heartbeats, the leader's
  resends, new elections).  Nothing is retried here, and nothing runs while the queue is
  empty.
- **Receiving** (:func:`rpc_app`): ``GET /raft`` upgrades to a WebSocket; every frame is
  decoded and handed to the runtime.  Nothing is answered: a Raft reply is a message like
  any other and travels back on the replier's own connection, so no request ever waits
  on another node's disk.

Why frames on a WebSocket rather than one HTTP POST per batch: an idle leader sends a
heartbeat to each follower ten times a second and each follower replies.  With POSTs
that is two HTTP requests and two responses per follower per heartbeat, each with its
parsing and its wake-ups; with one-way frames it is one frame each way.  Measured on a
3-node cluster on a busy 2-core machine: an idle leader used 1.6 % of a core with POSTs
and 0.6 % with frames, a follower 0.8-1.2 % and 0.2-0.4 %.

The WebSocket handshake carries four headers: ``X-Raftlab-From`` (the sender's id),
``X-Raftlab-Http`` (the sender's client address, which is how a follower learns where to
redirect clients: the leader connects to it), ``X-Raftlab-Cluster`` (a digest of the
``--cluster`` list, so nodes started with different member lists refuse to talk instead
of electing two leaders) and ``X-Raftlab-Auth`` (an HMAC of the other three with the
cluster's key).  Every frame starts with an HMAC tag, checked before it is decoded, and
every message is checked field by field before the node sees it (``raftlab.server.peers``).
A frame that fails is logged and dropped; the connection stays open.

The fault hook (``HttpTransport.blocked``, ``rpc_app(blocked=...)``) drops every message to
and from the peers it names, as a network partition would.  Only ``kvapi --test-faults``
lets anybody set it (``raftlab.server.nemesis`` uses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

import aiohttp
from aiohttp import web

from raftlab.messages import Message
from raftlab.server.codec import EntryCache, decode_messages, encode_messages
from raftlab.server.peers import PeerKey, check_message

log = logging.getLogger("raftlab.server")

H_FROM = "X-Raftlab-From"
H_HTTP = "X-Raftlab-Http"
H_CLUSTER = "X-Raftlab-Cluster"
H_AUTH = "X-Raftlab-Auth"
BAD_FRAMES = web.AppKey("bad_frames", dict)  # {"count": frames dropped as bad}


class PeerLink:
    """The one-way path to one peer: a queue, a task, a kept-alive WebSocket."""

    def __init__(
        self,
        peer: int,
        address: str,
        headers: dict[str, str],
        *,
        timeout_s: float,
        max_queue: int,
        cache: EntryCache | None,
        seal: Callable[[bytes], bytes] = bytes,
    ):
        self.peer = peer
        self.seal = seal  # adds the frame's HMAC tag
        self.url = f"http://{address}/raft"
        self.headers = headers
        self.timeout_s = timeout_s
        self.max_queue = max_queue
        self.cache = cache
        self.sent = 0  # messages handed to the connection
        self.dropped = 0  # messages lost: peer unreachable, or the queue overflowed
        self.frames = 0
        self.connects = 0
        self.reachable: bool | None = None  # None until the first attempt
        self._queue: list[Message] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._drainer: asyncio.Task | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name=f"link-{self.peer}")

    def enqueue(self, msg: Message) -> None:
        q = self._queue
        q.append(msg)
        if len(q) > self.max_queue:
            # The peer is not keeping up (or hangs until the timeout): drop the oldest
            # half.  Newer messages carry newer terms and commit indexes; Raft resends
            # whatever entries the dropped ones held.
            cut = len(q) // 2
            self.dropped += cut
            del q[:cut]
        self._wake.set()

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(1.0, self.timeout_s))
        async with aiohttp.ClientSession(
            timeout=timeout, headers=self.headers, skip_auto_headers=("User-Agent",)
        ) as session:
            ws: aiohttp.ClientWebSocketResponse | None = None
            try:
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    msgs, self._queue = self._queue, []
                    if not msgs:
                        continue
                    if ws is None or ws.closed:
                        ws = await self._connect(session)
                        if ws is None:
                            self.dropped += len(msgs)
                            continue
                    if not await self._send(ws, msgs):
                        await ws.close()
                        ws = None
            finally:
                if ws is not None:
                    await ws.close()

    async def _connect(
        self, session: aiohttp.ClientSession
    ) -> aiohttp.ClientWebSocketResponse | None:
        try:
            ws = await asyncio.wait_for(
                session.ws_connect(
                    self.url, autoping=False, autoclose=True, compress=0, max_msg_size=0
                ),
                self.timeout_s,
            )
        except aiohttp.WSServerHandshakeError as exc:
            self._down(f"it refused the connection ({exc.status}): {exc.message}")
            return None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._down(str(exc) or type(exc).__name__)
            return None
        self.connects += 1
        # Frames only flow one way: drain (and ignore) whatever the peer might send, so
        # a close from its side is noticed.
        self._drainer = asyncio.get_running_loop().create_task(_drain(ws))
        if self.reachable is False:
            log.warning("S%d reachable again", self.peer)
        self.reachable = True
        return ws

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, msgs: list[Message]) -> bool:
        body = self.seal(encode_messages(msgs, self.cache))
        try:
            await asyncio.wait_for(ws.send_bytes(body), self.timeout_s)
        except (aiohttp.ClientError, TimeoutError, OSError, ConnectionError) as exc:
            self.dropped += len(msgs)
            self._down(f"sending failed: {exc or type(exc).__name__}")
            return False
        self.frames += 1
        self.sent += len(msgs)
        return True

    def _down(self, why: str) -> None:
        if self.reachable is not False:
            # Say it once per outage, not once per heartbeat.
            log.warning("S%d unreachable at %s: %s", self.peer, self.url, why)
        self.reachable = False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


class HttpTransport:
    """Sends a node's messages to its peers (one :class:`PeerLink` each)."""

    def __init__(
        self,
        node_id: int,
        peers: dict[int, str],
        *,
        http_url: str,
        cluster_digest: str,
        key: PeerKey,
        timeout_s: float = 5.0,
        max_queue: int = 256,
        cache: EntryCache | None = None,
    ):
        headers = {
            H_FROM: str(node_id),
            H_HTTP: http_url,
            H_CLUSTER: cluster_digest,
            H_AUTH: key.handshake_tag(node_id, http_url, cluster_digest),
        }
        self.blocked: frozenset[int] = frozenset()  # the fault hook: see the docstring
        # What add_peer needs to open a link to a server that joins later (membership).
        self._node_id, self._headers, self._key = node_id, headers, key
        self._timeout_s, self._max_queue, self._cache = timeout_s, max_queue, cache
        self._started = False
        self.links = {
            p: PeerLink(
                p,
                addr,
                headers,
                timeout_s=timeout_s,
                max_queue=max_queue,
                cache=cache,
                seal=lambda payload, p=p: key.seal(node_id, p, payload),
            )
            for p, addr in sorted(peers.items())
        }

    def start(self) -> None:
        self._started = True
        for link in self.links.values():
            link.start()

    def add_peer(self, peer: int, address: str) -> None:
        """A server joined the configuration (thesis §4.1): open a link to it.  Its
        frames are sealed with the same cluster key as everyone's."""
        if peer in self.links or peer == self._node_id:
            return
        node_id, key = self._node_id, self._key
        link = PeerLink(
            peer,
            address,
            self._headers,
            timeout_s=self._timeout_s,
            max_queue=self._max_queue,
            cache=self._cache,
            seal=lambda payload: key.seal(node_id, peer, payload),
        )
        self.links[peer] = link
        if self._started:
            link.start()

    def send(self, msgs: Iterable[Message]) -> None:
        links, blocked = self.links, self.blocked
        for msg in msgs:
            if msg.dst not in blocked:
                link = links.get(msg.dst)
                if link is not None:  # a server whose address we have not learnt: lost
                    link.enqueue(msg)

    async def close(self) -> None:
        for link in self.links.values():
            await link.close()

    def stats(self) -> dict[int, dict[str, object]]:
        return {
            p: {
                "sent": k.sent,
                "dropped": k.dropped,
                "frames": k.frames,
                "connects": k.connects,
                "reachable": k.reachable,
            }
            for p, k in self.links.items()
        }


def rpc_app(
    node_id: int,
    peers: Iterable[int],
    cluster_digest: str,
    deliver: Callable[[list[Message], int, str | None], None],
    *,
    key: PeerKey,
    max_bytes: int,
    cache: EntryCache | None = None,
    current_term: Callable[[], int] = lambda: 0,
    blocked: Callable[[], frozenset[int]] = frozenset,
    is_peer: Callable[[int], bool] | None = None,
) -> web.Application:
    """The peer-facing application: ``GET /raft`` (see the module docstring).

    ``is_peer(src)``, if given, says who may connect (the servers of every configuration
    this node has seen, ``raftlab.membership``); by default the ``peers`` given.
    """
    known = frozenset(peers)
    if is_peer is None:
        is_peer = known.__contains__
    authenticated = not key.derived
    stats = {"count": 0}

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.headers.get(H_CLUSTER) != cluster_digest:
            return _refuse(
                409,
                f"S{node_id} was started with a different --cluster list than the sender; "
                "every node needs the same one",
            )
        try:
            src = int(request.headers.get(H_FROM, ""))
        except ValueError:
            return _refuse(400, f"missing or bad {H_FROM} header")
        if not is_peer(src):
            return _refuse(400, f"S{src} is not a peer of S{node_id}")
        http_url = request.headers.get(H_HTTP, "")
        if not key.check_handshake(request.headers.get(H_AUTH, ""), src, http_url, cluster_digest):
            return _refuse(
                401,
                f"a connection claiming to be S{src} did not prove it holds the cluster key "
                "(check --cluster-key-file on every node)",
            )
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=max_bytes)
        await ws.prepare(request)
        open_sockets.add(ws)
        try:
            await _receive(ws, src, http_url or None)
        finally:
            open_sockets.discard(ws)
        return ws

    async def _receive(ws: web.WebSocketResponse, src: int, http_url: str | None) -> None:
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.BINARY:
                continue
            try:
                payload = key.open(src, node_id, frame.data)
                msgs = decode_messages(payload, cache)
                term = current_term()
                for m in msgs:
                    check_message(m, src, node_id, term, authenticated)
            except ValueError as exc:
                # Dropped, as a lossy network would: the node never sees it, so nothing
                # is persisted and nothing stops.  (The log line is rate-limited.)
                stats["count"] += 1
                log.warning("dropped a bad frame on S%d's connection: %s", src, exc)
                continue
            if src in blocked():
                continue  # the fault hook: a partition drops what crosses it
            deliver(msgs, src, http_url)

    async def close_all(app: web.Application) -> None:
        # Peers' connections stay open forever; a clean stop must close them itself.
        for ws in list(open_sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"node stopping")

    open_sockets: set[web.WebSocketResponse] = set()
    app = web.Application(client_max_size=max_bytes)
    app[BAD_FRAMES] = stats
    app.router.add_get("/raft", handle)
    app.on_shutdown.append(close_all)
    return app


def _refuse(status: int, text: str) -> web.Response:
    log.warning("refused a peer connection: %s", text)
    return web.Response(status=status, text=text + "\n")
