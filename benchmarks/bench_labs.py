"""Shrinking and lab grading: story sizes and wall-clock times.

    python benchmarks/bench_labs.py shrink [--runs 200] [--seeds 0-99]
    python benchmarks/bench_labs.py check [--repeat 3]

``shrink``: for each planted bug, the first failing chaos seed (5 nodes, 10 s, the
defaults of ``python -m raftlab chaos``), shrunk with at most ``--runs`` re-runs: trace
lines before and after, fault actions, client operations, nodes, re-runs and seconds.

``check``: ``raftlab.labs.check`` on each reference solution (must pass) and on each
common wrong answer of ``tests/test_labs.py`` (must fail), best of ``--repeat``.
Figures depend on the machine's load: say it when you quote them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def bench_shrink(runs: int, seeds: range) -> None:
    from raftlab import BUGS, chaos
    from raftlab.chaos.shrink import shrink

    print(f"shrink: first failing seed in {seeds.start}-{seeds.stop - 1}, at most {runs} re-runs")
    print(
        f"{'bug':14} {'seed':>4} {'property':22} {'lines':>13} {'faults':>9} "
        f"{'ops':>9} {'nodes':>6} {'runs':>5} {'s':>6}"
    )
    for bug in sorted(BUGS):
        for seed in seeds:
            r = chaos.run(seed, bugs=(bug,))
            if not r.ok:
                break
        else:
            print(f"{bug:14} no failing seed")
            continue
        s = shrink(r, budget_s=float("inf"), max_runs=runs)
        o, x = s.original, s.shrunk
        print(
            f"{bug:14} {seed:4} {s.property:22} {s.before_lines:5} -> {s.after_lines:4} "
            f"{len(o.schedule):3} -> {len(x.schedule):2} "
            f"{len(o.workload):3} -> {len(x.workload):2} "
            f"{o.nodes} -> {x.nodes} {s.runs:5} {s.seconds:6.1f}"
        )


def bench_check(repeat: int) -> None:
    from lab_solutions import CORRECT, WRONG

    from raftlab.labs import check

    print(f"check: best of {repeat}, load average {os.getloadavg()[0]:.1f}")
    for label, classes, want_ok in (("correct", CORRECT, True), ("wrong", WRONG, False)):
        for lab, items in classes.items():
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("shrink", "check"))
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--seeds", default="0-99")
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    if a.what == "shrink":
        lo, hi = map(int, a.seeds.split("-"))
        bench_shrink(a.runs, range(lo, hi + 1))
    else:
        bench_check(a.repeat)


if __name__ == "__main__":
    main()
