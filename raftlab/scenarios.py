"""Scenario scripts: tell a story about a cluster one command per line, and read what happened.

Start here if you want to *show* a Raft behaviour.  A script such as::

    cluster 5 seed=7
    wait-leader
    crash leader
    wait-leader

drives a :class:`raftlab.Cluster`; each command answers with the trace lines it caused
(``cluster.trace``, one event per line) followed by its own result.  A *transcript* is the
script with every answer written under its command, in the style of etcd's datadriven
tests::

    # A comment line explains the step below it.
    wait-leader
    ----
      160.87 S4 candidate    term=1
      ...
    leader S4 term=1

The golden tests (``tests/test_golden.py``) replay the transcripts in ``tests/scenarios``
and compare them, byte for byte, with what the simulator says today; notebooks reuse the
same scripts with :meth:`Script.run`.

Commands (``ID`` is a node number, ``3`` or ``S3``; ``leader`` means the current leader)::

    cluster N [seed=S] [election=LO-HI] [heartbeat=MS] [delay=LO-HI] [max_batch=K]
              [bugs=NAME,NAME] [check=on|off]      a new cluster (must come first)
    run MS                                          let MS of simulated time pass
    step [N]                                        process the next N events (default 1)
    wait-leader [timeout=MS]                        run until a leader exists
    wait-commit INDEX [nodes=1,2] [timeout=MS]      run until those nodes (default: the
                                                    live ones) have committed INDEX
    wait-match LEADER PEER INDEX [timeout=MS]       run until LEADER knows that PEER holds
                                                    INDEX (its match_index, Figure 2)
    elect ID voters=ID,ID [term=T]                  a predictable election (see ``elect``)
    crash ID | restart ID | isolate ID | heal
    cut A B | connect A B                           one link, both ways
    partition 1,2 3,4,5                             only nodes in the same group can talk
    drop P | duplicate P | delay LO-HI              network knobs
    submit CMD [node=ID]                            hand a command to a node (a Proposal)
    proposals                                       the state of every proposal so far
    apply CMD CMD ... [node=ID] [timeout=MS]        the seed's batched Apply, blocking
    status                                          every node's role, term, commit, log
    stats                                           the network's message counts
    check                                           check every safety property now

A cluster condition (no leader, a timeout, a misuse the cluster refuses) is part of the
story and prints as ``error: ...``; a broken safety property prints as
``SafetyViolation: ...``.  A script that cannot be read (an unknown command, a missing
argument) raises :class:`ScriptError` with its line number instead: a typo must never be
recorded in a golden file as if it were the simulator's answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.errors import RaftLabError, SafetyViolation
from raftlab.proposal import Proposal
from raftlab.roles import Role

SEPARATOR = "----"


class ScriptError(ValueError):
    """A script line that cannot be understood (not something the cluster did)."""


# ------------------------------------------------------------------ predictable elections


def elect(
    cluster: Cluster, candidate: int, voters: Iterable[int], *, term: int | None = None
) -> bool:
    """Hold an election whose winner is known in advance; ``True`` if ``candidate`` won.

    Raft picks candidates at random on purpose (§5.2), which makes the paper's step-by-step
    figures (Figure 8) hard to replay.  This helper stages one election with the ordinary
    faults only:

    1. every live node other than ``candidate`` crashes (crashed nodes keep their term,
       vote and log, and they neither time out nor vote);
    2. ``candidate`` is (re)started if it is down or a leader, so its election timer runs;
    3. with ``term``, the candidate first times out alone (its requests reach nobody) until
       its next election is for exactly that term;
    4. the ``voters`` restart just before the candidate's timer fires.  A restarted node
       waits at least the lowest election timeout, so the candidate asks first, and the
       voters grant or refuse by the ordinary rules (one vote per term, §5.2; the
       up-to-date log check, §5.4.1).

    It returns as soon as the candidate leads (its first AppendEntries are then still in
    flight, so a following ``crash`` can stop them), or ``False`` once every vote had
    time to arrive without a win.
    """
    voters = list(voters)
    cluster._check_id(candidate)
    for v in voters:
        cluster._check_id(v)
    if candidate in voters:
        raise ValueError(
            f"S{candidate} is the candidate; it votes for itself, so leave it out of voters"
        )
    if len(set(voters)) != len(voters):
        raise ValueError(f"voters {voters} names a node twice")
    lo, _ = cluster.config.election_timeout_ms
    hi_delay = cluster.network.delay_ms[1]
    lead = lo / 3  # how long before the candidate's timeout the voters come up
    if lo - lead <= 2 * hi_delay:
        raise ValueError(
            f"elect needs election timeouts well above the network delay; the "
            f"lowest timeout is {lo:g} ms and messages take up to {hi_delay:g} ms"
        )
    node = cluster.nodes[candidate]
    if term is not None and (
        isinstance(term, bool) or not isinstance(term, int) or term <= node.current_term
    ):
        raise ValueError(
            f"S{candidate} is already in term {node.current_term}; "
            f"it can only run for a later term, not {term!r}"
        )

    for i in cluster.ids:
        if i != candidate and i in cluster.alive:
            cluster.crash(i)
    if candidate in cluster.alive and (
        cluster.nodes[candidate].role is not Role.FOLLOWER
        or cluster.nodes[candidate].election_deadline - cluster.now <= lead
    ):
        cluster.crash(candidate)  # restart it below, so its timer starts afresh
    if candidate not in cluster.alive:
        cluster.restart(candidate)
    wait = cluster.config.election_timeout_ms[1] + 1
    if term is not None:
        while cluster.nodes[candidate].current_term < term - 1:
            t = cluster.nodes[candidate].current_term
            # Alone, the candidate times out, asks nobody, and tries again a term later.
            if not cluster.run_until(lambda c, t=t: c.nodes[candidate].current_term > t, wait):
                return False  # cannot happen with every other node down; never loop forever
    deadline = cluster.nodes[candidate].election_deadline
    cluster.run(max(0.0, deadline - lead - cluster.now))
    for v in voters:
        cluster.restart(v)
    return cluster.run_until(
        lambda c: c.nodes[candidate].role is Role.LEADER, lead + 3 * hi_delay + 1
    )


# ----------------------------------------------------------------------- transcripts


@dataclass(slots=True)
class Case:
    """One command of a transcript, the comment lines above it and its recorded answer."""

    command: str
    expected: str = ""
    comments: list[str] = field(default_factory=list)
    line: int = 0  # where the command is in the file, for error messages


def parse_transcript(text: str) -> tuple[list[Case], list[str]]:
    """Split a transcript into cases; also return the comment lines after the last case.

    A case is ``command``, a line ``----``, then the answer up to the next empty line.
    Comment lines (``#``) and empty lines between cases are kept with the next command.
    """
    lines = text.splitlines()
    cases: list[Case] = []
    comments: list[str] = []
    k = 0
    while k < len(lines):
        line = lines[k]
        if not line.strip():
            k += 1
            continue
        if line.startswith("#"):
            comments.append(line)
            k += 1
            continue
        case = Case(line.strip(), comments=comments, line=k + 1)
        comments = []
        k += 1
        if k >= len(lines) or lines[k] != SEPARATOR:
            raise ScriptError(
                f"line {k + 1}: expected {SEPARATOR!r} after the command "
                f"{case.command!r} on line {case.line}"
            )
        k += 1
        out = []
        while k < len(lines) and lines[k].strip():
            out.append(lines[k])
            k += 1
        case.expected = "\n".join(out)
        cases.append(case)
    return cases, comments


def render_transcript(cases: list[Case], trailing: list[str] = ()) -> str:
    """The text of a transcript: each case's comments, command, ``----`` and answer."""
    parts = []
    for case in cases:
        block = [*case.comments, case.command, SEPARATOR]
        if case.expected:
            block.append(case.expected)
        parts.append("\n".join(block) + "\n")
    text = "\n".join(parts)
    if trailing:
        text += "\n" + "\n".join(trailing) + "\n"
    return text


def replay_transcript(text: str) -> str:
    """Run a transcript's commands afresh and return it with today's answers.

    Equal to ``text`` exactly when the simulator still behaves as recorded.
    """
    cases, trailing = parse_transcript(text)
    script = Script()
    for case in cases:
        try:
            case.expected = script.execute(case.command)
        except ScriptError as exc:
            raise ScriptError(f"line {case.line}: {exc}") from None
    return render_transcript(cases, trailing)


# ---------------------------------------------------------------------- interpreter


_NUM = re.compile(r"^-?\d+(\.\d+)?$")
_SIMPLE = re.compile(r"^[A-Za-z0-9_.=+/:]+$")


def show_command(command: bytes | None) -> str:
    """A log entry's command for one line of text: ``-`` for a leader's no-op (§8)."""
    if command is None:
        return "-"
    try:
        text = command.decode("ascii")
    except UnicodeDecodeError:
        return repr(command)
    return text if _SIMPLE.match(text) else repr(command)


class Script:
    """Runs script commands against one cluster; see the module docstring for the list."""

    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self.proposals: list[Proposal] = []

    def run(self, text: str) -> str:
        """Run every command of ``text`` (comments and blank lines are skipped) and return
        the transcript: each command with its answer."""
        cases = []
        comments: list[str] = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                if line:
                    comments.append(line)
                continue
            try:
                out = self.execute(line)
            except ScriptError as exc:
                raise ScriptError(f"line {n}: {exc}") from None
            cases.append(Case(line, out, comments, n))
            comments = []
        return render_transcript(cases, comments)

    def execute(self, line: str) -> str:
        """Run one command; return its answer (trace lines, then the result)."""
        words = line.split()
        if not words:
            raise ScriptError("empty command")
        name, rest = words[0], words[1:]
        handler = getattr(self, "_do_" + name.replace("-", "_"), None)
        if handler is None:
            raise ScriptError(
                f"unknown command {name!r}; known commands: {', '.join(sorted(self._commands()))}"
            )
        args = [w for w in rest if "=" not in w]
        opts = dict(w.split("=", 1) for w in rest if "=" in w)
        if name != "cluster" and self.cluster is None:
            raise ScriptError(
                f"{name!r} needs a cluster; start the script with e.g. 'cluster 5 seed=1'"
            )
        mark = len(self.cluster.trace) if self.cluster is not None else 0
        result: list[str] = []
        try:
            result = handler(args, opts) or []
        except ScriptError:
            raise
        except SafetyViolation as exc:
            result = [f"SafetyViolation: {exc}"]
        except (RaftLabError, ValueError) as exc:
            # What the cluster refused is part of the story (a TypeError is not: the
            # interpreter always hands the cluster the right types, so it would be our bug).
            result = [f"error: {type(exc).__name__}: {exc}"]
        trace = self.cluster.trace[mark:] if self.cluster is not None else []
        if name == "cluster":
            trace = []
        return "\n".join([*(str(e) for e in trace), *result])

    @classmethod
    def _commands(cls) -> list[str]:
        return [n[4:].replace("_", "-") for n in dir(cls) if n.startswith("_do_")]

    # ---------------------------------------------------------------- parsing

    def _node(self, word: str) -> int:
        if word == "leader":
            leader = self.cluster.leader()
            if leader is None:
                raise RaftLabError("there is no leader right now")
            return leader
        text = word[1:] if word[:1] in "sS" else word
        if not text.isdigit():
            raise ScriptError(f"expected a node (3, S3 or leader), got {word!r}")
        return int(text)

    def _nodes(self, word: str) -> list[int]:
        return [self._node(w) for w in word.split(",") if w]

    @staticmethod
    def _number(word: str, what: str) -> float:
        if not _NUM.match(word):
            raise ScriptError(f"{what} must be a number, got {word!r}")
        return float(word)

    @staticmethod
    def _integer(word: str, what: str) -> int:
        if not word.isdigit():
            raise ScriptError(f"{what} must be a whole number, got {word!r}")
        return int(word)

    def _range(self, word: str, what: str) -> tuple[float, float]:
        lo, sep, hi = word.partition("-")
        if not sep:
            raise ScriptError(f"{what} is a range LO-HI, got {word!r}")
        return self._number(lo, what), self._number(hi, what)

    @staticmethod
    def _need(args: list[str], n: int, usage: str) -> None:
        if len(args) != n:
            raise ScriptError(f"usage: {usage}")

    @staticmethod
    def _only(opts: dict[str, str], allowed: set[str], usage: str) -> None:
        extra = sorted(set(opts) - allowed)
        if extra:
            raise ScriptError(f"unknown option(s) {', '.join(extra)}; usage: {usage}")

    def _timeout(self, opts: dict[str, str], default: float) -> float:
        return self._number(opts["timeout"], "timeout") if "timeout" in opts else default

    # --------------------------------------------------------------- commands

    def _do_cluster(self, args, opts):
        usage = (
            "cluster N [seed=S] [election=LO-HI] [heartbeat=MS] [delay=LO-HI] "
            "[max_batch=K] [bugs=a,b] [check=on|off]"
        )
        self._need(args, 1, usage)
        self._only(
            opts, {"seed", "election", "heartbeat", "delay", "max_batch", "bugs", "check"}, usage
        )
        kw = {}
        if "election" in opts:
            kw["election_timeout_ms"] = self._range(opts["election"], "election")
        if "heartbeat" in opts:
            kw["heartbeat_ms"] = self._number(opts["heartbeat"], "heartbeat")
        if "delay" in opts:
            kw["delay_ms"] = self._range(opts["delay"], "delay")
        if "max_batch" in opts:
            kw["max_batch"] = self._integer(opts["max_batch"], "max_batch")
        bugs = [b for b in opts.get("bugs", "").split(",") if b]
        if opts.get("check", "on") not in ("on", "off"):
            raise ScriptError("check is on or off")
        n = self._integer(args[0], "N")
        seed = self._integer(opts.get("seed", "0"), "seed")
        self.cluster = Cluster(
            n,
            seed,
            config=Config(**kw),
            bugs=bugs,
            check_invariants=opts.get("check", "on") == "on",
        )
        self.proposals = []
        words = [f"{n} nodes", f"seed={seed}"]
        if bugs:
            words.append(f"bugs={','.join(sorted(bugs))}")
        return [" ".join(words)]

    def _do_run(self, args, opts):
        self._need(args, 1, "run MS")
        self._only(opts, set(), "run MS")
        self.cluster.run(self._number(args[0], "MS"))

    def _do_step(self, args, opts):
        if len(args) > 1:
            raise ScriptError("usage: step [N]")
        for _ in range(self._integer(args[0], "N") if args else 1):
            self.cluster.step()

    def _do_wait_leader(self, args, opts):
        self._need(args, 0, "wait-leader [timeout=MS]")
        self._only(opts, {"timeout"}, "wait-leader [timeout=MS]")
        leader = self.cluster.wait_for_leader(self._timeout(opts, 5000))
        return [f"leader S{leader} term={self.cluster.nodes[leader].current_term}"]

    def _do_wait_commit(self, args, opts):
        usage = "wait-commit INDEX [nodes=1,2] [timeout=MS]"
        self._need(args, 1, usage)
        self._only(opts, {"nodes", "timeout"}, usage)
        index = self._integer(args[0], "INDEX")
        nodes = self._nodes(opts["nodes"]) if "nodes" in opts else None

        def done(c: Cluster) -> bool:
            who = nodes if nodes is not None else sorted(c.alive)
            return all(c.nodes[i].commit_index >= index for i in who)

        if not self.cluster.run_until(done, self._timeout(opts, 5000)):
            return [f"error: index {index} was not committed everywhere in time"]
        return ["ok"]

    def _do_wait_match(self, args, opts):
        usage = "wait-match LEADER PEER INDEX [timeout=MS]"
        self._need(args, 3, usage)
        self._only(opts, {"timeout"}, usage)
        leader, peer = self._node(args[0]), self._node(args[1])
        index = self._integer(args[2], "INDEX")
        self.cluster._check_link(leader, peer)

        def known(c: Cluster) -> bool:
            n = c.nodes[leader]
            return n.role is Role.LEADER and n.match_index.get(peer, 0) >= index

        if not self.cluster.run_until(known, self._timeout(opts, 5000)):
            return [f"error: S{leader} did not learn that S{peer} holds index {index} in time"]
        return ["ok"]

    def _do_elect(self, args, opts):
        usage = "elect ID voters=ID,ID [term=T]"
        self._need(args, 1, usage)
        self._only(opts, {"voters", "term"}, usage)
        if "voters" not in opts:
            raise ScriptError(f"usage: {usage}")
        candidate = self._node(args[0])
        term = self._integer(opts["term"], "term") if "term" in opts else None
        won = elect(self.cluster, candidate, self._nodes(opts["voters"]), term=term)
        node = self.cluster.nodes[candidate]
        if won:
            return [f"S{candidate} leads term {node.current_term}"]
        return [f"S{candidate} did not win (term {node.current_term})"]

    def _do_crash(self, args, opts):
        self._need(args, 1, "crash ID")
        self.cluster.crash(self._node(args[0]))

    def _do_restart(self, args, opts):
        self._need(args, 1, "restart ID")
        self.cluster.restart(self._node(args[0]))

    def _do_isolate(self, args, opts):
        self._need(args, 1, "isolate ID")
        self.cluster.isolate(self._node(args[0]))

    def _do_heal(self, args, opts):
        self._need(args, 0, "heal")
        self.cluster.heal()

    def _do_cut(self, args, opts):
        self._need(args, 2, "cut A B")
        self.cluster.cut(self._node(args[0]), self._node(args[1]))

    def _do_connect(self, args, opts):
        self._need(args, 2, "connect A B")
        self.cluster.connect(self._node(args[0]), self._node(args[1]))

    def _do_partition(self, args, opts):
        if len(args) < 1:
            raise ScriptError("usage: partition 1,2 3,4,5")
        self.cluster.partition(*(self._nodes(a) for a in args))

    def _do_drop(self, args, opts):
        self._need(args, 1, "drop P")
        self.cluster.network.drop_rate = self._number(args[0], "P")

    def _do_duplicate(self, args, opts):
        self._need(args, 1, "duplicate P")
        self.cluster.network.duplicate_rate = self._number(args[0], "P")

    def _do_delay(self, args, opts):
        self._need(args, 1, "delay LO-HI")
        self.cluster.network.delay_ms = self._range(args[0], "delay")

    def _do_submit(self, args, opts):
        self._need(args, 1, "submit CMD [node=ID]")
        self._only(opts, {"node"}, "submit CMD [node=ID]")
        node = self._node(opts["node"]) if "node" in opts else None
        p = self.cluster.submit(args[0].encode(), node=node)
        self.proposals.append(p)
        return [self._show_proposal(len(self.proposals), p)]

    def _do_proposals(self, args, opts):
        self._need(args, 0, "proposals")
        return [self._show_proposal(k, p) for k, p in enumerate(self.proposals, 1)]

    @staticmethod
    def _show_proposal(k: int, p: Proposal) -> str:
        where = f"S{p.node}" if p.node is not None else "-"
        head = f"proposal {k} {show_command(p.command)} at {where}"
        if p.index is not None:
            head += f" index={p.index} term={p.term}"
        if not p.done:
            return f"{head}: pending"
        if p.ok:
            return f"{head}: ok result={p.result!r}"
        return f"{head}: failed {type(p.error).__name__}: {p.error}"

    def _do_apply(self, args, opts):
        usage = "apply CMD CMD ... [node=ID] [timeout=MS]"
        if not args:
            raise ScriptError(f"usage: {usage}")
        self._only(opts, {"node", "timeout"}, usage)
        node = self._node(opts["node"]) if "node" in opts else None
        results = self.cluster.apply(
            [a.encode() for a in args], node=node, timeout_ms=self._timeout(opts, 5000)
        )
        out = []
        for cmd, r in zip(args, results, strict=True):
            if r.error is None:
                out.append(f"{cmd}: ok result={r.result!r}")
            else:
                out.append(f"{cmd}: error {type(r.error).__name__}: {r.error}")
        return out

    def _do_status(self, args, opts):
        self._need(args, 0, "status")
        c = self.cluster
        out = []
        for i in c.ids:
            n = c.nodes[i]
            vote = f"S{n.voted_for}" if n.voted_for is not None else "-"
            log = " ".join(f"{e.term}:{show_command(e.command)}" for e in n.log)
            if i in c.alive:
                out.append(
                    f"S{i} {n.role.value:<9} term={n.current_term} vote={vote} "
                    f"commit={n.commit_index} log: {log}".rstrip()
                )
            else:
                out.append(
                    f"S{i} {'down':<9} term={n.current_term} vote={vote} log: {log}".rstrip()
                )
        return out

    def _do_stats(self, args, opts):
        self._need(args, 0, "stats")
        s = self.cluster.network.stats
        return [" ".join(f"{k}={s[k]}" for k in ("sent", "delivered", "dropped", "duplicated"))]

    def _do_check(self, args, opts):
        self._need(args, 0, "check")
        self.cluster.check_invariants()
        return ["ok"]
