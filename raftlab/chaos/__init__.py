"""Chaos runs: random faults drawn from a seed, concurrent clients, then every check.

Where to start
--------------
``raftlab.chaos.run(seed)`` builds a 5-node cluster running the key-value store and, for
``duration_ms`` of simulated time, lets four clients (:class:`raftlab.kv.KVClient`) read
and write a handful of keys (reading in every mode of ``KVClient.get``: through the log,
ReadIndex, lease, relaxed) while the nemesis (:mod:`raftlab.chaos.schedule`) crashes and
restarts nodes, partitions the network, loses, duplicates and delays messages, makes clocks
drift within ``Config.max_drift``, and aims faults at the moments where classic Raft
mistakes bite (a leader just elected, a leader just after its first commit, a voter just
after its vote, a leader just after a client read; :mod:`raftlab.chaos.plays`).
Then comes the healing, and then the checks:

1. **Safety** after every event: the five properties of ``raftlab.invariants``
   (incremental, so cheap), and once more from scratch at the end.
2. **Liveness after healing.**  Every fault is undone (network healed, loss, duplication
   and delay back to normal, every crashed node restarted) and no new operation starts.
   Within ``HEAL_BOUND_MS`` = 3000 simulated ms of that moment a leader must exist, every
   operation still pending must have its answer (the clients keep retrying; their
   deadlines are extended to the bound), and one more read per client must be answered.
   3 s is ten maximal election timeouts: a lone node that was cut off has raised its term
   and forces one more election when it comes back, and split votes can repeat a few
   times.  Over seeds 0-9999 (``benchmarks/bench_chaos.py --seeds 0-9999``) the healing
   took at most 941 ms.  A run that misses the bound reports ``liveness`` and is not ok.
3. **Linearizability** of the clients' history (``raftlab.linearizability.check``);
   relaxed reads are recorded but left out, since they are stale by design.

Every random choice comes from generators seeded by ``seed`` (the cluster's own, the
nemesis's and the clients'), so ``run(seed)`` twice gives the identical trace, in any
process.  ``python -m raftlab chaos --seeds 0-999 --jobs 2`` runs many seeds
(:mod:`raftlab.chaos.cli`) and prints, for each failing seed, the command that replays it.
"""

from __future__ import annotations

from raftlab.chaos.runner import HEAL_BOUND_MS, ChaosReport, run
from raftlab.chaos.schedule import AIMS, ALL_FAULTS, Fault, Nemesis, draw_config

__all__ = [
    "AIMS",
    "ALL_FAULTS",
    "HEAL_BOUND_MS",
    "ChaosReport",
    "Fault",
    "Nemesis",
    "draw_config",
    "main",
    "run",
]


def main(argv: list[str] | None = None) -> int:
    """``python -m raftlab chaos ...`` (see :mod:`raftlab.chaos.cli`)."""
    from raftlab.chaos.cli import main as cli_main

    return cli_main(argv)
