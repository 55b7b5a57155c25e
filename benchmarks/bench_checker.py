"""How fast is the linearizability checker on the published corpus?

    .venv/bin/python benchmarks/bench_checker.py [--repeat N]

Reads the corpus the repository carries (``tests/data/linearizability``), checks every
history, and prints for each group the time to read the files and the time ``check()`` took
(the verdict *and*, for a failure, the minimal set of operations that explains it), best of
``--repeat`` runs, with how many verdicts agree with ``verdicts.tsv``.  Porcupine (Go) takes
about 1 s for the 102 etcd histories and 0.3 s for c50-ok + c50-bad, on this kind of machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from raftlab.history import History
from raftlab.linearizability import check

REPO = Path(__file__).resolve().parents[1]
GROUPS = [
    ("etcd: all 102 Jepsen histories", lambda f: f.startswith("etcd/")),
    ("kv: c50-ok + c50-bad", lambda f: f.startswith("kv/c50")),
    ("kv: c01 and c10 (ok + bad)", lambda f: f.startswith(("kv/c01", "kv/c10"))),
]


def corpus() -> Path:
    return REPO / "tests" / "data" / "linearizability"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per group (best is shown)")
    args = parser.parse_args()
    root = corpus()
    rows = [line.split("\t") for line in (root / "verdicts.tsv").read_text().splitlines()[1:]]
    print(f"corpus: {root}")
    print(f"{'group':<34} {'files':>5} {'read s':>7} {'check s':>8} {'agree':>8} {'nodes':>8}")
    all_agree = True
    for title, wanted in GROUPS:
        chosen = [(f, m, v == "true") for f, m, v in rows if wanted(f)]
        best_read = best_check = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            histories = []
            for name, _, _ in chosen:
                text = (root / name).read_text()
                reader = (
                    History.from_jepsen if name.startswith("etcd/") else History.from_porcupine_kv
                )
                histories.append(reader(text))
            t1 = time.perf_counter()
            results = [check(h, model=m) for h, (_, m, _) in zip(histories, chosen, strict=True)]
            t2 = time.perf_counter()
            best_read, best_check = min(best_read, t1 - t0), min(best_check, t2 - t1)
        agree = sum(r.ok is want for r, (_, _, want) in zip(results, chosen, strict=True))
        nodes = sum(r.nodes for r in results)
        all_agree &= agree == len(chosen)
        print(
            f"{title:<34} {len(chosen):>5} {best_read:>7.3f} {best_check:>8.3f} "
            f"{agree:>4}/{len(chosen):<3} {nodes:>8}"
        )
    return 0 if all_agree else 1


if __name__ == "__main__":
    sys.exit(main())
