"""NodeRuntime: the simulator's ``_handle_ready`` loop, with a real clock, disk and network.

Theory of operation
-------------------
``raftlab.node.RaftNode`` is the same object the simulator drives; this module is only
the other half of ``raftlab.cluster.Cluster``, for one node in one process:

============================  ================================  ============================
the simulator                 a real server                     here
============================  ================================  ============================
simulated ms (``Kernel``)     ``loop.time() * 1000``            :meth:`NodeRuntime._now`
``MemoryStorage``             ``DiskStorage`` (fdatasync)       ``raftlab.server.storage``
``Network.send``              a WebSocket to each peer          ``raftlab.server.transport``
a timer event per node        one ``loop.call_at`` at           :meth:`_arm_timer`
                              ``node.next_deadline``
``cluster.submit``            :meth:`NodeRuntime.propose`       called by the HTTP API
============================  ================================  ============================

One task, :meth:`_drive`, owns the node.  Peers' messages, clients' proposals and reads
(from any thread: ``raftlab.server.reads``) do not touch the node: they are queued and the
task is woken.  Each round the task feeds the
node *everything* queued since the last round, and its timer if due, takes one
``ready()`` and handles it in the order ``raftlab.node`` demands:

1. **persist**: encode the records here, then ``write`` + ``fdatasync`` in a worker thread.
   The event loop keeps reading sockets meanwhile, and whatever arrives waits for the
   next round, so the next round persists it with one sync: group commit, with no
   batching timer and no added latency.
2. **send** the messages (queued on each peer's link; see ``raftlab.server.transport``).
3. **apply** what is committed, and settle the proposals it answers.

The order and the settling of proposals are ``raftlab.driver``'s, shared with the
simulator; only the disk write is awaited here, in a worker thread.

While nothing arrives and no deadline passes the task sleeps: an idle follower wakes
when a heartbeat arrives or its election timer fires, an idle leader at each heartbeat.

A failure to write the disk stops the node (fail-stop): after a failed sync nobody knows
what the disk holds, and carrying on could acknowledge what it lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from raftlab.config import Config
from raftlab.driver import Driver, LazyTimer, must_persist
from raftlab.errors import ConfigurationChangeRefused, LeadershipLost, NotLeader
from raftlab.log import Entry, Log
from raftlab.membership import Configuration
from raftlab.messages import Message
from raftlab.node import Applied, HardState, RaftNode
from raftlab.roles import Role
from raftlab.server.reads import LeaseView, Mailbox, ReadGroup, ReadQueue, settle
from raftlab.server.storage import DiskStorage
from raftlab.server.transport import HttpTransport

log = logging.getLogger("raftlab.server")

INF = float("inf")


@dataclass(eq=False, slots=True)
class _Proposal:
    """Commands handed to the leader together; settled when all are applied or lost
    (``raftlab.driver.Proposals`` tells it each entry's outcome)."""

    commands: list[bytes]
    future: asyncio.Future
    node_id: int = 0
    first: int = 0
    last: int = 0
    term: int = 0
    results: list[Applied | None] = field(default_factory=list)

    def _entry_applied(self, position: int, applied: Applied) -> None:
        self.results[position] = applied
        if position == len(self.results) - 1 and not self.future.done():
            self.future.set_result(self.results)

    def _entry_lost(self, index: int, error: Exception) -> None:
        if self.future.done():
            return
        done = sum(r is not None for r in self.results)
        self.future.set_exception(
            LeadershipLost(
                f"S{self.node_id} lost leadership: {error} ({done} of {len(self.results)} "
                "commands of this request were applied before that)"
            )
        )


class NodeRuntime:
    """Drives one ``RaftNode`` with real time, a ``DiskStorage`` and an ``HttpTransport``."""

    def __init__(
        self,
        node_id: int,
        members: list[int],
        *,
        storage: DiskStorage,
        transport: HttpTransport,
        config: Config,
        state_machine: Any,
        http_url: str,
        rng: random.Random | None = None,
        apply_chunk: int = 1024,
        configuration: Configuration | None = None,
    ):
        self.id = node_id
        self.members = sorted(members)
        # The configuration before the log's first entry (raftlab.membership): the
        # --cluster list with its addresses, or an empty one for a server that joins.
        self.base_configuration = configuration
        self._changes: list[tuple[Any, _Proposal]] = []  # membership changes handed in
        self.storage = storage
        self.transport = transport
        self.config = config
        self.state_machine = state_machine
        self.http_url = http_url
        self.rng = rng or random.Random()  # real servers want different timeouts each run
        # Entries applied per round at most: between chunks the loop answers peers and
        # sends heartbeats, so a long catch-up (50,000 entries after a restart) does not
        # silence the node long enough for its followers to start an election.
        self.apply_chunk = apply_chunk
        self.node: RaftNode | None = None
        self.peer_http: dict[int, str] = {}  # learnt from X-Raftlab-Http headers
        self.failure: BaseException | None = None
        self.closing = False
        self.stopped = asyncio.Event()  # set when the node stops, cleanly or not
        self.rounds = 0  # driver rounds: how often the task woke and did something
        self._inbox: list[Message] = []
        self._proposals: list[_Proposal] = []  # handed in, not yet proposed to the node
        # Reads without a log entry (raftlab.server.reads): queued by any thread, handed to
        # the node once per round; the groups the node still holds; answers to other
        # loops; and the lease the client thread may serve reads from.
        self._reads = ReadQueue()
        self._read_groups: set[ReadGroup] = set()
        self._mailboxes: dict[asyncio.AbstractEventLoop, Mailbox] = {}
        self._lease_view: LeaseView | None = None
        # Persist (here, in a worker thread), send, apply, and the proposals in between.
        self.driver = Driver(node_id, storage.save, transport.send)
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._lazy = LazyTimer()
        self._disk = ThreadPoolExecutor(1, thread_name_prefix=f"disk-S{node_id}")
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self, loaded: tuple[HardState, list[Entry]] | None = None) -> None:
        """Start the node as a follower (§5.2) from its persistent state.

        ``loaded`` is what ``storage.load()`` returned, if the caller read it already.
        """
        self._loop = asyncio.get_running_loop()
        hard, entries = loaded if loaded is not None else self.storage.load()
        # A restart loads the snapshot into the state machine, then the log after it (§7).
        snap = self.storage.load_snapshot()
        self.node = RaftNode(
            self.id,
            self.members,
            config=self.config,
            rng=self.rng,
            now=self._now(),
            hard_state=hard,
            log=Log(entries) if snap is None else Log(entries, snap.index, snap.term),
            state_machine=self.state_machine,
            configuration=self.base_configuration,
            snapshot=snap,
        )
        self._sync_peers()
        log.info(
            "S%d starting as follower: term %d, voted for %s, %d entries in %s",
            self.id,
            hard.current_term,
            hard.voted_for,
            len(entries),
            self.storage.path,
        )
        self.transport.start()
        self._task = self._loop.create_task(self._drive(), name=f"raft-S{self.id}")
        self._arm_timer()

    async def stop(self) -> None:
        self.closing = True
        self._lease_view = None
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.transport.close()
        self._disk.shutdown(wait=True)  # a sync in progress finishes before the file closes
        self.storage.close()
        stopped = TimeoutError(f"S{self.id} stopped before the read was served; retry it")
        self._hand_back(self._reads.take(), LeadershipLost(str(stopped)))
        for group in list(self._read_groups):
            group._read_failed(stopped)
        self.driver.reads.fail_all(stopped)
        for p in [*self._proposals, *self.driver.proposals.waiters()]:
            if not p.future.done():
                # Another leader may still commit what this one replicated: unknown.
                p.future.set_exception(
                    TimeoutError(
                        f"S{self.id} stopped before the answer came: the command may or may "
                        "not be applied; retry it (with the same client and seq) to find out"
                    )
                )
        self.stopped.set()

    # -------------------------------------------------------------------- inputs

    def deliver(self, msgs: list[Message], src: int, src_http: str | None) -> None:
        """Messages from peer ``src`` arrived (called by the RPC handler)."""
        if src_http:
            self.peer_http[src] = src_http
        self._inbox.extend(msgs)
        self._wake.set()

    def _check_running(self) -> None:
        """``LeadershipLost`` unless this server's node runs (not stopped, not failed)."""
        if self.node is None or self.failure is not None or self.closing:
            raise LeadershipLost(f"S{self.id} is not running")

    def _check_leading(self) -> None:
        """``LeadershipLost`` unless the node runs, ``NotLeader`` (with the leader it
        knows of) unless it leads: what a client request needs first."""
        self._check_running()
        if self.node.role is not Role.LEADER:
            raise NotLeader(self.node.leader_id)

    async def propose(self, commands: list[bytes], timeout_s: float) -> list[Applied]:
        """Append ``commands`` on this node (it must lead) and wait until all are applied.

        Raises ``NotLeader`` (with ``leader_hint``) at once on a follower,
        ``LeadershipLost`` when an entry can no longer commit (it was overwritten by a
        newer leader: it will never be applied), and ``TimeoutError`` when the answer did
        not come in time (the outcome is then unknown: the entries may still commit).
        """
        self._check_running()
        if not commands:
            return []
        self._check_leading()
        fut = asyncio.get_running_loop().create_future()
        self._proposals.append(_Proposal(list(commands), fut, self.id))
        self._wake.set()
        return await asyncio.wait_for(fut, timeout_s)

    async def change(self, make: Any, timeout_s: float) -> int:
        """Propose the configuration ``make(current)`` (thesis §4.1) on this node, which
        must lead; wait until it is applied and return its index.  Raises ``NotLeader``,
        ``ConfigurationChangeRefused``, ``ValueError`` (from ``make``), ``LeadershipLost``
        or ``TimeoutError`` as ``propose`` does."""
        self._check_leading()
        fut = asyncio.get_running_loop().create_future()
        p = _Proposal([b""], fut, self.id)
        self._changes.append((make, p))
        self._wake.set()
        await asyncio.wait_for(fut, timeout_s)
        return p.first

    def _sync_peers(self) -> None:
        """Open a link to every server any configuration in the log names (§4.1)."""
        node = self.node
        addresses: dict[int, str] = {}
        for conf in (node.base_configuration, *(c for _, c in node._configs)):
            addresses.update(conf.addresses)
        for i, address in sorted(addresses.items()):
            if i != self.id and i not in self.transport.links:
                log.info("S%d learns of S%d at %s", self.id, i, address)
                self.transport.add_peer(i, address)

    async def read(self, mode: str, timeout_s: float) -> int:
        """A linearizable read without a log entry (thesis §6.4): wait until this leader
        may serve it, by ReadIndex (``mode="read_index"``: a heartbeat round) or from its
        lease (``"lease"``); return the index its state machine has applied by then.

        Raises ``NotLeader`` on a follower, ``LeadershipLost`` when the leader stepped
        down first, ``TimeoutError`` when no majority answered in time.
        """
        index, _ = await asyncio.wait_for(self.submit_read(mode, None), timeout_s)
        return index

    def submit_read(self, mode: str, key: str | None) -> asyncio.Future:
        """Hand a read of ``key`` in, from any thread's running loop (``raftlab.server.reads``).

        Returns a future of the caller's loop that gets ``(index, value)``: the value
        (``None`` if absent) looked up on the node's thread once the read is confirmed and
        ``index`` is applied.  Raises ``NotLeader`` or ``LeadershipLost`` at once when
        this node does not lead (a check repeated, authoritatively, on the node's loop);
        the future gets ``NotLeader`` or ``LeadershipLost`` if it turns out so there.
        The caller bounds the wait (``asyncio.wait_for``, or ``reads.Deadlines`` for many).
        """
        if mode not in ("read_index", "lease"):
            raise ValueError(f"a read without a log entry is 'read_index' or 'lease', not {mode!r}")
        if mode == "lease" and not self.config.lease_ms:
            # Here, not in the node's round, where lease_read's ValueError would stop it.
            raise ValueError("lease reads need a lease: start the server with --lease-ms")
        self._check_leading()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self._reads.put(mode, key, fut):
            if loop is self._loop:
                self._wake.set()
            else:
                # Wake the node's loop once this loop has run every handler that is ready
                # now: the reads of one burst of requests cross with one wake-up.
                loop.call_soon(self._wake_from_other_loop)
        return fut

    def _wake_from_other_loop(self) -> None:
        # RuntimeError: the node's loop is closed; its reads are failed by stop().
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake.set)

    def read_under_lease(self, key: str) -> tuple[int, str | None] | None:
        """A lease read (thesis §6.4.1) served on the calling thread without waking the
        node: ``(index, value)`` while the lease the node published holds, else ``None``
        (then use ``submit_read(\"lease\", key)``).  Why it is safe: ``LeaseView.read``."""
        view = self._lease_view
        if view is None:
            return None
        return view.read(self, key, self._now)

    def answer(self, items: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
        """On the node's loop: answer reads, each on its caller's loop, one wake-up per
        loop (``raftlab.server.reads.Mailbox``)."""
        here = [item for item in items if item[0].get_loop() is self._loop]
        if here:
            settle(here)
        if len(here) == len(items):
            return
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for item in items:
            loop = item[0].get_loop()
            if loop is not self._loop:
                by_loop.setdefault(loop, []).append(item)
        for loop, batch in by_loop.items():
            box = self._mailboxes.get(loop)
            if box is None:
                box = self._mailboxes[loop] = Mailbox(loop)
            box.post(batch)

    def _hand_back(self, reads: list, error: BaseException) -> None:
        if reads:
            self.answer([(fut, None, error) for _, _, fut in reads])

    def _hand_reads(self, reads: list[tuple[str, str | None, asyncio.Future]], now: float) -> None:
        """Give the node this round's reads: one ReadIndex (or lease check) per mode for
        the whole batch (thesis §6.4).  Each read arrived before the node is asked, so
        the round the node sends now is one sent after the read arrived."""
        node = self.node
        by_mode: dict[str, list] = {}
        for mode, key, fut in reads:
            if not fut.done():  # a client that gave up costs nothing more
                by_mode.setdefault(mode, []).append((key, fut))
        for mode, batch in by_mode.items():
            group = ReadGroup(batch, self)
            self._read_groups.add(group)
            try:
                if mode == "lease":
                    node.lease_read(group, now)
                else:
                    node.read_index(group, now)
            except NotLeader as exc:
                self._read_groups.discard(group)
                group.fail(exc)

    # ------------------------------------------------------------- the one task

    def _now(self) -> float:
        return self._loop.time() * 1000.0

    async def _drive(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self._round()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - any failure stops the node, loudly
            self.failure = exc
            self._lease_view = None
            log.critical("S%d stops: %s: %s", self.id, type(exc).__name__, exc, exc_info=exc)
            self.stopped.set()

    async def _round(self) -> None:
        node = self.node
        now = self._now()
        self.rounds += 1
        if self._inbox:
            msgs, self._inbox = self._inbox, []
            for msg in msgs:
                node.step(msg, now)
        if self._proposals:
            props, self._proposals = self._proposals, []
            for p in props:
                if p.future.done():
                    continue  # the client gave up before we got to it
                try:
                    p.first, p.term = node.propose(p.commands, now)
                except NotLeader as exc:
                    p.future.set_exception(exc)
                    continue
                p.last = p.first + len(p.commands) - 1
                p.results = [None] * len(p.commands)
                self.driver.proposals.track(p, p.first, p.term, len(p.commands))
        if self._changes:
            changes, self._changes = self._changes, []
            for make, p in changes:
                if p.future.done():
                    continue
                try:
                    p.first, p.term = node.propose_configuration(make(node.configuration), now)
                except (NotLeader, ConfigurationChangeRefused, ValueError) as exc:
                    p.future.set_exception(exc)
                    continue
                p.last, p.results = p.first, [None]
                self.driver.proposals.track(p, p.first, p.term, 1)
        if self._reads:
            self._hand_reads(self._reads.take(), now)
        if now >= node.next_deadline:
            node.tick(now)
        rd = node.ready()
        if self._lease_view is not None and not self._may_lease(now):
            # Withdrawn before anything of this round is sent, a TimeoutNow or a vote
            # above all: raftlab.server.reads.LeaseView.read counts on it.
            self._lease_view = None
        driver = self.driver  # the order of raftlab.driver, with the disk write awaited
        if must_persist(rd):  # 1. persist
            data = self.storage.encode(rd, node.log)
            await self._loop.run_in_executor(self._disk, self.storage.write, data)
        if rd.messages:  # 2. send
            driver.send(rd)
            # Let the links put the messages on the wire before we spend time applying:
            # a reply must not wait for this node's state machine.  (Two turns of the
            # loop: one for each link's task, one for the timed send it starts.)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        driver.apply(node, rd, self.apply_chunk)  # 3. apply, a chunk at a time
        if node.commit_index > node.last_applied:
            self._wake.set()  # more to apply: another round, after the loop has run
            await asyncio.sleep(0)
        now = self._now()
        self._lease_view = (
            LeaseView(node.lease_expiry(), node.last_applied)
            if self._may_lease(now) and node.last_applied >= node.commit_index
            else None
        )
        # Reads that came in during this round wait for the round that takes the
        # acknowledgements of the reads still out; otherwise they go at once.
        if self._reads.idle_unless(bool(self._read_groups)):
            self._wake.set()
        for role, term in rd.roles:
            log.info("S%d %s term=%d", self.id, role.value, term)
        for kind, detail in rd.events:
            if kind in ("config", "stepdown"):
                log.info("S%d %s %s", self.id, kind, detail)
                self._sync_peers()
        if rd.removed:
            first, count = rd.removed[0].index, len(rd.removed)
            log.info("S%d truncate from=%d removed=%d", self.id, first, count)
        for kind, detail in rd.events:
            if kind in ("snapshot", "installed", "snapshot-to"):  # log compaction (§7)
                what = {"snapshot": "took a snapshot", "installed": "installed a snapshot"}
                log.info("S%d %s %s", self.id, what.get(kind, "sends a snapshot"), detail)
        self._arm_timer()

    def _may_lease(self, now: float) -> bool:
        """May the client thread serve lease reads (``RaftNode.lease_read``'s test)?"""
        node = self.node
        return bool(self.config.lease_ms) and node.lease_holds(now) and node.read_index_known()

    # -------------------------------------------------------------------- timer

    def _arm_timer(self) -> None:
        deadline = self.node.next_deadline
        # Lazy, like the simulator's timers (raftlab.driver.LazyTimer): a deadline that
        # moves later (a heartbeat arrived) is noticed when the old timer fires.
        if self._lazy.needs(deadline):
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(deadline / 1000.0, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._lazy.fired()
        self._wake.set()

    # ------------------------------------------------------------------ looking

    @property
    def leader_http(self) -> str | None:
        """The client address of the leader this node believes in, if it knows it."""
        node = self.node
        if node is None or node.leader_id is None:
            return None
        if node.leader_id == self.id:
            return self.http_url
        return self.peer_http.get(node.leader_id)

    def status(self) -> dict[str, Any]:
        n = self.node
        return {
            "id": self.id,
            "role": n.role.value,
            "term": n.current_term,
            "voted_for": n.voted_for,
            "commit_index": n.commit_index,
            "last_applied": n.last_applied,
            "last_index": n.log.last_index,
            "last_term": n.log.last_term,
            "snapshot_index": n.log.snapshot_index,  # the log holds only what follows (§7)
            "leader": n.leader_id,
            "leader_http": self.leader_http,
            "configuration": str(n.configuration),
            "http": self.http_url,
            "peers_http": {str(k): v for k, v in sorted(self.peer_http.items())},
            "fsyncs": self.storage.syncs,
            "rounds": self.rounds,
            "transport": {str(k): v for k, v in self.transport.stats().items()},
        }
