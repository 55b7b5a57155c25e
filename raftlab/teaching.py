"""Small helpers for the notebook course (``notebooks/00-07``): narrators, not widgets.

Where to start
--------------
- ``explain_step(cluster)`` processes exactly one event, like ``cluster.step()``, and says
  in words what it was: which message arrived (with its Figure 2 fields) or whose timer
  fired, what the node wrote in the trace, and what it sent in answer.
  ``explain_until(cluster, pred)`` does that until ``pred(cluster)`` holds.
- ``first_election(seed, config)`` runs a fresh cluster until its first leader and says how
  many terms that took: the split-vote experiment of §9.3 in one line.
- ``command_bytes(kind, key, value, expected)`` is the text the byte editor shows;
  ``command_kind`` reads a kind from its name or number.

The chapters' widgets (``ByteEditor``, ``Stepper``, ``PartitionLab``, ``RestartLab``,
``ChaosLab``) live in ``raftlab.widgets`` and only wire controls to these functions and to
``raftlab.viz``.  Nothing here changes how Raft behaves, and nothing here needs a display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.errors import Timeout
from raftlab.kv.commands import Command, Kind, bytes_table, encode_command
from raftlab.messages import AppendEntries, AppendEntriesReply, Message, RequestVote
from raftlab.quorum import why_no_leader
from raftlab.trace import TraceEvent

__all__ = [
    "Election",
    "Step",
    "Won",
    "command_bytes",
    "command_kind",
    "describe_message",
    "elections_won",
    "explain_step",
    "explain_until",
    "first_election",
    "kv_log",
    "replay_log",
    "state_table",
]


# --------------------------------------------------------------------- narrating events


def _fields(msg: Message) -> str:
    """The Figure 2 fields of a message that matter to a reader, in words."""
    if isinstance(msg, RequestVote):
        return f"lastLogIndex={msg.last_log_index} lastLogTerm={msg.last_log_term}"
    if isinstance(msg, AppendEntries):
        if msg.entries:
            first, last = msg.entries[0].index, msg.entries[-1].index
            what = f"entries=[{first}]" if first == last else f"entries=[{first}..{last}]"
        else:
            what = "entries=[] (heartbeat)"
        return (
            f"prevLogIndex={msg.prev_log_index} prevLogTerm={msg.prev_log_term} {what} "
            f"leaderCommit={msg.leader_commit}"
        )
    if isinstance(msg, AppendEntriesReply):
        if msg.success:
            return f"success matchIndex={msg.match_index}"
        if msg.conflict_term:
            return f"rejected conflictTerm={msg.conflict_term} conflictIndex={msg.conflict_index}"
        if msg.conflict_index:
            return f"rejected (log too short) conflictIndex={msg.conflict_index}"
        return "rejected (stale term)"
    return "granted" if msg.vote_granted else "refused"


def describe_message(msg: Message) -> str:
    """One line naming a message and the Figure 2 fields that matter for it.

    Takes a message, or a network envelope (``cluster.network.in_flight``) holding one.
    """
    msg = getattr(msg, "msg", msg)
    return f"{msg.kind} S{msg.src}→S{msg.dst} term={msg.term} {_fields(msg)}"


@dataclass(frozen=True, slots=True)
class Step:
    """One event, in words: what happened, the trace lines it wrote, the messages it sent.

    ``message`` is the message that arrived, or ``None`` when a timer fired.
    """

    time: float
    what: str
    trace: tuple[TraceEvent, ...]
    sent: tuple[str, ...]
    message: Message | None = None

    def involves(self, node: int) -> bool:
        """Whether the message that arrived went from or to ``node``."""
        return self.message is not None and node in (self.message.src, self.message.dst)

    def __str__(self) -> str:
        lines = [f"{self.time:8.2f}  {self.what}"]
        for e in self.trace:
            who = f"S{e.node}" if e.node is not None else "--"
            lines.append(f"          trace: {who} {e.kind:<12} {e.detail}".rstrip())
        lines += [f"          sends: {s}" for s in self.sent]
        return "\n".join(lines)


def _sent_summary(msgs: list[Message]) -> tuple[str, ...]:
    """Group what one event sent: 'RequestVote term=1 lastLogIndex=0 ... to S1 S3 S4 S5'."""
    groups: dict[str, list[int]] = {}
    for m in msgs:
        groups.setdefault(f"{m.kind} term={m.term} {_fields(m)}", []).append(m.dst)
    return tuple(
        f"{what} to {' '.join(f'S{d}' for d in sorted(dsts))}" for what, dsts in groups.items()
    )


def explain_step(cluster: Cluster) -> Step | None:
    """Process exactly the next event (as ``cluster.step()``) and describe it.

    ``None`` when nothing is left to happen.
    """
    net = cluster.network
    log_mark, trace_mark = len(net.log), len(cluster.trace)
    before = {id(e) for e in net.in_flight}
    events = cluster.event_count
    cluster.step()
    if cluster.event_count == events:  # not "nothing changed": a lone leader's timer does that
        return None
    now = cluster.now
    arrived = [e for e in net.log[log_mark:] if not e.dropped]
    sent = [e.msg for e in net.in_flight if id(e) not in before]
    sent += [
        e.msg for e in net.log[log_mark:] if e.dropped and e.sent_at == now and e.deliver_at == now
    ]  # lost the moment they were sent (a crashed peer)
    trace = tuple(cluster.trace[trace_mark:])
    if arrived:
        what = describe_message(arrived[0].msg) + " arrives"
    else:
        who = sent[0].src if sent else trace[0].node if trace else None
        kind = "heartbeat" if sent and isinstance(sent[0], AppendEntries) else "election"
        what = f"S{who}'s {kind} timer fires" if who is not None else "a timer fires"
    return Step(now, what, trace, _sent_summary(sent), arrived[0].msg if arrived else None)


def explain_until(
    cluster: Cluster, pred: Callable[[Cluster], bool], max_steps: int = 500
) -> list[Step]:
    """``explain_step`` until ``pred(cluster)`` holds; ``Timeout`` after ``max_steps``."""
    out: list[Step] = []
    while not pred(cluster):
        if len(out) >= max_steps:
            raise Timeout(f"the condition did not hold within {max_steps} events" + _why(cluster))
        step = explain_step(cluster)
        if step is None:
            raise Timeout(
                "nothing is left to happen and the condition does not hold" + _why(cluster)
            )
        out.append(step)
    return out


def _why(cluster: Cluster) -> str:
    """``: <reason>`` when the cluster has no leader and cannot elect one, else nothing."""
    if cluster.leader() is not None:
        return ""
    why = why_no_leader(cluster.ids, cluster.alive, cluster.network.can_talk)
    return f": {why}" if why else ""


# ------------------------------------------------------------------------- elections


@dataclass(frozen=True, slots=True)
class Election:
    """How a cluster's first election went: ``leader is None`` if none was elected."""

    leader: int | None
    term: int
    time: float


