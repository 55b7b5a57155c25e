"""Shrinking: reduce a failing chaos run to the fewest faults, operations and nodes that
still fail the same way.

Where to start
--------------
A failing seed is thousands of trace lines from a random schedule.  Every chaos run
records what it did (:mod:`raftlab.chaos.script`): its schedule of faults and its clients'
workload.  Replays are deterministic, so trying a smaller run is a plain re-run:
``shrink(report)`` does delta debugging (Zeller and Hildebrandt's *ddmin*) and keeps any
smaller run that fails with the **same property** (the same invariant, or
linearizability, or liveness) and tells no longer a story (trace), in this order:

1. end the chaos soon after the failure (later faults cannot matter; a shorter run is a
   faster test): the violation, or the last answer among the operations the
   linearizability checker could not order (a second after it, then 200 ms after step 2);
2. **start later** at once (see step 3; the first of ``STARTS`` only), with the seed's
   faults written down and every operation after the moment: the scene a failure needs
   is nearly always in its last few faults, and the smaller workloads tried next can
   lose it.  When none of those runs fails, then with the seed's own nemesis, which
   reacts to what happens (a crash aimed at a new leader still finds one when the
   clients change): only the operations on the key that cannot be linearized, then
   fewer client operations (whole clients, then one by one, within a quarter of the
   re-runs: ``LIVE_SHARE``), then fewer nodes (3, then 4, ...).  When one does fail,
   the search goes on from it to the end, and the re-runs left then go to a second
   search from the original run that skips that start (the seed's own nemesis first):
   the shorter story of the two is the answer;
3. then, with the faults that best run met written down as a schedule (the nemesis's
   reactions waiting for the event they reacted to, :func:`~raftlab.chaos.script.aim`):
   **start later** (:func:`_start_later`): everything before some moment dropped and the
   rest moved to just after the first election, the servers renamed so that the one
   that led then leads now, the servers then outside the leader's configuration removed
   first (the membership is part of the scene), and each reaction free to bind to
   whichever server meets its event first;
4. when an invariant broke, the run without the reads that put nothing in the log
   (ReadIndex, lease and relaxed reads); then fewer faults, grouped by the moment they
   happened (a bridge partition's cuts, a majority crash), then one by one; fewer client
   operations; the faults once more;
5. fewer nodes with the faults written down; start later again; close the quiet gaps
   between moments (:func:`_sooner`);
6. single faults and operations removed until none can go (1-minimal).

Removing a fault changes everything after it (fewer messages, other random delays), so a
smaller run does not always fail where a bigger one did; ddmin only keeps what it has
seen fail.  Starting later is what gets round that: the scene the early faults set
(terms, timers) is rarely what the failure needs, and a calm cluster plus the last few
faults, re-aimed, usually is.  A shrunk script need not replay the original seed's
randomness (it is another run), only itself, exactly: it does.
``budget_s`` bounds the wall-clock time spent; the best run found by then is
the answer, and it is always a run that really failed.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from raftlab.chaos.runner import ChaosReport, run
from raftlab.chaos.script import Action, ClientOp, _renamed, aim

T = TypeVar("T")

__all__ = ["ShrinkResult", "ddmin", "failed_property", "shrink"]


def failed_property(report: ChaosReport) -> str | None:
    """What a chaos run failed: an invariant's name, ``"Linearizability"``, ``"Liveness"``,
    or ``None`` when it passed."""
    if report.violation is not None:
        return report.violation.invariant
    if report.linearizable is False:
        return "Linearizability"
    if report.liveness is not None:
        return "Liveness"
    return None


@dataclass(slots=True)
class ShrinkResult:
    """The original failing run, the smallest one found, and how the search went."""

    original: ChaosReport
    shrunk: ChaosReport
    property: str
    runs: int  # re-runs tried
    seconds: float
    options: dict[str, Any] = field(default_factory=dict)  # run()'s arguments for `shrunk`

    @property
    def before_lines(self) -> int:
        return len(self.original.trace)

    @property
    def after_lines(self) -> int:
        return len(self.shrunk.trace)

    def summary(self) -> str:
        o, s = self.original, self.shrunk
        return (
            f"shrunk {self.property} on seed {o.seed}: {o.nodes} -> {s.nodes} nodes, "
            f"{len(o.schedule)} -> {len(s.schedule)} fault actions, "
            f"{len(o.workload)} -> {len(s.workload)} client operations, "
            f"{self.before_lines} -> {self.after_lines} trace lines "
            f"({self.runs} re-runs, {self.seconds:.1f} s)"
        )


class _OutOfTime(Exception):
    pass


class _PhaseOver(Exception):
    """A phase of the search used up its share of the re-runs (see ``LIVE_SHARE``)."""


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool]) -> list[T]:
    """Delta debugging: a sub-list of ``items`` on which ``fails`` still holds and from
    which no single chunk at the finest granularity tried can be removed (1-minimal when
    it runs to the end).  ``fails(items)`` is assumed true and is not re-tested."""
    items = list(items)
    n = 2
    while len(items) >= 2:
        size = len(items) / n
        chunks = [items[round(k * size) : round((k + 1) * size)] for k in range(n)]
        reduced = False
        for k in range(n):  # a single chunk alone?
            if chunks[k] and len(chunks[k]) < len(items) and fails(chunks[k]):
                items, n, reduced = chunks[k], 2, True
                break
        if not reduced:
            # Everything but one chunk?  Latest chunks first: removing a late fault or
            # operation leaves the run before it unchanged, so the failure is likelier
            # to survive than when an early one goes and every later event moves.
            for k in reversed(range(n)):
                rest = [x for j, c in enumerate(chunks) if j != k for x in c]
                if chunks[k] and fails(rest):
                    items, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    if len(items) == 1 and fails([]):
        return []
    return items


def _failed_at(report: ChaosReport) -> float | None:
    """When the run failed (simulated ms): its violation, or the latest call or answer of
    the operations that cannot be linearized; ``None`` when that is not known."""
    if report.violation is not None:
        return report.trace[-1].time if report.trace else None
    ops = getattr(report.check, "operations", ()) if report.linearizable is False else ()
    times = [op.ret if op.ret is not None else op.call for op in ops]
    return max(times) if times else None


def _only_failing_key(report: ChaosReport, best_opts: dict, attempt) -> None:
    """A history that cannot be linearized fails on one key (``report.check.key``): try
    the run with the operations on that key alone (the others only make the logs longer)."""
    key = getattr(report.check, "key", None) if report.linearizable is False else None
    ops = best_opts["workload"] or ()
    mine = tuple(op for op in ops if op.key == key)
    if key is not None and mine and len(mine) < len(ops):
        attempt(workload=mine)


#: Reads that put nothing in the log (thesis §6.4): they cannot change what a server
#: stores or applies, only add heartbeat rounds.
_READS_OUTSIDE_LOG = ("read_index", "lease", "relaxed")


def _without_reads(report: ChaosReport, best_opts: dict, attempt) -> None:
    """A run that breaks an invariant of the logs or state machines: try it without the
    reads that put nothing in the log (one re-run; they make many lines and rarely matter)."""
    ops = best_opts["workload"] or ()
    rest = tuple(op for op in ops if op.op not in _READS_OUTSIDE_LOG)
    if report.violation is not None and len(rest) < len(ops):
        attempt(workload=rest)


def _moments(schedule: Sequence[Action]) -> list[list[Action]]:
    """Actions grouped by the moment they happened (one fault episode, usually)."""
    groups: list[list[Action]] = []
    for a in schedule:
        if groups and (groups[-1][0].pops, groups[-1][0].time) == (a.pops, a.time):
            groups[-1].append(a)
        else:
            groups.append([a])
    return groups


def shrink(
    report: ChaosReport,
    *,
    budget_s: float = 8.0,
    node_class: type | None = None,
    max_runs: int = 400,
) -> ShrinkResult:
    """Shrink a failing ``report`` (see the module docstring).  ``node_class`` must be the
    class the report's run used (``report`` does not keep the class itself)."""
    prop = failed_property(report)
    if prop is None:
        raise ValueError(f"seed {report.seed} passed; only a failing run can be shrunk")
    started = time.perf_counter()
    deadline = started + budget_s
    opts: dict[str, Any] = dict(
        nodes=report.nodes,
        duration_ms=report.duration_ms,
        clients=report.clients,
        bugs=report.bugs,
        check_invariants=report.check_invariants,
        client_attempt_ms=report.client_attempt_ms,
    )
    if node_class is not None:
        opts["node_class"] = node_class
    best = report
    best_opts = dict(opts, schedule=report.schedule, workload=report.workload)
    runs = 0
    limit = max_runs  # the second search's share (see ``SECOND_SHARE``)
    phase_end = max_runs  # the current phase's last re-run (see _PhaseOver)
    # A run that breaks an invariant fails whatever its clients' history says, so the
    # re-runs need not wait for the linearizability checker (seconds on a long history);
    # the trace, and so the shrunk options' replay, do not depend on it.
    quick = {"check_timeout_s": 0.0} if report.violation is not None else {}

    def attempt(**changes: Any) -> ChaosReport | None:
        """Re-run with ``changes``; the report if it fails with the same property."""
        nonlocal runs
        if time.perf_counter() > deadline or runs >= min(max_runs, limit):
            raise _OutOfTime
        if runs >= phase_end:
            raise _PhaseOver
        runs += 1
        r = run(report.seed, **{**best_opts, **changes, **quick})
        # Same property, and a story no longer than the best so far (fewer faults can
        # mean more events before the failure).
        # (The story's length first: it costs nothing, and a run too long to keep need
        # not wait for the linearizability checker.)
        return r if len(r.trace) <= len(best.trace) and failed_property(r) == prop else None

    def keep(r: ChaosReport, **changes: Any) -> None:
        nonlocal best
        best = r
        best_opts.update(changes)  # in place: the helpers below hold this very dict

    def try_keep(**changes: Any) -> ChaosReport | None:
        r = attempt(**changes)
        if r is not None:
            keep(r, **changes)
        return r

    def end_sooner(margin: float = 200.0) -> None:
        """The chaos ends ``margin`` ms after the best run's failure (a smaller run often
        fails sooner than the one it came from)."""
        end = _failed_at(best)
        if end is not None:
            duration = float(min(best_opts["duration_ms"], round(end + margin)))
            if duration < best_opts["duration_ms"]:
                try_keep(duration_ms=duration)

    quiet: dict[tuple[int, float], int | None] = {}

    def quiet_leader(start: float) -> int | None:
        """Who leads at ``start`` in a run without faults or clients (same seed, nodes)."""
        nonlocal runs
        key = (best_opts["nodes"], start)
        if key not in quiet:
            if time.perf_counter() > deadline or runs >= min(max_runs, limit):
                raise _OutOfTime
            runs += 1
            r = run(
                report.seed,
                **{**best_opts, "schedule": (), "workload": (), "duration_ms": start, **quick},
            )
            quiet[key] = _leader_at(r.trace, start)
        return quiet[key]

    def search(early: bool) -> None:
        """One pass of the steps in the module docstring; ``early``: step 2 starts later
        at once (and sets ``started_later`` when that run fails)."""
        nonlocal phase_end, started_later
        # 1. The chaos ends soon after the violation, or a second after the last answer
        # among the operations that cannot be linearized: the live nemesis's smaller
        # workloads may fail later than the whole one did (200 ms after step 2).
        end_sooner(200.0 if report.violation is not None else 1000.0)
        # 2. Start later right away, with the seed's faults written down: the scene a
        # failure needs is usually in its last few faults, and a calm cluster plus
        # those, with every operation after them, often fails too (a stale read needs
        # the writes and reads around the partition); the live nemesis's smaller
        # workloads below can lose that.  ``live`` is then False: no live phase.
        live = None
        if early:
            aimed = aim(report.schedule, report.faults, report.trace)
            if try_keep(schedule=aimed) is not None and _start_later(
                best_opts, best, try_keep, quiet_leader, STARTS[:1]
            ):
                live, started_later = False, True
        # Else with the seed's own nemesis, which reacts to what happens (its aimed
        # plays land whatever the clients do): fewer operations, then fewer nodes.
        if live is None:
            live = attempt(schedule=None)
        if live:
            keep(live, schedule=None)
            _only_failing_key(report, best_opts, try_keep)
            # Operations first: they make most of a story's lines.  A live nemesis
            # reacts to every change, so a smaller workload often meets other faults
            # and passes: this phase gets a share of the re-runs, not all of them.
            phase_end = runs + max(1, int(max_runs * LIVE_SHARE))
            with contextlib.suppress(_PhaseOver):
                _shrink_list("workload", best_opts, attempt, keep)
            phase_end = max_runs
            if report.violation is None:
                end_sooner()  # soon after the last answer among the failing operations
            for n in range(3, best_opts["nodes"]):
                r = attempt(nodes=n)
                if r is not None:
                    keep(r, nodes=n)
                    break
        # From here on the faults are the ones the best run so far met, written down,
        # the nemesis's reactions still waiting for the events they reacted to.
        if live is not False:
            aimed = aim(best.schedule, best.faults, best.trace)
            if attempt(schedule=aimed) is not None:
                keep(best, schedule=aimed)
            else:
                best_opts["schedule"] = best.schedule
        if not live:
            _only_failing_key(report, best_opts, try_keep)
            end_sooner()
        # 4. Start later: what came before a moment, gone, and the rest moved earlier.
        _start_later(best_opts, best, try_keep, quiet_leader)
        _without_reads(report, best_opts, try_keep)
        # 5-7. Fewer faults, fewer operations, fewer faults again.
        for what in ("schedule", "workload", "schedule"):
            _shrink_list(what, best_opts, attempt, keep)
        # 8. Fewer nodes, with the faults written down (actions on a missing node skip).
        for n in range(3, best_opts["nodes"]):
            r = attempt(nodes=n)
            if r is not None:
                keep(r, nodes=n)
                break
        _start_later(best_opts, best, try_keep, quiet_leader)
        _sooner(best_opts, try_keep)
        # 9. One by one until no single fault or operation can go (1-minimal).
        _one_by_one(best_opts, attempt, keep)

    started_later = False
    first_opts = dict(best_opts)
    try:
        search(early=True)
        if started_later:
            # The re-runs left go to the other way (the seed's own nemesis first), from
            # the original run again; the shorter story of the two is the answer.
            early_best, early_opts = best, dict(best_opts)
            limit = runs + max(1, int(max_runs * SECOND_SHARE))
            best = report
            best_opts.clear()
            best_opts.update(first_opts)
            try:
                search(early=False)
            finally:
                if len(early_best.trace) <= len(best.trace):
                    best = early_best
                    best_opts.clear()
                    best_opts.update(early_opts)
    except _OutOfTime:
        pass
    return ShrinkResult(
        original=report,
        shrunk=best,
        property=prop,
        runs=runs,
        seconds=time.perf_counter() - started,
        options={k: v for k, v in best_opts.items() if k != "node_class"},
    )


