"""``check(node_class)``: grade a learner's Raft rules with staged scenarios, then chaos.

Theory of operation
-------------------
A learner writes a ``RaftNode`` subclass that overrides some of the rules of Figure 2
(``raftlab.node``, "the rules").  ``check`` runs it, in this order, and stops at the first
failure:

1. the **staged scenarios** (:mod:`raftlab.labs.scenarios`) that exercise the rules the
   class overrides: three nodes, a handful of elections, each story built so that one
   rule is all that stands between the cluster and a violation.  A failure here is
   already a short story (a few dozen trace lines), so it is not shrunk.  The read rules
   (``READ_RULES``, thesis §6.4) have their own (:mod:`raftlab.labs.read_scenarios`):
   five nodes and key-value clients, judged by the linearizability checker, since a
   wrong read rule breaks no property of the logs, only what a client is told;
2. **chaos seeds** (:func:`raftlab.chaos.run`): random faults and clients, every safety
   property after every event, then linearizability.  A failing seed is shrunk
   (:mod:`raftlab.chaos.shrink`) to the fewest faults, operations and nodes that still
   fail the same way, within a fixed number of re-runs, so the same class always gets
   the same report.

The ``LabReport`` says ``ok``; on failure the ``property`` that broke, where (``scenario``
or ``seed``), the ``story`` in plain words, a ``hint`` pointing at the paper, and
``draw()`` for the message diagram and the logs at the moment it broke.
"""

from __future__ import annotations

import builtins
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from raftlab.bugs import check_node_class
from raftlab.cluster import Cluster
from raftlab.errors import SafetyViolation
from raftlab.labs.hints import hint
from raftlab.labs.read_scenarios import READ_RULES, READ_SCENARIOS, NotLinearizable
from raftlab.labs.scenarios import SCENARIOS, StagingFailed
from raftlab.labs.story import COMPACT_NOTE, tell
from raftlab.node import RaftNode
from raftlab.trace import TraceEvent

#: The rules a learner can write (public methods of RaftNode), in Figure 2's order.
RULES: tuple[str, ...] = (
    "candidate_up_to_date",
    "grants_vote",
    "prev_matches",
    "follower_commit",
    "leader_commit",
    # The read rules (thesis §6.4, lab 4): they guard what clients are told, not the logs.
    *READ_RULES,
)


DEFAULT_SEEDS = range(3)
CHAOS_MS = 5000.0
SHRINK_RUNS = 200


@dataclass(slots=True)
class LabReport:
    """What ``check`` found.  Print it (or call ``summary()``) to read it."""

    ok: bool
    rules: tuple[str, ...]
    passed: list[str] = field(default_factory=list)  # scenarios passed, in order
    seeds_passed: list[int] = field(default_factory=list)
    property: str | None = None
    scenario: str | None = None  # the failing scenario, if one failed
    seed: int | None = None  # the failing chaos seed, if one failed
    message: str | None = None  # what the checker said
    story_lines: list[str] = field(default_factory=list)
    hint: str | None = None
    story_before: int | None = None  # trace lines of the failing run before shrinking
    _cluster: Cluster | None = field(default=None, repr=False)
    _trace: list[TraceEvent] = field(default_factory=list, repr=False)
    _options: dict[str, Any] = field(default_factory=dict, repr=False)  # chaos.run() replays it

    @builtins.property  # (the field above is named `property`, as the API says)
    def story(self) -> str:
        """The failing run as numbered lines in plain words ('' when everything passed)."""
        return "\n".join(self.story_lines)

    def summary(self) -> str:
        what = ", ".join(self.rules) or "no rule overridden"
        scen = ", ".join(self.passed) if self.passed else "none"
        seeds = (
            f"{len(self.seeds_passed)} chaos seed(s) ({_seeds(self.seeds_passed)})"
            if self.seeds_passed
            else "no chaos seed"
        )
        if self.ok:
            return f"PASSED: {what}.\n  scenarios passed: {scen}\n  then {seeds} passed"
        where = f"scenario {self.scenario!r}" if self.scenario else f"chaos seed {self.seed}"
        head = f"FAILED: {self.property} in {where} (rules checked: {what})"
        lines = [head, f"  {self.message}", f"  passed before it: {scen}; {seeds}"]
        if self.story_before is not None:
            lines.append(
                f"  shrunk from {self.story_before} to {len(self._trace)} trace lines, "
                f"told in {len(self.story_lines)} lines: {COMPACT_NOTE}"
            )
        lines += ["", "The story:", self.story, "", f"Hint: {self.hint}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython shows the summary
        p.text(self.summary())

    def draw(self):
        """The message diagram of the last moments and the logs at the moment it broke.

        Returns the matplotlib ``Figure`` (two rows: messages, logs).
        """
        if self._cluster is None:
            raise ValueError("nothing to draw: every scenario and seed passed")
        import matplotlib.pyplot as plt

        from raftlab.viz import draw_logs, draw_messages

        c = self._cluster
        snap = c.snapshot()
        end = snap.time
        start = max(0.0, end - 400.0)
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(10, 7.5), gridspec_kw={"height_ratios": [3, 2]}
        )
        draw_messages(snap, start, end, ax=top)
        draw_logs(snap, ax=bottom)
        fig.tight_layout()
        return fig


