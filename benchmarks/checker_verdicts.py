"""Every verdict the checker gives on the histories of ``bench_checker_chaos.py``, as JSON
lines, to compare two versions of the checker.

    .venv/bin/python benchmarks/checker_verdicts.py > mine.jsonl
    PYTHONPATH=<another tree> <its python> benchmarks/checker_verdicts.py > theirs.jsonl
    cmp mine.jsonl theirs.jsonl

For each history (the 2,000 default chaos histories, their 1,000 mutations and the 200 of
the ``no_log_check`` ones as the benchmark makes them, the 40 ``no_log_check`` histories
themselves, and the 67k-operation chain), one line: the verdict of
``check(history, minimal=False)``, the key it blames, the positions of the operations it
reports, its start and its frontier; for a failure, the same of ``check(history)`` (shrunk).
Search nodes are left out: a faster fast path may settle a key the search settled before.
``--cache DIR`` reads the cached histories from ``DIR`` instead of ``benchmarks/.cache``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chaos_histories  # noqa: E402
from bench_checker_chaos import chain, mutants  # noqa: E402

from raftlab.linearizability import check  # noqa: E402


def _load(directory: Path, seeds: range, options: dict) -> list:
    path = directory / chaos_histories.cache_path(seeds, options).name
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [chaos_histories._decode(rows) for rows in json.load(f)["histories"]]


def _summary(history, result) -> dict:
    where = {id(op): n for n, op in enumerate(history)}
    return {
        "ok": result.ok,
        "key": result.key,
        "operations": [where.get(id(op)) for op in result.operations],
        "start": repr(result.start),
        "minimal": result.minimal,
        "frontier": repr(result.frontier),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=chaos_histories.CACHE)
    args = parser.parse_args()
    chaos = _load(args.cache, range(2000), {})
    bugged = _load(args.cache, range(40), {"bugs": ("no_log_check",), "check_invariants": False})
    cases = [(f"chaos {n}", h) for n, h in enumerate(chaos)]
    cases += mutants(chaos[:200], 1)
    cases += mutants(bugged, 2)
    cases += [(f"no_log_check {n}", h) for n, h in enumerate(bugged)]
    cases.append(("chain", chain(chaos, 67_000)[0]))
    for name, h in cases:
        line = {"name": name, "fast": _summary(h, check(h, minimal=False))}
        if line["fast"]["ok"] is False:
            line["shrunk"] = _summary(h, check(h))
        print(json.dumps(line, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
