"""Chaos throughput: seeds per minute at the default configuration, on every core.

Run: ``.venv/bin/python benchmarks/bench_chaos.py [--seeds 0-999] [--jobs N]``.

Each seed is ``raftlab.chaos.run(seed)`` with its defaults (5 nodes, 10 simulated seconds,
4 clients, every fault kind), checks included.  The target is 10,000 seeds in under 30
minutes on a 2-core machine with both cores used, i.e. at least 333 seeds a minute.  The
wall-clock rate depends on whatever else the machine runs, so the benchmark also reports
the CPU time per seed (summed over the worker processes) and what 10,000 seeds would take
on idle cores at that cost.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

from raftlab.chaos import ALL_FAULTS, HEAL_BOUND_MS
from raftlab.chaos.cli import parse_seeds, run_seeds

TARGET_SEEDS, TARGET_MINUTES = 10_000, 30


def _cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers, once the pool has joined
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-999", help="a range of seeds (default 0-999)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    options = dict(nodes=5, duration_ms=10_000, clients=4, faults=ALL_FAULTS, bugs=())

    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    results = list(run_seeds(seeds, options, jobs=args.jobs))
    wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0

    n = len(results)
    rate = n / wall * 60
    cpu_per_seed = cpu / n
    idle_minutes = TARGET_SEEDS * cpu_per_seed / args.jobs / 60
    bad = [r for r in results if not r.ok]
    heal = max((r.heal_ms for r in results if r.heal_ms is not None), default=0.0)
    faults = sum(c for r in results for k, c in r.faults if k != "restart")
    print(
        f"chaos benchmark: {n} seeds ({seeds.start}-{seeds.stop - 1}), {args.jobs} job(s), "
        f"default configuration"
    )
    print(
        f"  wall clock:  {wall:8.1f} s   {rate:8,.0f} seeds/min   "
        f"-> {TARGET_SEEDS:,} seeds in {TARGET_SEEDS / rate:5.1f} min"
    )
    print(
        f"  cpu:         {cpu_per_seed * 1000:8.0f} ms per seed "
        f"-> {TARGET_SEEDS:,} seeds in {idle_minutes:5.1f} min on {args.jobs} idle core(s)"
    )
    print(
        f"  per seed:    {sum(r.ops_ok for r in results) / n:8.0f} answered operations, "
        f"{faults / n:.0f} faults, {sum(r.events for r in results) / n:,.0f} events"
    )
    print(f"  healing:     {heal:8.0f} ms at most (bound {HEAL_BOUND_MS:g} ms)")
    print(f"  failing seeds: {len(bad)}" + "".join(f"\n    {r.summary}" for r in bad))
    verdict = "meets" if TARGET_SEEDS / rate <= TARGET_MINUTES else "misses"
    print(f"  target ({TARGET_SEEDS:,} seeds in {TARGET_MINUTES} min, wall clock): {verdict} it")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
