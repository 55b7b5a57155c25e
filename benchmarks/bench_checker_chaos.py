"""How fast does the linearizability checker decide the histories raftlab makes?

    .venv/bin/python benchmarks/bench_checker_chaos.py [--repeat 3] [--jobs 2] [--only chaos]

Three targets (issue 15), each printed with its figure:

1. **Unknown outcomes.**  Histories made from chaos runs by mutations that add unknown
   outcomes, as clients killed mid-call leave them: a prefix of up to 1,000 operations of
   a default chaos history, then 5, 15, 30 or 50% of its answered operations forgotten
   (``ret=None``), or the history cut at a moment (everything pending then is unknown,
   everything called later is gone).  Plus non-linearizable ones: chaos runs of the
   ``no_log_check`` bug with the invariants off, mutated the same way (forgetting answers
   may make them linearizable; both verdicts count).  Target: every one decided in under
   0.1 s, with ``check(history, minimal=False)`` (the verdict; shrinking is separate).
2. **2,000 default chaos histories** (seeds 0-1999), checked one after the other.  Target:
   under 1 s in all.
3. **One 67k-operation history**: default chaos histories one after the other, each
   shifted past the end of the one before and separated by a delete of every key (so
   each starts from absent keys, as it did), until 67,000 operations.  (One long chaos
   run would do too, but a 600-simulated-second run took more than five CPU-minutes to
   generate.)  Target: under 0.5 s.

The chaos histories are generated once and cached in ``benchmarks/.cache/`` (git-ignored):
generating 2,000 costs about 15 CPU-minutes (``chaos_histories.py``).  Each figure is the
best of ``--repeat`` runs, in CPU time of this process; the load average is printed too,
since figures vary with it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_histories import load  # noqa: E402

from raftlab.history import History  # noqa: E402
from raftlab.linearizability import check  # noqa: E402

SHARES = (0.05, 0.15, 0.30, 0.50)


def forget(history: History, share: float, rng: random.Random, limit: int) -> History:
    """The first ``limit`` operations, with ``share`` of the answered ones made unknown."""
    ops = []
    for op in list(history)[:limit]:
        if op.ret is not None and not op.relaxed and rng.random() < share:
            op = replace(op, ret=None, output=None)
        ops.append(op)
    return History(ops, initial=history.initial)


def cut(history: History, rng: random.Random, limit: int) -> History:
    """The history as a client log killed at a random moment would hold it."""
    ops = list(history)[:limit]
    if not ops:
        return History(initial=history.initial)
    at = rng.uniform(ops[0].call, max(o.call for o in ops))
    kept = []
    for op in ops:
        if op.call > at:
            continue
        if op.ret is not None and op.ret > at:
            if op.relaxed:
                continue
            op = replace(op, ret=None, output=None)
        kept.append(op)
    return History(kept, initial=history.initial)


def mutants(histories: list[History], seed: int) -> list[tuple[str, History]]:
    rng = random.Random(seed)
    out = []
    for n, h in enumerate(histories):
        limit = rng.choice((150, 300, 600, 1000))
        for share in SHARES:
            out.append((f"#{n} first {limit}, {share:.0%} unknown", forget(h, share, rng, limit)))
        out.append((f"#{n} first {limit}, cut", cut(h, rng, limit)))
    return out


def chain(histories: list[History], at_least: int) -> tuple[History, int]:
    """Histories one after the other until ``at_least`` operations, each shifted past the
    end of the one before, with a delete of every key in between (each history starts
    from absent keys).  Unknown outcomes may land after the delete: still explainable."""
    ops: list = []
    offset = 0.0
    used = 0
    for h in histories:
        if len(ops) >= at_least:
            break
        used += 1
        end = 0.0
        for op in h:
            ret = None if op.ret is None else op.ret + offset
            ops.append(replace(op, call=op.call + offset, ret=ret))
            end = max(end, op.call + offset, ret or 0.0)
        keys = sorted({op.key for op in h})
        for k in keys:
            ops.append(
                replace(
                    h[0],
                    client="barrier",
                    op="delete",
                    key=k,
                    value=None,
                    expected=None,
                    output=None,
                    call=end + 1,
                    ret=end + 2,
                    relaxed=False,
                    mode=None,  # h[0] may be a get, which has a read mode; a delete has none
                )
            )
        offset = end + 3
    return History(ops), used


def best_time(fn, repeat: int) -> float:
    """The least CPU time (this process's) of ``repeat`` calls: on a shared machine, wall
    time mostly measures the other processes."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="processes for generating")
    parser.add_argument("--mutate", type=int, default=200, help="chaos histories to mutate")
    parser.add_argument(
        "--only",
        choices=("unknown", "chaos", "long"),
        action="append",
        help="run only these parts (repeatable; default: all three)",
    )
    args = parser.parse_args()
    parts = set(args.only or ("unknown", "chaos", "long"))
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    ok = True

    # 1. Unknown outcomes.  (2. and 3. below.)
    chaos = load(range(2000), jobs=args.jobs)
    bugged = load(range(40), {"bugs": ("no_log_check",), "check_invariants": False}, jobs=args.jobs)
    sets = (
        ("mutated default chaos histories", chaos[: args.mutate], 1),
        ("mutated no_log_check histories (invariants off)", bugged, 2),
    )
    for title, sources, seed in sets if "unknown" in parts else ():
        cases = mutants(sources, seed)
        times, verdicts, worst = [], {True: 0, False: 0, None: 0}, ("", 0.0, 0, 0)
        for name, h in cases:
            result = None

            def run(h=h):
                nonlocal result
                result = check(h, minimal=False)

            t = best_time(run, args.repeat)
            times.append(t)
            verdicts[result.ok] += 1
            if t > worst[1]:
                unknown = sum(o.ret is None for o in h)
                worst = (name, t, len(h), unknown)
        times.sort()
        slow = sum(t >= 0.1 for t in times)
        print(
            f"{title}: {len(cases)} histories of up to 1,000 operations, up to 50% unknown\n"
            f"  verdicts: {verdicts[True]} linearizable, {verdicts[False]} not, "
            f"{verdicts[None]} undecided\n"
            f"  per history (CPU): median {times[len(times) // 2] * 1000:.1f} ms, "
            f"99th percentile {times[int(len(times) * 0.99)] * 1000:.1f} ms, "
            f"max {times[-1] * 1000:.1f} ms ({worst[0]}: {worst[2]} operations, "
            f"{worst[3]} unknown)\n"
            f"  target (each under 100 ms): {'met' if slow == 0 else f'missed by {slow}'}"
        )
        ok &= slow == 0 and verdicts[None] == 0

    if "chaos" in parts:
        ok &= _all_chaos(chaos, args.repeat)
    if "long" in parts:
        ok &= _long(chaos, args.repeat)
    return 0 if ok else 1


def _all_chaos(chaos: list[History], repeat: int) -> bool:
    """Target 2: the 2,000 default chaos histories, one after the other."""
    total = best_time(lambda: [check(h) for h in chaos], repeat)
    ops = sum(len(h) for h in chaos)
    met = total < 1.0
    print(
        f"2,000 default chaos histories ({ops:,} operations): {total:.3f} s CPU in all "
        f"-> target (under 1 s): {'met' if met else 'missed'}"
    )
    return met


def _long(chaos: list[History], repeat: int) -> bool:
    """Target 3: one 67k-operation history."""
    long, parts = chain(chaos, 67_000)
    result = check(long)
    t = best_time(lambda: check(long), repeat)
    unknown = sum(o.ret is None for o in long)
    met = t < 0.5 and result.ok is True
    print(
        f"one long history ({len(long):,} operations, {unknown} unknown, {parts} chaos "
        f"histories chained): {'linearizable' if result.ok else result.ok}, {t:.3f} s CPU "
        f"-> target (under 0.5 s): {'met' if met else 'missed'}"
    )
    return met


if __name__ == "__main__":
    sys.exit(main())
