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

from raftlab.config import Config
from raftlab.errors import NotLeader
from raftlab.log import Entry, Log
from raftlab.messages import (
    AppendEntries,
    AppendEntriesReply,
    Message,
    RequestVote,
    RequestVoteReply,
)
from raftlab.progress import Batch, Progress, State
from raftlab.records import fast_init
from raftlab.roles import Role

_RAFT_MESSAGES = (AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply)
_TEXT = (bytes, bytearray, str)  # what propose refuses as its list of commands
# Enum members read once: on Python 3.11 each ``Role.LEADER`` calls the enum metaclass's
# __getattr__ hook, and these two are read for every event.
_LEADER = Role.LEADER
_REPLICATE = State.REPLICATE


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

    @property
    def became_leader(self) -> bool:
        """Did the node win an election during this input?"""
        return any(role is Role.LEADER for role, _ in self.roles)

    def __repr__(self) -> str:
        return (
            f"Ready(hard_state={self.hard_state}, persist_from={self.persist_from}, "
            f"messages={self.messages}, events={self.events}, removed={self.removed}, "
            f"roles={self.roles}, leader_changed={self.leader_changed}, "
            f"leader_id={self.leader_id})"
        )


class Applied(NamedTuple):
    """One entry fed to the state machine: its result, or the error it raised.

    (A named tuple: one is made per entry per server, and a tuple is the cheapest
    immutable record Python has.)
    """

    entry: Entry
    result: Any = None
    error: Exception | None = None