def _shrink_list(what: str, best_opts: dict, attempt, keep, one_by_one: bool = True) -> None:
    current: Sequence[Action] | Sequence[ClientOp] = best_opts[what]
    if not current:
        return
    seen: dict[tuple, bool] = {}

    def fails_flat(items: list) -> bool:
        key = tuple(items)
        if key not in seen:
            r = attempt(**{what: tuple(items)})
            seen[key] = r is not None
            if r is not None:
                keep(r, **{what: tuple(items)})
        return seen[key]

    if what == "schedule":
        groups = _moments(current)
        if len(groups) > 1:
            kept = ddmin(groups, lambda gs: fails_flat([a for g in gs for a in g]))
            current = [a for g in kept for a in g]
        if len(current) > 1:
            ddmin(current, fails_flat)
    else:
        # Whole clients first (a few re-runs), then operations one by one.
        by_client: dict[int, list] = {}
        for op in current:
            by_client.setdefault(op.client, []).append(op)
        groups = [by_client[k] for k in sorted(by_client)]
        if len(groups) > 1:
            kept = ddmin(groups, lambda gs: fails_flat(sorted((o for g in gs for o in g), key=_at)))
            current = sorted((o for g in kept for o in g), key=_at)
        if len(current) > 1 and one_by_one:
            ddmin(list(current), fails_flat)


