"""What a history costs from recording to verdict, on the 2,000 cached chaos histories.

The checker reads rows that a ``History`` compiles as each operation is recorded, so the
check's own figure (``bench_checker_chaos.py``) leaves part of the bill out.  This prints
the whole of it, CPU time, best of ``--repeat``:

- building each history from its list of finished operations (``History(operations)``);
- recording each call by call, as clients do (``call`` in call order, then ``complete`` in
  return order; operations that never returned stay pending);
- checking the recorded histories (``check(h, minimal=False)``).

Run it in two checkouts to compare them (``PYTHONPATH=<other tree>`` for the other one):

    .venv/bin/python benchmarks/bench_recording.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_checker_chaos import best_time  # noqa: E402
from chaos_histories import load  # noqa: E402

from raftlab.history import History  # noqa: E402
from raftlab.linearizability import check  # noqa: E402


def _record(operations):
    h = History()
    by_call = sorted(operations, key=lambda op: op.call)
    indexes = [
        h.call(
            op.client,
            op.op,
            op.key,
            op.value,
            op.expected,
            time=op.call,
            relaxed=op.relaxed,
            mode=op.mode,
        )
        for op in by_call
    ]
    returned = sorted(
        (op.ret, i, op) for i, op in zip(indexes, by_call, strict=True) if op.ret is not None
    )
    for ret, i, op in returned:
        h.complete(i, op.output, time=ret)
    return h


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    lists = [list(h) for h in load(range(2000), quiet=True)]
    recorded: list[History] = []

    def record_all() -> None:
        recorded[:] = [_record(ops) for ops in lists]

    built = best_time(lambda: [History(ops) for ops in lists], args.repeat)
    recorded_s = best_time(record_all, args.repeat)
    checked = best_time(lambda: [check(h, minimal=False) for h in recorded], args.repeat)
    print(f"2,000 chaos histories, CPU best of {args.repeat}, load {os.getloadavg()[0]:.1f}:")
    print(f"  History(operations)      {built:6.2f} s")
    print(f"  recorded call by call    {recorded_s:6.2f} s")
    print(f"  check of the recorded    {checked:6.2f} s")
    print(f"  recorded, then checked   {recorded_s + checked:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