def _seeds(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def overridden_rules(node_class: type[RaftNode]) -> tuple[str, ...]:
    """The rules ``node_class`` defines itself (or inherits from a class below RaftNode)."""
    out = []
    for name in RULES:
        for klass in node_class.__mro__:
            if klass is RaftNode:
                break
            if name in vars(klass):
                out.append(name)
                break
    return tuple(out)


def _check_rules(rules: object, node_class: type[RaftNode]) -> tuple[str, ...]:
    if rules is None:
        return overridden_rules(node_class) or RULES
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, Iterable):
        raise TypeError(f"rules must be a list of rule names, e.g. ['grants_vote'], got {rules!r}")
    names = list(rules)
    unknown = [r for r in names if r not in RULES]
    if unknown:
        raise ValueError(
            f"unknown rule name(s) {', '.join(map(repr, unknown))}; "
            f"the rules you can write are: {', '.join(RULES)}"
        )
    if not names:
        raise ValueError(f"rules is empty; name at least one of: {', '.join(RULES)}")
    return tuple(r for r in RULES if r in names)


def _check_seeds(seeds: object) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if isinstance(seeds, str) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a list or range of whole numbers, got {seeds!r}")
    out = list(seeds)
    for s in out:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"every seed must be a whole number >= 0, got {s!r}")
    return out


def _exception_message(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    # Point at the learner's rule when it is on the stack, else at the innermost frame.
    mine = [f for f in frames if f.name in RULES] or frames
    where = f" (in {mine[-1].name}, line {mine[-1].lineno})" if mine else ""
    return f"{type(exc).__name__}: {exc}{where}"


def check(
    node_class: type[RaftNode],
    rules: Iterable[str] | str | None = None,
    seeds: Iterable[int] | int = DEFAULT_SEEDS,
    nodes: int = 5,
    *,
    duration_ms: float = CHAOS_MS,
    shrink_runs: int = SHRINK_RUNS,
) -> LabReport:
    """Grade ``node_class`` (a ``RaftNode`` subclass): the scenarios for ``rules``
    (default: the rules it overrides), then chaos ``seeds`` on ``nodes`` servers.  Stops at
    the first failure; see the module docstring."""
    check_node_class(node_class)
    chosen = _check_rules(rules, node_class)
    seed_list = _check_seeds(seeds)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 3 <= nodes <= 9:
        raise ValueError(f"nodes must be a whole number from 3 to 9, got {nodes!r}")
    report = LabReport(ok=True, rules=chosen)

    for name, (scenario, guards) in {**SCENARIOS, **READ_SCENARIOS}.items():
        if not set(guards) & set(chosen):
            continue
        made: list[Cluster] = []  # a scenario may tell its story on several clusters
        try:
            c = scenario(node_class=node_class, on_cluster=made.append)
            c.check_invariants()
        except SafetyViolation as exc:
            return _failed(report, made[-1], exc.invariant, str(exc), scenario=name)
        except StagingFailed as exc:
            return _failed(report, made[-1], "Liveness", str(exc), scenario=name)
        except NotLinearizable as exc:  # a read rule's mistake: a stale read (§6.4)
            return _failed(report, made[-1], "Linearizability", str(exc), scenario=name)
        except Exception as exc:  # noqa: BLE001 - the learner's code raised: that is the finding
            if not made:
                raise
            return _failed(report, made[-1], "Exception", _exception_message(exc), scenario=name)
        report.passed.append(name)

    from raftlab import chaos
    from raftlab.chaos.shrink import failed_property, shrink

    for seed in seed_list:
        try:
            r = chaos.run(seed, nodes=nodes, duration_ms=duration_ms, node_class=node_class)
        except Exception as exc:  # noqa: BLE001 - the learner's code raised
            report.ok = False
            report.property, report.seed = "Exception", seed
            report.message = _exception_message(exc)
            report.hint = hint("Exception", chosen)
            report.story_lines = [f"  1. {'':8}     !! seed {seed} stopped: {report.message}"]
            return report
        prop = failed_property(r)
        if prop is None:
            report.seeds_passed.append(seed)
            continue
        s = shrink(r, node_class=node_class, budget_s=float("inf"), max_runs=shrink_runs)
        # Once more with every message kept, for the pictures.
        final = chaos.run(seed, node_class=node_class, keep_log=True, **s.options)
        why = final.summary().split(": ", 1)[1]
        report.story_before = len(r.trace)
        report._options = dict(s.options)
        return _failed(report, final.cluster, prop, why, seed=seed)
    return report


def _failed(
    report: LabReport,
    cluster: Cluster,
    prop: str,
    message: str,
    *,
    scenario: str | None = None,
    seed: int | None = None,
) -> LabReport:
    report.ok = False
    report.property, report.message = prop, message
    report.scenario, report.seed = scenario, seed
    report.hint = hint(prop, report.rules)
    report._cluster = cluster
    report._trace = list(cluster.trace)
    # A shrunk chaos story is told compactly (it says so in the summary's header).
    report.story_lines = tell(report._trace, message, compact=seed is not None)
    return report