def first_election(
    seed: int, config: Config | None = None, n: int = 5, timeout_ms: float = 10_000
) -> Election:
    """Run a fresh cluster until its first leader; the term it won and when (§5.2, §9.3).

    Every term above 1 is an election that failed, nearly always a split vote.  Without a
    leader within ``timeout_ms``, ``leader`` is ``None`` and ``term`` is the highest reached.
    """
    cluster = Cluster(n, seed=seed, config=config, check_invariants=False)
    try:
        leader = cluster.wait_for_leader(timeout_ms)
    except Timeout:
        return Election(None, max(x.current_term for x in cluster.nodes.values()), cluster.now)
    return Election(leader, cluster.nodes[leader].current_term, cluster.now)


@dataclass(frozen=True, slots=True)
class Won:
    """One election won: the term, the winner, when, and who had granted it a vote by then."""

    term: int
    leader: int
    time: float
    voters: frozenset[int]  # the leader's own vote included


def elections_won(cluster: Cluster) -> list[Won]:
    """Every election won so far, in order, read from ``cluster.trace`` (§5.2).

    Two entries with the same term would break Election Safety; each ``voters`` should
    hold a majority.  Reading the trace, not the nodes, makes this a check of what
    happened rather than of how the nodes count.
    """
    votes: dict[tuple[int, int], set[int]] = {}
    out = []
    for e in cluster.trace:
        if e.kind == "vote":
            fields = dict(part.split("=") for part in e.detail.split())
            votes.setdefault((int(fields["term"]), int(fields["for"][1:])), set()).add(e.node)
        elif e.kind == "leader":
            term = int(e.detail.split("=")[1])
            voters = votes.get((term, e.node), set()) | {e.node}
            out.append(Won(term, e.node, e.time, frozenset(voters)))
    return out


# ------------------------------------------------------------------------ byte editor