#: The share of ``max_runs`` the operations may take with the seed's own nemesis (step 2).
LIVE_SHARE = 0.25
#: The share of ``max_runs`` the second search may take at most (step 2): it rarely
#: beats the first by much, and the time to a report matters too.
SECOND_SHARE = 0.5
#: Where a run that starts later puts its first remaining moment (simulated ms): after
#: the first election, usually, and a few choices, since each lines the rest up
#: differently with the elections and delays the seed draws.
STARTS = (300.0, 500.0, 200.0, 800.0)
#: How many of the last moments a run may start at (the end is where it failed).
LATEST = 10
#: Moments closer than this (simulated ms) are one episode (a play's acts, a crash and its
#: quick restart): a run starts at an episode's first moment, never inside one.
EPISODE_MS = 50.0
#: A run that starts later with servers removed (see ``_start_later``) gives their
#: removal this long (simulated ms) to commit before the rest of the script.
SCENE_MS = 100.0


def _start_later(
    best_opts: dict, best: ChaosReport, attempt, leader_at_start, starts: Sequence[float] = STARTS
) -> bool:
    """Drop every fault and operation before some moment and move the rest earlier.

    A failure often needs only the last few faults, but the earlier ones set the scene
    (terms, timers, whose log is longest) and a plain removal reshuffles what follows.
    A run that *begins* at a late moment, moved to just after the first election, starts
    from a calm cluster instead: the story loses every line before it.  The node that
    led at that moment and the one that leads the calm cluster swap names in what
    remains, so a crash of "the leader" still hits the leader.  Latest moments first; the
    first that still fails is kept (``attempt`` keeps it).
    """
    schedule: Sequence[Action] = best_opts["schedule"] or ()
    workload: Sequence[ClientOp] = best_opts["workload"] or ()
    # The faults' last moments and the first moments of their last episodes, which reach
    # further back (a run's operations are too many to try each, and what made it fail
    # is nearly always near its end).
    # A history that cannot be linearized: a start after the first failing operation's
    # call would drop that very operation.
    ops = getattr(best.check, "operations", ()) if best.linearizable is False else ()
    latest = min((op.call for op in ops), default=float("inf"))
    episodes: list[list[float]] = []
    times = {a.time for a in schedule} or {op.time for op in workload}
    for t in sorted(t for t in times if t <= latest):
        if episodes and t - episodes[-1][-1] < EPISODE_MS:
            episodes[-1].append(t)
        else:
            episodes.append([t])
    times = [t for e in episodes for t in e]
    moments = sorted(set(times[-LATEST:]) | {e[0] for e in episodes[-LATEST:]})
    for start in starts:
        for t in reversed(moments):
            was = _leader_at(best.trace, t)
            # The membership is part of the scene (a play for four voters needs four):
            # the servers out of the leader's configuration then are removed first, and
            # the rest comes once that change has had time to commit.
            out = _outside_at(best.trace, t, was, best_opts["nodes"])
            shift = t - start - (SCENE_MS if out else 0.0)
            if shift <= 0:
                continue
            now = leader_at_start(start)
            swap = {was: now, now: was} if was is not None and now is not None else {}
            swap = {k: v for k, v in swap.items() if k != v}
            scene = tuple(Action(0, start, "remove_server", (swap.get(i, i),)) for i in out)
            s = scene + tuple(
                Action(
                    0,
                    a.time - shift,
                    a.name,
                    _renamed(a.args, swap),
                    None
                    if a.trigger is None
                    else (a.trigger[0], swap.get(a.trigger[1], a.trigger[1])),
                    a.after,
                    a.trigger is not None,
                )
                for a in schedule
                if a.time >= t
            )
            w = tuple(
                replace(op, time=op.time - shift, node=swap.get(op.node, op.node))
                for op in workload
                if op.time >= t
            )
            duration = max(0.0, best_opts["duration_ms"] - shift)
            if attempt(schedule=s, workload=w, duration_ms=duration) is not None:
                return True
    return False