class RaftNode:
    """One Raft server.  Read its fields freely; change it only through its inputs.

    ``rng`` is the only source of randomness (the election timeouts of §5.2); the
    simulator passes its seeded generator, so every run can be replayed.
    ``state_machine`` is what committed commands are applied to; it needs an
    ``apply(command: bytes)`` method.
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

    # ------------------------------------------------------------------ inputs

    @property
    def next_index(self) -> dict[int, int]:
        """Figure 2's nextIndex for each peer (meaningful on a leader)."""
        return {p: pr.next for p, pr in self.progress.items()}

    @property
    def match_index(self) -> dict[int, int]:
        """Figure 2's matchIndex for each peer (meaningful on a leader)."""
        return {p: pr.match for p, pr in self.progress.items()}

    @property
    def next_deadline(self) -> float:
        """The time at which this node next wants ``tick``."""
        # _LEADER: Role.LEADER read once (an enum member costs a metaclass hook on 3.11)
        return self.heartbeat_deadline if self.role is _LEADER else self.election_deadline

    def tick(self, now: float) -> None:
        """Time passed: start an election (§5.2) or send heartbeats (§5.2, §5.3) if due."""
        self._now = now
        if self.role is Role.LEADER:
            if now >= self.heartbeat_deadline:
                self.heartbeat_deadline = now + self.config.heartbeat_ms
                self._round += 1
                self._broadcast_append()
        elif now >= self.election_deadline:
            self._become_candidate(now)

    def step(self, msg: Message, now: float) -> None:
        """A message arrived.  The rules common to every role run first (§5.1)."""
        if not isinstance(msg, _RAFT_MESSAGES):
            # Checked before anything else, so a wrong input changes nothing.
            raise TypeError(f"RaftNode.step takes a Raft message, got {type(msg).__name__}")
        self._now = now
        if msg.term > self.current_term:
            # A newer term exists: whatever we were, we are now a follower in it (§5.1).
            # Only an AppendEntries names the new leader; a vote request does not.
            leader = msg.leader_id if isinstance(msg, AppendEntries) else None
            self._become_follower(msg.term, leader, now)
        if isinstance(msg, AppendEntries):
            self._handle_append_entries(msg, now)
        elif isinstance(msg, AppendEntriesReply):
            self._handle_append_reply(msg)
        elif isinstance(msg, RequestVote):
            self._handle_request_vote(msg, now)
        else:
            self._handle_vote_reply(msg, now)

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
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader_id)
        self._now = now
        first = self.log.last_index + 1
        term = self.current_term
        self.log.append([Entry(first + k, term, c) for k, c in enumerate(commands)])
        self._log_changed(first)
        last = self.log.last_index
        self._emit("propose", f"index={first}" if last == first else f"index={first}..{last}")
        max_batch, replicate = self.config.max_batch, _REPLICATE
        for peer, pr in self.progress.items():
            # Under load a batch is usually in flight and the follower less than a batch
            # behind: then the proposal waits for the reply (checked here, it is hot).
            inflight = pr.inflight
            if not inflight or (pr.state is replicate and last - inflight[-1].last >= max_batch):
                self._replicate(peer)
        self._advance_leader_commit()  # a one-node cluster commits at once
        return first, term

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
        """
        out: list[Applied] = []
        add = out.append
        sm = self.state_machine
        stop = (
            self.commit_index
            if limit is None
            else min(self.commit_index, self.last_applied + limit)
        )
        if stop <= self.last_applied:
            return out
        for entry in self.log.entries(self.last_applied + 1, stop + 1):
            # last_applied moves entry by entry, so a state machine that raises something
            # not an Exception (KeyboardInterrupt) leaves it at the last entry applied.
            self.last_applied = entry.index
            command = entry.command
            if command is None or sm is None:
                add(Applied(entry))
                continue
            try:
                add(Applied(entry, sm.apply(command)))
            except Exception as exc:  # noqa: BLE001 - the state machine's error is the result
                add(Applied(entry, None, exc))
        return out

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
        """The highest index a majority of servers (this leader included) is known to hold."""
        matches = [pr.match for pr in self.progress.values()]
        matches.append(self.log.last_index)
        matches.sort(reverse=True)
        return matches[self._majority - 1]

    def hard_state(self) -> HardState:
        """What must be durable before this server answers anyone (Figure 2, "Persistent
        state"; the log is persisted from ``Ready.persist_from``)."""
        return HardState(self.current_term, self.voted_for)

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
        self._ready.roles.append((Role.FOLLOWER, self.current_term))
        if was is Role.LEADER:
            # A leader had no election timer running; start one.
            self.heartbeat_deadline = float("inf")
            self._reset_election_timer(now)
        self._emit("follower", f"term={self.current_term}")

    def _become_candidate(self, now: float) -> None:
        """Election timeout: vote for yourself in a new term and ask everyone (§5.2)."""
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
                RequestVote(self.id, peer, self.current_term, self.id, last_index, last_term)
            )

    def _become_leader(self, now: float) -> None:
        """Won a majority: take charge, append a no-op (§8) and assert authority (§5.2)."""
        self.role = Role.LEADER
        self._set_leader(self.id)
        self.votes = set()
        self._ready.roles.append((Role.LEADER, self.current_term))
        nxt = self.log.last_index + 1
        self.progress = {p: Progress(nxt) for p in self.peers}
        self._round = 0
        self.heartbeat_deadline = now + self.config.heartbeat_ms
        self._emit("leader", f"term={self.current_term}")
        # The no-op lets the leader commit, and so learn, everything before it at once:
        # an entry of its own term, once on a majority, commits all earlier ones (§5.4.2, §8).
        self.log.append([Entry(nxt, self.current_term, None)])
        self._log_changed(nxt)
        for peer in self.peers:
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
        if self.role is not Role.FOLLOWER:
            # Someone won this term's election: a candidate returns to follower (§5.2).
            # (Two leaders in one term cannot happen; the safety checks would say so.)
            self._become_follower(msg.term, msg.leader_id, now)
        self._set_leader(msg.leader_id)
        self._reset_election_timer(now)  # heard from the current leader (§5.2)

        prev = msg.prev_log_index
        log = self.log
        if not self.prev_matches(prev, msg.prev_log_term):
            self._send(self._rejection(msg.src, prev))
            return

        # The check passed.  Append what is new, deleting our entries only from the first
        # real conflict on: a delayed, older AppendEntries must not cut off entries that a
        # newer one already added (Students' Guide: "don't truncate on heartbeats").
        entries = msg.entries
        for k, entry in enumerate(entries):
            index = prev + 1 + k
            if index <= log.last_index:
                if log.term(index) == entry.term:
                    continue
                self._truncate(index)
            log.append(entries[k:])
            self._log_changed(index)
            break
        match = prev + len(entries)
        new_commit = self.follower_commit(msg.leader_commit, match)
        if new_commit > self.commit_index:
            self._set_commit_index(new_commit)
        self._send(AppendEntriesReply(self.id, msg.src, self.current_term, True, match_index=match))

    def _rejection(self, leader: int, prev: int) -> AppendEntriesReply:
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
        )

    def _handle_append_reply(self, msg: AppendEntriesReply) -> None:
        # Replies to a leadership we no longer hold carry an older term: ignore them.
        if self.role is not Role.LEADER or msg.term != self.current_term:
            return
        peer = msg.src
        pr = self.progress[peer]
        if msg.success:
            # Use what the reply vouches for; never move matchIndex backward, since
            # replies can arrive out of order (Students' Guide, "term confusion").
            old_match = pr.match
            pr.acknowledged(msg.match_index, self._now)
            if pr.match > old_match:
                self._advance_leader_commit()
        else:
            if msg.rejected_index == 0:
                return  # refused for its old term only (§5.1): nothing about the log
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
        for peer in self.peers:
            pr = self.progress[peer]
            if pr.presumed_lost(round, now):
                # A batch without a reply for a full round: presume it lost, probe again.
                pr.inflight.clear()
                pr.state = State.PROBE
            if not self._replicate(peer):
                self._send_heartbeat(peer, pr)

    def _replicate(self, peer: int) -> bool:
        """Send ``peer`` the batches its ``Progress`` allows; whether any went out.

        Nothing in flight: one batch from ``next``.  In replicate state, while the
        follower is more than a full batch behind, more full batches follow the last
        one sent, up to ``Config.max_inflight`` (raftlab.progress).
        """
        pr = self.progress[peer]
        inflight = pr.inflight
        config = self.config
        if inflight and (pr.state is not State.REPLICATE or len(inflight) >= config.max_inflight):
            return False  # the usual case under load: wait for the reply
        last = self.log.last_index
        batch = config.max_batch
        sent = False
        while True:
            if not inflight:
                if pr.next > last:
                    return sent
            elif not (
                pr.state is State.REPLICATE
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
            )
        )

    def _advance_leader_commit(self) -> None:
        n = self.leader_commit()
        if n > self.commit_index:
            self._set_commit_index(n)

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

    def _truncate(self, index: int) -> None:
        removed = self.log.entries(index)
        self.log.truncate(index)
        self._log_changed(index)
        self._ready.removed.extend(removed)
        self._emit("truncate", f"from={index} removed={len(removed)}")

    def _reset_election_timer(self, now: float) -> None:
        lo, hi = self.config.election_timeout_ms
        self.election_timeout = self._rng.uniform(lo, hi)  # random, so split votes are rare
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

    def __repr__(self) -> str:
        return (
            f"RaftNode(S{self.id}, {self.role.value}, term={self.current_term}, "
            f"last={self.log.last_index}, commit={self.commit_index})"
        )