def command_kind(kind: str | Kind) -> Kind:
    """A command kind from its name, in any case, or its number; else ``ValueError``."""
    found = None
    if isinstance(kind, str):
        found = Kind.__members__.get(kind.upper())
    elif isinstance(kind, int) and not isinstance(kind, bool) and kind in set(Kind):
        found = Kind(kind)
    if found is None:
        names = ", ".join(k.name for k in Kind)
        raise ValueError(f"unknown command kind {kind!r}; use one of {names}")
    return found


def command_bytes(kind: str | Kind, key: str, value: str = "", expected: str | None = None) -> str:
    """The bytes of a key-value command, field by field, then as one hex line.

    ``kind`` is a ``Kind``, its number or its name in any case (``"set"``).  A command
    that cannot exist (a GET with a value, a CAS without ``expected``) gives the sentence
    explaining why, instead of raising: this is what the editor shows.
    """
    try:
        data = encode_command(Command(command_kind(kind), key, value, expected))
    except (ValueError, TypeError) as exc:
        return f"not a command: {exc}"
    return f"{bytes_table(data)}\n\n{len(data)} bytes: {data.hex(' ')}"


# =============================================================== chapters 5 to 7
# Helpers for notebooks/05-07 (persistence, the key-value store, safety and testing).
# Like everything above, they only read a cluster.


def _machine_summary(sm: object) -> str:
    """A state machine in a few characters: a store's keys, or how many commands it holds."""
    data = getattr(sm, "data", None)
    if data is not None:
        return "{" + ", ".join(f"{k}={data[k]}" for k in sorted(data)) + "}"
    commands = getattr(sm, "commands", None)
    if commands is not None:
        return f"{len(commands)} command{'s' if len(commands) != 1 else ''} applied"
    return repr(sm)


def state_table(cluster: Cluster) -> str:
    """Each server's state, split the way Figure 2 splits it (§5).

    Left: what its stable storage holds (``cluster.storage[i]``: currentTerm, votedFor and
    the log), which is all a crash leaves.  Right: what lives only in memory (commitIndex,
    lastApplied and the state machine); a crashed server has none of it.
    """
    lines = [
        f"{'':8}{'on stable storage':<35}{'in memory only'}",
        f"{'server':<8}{'currentTerm':<13}{'votedFor':<10}{'log':<12}"
        f"{'commitIndex':<13}{'lastApplied':<13}state machine",
    ]
    for i in cluster.ids:
        hard, entries = cluster.storage[i].load()
        vote = f"S{hard.voted_for}" if hard.voted_for is not None else "-"
        count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        disk = f"{hard.current_term:<13}{vote:<10}{count:<12}"
        if i in cluster.alive:
            n = cluster.nodes[i]
            memory = f"{n.commit_index:<13}{n.last_applied:<13}{_machine_summary(n.state_machine)}"
        else:
            memory = "(crashed: nothing in memory)"
        lines.append(f"{'S' + str(i):<8}{disk}{memory}")
    return "\n".join(lines)


def kv_log(cluster: Cluster, node: int) -> str:
    """Node ``node``'s log, one line per entry, each key-value command decoded (chapter 6).

    A leader's no-op (§8) shows as ``no-op``; a command with a session envelope shows its
    client and sequence number; entries past the node's commit index are marked.
    """
    from raftlab.kv.commands import decode_command

    cluster._check_id(node)
    n = cluster.nodes[node]
    lines = []
    for e in n.log:
        what = "no-op" if e.command is None else str(decode_command(e.command))
        mark = "" if e.index <= n.commit_index else "   (not committed)"
        lines.append(f"index {e.index:<3} term {e.term:<3} {what}{mark}")
    return "\n".join(lines)


def replay_log(entries, *, sessions: bool = True):
    """A fresh ``KVStateMachine`` that has applied the commands of ``entries`` in order.

    With ``sessions=False`` every command is stripped of its session envelope first, as if
    the store had no table of clients' sequence numbers: then a retried write is applied
    as many times as it appears in the log (chapter 6).  Reads (and errors they raise,
    such as ``KeyNotFound``) change nothing and are skipped.
    """
    from contextlib import suppress

    from raftlab.kv.commands import Command, decode_command, encode_command
    from raftlab.kv.state_machine import KVStateMachine

    store = KVStateMachine()
    for e in entries:
        if e.command is None:
            continue
        command = e.command
        if not sessions:
            c = decode_command(command)
            command = encode_command(Command(c.kind, c.key, c.value, c.expected))
        with suppress(KeyError):  # a GET of a missing key: the read's answer, not a change
            store.apply(command)
    return store