def _outside_at(trace: Sequence[Any], t: float, leader: int | None, nodes: int) -> list[int]:
    """The servers outside ``leader``'s configuration just before time ``t`` (removed by
    membership churn and not added back), from the trace."""
    if leader is None:
        return []
    members = None
    for ev in trace:
        if ev.time >= t:
            break
        if ev.node == leader and ev.kind == "config" and ev.detail.startswith("index="):
            members = {int(x) for x in _SERVERS.findall(ev.detail)}
    if members is None:
        return []
    return [i for i in range(1, nodes + 1) if i not in members]


_SERVERS = re.compile(r"\bS(\d+)\b")


def _leader_at(trace: Sequence[Any], t: float) -> int | None:
    """The live leader with the highest term just before time ``t``, from the trace."""
    role: dict[int, tuple[str, int]] = {}
    for ev in trace:
        if ev.time >= t:
            break
        if ev.node is not None and ev.kind in ("leader", "follower", "candidate", "crash"):
            role[ev.node] = (ev.kind, ev.term or 0)
    leaders = [(term, i) for i, (kind, term) in role.items() if kind == "leader"]
    return max(leaders)[1] if leaders else None


def _sooner(best_opts: dict, attempt) -> None:
    """Close the quiet gaps: each moment, and everything after it, moved earlier
    (to a quarter, then half of its gap), kept when the run still fails no longer.
    Waiting is what makes nodes time out and stand again and again, so a shorter wait
    is a shorter story.  The end of the chaos (the healing) counts as the last moment:
    a failure that comes with the healing (a crashed server restarted, a partition
    healed) rarely needs the wait before it."""
    k = 1
    while True:
        schedule: Sequence[Action] = best_opts["schedule"] or ()
        workload: Sequence[ClientOp] = best_opts["workload"] or ()
        duration = best_opts["duration_ms"]
        moments = sorted({a.time for a in schedule} | {op.time for op in workload})
        if moments and duration > moments[-1]:
            moments.append(duration)
        if k >= len(moments):
            return
        t, gap = moments[k], moments[k] - moments[k - 1]
        k += 1
        for part in (0.75, 0.5):
            shift = gap * part
            if shift < 5.0:
                continue
            s = tuple(
                a
                if a.time < t
                else Action(
                    0, a.time - shift, a.name, a.args, a.trigger, a.after, a.trigger is not None
                )
                for a in schedule
            )
            w = tuple(op if op.time < t else replace(op, time=op.time - shift) for op in workload)
            if attempt(schedule=s, workload=w, duration_ms=duration - shift) is not None:
                break


