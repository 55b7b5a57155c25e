"""Shrinking and lab grading: story sizes and wall-clock times.

    python benchmarks/bench_labs.py shrink [--runs 200] [--seeds 0-99] [--per-bug 1] [--bug NAME]
    python benchmarks/bench_labs.py check [--repeat 3] [--lab reads]

``shrink``: for each planted bug (the read bugs too; ``--bug`` for one), the first
(``--per-bug``) failing chaos seed(s) (5 nodes, 10 s, the defaults of
``python -m raftlab chaos``), shrunk with at most ``--runs`` re-runs:
trace lines before and after, the lines of the story ``--shrink`` prints (compact, its
ending included), fault actions, client operations, nodes, re-runs and seconds.

``check``: ``raftlab.labs.check`` on each reference solution (must pass) and on each
common wrong answer of ``tests/test_labs.py`` (must fail), best of ``--repeat``; then each
planted bug graded on a rule whose scenarios it gets past, so a chaos seed catches it and
the report is shrunk (the wrong-answer target: the report within 10 s, shrinking included).
``--lab`` times one lab's solutions and wrong answers only (``votes``, ``prev``, ``commit``,
``reads``), without the planted bugs; for ``reads``, then each of lab 4's wrong answers
graded on ``leader_commit`` only, so that chaos has to catch them.
Figures depend on the machine's load: say it when you quote them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def bench_shrink(runs: int, seeds: range, per_bug: int = 1, only: str | None = None) -> None:
    from raftlab import chaos
    from raftlab.bugs import ALL_BUGS
    from raftlab.chaos.shrink import shrink
    from raftlab.labs.story import tell

    print(
        f"shrink: the first {per_bug} failing seed(s) in {seeds.start}-{seeds.stop - 1}, "
        f"at most {runs} re-runs; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'bug':25} {'seed':>4} {'property':20} {'trace lines':>13} {'story':>5} "
        f"{'faults':>9} {'ops':>9} {'nodes':>6} {'runs':>5} {'s':>6}"
    )
    for bug in sorted(ALL_BUGS) if only is None else [only]:
        found = 0
        for seed in seeds:
            r = chaos.run(seed, bugs=(bug,))
            if r.ok:
                continue
            found += 1
            s = shrink(r, budget_s=float("inf"), max_runs=runs)
            o, x = s.original, s.shrunk
            story = len(tell(x.trace, x.summary(), compact=True))
            print(
                f"{bug:25} {seed:4} {s.property:20} {s.before_lines:5} -> {s.after_lines:4} "
                f"{story:5} {len(o.schedule):3} -> {len(x.schedule):2} "
                f"{len(o.workload):3} -> {len(x.workload):2} "
                f"{o.nodes} -> {x.nodes} {s.runs:5} {s.seconds:6.1f}",
                flush=True,
            )
            if found >= per_bug:
                break
        if not found:
            print(f"{bug:25} no failing seed")


def bench_check(repeat: int, only: str | None = None) -> None:
    from lab_solutions import CORRECT, WRONG

    from raftlab.labs import check

    print(f"check: best of {repeat}, load average {os.getloadavg()[0]:.1f}")
    for label, classes, want_ok in (("correct", CORRECT, True), ("wrong", WRONG, False)):
        for lab, items in classes.items():
            if only is not None and lab != only:
                continue
            for cls, *_ in items:
                best = float("inf")
                for _ in range(repeat):
                    t = time.perf_counter()
                    r = check(cls)
                    best = min(best, time.perf_counter() - t)
                flag = "" if r.ok == want_ok else "  UNEXPECTED"
                where = r.scenario or (f"seed {r.seed}" if r.seed is not None else "")
                print(
                    f"  {label:7} {lab:6} {cls.__name__:28} {best:6.2f} s  "
                    f"{'ok' if r.ok else r.property} {where}{flag}"
                )


def bench_check_chaos(repeat: int) -> None:
    """Each planted bug graded on the first rule whose scenarios it gets past, so that a
    chaos seed catches it and the report is shrunk: the time to the report."""
    from raftlab import BUGS
    from raftlab.bugs import node_class
    from raftlab.labs import RULES, check

    print(f"check, chaos and shrinking: best of {repeat}, load average {os.getloadavg()[0]:.1f}")
    for bug in sorted(BUGS):
        cls = node_class([bug])
        for rule in RULES:
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                r = check(cls, rules=[rule])
                best = min(best, time.perf_counter() - t)
            if r.seed is not None:
                print(
                    f"  {bug:20} rules={rule:21} {best:6.2f} s  {r.property} seed {r.seed}: "
                    f"{r.story_before} -> {len(r._trace)} trace lines, "
                    f"story {len(r.story_lines)} lines"
                )
                break
        else:
            print(f"  {bug:20} caught by a scenario for every rule (no chaos needed)")


def bench_check_reads_chaos(repeat: int) -> None:
    """Lab 4's wrong answers graded on ``leader_commit`` only: no read scenario runs, so a
    chaos seed's clients (reading in every mode) must catch them; the time to the shrunk
    report, and its story's lines (those no seed catches say so)."""
    from lab_solutions import WRONG

    from raftlab.labs import check

    print(f"check, reads past the scenarios: best of {repeat}, load {os.getloadavg()[0]:.1f}")
    for cls, _ in WRONG["reads"]:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            r = check(cls, rules=["leader_commit"])
            best = min(best, time.perf_counter() - t)
        if r.ok:
            print(f"  {cls.__name__:24} {best:6.2f} s  no chaos seed of the default three fails")
            continue
        print(
            f"  {cls.__name__:24} {best:6.2f} s  {r.property} seed {r.seed}: "
            f"{r.story_before} -> {len(r._trace)} trace lines, story {len(r.story_lines)} lines"
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("shrink", "check"))
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--seeds", default="0-99")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--per-bug", type=int, default=1, help="shrink this many failing seeds per bug")
    p.add_argument("--bug", help="shrink: only this planted bug")
    p.add_argument("--lab", help="check: only this lab (votes, prev, commit, reads); no chaos part")
    a = p.parse_args()
    if a.what == "shrink":
        lo, hi = map(int, a.seeds.split("-"))
        bench_shrink(a.runs, range(lo, hi + 1), a.per_bug, a.bug)
    elif a.lab is not None:
        bench_check(a.repeat, a.lab)
        if a.lab == "reads":
            bench_check_reads_chaos(a.repeat)
    else:
        bench_check(a.repeat)
        bench_check_chaos(a.repeat)


if __name__ == "__main__":
    main()
