"""Simulator speed, side by side with another checkout of raftlab (issue 10, "twice as fast").

Run: ``.venv/bin/python benchmarks/bench_speed.py [--against /tmp/speed-base] [--rounds 5]``.

Measures, for this checkout and (with ``--against``) for another one, in alternating child
processes so that both see the same machine load, best of ``--rounds``:

Rates are per second of the child's CPU time (``--wall``: of wall-clock time): on a shared
machine CPU time is what other processes disturb least.

- **msgs/s, checks on / off**: ``python -m raftlab bench``'s steady load (a 5-node cluster,
  one command every simulated ms, ``--seconds`` simulated seconds), messages delivered per
  wall-clock second;
- **chaos seeds/s**: ``raftlab.chaos.run(seed)`` at its default configuration over
  ``--seeds``, with the final linearizability check, and without it (the check replaced by
  a stub) so that the simulator's share and the checker's share can be told apart.

Make the other checkout with ``git worktree add /tmp/speed-base e79e182``.  Each child runs
with that directory as its working directory and first on ``sys.path``, so it imports its
own ``raftlab``; only public names that both versions share are used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The clock the rates are per second of: the process's CPU time by default (the machine
# is shared, and CPU time is what another process's load disturbs least), or wall time.
_clock = time.process_time


def steady_load(seconds: float, check: bool, seed: int = 1) -> float:
    """Messages delivered per wall-clock second (``raftlab.bench``'s steady load)."""
    from raftlab.cluster import Cluster

    cluster = Cluster(5, seed=seed, check_invariants=check)
    cluster.network.keep_log = False
    cluster.wait_for_leader()
    end = cluster.now + seconds * 1000
    delivered0 = cluster.network.stats["delivered"]
    start = _clock()
    k = 0
    while cluster.now < end:
        cluster.submit(b"x%d" % k)
        k += 1
        cluster.run(1.0)
    spent = _clock() - start
    return (cluster.network.stats["delivered"] - delivered0) / spent


def chaos_rate(seeds: range, linearizability: bool) -> tuple[float, float]:
    """(seeds per wall-clock second, events per seed) for ``chaos.run`` over ``seeds``."""
    import raftlab.chaos

    module = sys.modules.get("raftlab.chaos.runner") or sys.modules.get("raftlab.chaos.run")
    real = module.check
    if not linearizability:
        from raftlab.linearizability import CheckResult

        module.check = lambda history, **kw: CheckResult(ok=True, model="kv")
    try:
        events = 0
        start = _clock()
        for seed in seeds:
            events += raftlab.chaos.run(seed).events
        spent = _clock() - start
    finally:
        module.check = real
    return len(seeds) / spent, events / len(seeds)


def child(what: str, seconds: float, seeds: range) -> dict:
    if what == "on":
        return {"value": steady_load(seconds, True)}
    if what == "off":
        return {"value": steady_load(seconds, False)}
    rate, events = chaos_rate(seeds, linearizability=(what == "chaos"))
    return {"value": rate, "events": events}


def _parse_seeds(text: str) -> range:
    a, _, b = text.partition("-")
    return range(int(a), int(b or a) + 1)


def run_child(tree: str, what: str, args) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, PYTHONHASHSEED="0")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", what]
    cmd += ["--seconds", str(args.seconds), "--seeds", args.seeds] + ["--wall"] * args.wall
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="another raftlab checkout to compare with")
    parser.add_argument("--rounds", type=int, default=5, help="best of this many (default 5)")
    parser.add_argument("--seconds", type=float, default=5.0, help="simulated s of steady load")
    parser.add_argument("--seeds", default="0-19", help="chaos seeds per measurement")
    parser.add_argument(
        "--only", default="on,off,chaos,chaos-nolin", help="which measurements, comma-separated"
    )
    parser.add_argument(
        "--wall", action="store_true", help="per wall-clock second instead of per CPU second"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.wall:
            global _clock
            _clock = time.perf_counter
        print(json.dumps(child(args.child, args.seconds, _parse_seeds(args.seeds))))
        return 0

    trees = {"this": HERE}
    if args.against:
        trees["other"] = os.path.abspath(args.against)
    labels = {
        "on": "steady load, checks on  (msgs/s)",
        "off": "steady load, checks off (msgs/s)",
        "chaos": f"chaos seeds/s, seeds {args.seeds}",
        "chaos-nolin": f"chaos seeds/s, no lin. check, seeds {args.seeds}",
    }
    load = os.getloadavg()[0]
    clock = "wall-clock" if args.wall else "CPU"
    print(f"per {clock} second, best of {args.rounds}; load average at start: {load:.1f}")
    for what in args.only.split(","):
        best: dict[str, dict] = {}
        for _ in range(args.rounds):
            for name, tree in trees.items():  # alternated: this, other, this, other, ...
                r = run_child(tree, what, args)
                if name not in best or r["value"] > best[name]["value"]:
                    best[name] = r
        line = f"{labels[what]:<48} this {best['this']['value']:10,.2f}"
        if "other" in best:
            ratio = best["this"]["value"] / best["other"]["value"]
            line += f"   other {best['other']['value']:10,.2f}   ratio {ratio:4.2f}x"
        if "events" in best["this"]:
            line += "   events/seed " + " vs ".join(f"{b['events']:,.0f}" for b in best.values())
        print(line, flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
