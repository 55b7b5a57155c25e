"""Client histories made by chaos runs, generated once and cached, for the checker benchmarks.

Generating a chaos history costs about half a second of CPU (the whole simulation runs), so
2,000 of them take about 15 minutes on one core.  :func:`load` therefore keeps them in
``benchmarks/.cache/`` (git-ignored), one gzipped file per seed range and options.  The file
records a digest of the source files that shape a run (the chaos package, the cluster, the
node, the key-value store); if they changed since, :func:`load` says so and uses the old
histories anyway (the checker's figures hardly depend on them); ``--regenerate`` makes them
again.

    .venv/bin/python benchmarks/chaos_histories.py --seeds 0-1999 [--jobs 2]

makes the cache ahead of time (``bench_checker_chaos.py`` does it on first use otherwise).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import multiprocessing
import sys
import time
from pathlib import Path

from raftlab.history import History, Operation

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / ".cache"
# The modules whose code decides what history a seed produces.
_SOURCES = ("raftlab/chaos", "raftlab/cluster.py", "raftlab/node.py", "raftlab/kv")


def _digest() -> str:
    h = hashlib.sha256()
    for name in _SOURCES:
        path = REPO / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            if f.exists():
                h.update(f.relative_to(REPO).as_posix().encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _encode(history: History) -> list:
    return [
        [op.client, op.op, op.key, op.value, op.expected, op.output, op.call, op.ret, op.relaxed]
        for op in history
    ]


def _decode(rows: list) -> History:
    return History(Operation(*row) for row in rows)


def _one(task: tuple[int, dict]) -> list:
    from raftlab import chaos

    seed, options = task
    report = chaos.run(seed, check_timeout_s=0.001, **options)  # only the history is wanted
    return _encode(report.history)


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return "+".join(map(str, value))
    return str(value)


def cache_path(seeds: range, options: dict) -> Path:
    opts = "".join(f"-{k}={_show(v)}" for k, v in sorted(options.items()))
    return CACHE / f"chaos-{seeds.start}-{seeds.stop - 1}{opts}.json.gz"


def load(
    seeds: range,
    options: dict | None = None,
    jobs: int = 1,
    quiet: bool = False,
    regenerate: bool = False,
) -> list[History]:
    """The histories of ``chaos.run(seed, **options)`` for every seed, from the cache if it
    is there, else generated (and cached)."""
    options = dict(options or {})
    path = cache_path(seeds, options)
    if path.exists() and not regenerate:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            doc = json.load(f)
        if doc["digest"] != _digest() and not quiet:
            print(
                f"note: {path.name} was made by other versions of the chaos, cluster, node "
                "or kv sources; --regenerate makes it again",
                file=sys.stderr,
            )
        return [_decode(rows) for rows in doc["histories"]]
    if not quiet:
        print(f"generating {len(seeds)} chaos histories into {path} (once) ...", file=sys.stderr)
    started = time.perf_counter()
    tasks = [(s, options) for s in seeds]
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            encoded = pool.map(_one, tasks, chunksize=8)
    else:
        encoded = [_one(t) for t in tasks]
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump({"digest": _digest(), "histories": encoded}, f, separators=(",", ":"))
    tmp.replace(path)
    if not quiet:
        print(f"  done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return [_decode(rows) for rows in encoded]


def main() -> int:
    from raftlab.chaos.cli import parse_seeds

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-1999")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--duration", type=float, default=None, help="simulated ms per run")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--regenerate", action="store_true", help="ignore the cache")
    args = parser.parse_args()
    options = {}
    if args.duration is not None:
        options["duration_ms"] = args.duration
    if args.clients is not None:
        options["clients"] = args.clients
    seeds = parse_seeds(args.seeds)
    histories = load(seeds, options, jobs=args.jobs, regenerate=args.regenerate)
    ops = sum(len(h) for h in histories)
    print(f"{len(histories)} histories, {ops:,} operations: {cache_path(seeds, options)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
