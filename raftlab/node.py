"""RaftNode: one Raft server as a pure state machine (the paper's Figure 2, §5 and §8).

Theory of operation
-------------------
A ``RaftNode`` does no I/O.  It never reads a clock, touches a network or a disk, sleeps,
or draws from the global ``random``; the caller owns all of those.  Three inputs drive it:

- ``step(msg, now)``: a message from a peer arrived.
- ``tick(now)``: time passed.  ``next_deadline`` says when the node next needs a tick
  (its election timeout, or a leader's heartbeat), so a simulator can jump straight there
  instead of ticking every millisecond.
- ``propose(commands, now)``: a client asks the leader to append commands (§5.3).

Each input may change the node and leaves its output waiting.  After every input the
caller takes it with ``ready()`` and must handle it **in this order**:

1. **Persist** ``ready.hard_state`` (``current_term``, ``voted_for``) and the log from
   ``ready.persist_from`` onward, durably.  A vote or an acknowledgement that is sent
   before it is on disk can be forgotten in a crash, and then a server votes twice in one
   term or a leader counts an entry as stored that is not (§5, "Persistent state").
2. **Send** ``ready.messages``.
3. **Apply**: call ``apply_committed()``, which feeds newly committed entries to the
   state machine in index order and returns their results (§5.3, "If commitIndex >
   lastApplied").

``ready.events`` lists what happened, in words, for the trace and the safety checks.

Log compaction (§7) adds one output and one message.  ``ready.snapshot`` is a snapshot
to persist (taken by this node, or installed from its leader) before the log: stable
storage keeps the latest snapshot and the log after it.  A node takes a snapshot while
applying (``Config.snapshot_threshold``); its leader sends it one with
``InstallSnapshot`` (Figure 13) when it needs entries the leader has discarded.  The
bookkeeping lives in ``raftlab.compaction``; the handlers are here, next to
AppendEntries.

The rules of Figure 2 that are easy to get wrong are public methods, side by side under
"the rules" below: ``candidate_up_to_date`` and ``grants_vote`` (RequestVote),
``prev_matches`` and ``follower_commit`` (AppendEntries), ``leader_commit`` (Rules for
leaders).  The node calls each one and nothing else for that decision, so a planted bug
(``raftlab.bugs``) or a learner's own Raft is a subclass that overrides one of them.

Two rules for what may live in this file: only what the paper's Figure 2 and §5/§8 ask
of a server, and nothing that knows what a simulator, a socket or a clock is.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from raftlab.compaction import Incoming, Snapshot
from raftlab.config import Config
from raftlab.errors import NotLeader
from raftlab.log import Entry, Log
from raftlab.membership import Configuration, Membership
from raftlab.messages import (
    AppendEntries,
    AppendEntriesReply,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
)
from raftlab.progress import Batch, Progress, State
from raftlab.records import fast_init
from raftlab.roles import Role

_RAFT_MESSAGES = (
    AppendEntries,
    AppendEntriesReply,
    RequestVote,
    RequestVoteReply,
    InstallSnapshot,
    InstallSnapshotReply,
    TimeoutNow,
)
_TEXT = (bytes, bytearray, str)  # what propose refuses as its list of commands
# Enum members read once: on Python 3.11 each ``Role.LEADER`` calls the enum metaclass's
# __getattr__ hook, and these two are read for every event.
_LEADER = Role.LEADER
_REPLICATE = State.REPLICATE
_FOLLOWER = Role.FOLLOWER
_SNAPSHOT = State.SNAPSHOT
_INF = float("inf")


@fast_init
@dataclass(frozen=True, slots=True)
class HardState:
    """What a server must remember across a crash besides its log (§5, Figure 2)."""

    current_term: int = 0
    voted_for: int | None = None


class Ready:
    """The output of one input, to be handled in the order of the module docstring."""

    __slots__ = (
        "hard_state",
        "persist_from",
        "messages",
        "events",
        "removed",
        "roles",
        "leader_changed",
        "leader_id",
        "read_states",
        "reads_failed",
        "snapshot",
    )

    def __init__(self) -> None:
        self.hard_state: HardState | None = None  # term or vote changed: persist it first
        self.persist_from: int | None = None  # the log changed from this index on: persist it
        self.messages: list[Message] = []
        self.events: list[tuple[str, str]] = []  # (kind, detail) for the trace, in words
        self.removed: list[Entry] = []  # entries deleted because of a conflict (§5.3)
        # Typed facts, for programs (the safety checks, the servers' logs): every role the
        # node took during this input with its term, in order, and whether the leader it
        # knows of changed (then leader_id is the new one, None for "unknown").
        self.roles: list[tuple[Role, int]] = []
        self.leader_changed = False
        self.leader_id: int | None = None
        # Reads (raftlab.reads, thesis §6.4): reads the leader may now serve, each once its
        # state machine has applied ReadState.index; and reads it can no longer serve
        # (it stepped down), as (ctx, reason), for the client to try elsewhere.
        self.read_states: list[ReadState] = []
        self.reads_failed: list[tuple[Any, str]] = []
        # A snapshot taken or installed (§7): persist it with the log after it, before the
        # messages; stable storage drops the entries it covers.
        self.snapshot: Snapshot | None = None

    def is_empty(self) -> bool:
        """Nothing to persist, send, trace, check or hand to a client: handling it would do
        nothing.  (It names every field above: a field added must be added here too.)"""
        return (
            not self.messages
            and not self.events
            and self.hard_state is None
            and self.persist_from is None
            and self.snapshot is None
            and not self.roles
            and not self.leader_changed
            and not self.removed
            and not self.read_states
            and not self.reads_failed
        )

    @property
    def became_leader(self) -> bool:
        """Did the node win an election during this input?"""
        # _LEADER, not Role.LEADER: read per item, the enum member costs a metaclass hook
        return any(role is _LEADER for role, _ in self.roles)

    def __repr__(self) -> str:
        return (
            f"Ready(hard_state={self.hard_state}, persist_from={self.persist_from}, "
            f"messages={self.messages}, events={self.events}, removed={self.removed}, "
            f"roles={self.roles}, leader_changed={self.leader_changed}, "
            f"leader_id={self.leader_id}, read_states={self.read_states}, "
            f"reads_failed={self.reads_failed}"
            + (f", snapshot={self.snapshot}" if self.snapshot is not None else "")
            + ")"
        )


class Applied(NamedTuple):
    """One entry fed to the state machine: its result, or the error it raised.

    (A named tuple: one is made per entry per server, and a tuple is the cheapest
    immutable record Python has.)
    """

    entry: Entry
    result: Any = None
    error: Exception | None = None


class ReadState(NamedTuple):
    """A read the leader may serve once its state machine has applied ``index`` (§6.4).

    ``ctx`` is what the caller handed to ``read_index`` or ``lease_read``; ``index`` the
    leader's commit index when the read was taken: every write that finished before the
    read arrived is at or below it.
    """

    ctx: Any
    index: int


class _PendingRead:
    """A ReadIndex read waiting for its heartbeat round (and the leader's no-op) (§6.4)."""

    __slots__ = ("ctx", "index", "seq")

    def __init__(self, ctx: Any, index: int | None, seq: int):
        self.ctx = ctx
        self.index = index  # None until an entry of the leader's term has committed
        self.seq = seq  # the heartbeat round that must be acknowledged by a majority

    def __repr__(self) -> str:
        return f"_PendingRead(ctx={self.ctx!r}, index={self.index}, seq={self.seq})"


class RaftNode(Membership):
    """One Raft server.  Read its fields freely; change it only through its inputs.

    ``rng`` is the only source of randomness (the election timeouts of §5.2); the
    simulator passes its seeded generator, so every run can be replayed.
    ``state_machine`` is what committed commands are applied to; it needs an
    ``apply(command: bytes)`` method, and ``snapshot() -> bytes`` and ``restore(bytes)``
    for log compaction (§7).  ``snapshot`` is the latest snapshot from stable storage, to
    restart from: the state machine is restored from it and ``log`` holds what follows.
    """

    def __init__(
        self,
        id: int,
        peers: Iterable[int],
        *,
        config: Config | None = None,
        rng: random.Random,
        now: float = 0.0,
        hard_state: HardState | None = None,
        log: Log | None = None,
        state_machine: Any = None,
        configuration: Configuration | None = None,
        snapshot: Snapshot | None = None,
    ):
        self.id = id
        self.peers: tuple[int, ...] = tuple(sorted(p for p in peers if p != id))
        self.config = config or Config()
        self._rng = rng
        hs = hard_state or HardState()

        # Persistent state on all servers (Figure 2): survives crashes.
        self.current_term: int = hs.current_term  # latest term seen; only grows (§5.1)
        self.voted_for: int | None = hs.voted_for  # whom we voted for in current_term (§5.2)
        self.log: Log = log if log is not None else Log()

        # Volatile state on all servers.
        self.role: Role = Role.FOLLOWER
        self.commit_index = 0  # highest index known committed; rebuilt after a restart
        self.last_applied = 0  # highest index fed to the state machine
        self.leader_id: int | None = None  # whom to redirect clients to (§5.1)
        self.state_machine = state_machine

        # Volatile state on candidates: who voted for us this term.
        self.votes: set[int] = set()

        # Volatile state on leaders (reinitialized after each election, Figure 2): for each
        # peer its matchIndex and nextIndex, with the batches in flight (raftlab.progress).
        self.progress: dict[int, Progress] = {}
        self._round = 0  # heartbeats sent since the election: how old a batch in flight is
        self._now = now  # the time of the input being handled

        # Timers, as absolute times handed in by the caller.
        self.election_timeout = 0.0  # the length of the timeout now running (§5.2)
        self.election_deadline = 0.0  # when a follower or candidate starts an election
        self.heartbeat_deadline = float("inf")  # when a leader next sends heartbeats
        self._reset_election_timer(now)

        self._ready = Ready()
        self._majority = (len(self.peers) + 1) // 2 + 1

        # Log compaction (§7, raftlab.compaction): the latest snapshot, and one being received.
        self.snapshot: Snapshot | None = None
        self._incoming: Incoming | None = None
        self._restore_from(snapshot)
        # Membership (raftlab.membership, thesis §4.1).  The configuration in force before
        # the first entry of the log: the ids handed in, or ``configuration`` (an empty one
        # for a server that joins a running cluster, a snapshot's after a restore).  The
        # log's configuration entries override it, the latest one as soon as appended.
        if snapshot is not None:
            # A restart from a snapshot: its configuration is the one in force at its end.
            configuration = snapshot.configuration
        self._base_configuration = (
            configuration
            if configuration is not None
            else Configuration(frozenset((id, *self.peers)))
        )
        self._configs: list[tuple[int, Configuration]] = []  # (index, conf) of the log's
        self._load_configurations()
        # Reads, leases and stable leaders (raftlab.reads; thesis §6.4, §9.6, §3.10).
        # Times here are the node's own clock, like every ``now`` it is handed.
        self.heard_leader_at = now  # last word from a current leader (stickiness, §4.2.3)
        self.pre_candidate = False  # asking for pre-votes (§9.6); the role stays FOLLOWER
        self.pre_votes: set[int] = set()
        self.transfer_target: int | None = None  # leadership transfer in progress (§3.10)
        self.transfer_deadline = _INF
        self.lease_start = -_INF  # when the newest round a majority acknowledged was sent
        self._seq = 0  # heartbeat rounds sent for reads and leases (AppendEntries.seq)
        self._seq_sent: dict[int, float] = {}  # round -> when it was sent
        self._acked_seq: dict[int, int] = {}  # peer -> newest round it acknowledged
        self._reads: list[_PendingRead] = []
        self._heard_from: dict[int, float] = {}  # peer -> last reply (CheckQuorum, §6.2)
        self._quorum_since = now  # start of the current CheckQuorum period

    # ------------------------------------------------------------------ inputs

    @property
    def next_index(self) -> dict[int, int]:
        """Figure 2's nextIndex for each peer (meaningful on a leader).  Only voters:
        learners (raftlab.membership) are in ``progress`` too, but must not be counted."""
        peers = self.peers
        return {p: pr.next for p, pr in self.progress.items() if p in peers}

    @property
    def match_index(self) -> dict[int, int]:
        """Figure 2's matchIndex for each peer (meaningful on a leader); only voters, so
        that counting copies on a majority (§5.3) counts only servers whose copies count."""
        peers = self.peers
        return {p: pr.match for p, pr in self.progress.items() if p in peers}

    @property
    def next_deadline(self) -> float:
        """The time at which this node next wants ``tick``."""
        # _LEADER: Role.LEADER read once (an enum member costs a metaclass hook on 3.11)
        return self.heartbeat_deadline if self.role is _LEADER else self.election_deadline

    def tick(self, now: float) -> None:
        """Time passed: start an election (§5.2) or send heartbeats (§5.2, §5.3) if due."""
        self._now = now
        if self.role is _LEADER:
            if self.transfer_target is not None and now >= self.transfer_deadline:
                self._end_transfer(
                    "gave up: the target did not take over within an election timeout"
                )
            if now >= self.heartbeat_deadline:
                self.heartbeat_deadline = now + self.config.heartbeat_ms
                self._round += 1
                if self.config.check_quorum and not self._check_quorum(now):
                    return
                if self.config.lease_ms:
                    self._next_seq()  # every round renews the lease (§6.4.1)
                self._broadcast_append()
        elif now >= self.election_deadline:
            if self.config.pre_vote:
                self._become_pre_candidate(now)
            else:
                self._become_candidate(now)

    def step(self, msg: Message, now: float) -> None:
        """A message arrived.  The rules common to every role run first (§5.1)."""
        cls = msg.__class__
        if (cls is AppendEntries or cls is AppendEntriesReply) and msg.term <= self.current_term:
            # The usual message, in a term we know: none of the rules below the type check
            # applies to it (no vote, no newer term), so it goes straight to its handler,
            # exactly where the general path would take it.  (Most of a run's events.)
            self._now = now
            if cls is AppendEntries:
                self._handle_append_entries(msg, now)
            else:
                self._handle_append_reply(msg)
            return
        if not isinstance(msg, _RAFT_MESSAGES):
            # Checked before anything else, so a wrong input changes nothing.
            raise TypeError(f"RaftNode.step takes a Raft message, got {type(msg).__name__}")
        self._now = now
        if msg.__class__ is RequestVote and msg.candidate_id not in self._voters:
            # A candidate outside our configuration (removed, or not added yet) cannot be
            # elected by us: ignore it, term and all, so it cannot disrupt the cluster
            # (thesis §4.2.3).  Ignoring a request is always safe.
            return
        if (
            isinstance(msg, RequestVote)
            and msg.term > self.current_term
            and self._ignores_vote_request(msg, now)
        ):
            return
        if msg.term > self.current_term and not _keeps_term(msg):
            # A newer term exists: whatever we were, we are now a follower in it (§5.1).
            # Only an AppendEntries names the new leader; a vote request does not.
            leader = msg.leader_id if isinstance(msg, AppendEntries | InstallSnapshot) else None
            self._become_follower(msg.term, leader, now)
        if isinstance(msg, RequestVote) and msg.pre_vote:
            self._handle_pre_vote(msg, now)
        elif isinstance(msg, RequestVoteReply) and msg.pre_vote:
            self._handle_pre_vote_reply(msg, now)
        elif isinstance(msg, TimeoutNow):
            self._handle_timeout_now(msg, now)
        elif isinstance(msg, AppendEntries):
            self._handle_append_entries(msg, now)
        elif isinstance(msg, AppendEntriesReply):
            self._handle_append_reply(msg)
        elif isinstance(msg, RequestVote):
            self._handle_request_vote(msg, now)
        elif isinstance(msg, RequestVoteReply):
            self._handle_vote_reply(msg, now)
        elif isinstance(msg, InstallSnapshot):
            self._handle_install_snapshot(msg, now)
        else:
            self._handle_install_snapshot_reply(msg)

    def propose(self, commands: list[bytes], now: float) -> tuple[int, int]:
        """Append client commands to the leader's log (§5.3); return ``(first_index, term)``.

        Raises ``NotLeader`` (with a hint) on a follower or candidate: only the leader
        accepts commands, the others redirect clients (§5.1, §8).
        """
        # Misuse is refused before anything changes: a bare bytes object would become one
        # entry per byte, and an empty list would return an index that holds no entry.
        if isinstance(commands, _TEXT):  # bytes | bytearray | str, built once
            raise TypeError("propose takes a list of commands, e.g. node.propose([b'x'], now)")
        if not commands:
            raise ValueError("propose needs at least one command")
        if self.role is not _LEADER:
            raise NotLeader(self.leader_id)
        if self.transfer_target is not None:
            # §3.10: while leadership moves, new commands would only make the target
            # chase a moving log; the client tries again at the new leader.
            raise NotLeader(
                self.transfer_target,
                f"S{self.id} is handing leadership to S{self.transfer_target}; "
                f"try S{self.transfer_target}",
            )
        self._now = now
        log = self.log
        first = log.last_index + 1
        term = self.current_term
        if commands.__class__ is list and len(commands) == 1:  # no comprehension (a call)
            log.append((Entry(first, term, commands[0]),))
        else:
            log.append([Entry(first + k, term, c) for k, c in enumerate(commands)])
        self._log_changed(first)
        last = log.last_index
        self._ready.events.append(  # self._emit, inlined
            ("propose", f"index={first}" if last == first else f"index={first}..{last}")
        )
        max_batch, replicate = self.config.max_batch, _REPLICATE
        for peer, pr in self.progress.items():
            # Under load a batch is usually in flight and the follower less than a batch
            # behind: then the proposal waits for the reply (checked here, it is hot).
            inflight = pr.inflight
            if not inflight or (pr.state is replicate and last - inflight[-1].last >= max_batch):
                self._replicate(peer)
        self._advance_leader_commit()  # a one-node cluster commits at once
        return first, term

    def read_index(self, ctx: Any, now: float) -> None:
        """A linearizable read without a log entry: ReadIndex (thesis §6.4).

        1. The leader notes its commit index (once an entry of its own term has
           committed: before that it may not know everything committed, §8).
        2. It sends a heartbeat round; once a majority has acknowledged a round sent
           *after* the read arrived, no other leader had been elected when it arrived.
        3. The read is served once the state machine has applied that index: it comes
           out in ``Ready.read_states`` as ``ReadState(ctx, index)``.

        Raises ``NotLeader`` on a follower or candidate.  If the leader steps down first,
        the read comes out in ``Ready.reads_failed`` instead.
        """
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader_id)
        self._now = now
        index = self.commit_index if self.read_index_known() else None
        self._next_seq()
        self._reads.append(_PendingRead(ctx, index, self._seq))
        self._emit("read_index", f"seq={self._seq} index={'-' if index is None else index}")
        self._broadcast_heartbeat()
        self._release_reads()

    def lease_read(self, ctx: Any, now: float) -> None:
        """A read served at once while the leader's lease holds (thesis §6.4.1).

        The lease starts when a heartbeat round that a majority acknowledged was *sent*
        (``lease_start``) and runs to ``lease_expiry()``: followers that acknowledged it
        vote for nobody else before then (leader stickiness, §4.2.3), so this leader's
        commit index is still the newest.  When the lease has run out, the read falls back
        to ``read_index``.  Raises ``NotLeader`` on a follower, ``ValueError`` when leases
        are off (``Config.lease_ms == 0``).
        """
        if not self.config.lease_ms:
            raise ValueError(
                "lease reads need a lease: make the cluster with Config(lease_ms=...), "
                "e.g. Config(lease_ms=100); or use read_index"
            )
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader_id)
        self._now = now
        if self.lease_holds(now) and self.read_index_known():
            self._ready.read_states.append(ReadState(ctx, self.commit_index))
            self._emit("read", f"index={self.commit_index} lease")
            return
        self.read_index(ctx, now)

    def transfer_leadership(self, to: int, now: float) -> None:
        """Hand leadership to ``to`` (thesis §3.10): bring its log up to date, then send it
        ``TimeoutNow`` so it stands for election at once.  New proposals are refused
        meanwhile; after an election timeout without success the leader gives up.

        Raises ``NotLeader`` on a follower, ``ValueError`` for a target that is not a peer
        or while another transfer runs.
        """
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader_id)
        if to == self.id:
            raise ValueError(f"S{self.id} already leads; name another server to hand over to")
        if to not in self.peers:
            raise ValueError(
                f"S{to} is not in this cluster; S{self.id}'s peers are "
                + ", ".join(f"S{p}" for p in self.peers)
            )
        if self.transfer_target is not None:
            raise ValueError(
                f"S{self.id} is already handing leadership to S{self.transfer_target}; "
                "wait until that transfer ends"
            )
        self._now = now
        self.transfer_target = to
        self.transfer_deadline = now + self.config.election_timeout_ms[1]
        self._transfer_sent = False
        self._emit("transfer", f"to=S{to}")
        self._transfer_step()

    def ready(self) -> Ready:
        """Take the output waiting since the last call (see the module docstring)."""
        rd, self._ready = self._ready, Ready()
        return rd

    def apply_committed(self, limit: int | None = None) -> list[Applied]:
        """Apply entries ``last_applied+1 .. commit_index`` in order (§5.3).

        A new leader's no-op (§8) advances ``last_applied`` but never reaches the state
        machine.  An exception from the state machine is that entry's result, not a crash.
        ``limit`` caps how many entries this call applies; the rest wait for the next
        call.  A real server uses it to keep answering its peers while it applies a long
        catch-up (``raftlab.server.runtime``); the simulator applies everything at once.

        With ``Config.snapshot_threshold`` set, the node takes a snapshot each time it
        has applied a multiple of the threshold, and discards the log up to there (§7):
        see ``ready.snapshot``.
        """
        out: list[Applied] = []
        stop = (
            self.commit_index
            if limit is None
            else min(self.commit_index, self.last_applied + limit)
        )
        if stop <= self.last_applied:
            return out
        every = self.config.snapshot_threshold
        if every and stop // every > self.last_applied // every:
            # Apply up to each multiple of the threshold, and take a snapshot there.
            at = (self.last_applied // every + 1) * every
            while at <= stop:
                self._apply_until(at, out)
                self._take_snapshot()
                at += every
        self._apply_until(stop, out)
        return out

    def _apply_until(self, stop: int, out: list[Applied]) -> None:
        """Apply ``last_applied+1 .. stop``, appending each outcome to ``out``."""
        if stop <= self.last_applied:
            return
        add = out.append
        sm = self.state_machine
        # tuple.__new__ straight: the named tuple's own __new__ is a Python-level call
        # around it (about 0.3 us), and this runs once per entry per server.
        new = tuple.__new__
        for entry in self.log.entries(self.last_applied + 1, stop + 1):
            # last_applied moves entry by entry, so a state machine that raises something
            # not an Exception (KeyboardInterrupt) leaves it at the last entry applied.
            self.last_applied = entry.index
            command = entry.command
            if command is None or sm is None or command.__class__ is Configuration:
                # A no-op (§8) or a configuration entry (§4.1): nothing for the state machine.
                add(Applied(entry))
                continue
            try:
                add(new(Applied, (entry, sm.apply(command), None)))  # Applied(entry, result)
            except Exception as exc:  # noqa: BLE001 - the state machine's error is the result
                add(Applied(entry, None, exc))

    # ------------------------------------------------------------------ the rules
    #
    # Each rule of Figure 2 that is easy to get wrong is one public method, and the node
    # calls it and nothing else for that decision.  A planted bug (``raftlab.bugs``) or a
    # learner's own Raft is a subclass that overrides one of them.

    def candidate_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        """§5.4.1, the voter's check: is a candidate whose log ends at ``(last_log_index,
        last_log_term)`` at least as up-to-date as ours?  The later last term wins; with
        equal last terms, the longer log wins."""
        my_term = self.log.last_term
        if last_log_term != my_term:
            return last_log_term > my_term
        return last_log_index >= self.log.last_index

    def grants_vote(self, msg: RequestVote) -> bool:
        """RequestVote receiver (Figure 2, §5.2): grant at most one vote per term, and only
        to a candidate whose log is at least as up-to-date as ours (§5.4.1)."""
        return (
            msg.term == self.current_term
            and self.voted_for in (None, msg.candidate_id)
            and self.candidate_up_to_date(msg.last_log_index, msg.last_log_term)
        )

    def prev_matches(self, prev_log_index: int, prev_log_term: int) -> bool:
        """AppendEntries receiver, the consistency check (Figure 2, §5.3): does our log hold
        an entry at ``prev_log_index`` whose term is ``prev_log_term``?"""
        log = self.log
        return prev_log_index <= log.last_index and log.term(prev_log_index) == prev_log_term

    def follower_commit(self, leader_commit: int, last_new_index: int) -> int:
        """AppendEntries receiver (Figure 2): the follower's new commit index.

        Up to what the leader has committed, but never past ``last_new_index``, the last
        entry this message vouched for: beyond it our log may still differ from the
        leader's.  Never backward.
        """
        return max(self.commit_index, min(leader_commit, last_new_index))

    def leader_commit(self) -> int:
        """Rules for leaders (Figure 2, §5.4.2): the index the leader may commit now.

        The highest index stored on a majority, *if it is of this term*.  An entry of an
        earlier term is never committed by counting replicas: the paper's Figure 8 shows
        such an entry being overwritten later.  It commits indirectly, when an entry of
        the current term after it does.
        """
        n = self.replicated_on_majority()
        if n > self.commit_index and self.log.term(n) == self.current_term:
            return n
        return self.commit_index

    def replicated_on_majority(self) -> int:
        """The highest index a majority of servers (this leader included) is known to hold.

        Only voters count, the leader only if it is one (it may be removing itself, §4.2.2).
        """
        if not self._plain:
            voters = self._voters
            matches = [pr.match for p, pr in self.progress.items() if p in voters]
            if self.id in voters:
                matches.append(self.log.last_index)
            matches.sort(reverse=True)
            return matches[self._majority - 1]
        # Every server holds the leader's log: its own copy and each follower's matchIndex.
        # (A loop, not a comprehension: on Python 3.11 a comprehension is a function call,
        # and this runs for every acknowledgement.)
        matches = [self.log.last_index]
        for pr in self.progress.values():
            matches.append(pr.match)
        matches.sort(reverse=True)
        return matches[self._majority - 1]

    def state_snapshot(self) -> bytes:
        """§7: the state machine's state, for a snapshot at ``last_applied``.  Everything
        the discarded entries did must be in it; for the key-value store that includes the
        client-session table, or a retried write is applied twice (§6.3 of the thesis)."""
        sm = self.state_machine
        return b"" if sm is None else sm.snapshot()

    def restore_state(self, data: bytes) -> None:
        """§7, Figure 13 step 8: reset the state machine from a snapshot's bytes."""
        if self.state_machine is not None:
            self.state_machine.restore(data)

    def hard_state(self) -> HardState:
        """What must be durable before this server answers anyone (Figure 2, "Persistent
        state"; the log is persisted from ``Ready.persist_from``)."""
        return HardState(self.current_term, self.voted_for)

    # The rules of reads and stable leaders (raftlab.reads), one method each, like the
    # rules above: a planted bug overrides one of them.

    def read_index_confirmed(self, seq: int) -> bool:
        """ReadIndex, step 3 (thesis §6.4): may a read that arrived before heartbeat round
        ``seq`` was sent be served?  Only once a majority (this leader included) has
        acknowledged round ``seq`` or a later one: then no newer leader existed when the
        read arrived, so no write newer than our commit index had finished."""
        return self._confirmed_seq() >= seq

    def read_index_known(self) -> bool:
        """ReadIndex, step 1 (thesis §6.4): is this leader's commit index the cluster's?
        Only once an entry of its own term (its no-op, §8) has committed: a new leader may
        hold entries its predecessor committed without knowing they are committed, and a
        read at its older commit index would miss writes that already finished."""
        return self._committed_in_term()

    def round_acknowledged(self, peer: int) -> int:
        """The newest heartbeat round (``seq``) that ``peer`` has acknowledged to this
        leader in its current term; 0 if none.  A node numbers its rounds 1, 2, ... as it
        sends them (over its whole life, not per term), one number for the messages of a
        round to every peer; a peer acknowledges the newest round it has heard.  What
        ``read_index_confirmed`` counts."""
        return self._acked_seq.get(peer, 0)

    def lease_expiry(self) -> float:
        """When this leader's lease ends, by its own clock (thesis §6.4.1).

        It starts at ``lease_start``, when a round a majority acknowledged was sent, and
        lasts ``Config.lease_ms`` shortened by the drift bound: this clock may run up to
        ``max_drift`` slow, so ``lease_ms * (1 - max_drift)`` of it is at most ``lease_ms``
        of real time, which ``Config`` keeps below the time any follower waits, by its own
        possibly fast clock, before voting for someone else.
        """
        cfg = self.config
        return self.lease_start + cfg.lease_ms * (1 - cfg.max_drift)

    def lease_holds(self, now: float) -> bool:
        """Can this node serve a lease read at ``now`` (its clock)?  Only a leader whose
        lease runs (``lease_expiry``) and that is not handing leadership over (§3.10)."""
        return (
            self.role is Role.LEADER and self.transfer_target is None and now < self.lease_expiry()
        )

    def leader_is_fresh(self, now: float) -> bool:
        """Leader stickiness (thesis §4.2.3, §9.6): has this server heard from a current
        leader within the lowest election timeout?  Then it neither votes for another
        candidate nor lets a vote request raise its term: the leader is alive.  On only
        with ``check_quorum`` or leases; a leader counts as fresh itself."""
        cfg = self.config
        if not (cfg.check_quorum or cfg.lease_ms):
            return False
        return self._heard_leader_lately(now)

    def _heard_leader_lately(self, now: float) -> bool:
        if self.role is Role.LEADER:
            return True
        return now - self.heard_leader_at < self.config.election_timeout_ms[0]

    def grants_pre_vote(self, msg: RequestVote) -> bool:
        """PreVote (thesis §9.6): would we vote for this candidate in ``msg.term``?  Only
        if that term is newer than ours, its log is at least as up-to-date as ours
        (§5.4.1), and we have not heard from a leader within the lowest election timeout
        (whatever ``check_quorum`` says: this is what makes a returning node harmless)."""
        return (
            msg.term > self.current_term
            and not self._heard_leader_lately(self._now)
            and self.candidate_up_to_date(msg.last_log_index, msg.last_log_term)
        )

    # ------------------------------------------------------------- role changes

    def _become_follower(self, term: int, leader: int | None, now: float) -> None:
        was = self.role
        if term > self.current_term:
            self.current_term = term
            self.voted_for = None  # a new term: we have not voted in it yet
            self._hard_state_changed()
        self.role = Role.FOLLOWER
        self._set_leader(leader)
        self.votes = set()
        self.pre_candidate = False
        self._ready.roles.append((Role.FOLLOWER, self.current_term))
        if was is Role.LEADER:
            # A leader had no election timer running; start one.
            self.heartbeat_deadline = float("inf")
            self._reset_election_timer(now)
            self._stop_leading()
        self._emit("follower", f"term={self.current_term}")

    def _become_candidate(self, now: float, transfer: bool = False) -> None:
        """Election timeout: vote for yourself in a new term and ask everyone (§5.2).
        ``transfer``: the old leader asked for it (TimeoutNow, §3.10)."""
        self.pre_candidate = False
        if self.id not in self._voters:
            # A learner, a server not yet added or one removed: its vote would not count,
            # so it has no election to start (thesis §4.1).  It waits for a leader.
            self._reset_election_timer(now)
            return
        self.role = Role.CANDIDATE
        self.current_term += 1
        self.voted_for = self.id
        self._set_leader(None)
        self.votes = {self.id}
        self._ready.roles.append((Role.CANDIDATE, self.current_term))
        self._hard_state_changed()
        self._reset_election_timer(now)  # if this election splits, the next one starts then
        self._emit("candidate", f"term={self.current_term}")
        if len(self.votes) >= self._majority:  # a cluster of one
            self._become_leader(now)
            return
        last_index, last_term = self.log.last_index, self.log.last_term
        for peer in self.peers:
            self._send(
                RequestVote(
                    self.id,
                    peer,
                    self.current_term,
                    self.id,
                    last_index,
                    last_term,
                    transfer=transfer,
                )
            )

    def _become_leader(self, now: float) -> None:
        """Won a majority: take charge, append a no-op (§8) and assert authority (§5.2)."""
        self.role = Role.LEADER
        self._set_leader(self.id)
        self.votes = set()
        self._ready.roles.append((Role.LEADER, self.current_term))
        nxt = self.log.last_index + 1
        self.progress = {p: Progress(nxt) for p in self._targets}
        self._round = 0
        self.heartbeat_deadline = now + self.config.heartbeat_ms
        self._start_leading(now)
        self._emit("leader", f"term={self.current_term}")
        # The no-op lets the leader commit, and so learn, everything before it at once:
        # an entry of its own term, once on a majority, commits all earlier ones (§5.4.2, §8).
        self.log.append([Entry(nxt, self.current_term, None)])
        self._log_changed(nxt)
        for peer in self._targets:
            self._replicate(peer)
        self._advance_leader_commit()

    # ------------------------------------------------------------- RequestVote

    def _handle_request_vote(self, msg: RequestVote, now: float) -> None:
        grant = self.grants_vote(msg)
        if grant:
            self.voted_for = msg.candidate_id
            self._hard_state_changed()
            # Granting a vote resets the timer (Figure 2); refusing one does not, or a
            # candidate with a stale log could keep everyone from ever timing out.
            self._reset_election_timer(now)
            self._emit("vote", f"for=S{msg.candidate_id} term={self.current_term}")
        self._send(RequestVoteReply(self.id, msg.src, self.current_term, grant))

    def _handle_vote_reply(self, msg: RequestVoteReply, now: float) -> None:
        # A reply from an earlier election (an older term) must not count (§5.2).
        if self.role is not Role.CANDIDATE or msg.term != self.current_term:
            return
        if msg.vote_granted:
            self.votes.add(msg.src)
            if len(self.votes) >= self._majority:
                self._become_leader(now)

    # ----------------------------------------------------------- AppendEntries

    def _handle_append_entries(self, msg: AppendEntries, now: float) -> None:
        if msg.term < self.current_term:
            # A deposed leader: tell it the newer term so it steps down (§5.1).  The
            # refusal is about the term alone, so it carries no rejected_index: if the
            # sender has meanwhile won this very term, it must not back nextIndex up.
            self._send(AppendEntriesReply(self.id, msg.src, self.current_term, False))
            return
        if self.role is not _FOLLOWER:
            # Someone won this term's election: a candidate returns to follower (§5.2).
            # (Two leaders in one term cannot happen; the safety checks would say so.)
            self._become_follower(msg.term, msg.leader_id, now)
        self._set_leader(msg.leader_id)
        self._reset_election_timer(now)  # heard from the current leader (§5.2)
        self.heard_leader_at = now  # leader stickiness (§4.2.3)
        self.pre_candidate = False

        prev = msg.prev_log_index
        prev_term = msg.prev_log_term
        log = self.log
        entries = msg.entries
        if prev < log.snapshot_index:
            # We compacted past prev (§7).  Our snapshot holds only committed entries, and
            # a leader of this term holds every committed entry (§5.4), so they agree up to
            # our snapshot: skip what it covers and check from its last entry on.
            entries = entries[log.snapshot_index - prev :]
            prev, prev_term = log.snapshot_index, log.snapshot_term
        if not self.prev_matches(prev, prev_term):
            self._send(self._rejection(msg.src, prev, msg.seq))
            return

        # The check passed.  Append what is new, deleting our entries only from the first
        # real conflict on: a delayed, older AppendEntries must not cut off entries that a
        # newer one already added (Students' Guide: "don't truncate on heartbeats").
        for k, entry in enumerate(entries):
            index = prev + 1 + k
            if index <= log.last_index:
                if log.term(index) == entry.term:
                    continue
                self._truncate(index)
            log.append(entries[k:])
            self._log_changed(index)
            self._appended_configurations(entries[k:])
            break
        # What this message vouched for, never more: even when our snapshot reaches
        # further, a leader learns only of entries it sent (a broken leader, in a chaos
        # run without the safety checks, may hold fewer entries than our snapshot).
        match = msg.prev_log_index + len(msg.entries)
        new_commit = self.follower_commit(msg.leader_commit, match)
        if new_commit > self.commit_index:
            self._set_commit_index(new_commit)
        self._send(
            AppendEntriesReply(
                self.id, msg.src, self.current_term, True, match_index=match, seq=msg.seq
            )
        )

    def _rejection(self, leader: int, prev: int, seq: int = 0) -> AppendEntriesReply:
        """The consistency check failed at ``prev``: say where the leader should back up to."""
        log = self.log
        if prev > log.last_index:
            # We lack the entry before the new ones.  conflict_term 0 says "my log is too
            # short; try conflict_index".
            return AppendEntriesReply(
                self.id,
                leader,
                self.current_term,
                False,
                rejected_index=prev,
                conflict_index=log.last_index + 1,
                seq=seq,
            )
        # Same index, other term: our entry there conflicts.  Say which term and where it
        # starts, so the leader can skip the whole term at once (§5.3).
        return AppendEntriesReply(
            self.id,
            leader,
            self.current_term,
            False,
            rejected_index=prev,
            conflict_term=log.term(prev),
            conflict_index=log.first_index_of_term(prev),
            seq=seq,
        )

    def _handle_append_reply(self, msg: AppendEntriesReply) -> None:
        # Replies to a leadership we no longer hold carry an older term: ignore them.
        if self.role is not _LEADER or msg.term != self.current_term:
            return
        peer = msg.src
        pr = self.progress.get(peer)
        if pr is None:
            return  # a server removed from the configuration meanwhile (§4.1)
        # Any answer in our term means the peer still takes us for its leader: it counts
        # for reads and leases (§6.4) and for CheckQuorum (§6.2), success or not.
        self._heard_from[peer] = self._now
        if msg.seq > self._acked_seq.get(peer, 0):
            self._acked_seq[peer] = msg.seq
            self._on_round_acknowledged()
        if pr.state is _SNAPSHOT:
            self._append_reply_while_snapshotting(msg, pr)
            return
        if msg.success:
            # Use what the reply vouches for; never move matchIndex backward, since
            # replies can arrive out of order (Students' Guide, "term confusion").
            old_match = pr.match
            pr.acknowledged(msg.match_index, self._now)
            if pr.match > old_match:
                self._advance_leader_commit()
                if peer == self.transfer_target:
                    self._transfer_step()
            if self.role is not Role.LEADER or peer not in self.progress:
                # The commit removed this leader (it stepped down) or this server (it is
                # no longer fed) from the cluster (§4.1).
                return
            if peer in self._learners:
                self._maybe_promote(peer)
        else:
            if msg.rejected_index == 0:
                return  # refused for its old term only (§5.1): nothing about the log
            if pr.state is State.PROBE and msg.rejected_index <= pr.match:
                # A probe starts at or after matchIndex, and a correct follower never
                # loses what it acknowledged (it persists first, Figure 2): this refusal is
                # an old one, and the probe in flight gets its own answer.  (A follower
                # that did lose it, a planted bug or a lost disk, refuses every resend;
                # answering each copy of each refusal would multiply probes without end.)
                # In replicate state it is acted on below: with batches pipelined, a
                # refusal at matchIndex can be that of a batch that overtook the one
                # before it, and the leader must send it again.
                return
            if msg.rejected_index != pr.next - 1:
                rejected = msg.rejected_index
                if msg.conflict_term == 0 and any(b.last == rejected for b in pr.inflight):
                    # A pipelined batch arrived before the one it follows: send it again
                    # once that one is acknowledged (not a loss, not a conflict).
                    pr.resend_after(rejected)
                return  # otherwise a rejection of something we no longer send: stale
            pr.rejected(self._backed_up_next_index(msg, pr))
        self._replicate(peer)

    def _backed_up_next_index(self, msg: AppendEntriesReply, pr: Progress) -> int:
        """Where to retry after a rejection: skip a whole conflicting term (§5.3)."""
        nxt = msg.conflict_index
        if msg.conflict_term:
            last_of_term = self.log.last_index_of_term(msg.conflict_term)
            if last_of_term:
                # We have that term too: our logs may agree up to its end.
                nxt = last_of_term + 1
        # Never behind what is known to match, never forward of where we were.
        return max(pr.match + 1, min(nxt, pr.next - 1), 1)

    # --------------------------------------------------------------- replication

    def _broadcast_append(self) -> None:
        """A heartbeat round (§5.2): each peer gets new entries or an empty AppendEntries."""
        round, now = self._round, self._now
        for peer in self._targets:
            pr = self.progress[peer]
            if pr.state is _SNAPSHOT:
                # Each round sends the chunk the follower waits for: the next one, or the
                # one lost.  It keeps the follower's election timer quiet too.
                snap = self.snapshot
                if pr.snapshot_offset == 0 and snap is not None and snap is not pr.snapshot:
                    pr.send_snapshot(snap)  # nothing received yet: send the newest instead
                self._send_snapshot_chunk(peer, pr)
                continue
            if pr.presumed_lost(round, now):
                # A batch without a reply for a full round: presume it lost, probe again.
                pr.inflight.clear()
                pr.state = State.PROBE
            if not self._replicate(peer):
                self._send_heartbeat(peer, pr)

    def _broadcast_heartbeat(self) -> None:
        """A heartbeat round sent now, for a read (§6.4): new entries or an empty one."""
        for peer in self.peers:
            if not self._replicate(peer):
                self._send_heartbeat(peer, self.progress[peer])

    def _replicate(self, peer: int) -> bool:
        """Send ``peer`` the batches its ``Progress`` allows; whether any went out.

        Nothing in flight: one batch from ``next``.  In replicate state, while the
        follower is more than a full batch behind, more full batches follow the last
        one sent, up to ``Config.max_inflight`` (raftlab.progress).
        """
        pr = self.progress[peer]
        inflight = pr.inflight
        config = self.config
        if inflight and (pr.state is not _REPLICATE or len(inflight) >= config.max_inflight):
            return False  # the usual case under load: wait for the reply
        if pr.state is _SNAPSHOT:
            return False  # chunks go out on replies and heartbeat rounds
        if pr.sent < self.log.snapshot_index:
            # The next entry to send was discarded by compaction: send the snapshot (§7).
            self._start_snapshot(peer, pr)
            return True
        last = self.log.last_index
        batch = config.max_batch
        sent = False
        while True:
            if not inflight:
                if pr.next > last:
                    return sent
            elif not (
                pr.state is _REPLICATE
                and len(inflight) < config.max_inflight
                and last - inflight[-1].last >= batch
            ):
                return sent
            start = pr.sent + 1
            entries = tuple(self.log.entries(start, start + batch))
            self._send_append_entries(peer, start - 1, entries)
            inflight.append(Batch(entries[-1].index, self._round, self._now))
            sent = True

    def _send_heartbeat(self, peer: int, pr: Progress) -> None:
        # While batches are in flight, point at what is known to match, so the heartbeat
        # cannot be rejected for entries the batches are still carrying.
        prev = pr.match if pr.inflight else pr.next - 1
        if prev < self.log.snapshot_index:
            # Compacted since the batches in flight left: wait for their replies (or their
            # loss, then the snapshot) rather than vouch for an entry we no longer hold.
            return
        self._send_append_entries(peer, prev, ())

    def _send_append_entries(self, peer: int, prev: int, entries: tuple[Entry, ...]) -> None:
        """AppendEntries (§5.3) with the entries after ``prev``; none makes a heartbeat."""
        self._send(
            AppendEntries(
                self.id,
                peer,
                self.current_term,
                self.id,
                prev,
                self.log.term(prev),
                entries,
                self.commit_index,
                self._seq,
            )
        )

    def _advance_leader_commit(self) -> None:
        n = self.leader_commit()
        if n > self.commit_index:
            self._set_commit_index(n)
            if self._leaving and self.commit_index >= self._configs[-1][0]:
                self._use_configuration()  # the removal is committed: stop feeding them
            if self.id not in self._voters and self.role is Role.LEADER:
                self._step_down_if_removed()

    # ------------------------------------------- reads, leases, stable leaders

    def _start_leading(self, now: float) -> None:
        self._acked_seq = {}
        self._seq_sent = {}
        self._reads = []
        self._heard_from = {}
        self._quorum_since = now
        self.lease_start = -_INF
        self._lease_void = -_INF
        self.transfer_target = None
        self.transfer_deadline = _INF

    def _stop_leading(self) -> None:
        """Deposed or stepped down: reads waiting here can no longer be served (§6.4)."""
        if self._reads:
            why = f"S{self.id} stopped leading before it could confirm the read"
            self._ready.reads_failed.extend((r.ctx, why) for r in self._reads)
            self._reads = []
        self._seq_sent = {}
        self.lease_start = -_INF
        if self.transfer_target is not None:
            self.transfer_target = None
            self.transfer_deadline = _INF

    def _committed_in_term(self) -> bool:
        """Has an entry of this leader's term committed (its no-op, §8)?"""
        return self.log.term(self.commit_index) == self.current_term

    def _next_seq(self) -> None:
        """Start a new heartbeat round: its messages carry ``seq``, replies echo it."""
        self._seq += 1
        self._seq_sent[self._seq] = self._now

    def _confirmed_seq(self) -> int:
        """The newest round a majority (this leader included) has acknowledged."""
        acked = self._acked_seq
        acks = []
        for p in self.peers:  # a loop: cheaper than sorted(generator), once per round acked
            acks.append(acked.get(p, 0))
        acks.sort(reverse=True)
        if self.id in self._voters:  # a leader removing itself does not count (§4.2.2)
            acks.insert(0, self._seq)
        return acks[self._majority - 1]

    def _on_round_acknowledged(self) -> None:
        confirmed = self._confirmed_seq()
        sent = self._seq_sent
        if confirmed in sent:
            at = sent[confirmed]
            # After a TimeoutNow the target's election ignores stickiness (§3.10), so
            # rounds sent before the transfer could end vouch for nothing.
            if at > self._lease_void and at > self.lease_start:
                self.lease_start = at
            for k in [k for k in sent if k <= confirmed]:
                del sent[k]
        if self._reads:
            self._release_reads()

    def _release_reads(self) -> None:
        """Hand out every read whose round is confirmed and whose index is known (§6.4)."""
        if self.role is not Role.LEADER:
            return
        keep = []
        known = self.read_index_known()
        out = self._ready.read_states
        for r in self._reads:
            if r.index is None:
                if not known:
                    keep.append(r)
                    continue
                r.index = self.commit_index
            if self.read_index_confirmed(r.seq):
                out.append(ReadState(r.ctx, r.index))
                self._emit("read", f"index={r.index} read_index")
            else:
                keep.append(r)
        self._reads = keep

    def _check_quorum(self, now: float) -> bool:
        """CheckQuorum (thesis §6.2): a leader that heard from no majority during a whole
        election timeout steps down, so clients stop waiting on it.  ``False`` if it did."""
        period = self.config.election_timeout_ms[1]
        if now - self._quorum_since < period:
            return True
        since = self._quorum_since
        heard = (self.id in self._voters) + sum(
            1 for p in self.peers if self._heard_from.get(p, -_INF) >= since
        )
        self._quorum_since = now
        if heard >= self._majority:
            return True
        self._emit("step_down", f"heard from {heard} of {len(self.peers) + 1} in {period:g} ms")
        self._become_follower(self.current_term, None, now)
        return False

    def _ignores_vote_request(self, msg: RequestVote, now: float) -> bool:
        """Leader stickiness (thesis §4.2.3): a vote request of a newer term, from a
        candidate not sent by a transfer, is dropped while the leader is fresh; our term
        stays, so the leader's next heartbeat still counts (and its lease holds)."""
        if msg.pre_vote or msg.transfer or not self.leader_is_fresh(now):
            return False
        self._emit("ignore_vote", f"from=S{msg.candidate_id} term={msg.term}")
        return True

    def _become_pre_candidate(self, now: float) -> None:
        """PreVote (thesis §9.6): ask first whether we *could* win the next term."""
        if self.id not in self._voters:
            self._reset_election_timer(now)  # no vote to win: see _become_candidate (§4.1)
            return
        self.pre_candidate = True
        self.pre_votes = {self.id}
        self._set_leader(None)
        self._reset_election_timer(now)  # no majority by then: ask again
        term = self.current_term + 1
        self._emit("pre_candidate", f"term={term}")
        if len(self.pre_votes) >= self._majority:
            self._become_candidate(now)
            return
        last_index, last_term = self.log.last_index, self.log.last_term
        for peer in self.peers:
            self._send(
                RequestVote(self.id, peer, term, self.id, last_index, last_term, pre_vote=True)
            )

    def _handle_pre_vote(self, msg: RequestVote, now: float) -> None:
        grant = self.grants_pre_vote(msg)
        term = msg.term if grant else self.current_term
        self._send(RequestVoteReply(self.id, msg.src, term, grant, pre_vote=True))

    def _handle_pre_vote_reply(self, msg: RequestVoteReply, now: float) -> None:
        if not (self.pre_candidate and msg.vote_granted and msg.term == self.current_term + 1):
            return  # a refusal of a newer term already made us its follower (step)
        self.pre_votes.add(msg.src)
        if len(self.pre_votes) >= self._majority:
            self._become_candidate(now)

    def _handle_timeout_now(self, msg: TimeoutNow, now: float) -> None:
        """The leader hands over (§3.10): stand for election now, whatever the timer."""
        if msg.term != self.current_term or self.role is Role.LEADER:
            return
        self._emit("timeout_now", f"from=S{msg.src}")
        self._become_candidate(now, transfer=True)

    def _transfer_step(self) -> None:
        """Transfer (§3.10): once the target's log matches ours, send it TimeoutNow."""
        to = self.transfer_target
        if to is None or self._transfer_sent:
            return
        pr = self.progress[to]
        if pr.match < self.log.last_index:
            self._replicate(to)  # catch it up first
            return
        self._transfer_sent = True
        # From now the target's election ignores stickiness: no lease until it is over.
        self.lease_start = -_INF
        self._lease_void = self.transfer_deadline
        self._send(TimeoutNow(self.id, to, self.current_term))

    def _end_transfer(self, why: str) -> None:
        self._emit("transfer_end", f"to=S{self.transfer_target} {why}")
        self.transfer_target = None
        self.transfer_deadline = _INF

    # ------------------------------------------------- log compaction (§7, Figure 13)

    def _restore_from(self, snapshot: Snapshot | None) -> None:
        """A restart from stable storage: the state machine from the snapshot, the log after."""
        log = self.log
        sm = self.state_machine
        if (self.config.snapshot_threshold or snapshot is not None) and not (
            sm is None
            or (callable(getattr(sm, "snapshot", None)) and callable(getattr(sm, "restore", None)))
        ):
            raise TypeError(
                f"log compaction needs a state machine with snapshot() -> bytes and "
                f"restore(bytes); {type(sm).__name__} lacks them (set snapshot_threshold=0 "
                "to run without snapshots)"
            )
        if snapshot is None:
            if log.snapshot_index:
                raise ValueError(
                    f"the log starts after a snapshot at index {log.snapshot_index}; pass that "
                    "snapshot too (snapshot=...), or the state it stands for is lost"
                )
            return
        if (log.snapshot_index, log.snapshot_term) != (snapshot.index, snapshot.term):
            raise ValueError(
                f"the log must start right after the snapshot ({snapshot.index}, "
                f"{snapshot.term}), but it starts after ({log.snapshot_index}, "
                f"{log.snapshot_term}); build it as Log(entries, snapshot.index, snapshot.term)"
            )
        self.restore_state(snapshot.data)
        self.snapshot = snapshot
        # A snapshot holds only committed entries (§7), all of them applied already.
        self.commit_index = self.last_applied = snapshot.index

    def snapshot_configuration(self) -> Configuration:
        """The membership a snapshot records (§7): the configuration in force at its last
        entry (thesis §4.1; later configuration entries stay in the log)."""
        return self.configuration_at(self.last_applied)

    def _take_snapshot(self) -> None:
        """Snapshot the state machine at ``last_applied`` and discard the log up to it (§7)."""
        index = self.last_applied
        term = self.log.term(index)
        snap = Snapshot(index, term, self.snapshot_configuration(), self.state_snapshot())
        self.log.compact(index)
        # The configurations the discarded prefix held are summed up by the snapshot's.
        self.base_configuration = snap.configuration
        self.snapshot = snap
        self._ready.snapshot = snap
        self._emit("snapshot", f"index={index} term={term} bytes={len(snap.data)}")

    def _start_snapshot(self, peer: int, pr: Progress) -> None:
        assert self.snapshot is not None  # the log was compacted, so a snapshot exists
        pr.send_snapshot(self.snapshot)
        self._emit("snapshot-to", f"to=S{peer} index={self.snapshot.index}")
        self._send_snapshot_chunk(peer, pr)

    def _send_snapshot_chunk(self, peer: int, pr: Progress) -> None:
        """InstallSnapshot (Figure 13): the chunk from where the follower has got to."""
        snap = pr.snapshot
        assert snap is not None
        data, done = snap.chunk(pr.snapshot_offset, self.config.snapshot_chunk_bytes)
        self._send(
            InstallSnapshot(
                self.id,
                peer,
                self.current_term,
                self.id,
                snap.index,
                snap.term,
                pr.snapshot_offset,
                data,
                done,
                snap.configuration,
            )
        )

    def _handle_install_snapshot(self, msg: InstallSnapshot, now: float) -> None:
        """InstallSnapshot receiver (Figure 13)."""
        if msg.term < self.current_term:
            # 1. Reply immediately if term < currentTerm (the leader steps down, §5.1).
            self._send(InstallSnapshotReply(self.id, msg.src, self.current_term))
            return
        if self.role is not Role.FOLLOWER:
            self._become_follower(msg.term, msg.leader_id, now)
        self._set_leader(msg.leader_id)
        self._reset_election_timer(now)  # heard from the current leader (§5.2)
        index = msg.last_included_index

        def reply(offset: int, done: bool = False, match: int = 0) -> None:
            self._send(
                InstallSnapshotReply(
                    self.id, msg.src, self.current_term, index, offset, done, match
                )
            )

        if index <= self.commit_index:
            # Nothing new: every entry it covers is committed here already, and committed
            # entries are the same everywhere (§5.4), so we match the leader up to the
            # snapshot's index.  (A delayed chunk, or a leader that did not know how far
            # we got: AppendEntries then takes it from there.)
            reply(msg.offset + len(msg.data), True, index)
            return
        inc = self._incoming
        # The chunks of one snapshot come from one leader in one term.  (Two snapshots of
        # the same index and term are the same only if Raft's safety holds; a planted bug
        # run with the checks off can break that, and mixed chunks would be garbage.)
        if inc is None or (inc.index, inc.term, inc.leader_term, inc.leader) != (
            index,
            msg.last_included_term,
            self.current_term,
            msg.leader_id,
        ):
            if inc is not None and inc.leader_term == self.current_term and index < inc.index:
                reply(0)  # a chunk of an older snapshot than the one this leader now sends
                return
            if msg.offset != 0:
                reply(0)  # we lack its beginning: ask for the snapshot from the start
                return
            # 2. Create a new snapshot "file" if first chunk (offset is 0).
            inc = self._incoming = Incoming(
                index, msg.last_included_term, msg.configuration, self.current_term, msg.leader_id
            )
        # 3. Write data into it at the given offset; 4. reply and wait if not done.
        if not inc.write(msg.offset, msg.data) or not msg.done:
            reply(len(inc.data))
            return
        self._incoming = None
        self._install_snapshot(inc.snapshot())
        reply(len(inc.data), True, index)

    def _install_snapshot(self, snap: Snapshot) -> None:
        """Figure 13, steps 5 to 8: keep the snapshot, and the log after it if it matches."""
        log = self.log
        if snap.index <= log.last_index and log.term(snap.index) == snap.term:
            # 6. Our log holds the snapshot's last entry: retain the entries following it.
            log.compact(snap.index)
        else:
            # 7. Otherwise discard the entire log.  What followed the snapshot's index here
            # conflicts with the leader, so it was never committed (§5.4).
            gone = log.reset(snap.index, snap.term)
            self._ready.removed.extend(e for e in gone if e.index > snap.index)
            self._log_changed(snap.index + 1)
        # 8. Reset the state machine using the snapshot's contents, and the cluster's
        # configuration from its own (thesis §4.1; entries after it may change it again).
        self.base_configuration = snap.configuration
        self.restore_state(snap.data)
        self.snapshot = snap
        self._ready.snapshot = snap
        self.last_applied = snap.index
        self._emit("installed", f"index={snap.index} term={snap.term} from=S{self.leader_id}")
        self._set_commit_index(snap.index)

    def _handle_install_snapshot_reply(self, msg: InstallSnapshotReply) -> None:
        if self.role is not Role.LEADER or msg.term != self.current_term:
            return  # a reply to a leadership we no longer hold
        peer = msg.src
        pr = self.progress.get(peer)
        if pr is None or pr.snapshot is None or msg.last_included_index != pr.snapshot.index:
            return  # about a snapshot we no longer send: stale
        if msg.done:
            old_match = pr.match
            pr.snapshot_installed(max(msg.match_index, pr.match), self._now)
            if pr.match > old_match:
                self._advance_leader_commit()
            self._replicate(peer)
            return
        if msg.offset == pr.snapshot_offset:
            return  # a duplicate of a reply already acted on
        # The follower's own count is the truth: forward after a chunk arrived, back after
        # it lost one (or its partial snapshot, in a crash).
        pr.snapshot_offset = msg.offset
        self._send_snapshot_chunk(peer, pr)

    def _append_reply_while_snapshotting(self, msg: AppendEntriesReply, pr: Progress) -> None:
        """An AppendEntries reply that left before the snapshot was started."""
        assert pr.snapshot is not None
        if not msg.success or msg.match_index <= pr.match:
            return
        if msg.match_index >= pr.snapshot.index:
            pr.snapshot_installed(msg.match_index, self._now)  # caught up without it
            self._advance_leader_commit()
            self._replicate(msg.src)
        else:
            pr.match = msg.match_index
            self._advance_leader_commit()

    # ---------------------------------------------------------------- plumbing

    def _set_leader(self, leader: int | None) -> None:
        if leader != self.leader_id:
            self.leader_id = leader
            rd = self._ready
            rd.leader_changed = True
            rd.leader_id = leader

    def _set_commit_index(self, index: int) -> None:
        self.commit_index = index
        self._emit("commit", f"index={index}")
        if self._reads:
            self._release_reads()  # the no-op of our term may just have committed (§6.4)

    def _truncate(self, index: int) -> None:
        removed = self.log.entries(index)
        self.log.truncate(index)
        self._log_changed(index)
        self._ready.removed.extend(removed)
        self._emit("truncate", f"from={index} removed={len(removed)}")
        if self._configs and self._configs[-1][0] >= index:
            # A configuration entry was deleted: go back to the one before it (§4.1).
            while self._configs and self._configs[-1][0] >= index:
                self._configs.pop()
            self._use_configuration()
            self._emit("config", f"reverted to {self.configuration}")

    def _reset_election_timer(self, now: float) -> None:
        lo, hi = self.config.election_timeout_ms
        # random, so split votes are rare: Random.uniform(lo, hi) spelled out (the same
        # expression, the same float), one Python call fewer for every AppendEntries
        self.election_timeout = lo + (hi - lo) * self._rng.random()
        self.election_deadline = now + self.election_timeout

    def _hard_state_changed(self) -> None:
        self._ready.hard_state = self.hard_state()

    def _log_changed(self, index: int) -> None:
        rd = self._ready
        if rd.persist_from is None or index < rd.persist_from:
            rd.persist_from = index

    def _send(self, msg: Message) -> None:
        self._ready.messages.append(msg)

    def _emit(self, kind: str, detail: str) -> None:
        self._ready.events.append((kind, detail))

    _transfer_sent = False
    _lease_void = -_INF

    def __repr__(self) -> str:
        return (
            f"RaftNode(S{self.id}, {self.role.value}, term={self.current_term}, "
            f"last={self.log.last_index}, commit={self.commit_index})"
        )


def _keeps_term(msg: Message) -> bool:
    """A PreVote and a granted pre-vote carry a term nobody has entered yet (§9.6)."""
    if isinstance(msg, RequestVote):
        return msg.pre_vote
    return isinstance(msg, RequestVoteReply) and msg.pre_vote and msg.vote_granted