def _one_by_one(best_opts: dict, attempt, keep) -> None:
    """Remove single faults and operations, latest first, until none can go."""
    changed = True
    while changed:
        changed = False
        for what in ("schedule", "workload"):
            items = list(best_opts[what] or ())
            for k in reversed(range(len(items))):
                rest = tuple(items[:k] + items[k + 1 :])
                r = attempt(**{what: rest})
                if r is not None:
                    keep(r, **{what: rest})
                    items = list(rest)
                    changed = True


def _at(op: ClientOp) -> float:
    return op.time


def print_shrunk(seed: int, options: dict[str, Any], max_runs: int = 200) -> ShrinkResult:
    """``python -m raftlab chaos --shrink``: shrink one failing seed and print its story."""
    from raftlab.labs.story import COMPACT_NOTE, tell

    s = shrink(run(seed, **options), budget_s=float("inf"), max_runs=max_runs)
    r = s.shrunk
    print(f"\n== seed {seed}: {s.summary()} ==")
    print("faults:" if r.schedule else "faults: none")
    for a in r.schedule:
        print(f"  {a}")
    print("client operations:" if r.workload else "client operations: none")
    for op in r.workload:
        print(f"  {op}")
    lines = tell(r.trace, r.summary().split(": ", 1)[1], compact=True)
    print(f"story ({len(lines)} lines; {COMPACT_NOTE}):")
    print("\n".join(lines))
    return s
