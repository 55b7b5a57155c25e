"""``python -m raftlab chaos --seeds A-B [--bug NAME] [--nodes 5] [--jobs N]``.

Runs every seed (in ``--jobs`` worker processes), shows a progress bar on stderr, then a
summary: seeds, operations, faults by kind, violations.  Prints, for each failing seed, the
one command that replays it.  A seed whose linearizability check gave up is *unknown*: it
is counted apart, listed with its replay command, and never passes.  Exit status: 0 every
seed passed, 1 some seed failed, 2 none failed but some are unknown.  ``--no-invariants``
turns the safety checks off, so a planted bug runs on and only the linearizability checker
can catch it.  ``--trace`` prints each seed's full trace (use it with a single seed: that is
the replay command).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass

from raftlab.bugs import ALL_BUGS
from raftlab.chaos.runner import HEAL_BOUND_MS, ChaosReport, run
from raftlab.chaos.schedule import ALL_FAULTS


@dataclass(frozen=True, slots=True)
class SeedResult:
    """What a worker sends back for one seed: small, so thousands pickle cheaply."""

    seed: int
    ok: bool
    summary: str
    replay: str
    ops_ok: int
    ops_failed: int
    relaxed: int
    faults: tuple[tuple[str, int], ...]
    violation: str | None
    linearizable: bool | None
    liveness: str | None
    unknown: bool = False
    heal_ms: float | None = None
    events: int = 0
    trace: tuple[str, ...] = ()
    fault_lines: tuple[str, ...] = ()


def parse_seeds(text: str) -> range:
    """``"7"`` or ``"0-999"`` (inclusive) -> a range of seeds."""
    try:
        if "-" in text.strip()[1:]:
            lo_text, hi_text = text.strip().split("-", 1) if not text.startswith("-") else ("", "")
            lo, hi = int(lo_text), int(hi_text)
        else:
            lo = hi = int(text)
    except ValueError:
        raise ValueError(f"--seeds takes a number or a range like 0-999, got {text!r}") from None
    if lo < 0 or hi < lo:
        raise ValueError(f"--seeds needs 0 <= first <= last, got {text!r}")
    return range(lo, hi + 1)


def _one(args: tuple[int, dict, bool]) -> SeedResult:
    seed, options, with_trace = args
    return _shrink(run(seed, **options), with_trace)


def _shrink(r: ChaosReport, with_trace: bool) -> SeedResult:
    return SeedResult(
        seed=r.seed,
        ok=r.ok,
        summary=r.summary(),
        replay=r.replay_command,
        ops_ok=r.ops_ok,
        ops_failed=r.ops_failed,
        relaxed=r.relaxed_reads,
        faults=tuple(sorted(r.faults_by_kind.items())),
        violation=None if r.violation is None else str(r.violation),
        linearizable=r.linearizable,
        liveness=r.liveness,
        unknown=r.unknown,
        heal_ms=r.heal_ms,
        events=r.events,
        trace=tuple(str(e) for e in r.trace) if with_trace else (),
        fault_lines=tuple(str(f) for f in r.faults) if with_trace else (),
    )


def run_seeds(seeds: range, options: dict, jobs: int = 1, progress=None, with_trace=False):
    """Yield a :class:`SeedResult` per seed, in seed order, using ``jobs`` processes."""
    tasks = [(s, options, with_trace) for s in seeds]
    if jobs <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield _one(t)
        return
    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    with ctx.Pool(jobs) as pool:
        # Small chunks keep both cores busy to the end; imap keeps the results in order.
        yield from pool.imap(_one, tasks, chunksize=max(1, min(16, len(tasks) // (jobs * 8))))


def _bar(done: int, total: int, failed: int, started: float, out) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.perf_counter() - started, 1e-9) * 60
    out.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} seeds, "
        f"{failed} failing, {rate:,.0f} seeds/min "
    )
    out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m raftlab chaos",
        description="Random faults from seeds, then safety and linearizability checks.",
    )
    parser.add_argument("--seeds", default="0-99", help="a seed or a range, e.g. 0-999")
    parser.add_argument(
        "--bug",
        action="append",
        default=[],
        choices=sorted(ALL_BUGS),
        help="switch on a planted bug (repeatable)",
    )
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10_000, help="simulated ms of chaos")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--no-invariants",
        dest="invariants",
        action="store_false",
        help="do not check the safety properties: run on past a violation, so that only the "
        "linearizability checker can catch a planted bug",
    )
    parser.add_argument(
        "--client-attempt",
        type=float,
        default=400,
        help="ms a client waits on one node before trying another (default 400)",
    )
    parser.add_argument("--trace", action="store_true", help="print each seed's faults and trace")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--shrink",
        action="store_true",
        help="shrink each failing seed to its smallest failing run and print its story",
    )
    parser.add_argument(
        "--shrink-runs", type=int, default=200, help="re-runs allowed per shrink (default 200)"
    )
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        parser.error(str(exc))
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    jobs = min(args.jobs, os.cpu_count() or 1, len(seeds))
    options = dict(
        nodes=args.nodes,
        duration_ms=args.duration,
        clients=args.clients,
        faults=ALL_FAULTS,
        bugs=tuple(args.bug),
        check_invariants=args.invariants,
        client_attempt_ms=args.client_attempt,
    )

    started = shown = time.perf_counter()
    results: list[SeedResult] = []
    failed = 0
    err = sys.stderr
    try:
        for r in run_seeds(seeds, options, jobs, with_trace=args.trace):
            results.append(r)
            failed += not r.ok
            if args.trace:
                print(f"== seed {r.seed}: faults ==")
                print("\n".join(r.fault_lines))
                print(f"== seed {r.seed}: trace ==")
                print("\n".join(r.trace))
            if not args.quiet and (len(results) == len(seeds) or time.perf_counter() - shown > 0.2):
                shown = time.perf_counter()
                _bar(len(results), len(seeds), failed, started, err)
    except ValueError as exc:
        print(f"\nerror: {exc}", file=err)
        return 2
    if not args.quiet:
        err.write("\n")
    elapsed = time.perf_counter() - started

    kinds: dict[str, int] = {}
    for r in results:
        for k, n in r.faults:
            kinds[k] = kinds.get(k, 0) + n
    ops_ok = sum(r.ops_ok for r in results)
    ops_failed = sum(r.ops_failed for r in results)
    relaxed = sum(r.relaxed for r in results)
    bad = [r for r in results if not r.ok and not r.unknown]
    unknown = [r for r in results if r.unknown]
    bugs = f" with bug {', '.join(args.bug)}" if args.bug else ""
    bugs += "" if args.invariants else ", invariants off"
    print(
        f"chaos: {len(results)} seeds ({seeds.start}-{seeds.stop - 1}){bugs}, "
        f"{args.nodes} nodes, {args.clients} clients, {args.duration:g} ms each"
    )
    print(
        f"  time: {elapsed:.1f} s ({len(results) / max(elapsed, 1e-9) * 60:,.0f} seeds/min, "
        f"{jobs} job(s))"
    )
    print(
        f"  operations: {ops_ok:,} answered, {ops_failed:,} timed out (outcome unknown), "
        f"{relaxed:,} relaxed reads"
    )
    print("  faults: " + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items()) if n))
    heals = [r.heal_ms for r in results if r.heal_ms is not None]
    if heals:
        print(
            f"  healing: leader and every answer within {max(heals):,.0f} ms at most "
            f"(bound {HEAL_BOUND_MS:,.0f} ms)"
        )
    print(
        f"  violations: {len(bad)} failing seed(s); "
        f"{len(unknown)} unknown (the linearizability checker gave up: not a pass)"
    )
    for r in bad + unknown:
        print(f"  {r.summary}")
        print(f"    replay: {r.replay}")
    if args.shrink:
        from raftlab.chaos.shrink import print_shrunk

        for r in bad:
            print_shrunk(r.seed, options, args.shrink_runs)
    if bad:
        return 1
    return 2 if unknown else 0
