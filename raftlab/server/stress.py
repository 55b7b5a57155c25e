"""``python -m raftlab stress``: the seed's stress test, on real server processes.

::

    python -m raftlab stress [--entries 50000 --batch 8000 --nodes 3]

What it does, as the seed's ``cmd/stress`` did, but with separate processes, fsync on,
and numbers printed at each step:

1. Start the nodes (``LocalCluster``: free ports on 127.0.0.1, a temporary directory)
   and wait for a leader.
2. Insert ``--entries`` SET commands (random keys and values from ``--seed``) through
   ``POST /batch``, ``--batch`` at a time, one batch after the other.  Print each batch's
   latency, the latency percentiles and the wall-clock throughput.
3. Check that every node holds the same log (a SHA-256 over the entries) and the same
   data, equal to what applying the commands here gives.
4. Stop every node, start them all again from their disks, and check again.
5. Lose one follower's data directory and bring it back the safe way, as a new member:
   ``/remove`` it, delete its data, start it empty with ``kvapi --join`` and ``/add`` it
   (thesis §4.1); time how long it takes to hold the whole log and the same data again
   (re-replication).  See :func:`rereplicate`.
6. Leave the cluster idle and measure each process's CPU use from ``/proc/PID/stat``.

It exits 1 if a check fails, and 0 otherwise (with ``--strict``, also 1 if a target
is missed: 20,000 entries/s, re-replication under 5 s, idle CPU under 2 % of a core).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from typing import Any

from raftlab.kv import Command, Kind, KVStateMachine, encode_command
from raftlab.server import codec
from raftlab.server.local import LocalCluster

TARGET_RATE = 20_000  # entries/s
TARGET_REPLICATION_S = 5.0
TARGET_IDLE_CPU = 2.0  # % of one core, per node


class CheckFailed(Exception):
    pass


def _say(text: str = "") -> None:
    print(text, flush=True)


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by linear interpolation between ranks."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no values")
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def make_commands(n: int, seed: int) -> tuple[list[bytes], dict[str, str]]:
    """``n`` SETs of random 16-letter keys to random 16-letter values, and the final data."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    cmds = []
    for _ in range(n):
        key = "".join(rng.choices(letters, k=16))
        value = "".join(rng.choices(letters, k=16))
        cmds.append(encode_command(Command(Kind.SET, key, value)))
    sm = KVStateMachine()
    for c in cmds:
        sm.apply(c)
    return cmds, dict(sm.data)


def check_same(
    cluster: LocalCluster, expected_state: str, what: str, timeout_s: float = 30.0
) -> dict[str, Any]:
    """Wait until every node has applied the leader's whole log; check logs and data."""
    leader = cluster.wait_for_leader(timeout_s)
    last = cluster.status(leader)["last_index"]
    cluster.wait_applied(last, timeout_s=timeout_s)
    # Logs compared from the newest snapshot on: before it, some log holds no entries (§7).
    since = 1 + max(cluster.status(i).get("snapshot_index", 0) for i in cluster.ids)
    digests = {i: cluster.client().digest(i, upto=last, since=since) for i in cluster.ids}
    logs = {d["log_sha256"] for d in digests.values()}
    states = {d["state_sha256"] for d in digests.values()}
    if len(logs) != 1:
        raise CheckFailed(
            f"{what}: the nodes' logs up to {last} differ: "
            + ", ".join(f"S{i} {d['log_sha256'][:12]}" for i, d in digests.items())
        )
    if states != {expected_state}:
        raise CheckFailed(
            f"{what}: a node's data differs from the expected data: "
            + ", ".join(
                f"S{i} {d['state_sha256'][:12]} ({d['keys']} keys)" for i, d in digests.items()
            )
        )
    any_digest = next(iter(digests.values()))
    _say(
        f"  {what}: all {len(digests)} nodes hold the same {last} entries "
        f"(log {any_digest['log_sha256'][:12]}) and the same {any_digest['keys']} keys "
        f"(data {any_digest['state_sha256'][:12]}, as expected)"
    )
    return digests


def insert(
    cluster: LocalCluster, cmds: list[bytes], batch: int, clients: int = 1
) -> tuple[float, list[float]]:
    """Send the commands in batches; (seconds, batch latencies).

    Each of ``clients`` threads sends its share of the batches one after the other (the
    seed used one client); with more, the leader replicates one batch while it applies
    another.
    """
    bodies = [
        (k, min(batch, len(cmds) - k), codec.encode_batch(cmds[k : k + batch]))
        for k in range(0, len(cmds), batch)
    ]
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    done = 0

    def send(share: list[tuple[int, int, bytes]]) -> None:
        nonlocal done
        client = cluster.client(timeout_s=60.0)
        try:
            for k, n, body in share:
                t0 = time.perf_counter()
                results = client.batch_body(body)
                dt = time.perf_counter() - t0
                bad = [r for r in results if r[0] != codec.OK]
                if len(results) != n or bad:
                    raise CheckFailed(
                        f"batch at {k}: {len(results)} results for {n} commands, "
                        f"{len(bad)} failed: {bad[:1]}"
                    )
                with lock:
                    latencies.append(dt)
                    done += n
                    _say(
                        f"  batch {len(latencies):>3}: {n} entries in {dt * 1000:7.1f} ms "
                        f"({n / dt:8.0f} entries/s), {done}/{len(cmds)}"
                    )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            failures.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=send, args=(bodies[j::clients],)) for j in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - start, latencies


def rereplicate(cluster: LocalCluster, expected_state: str) -> float:
    """Lose one follower's disk and bring it back the safe way: as a new member.

    The follower stops and its data directory is deleted, while the others keep running.
    It must not simply restart empty: a server that forgot what it acknowledged can give
    its vote to a candidate that lacks a committed write, and that write is lost (§5.4.1
    assumes votes and logs survive).  So it rejoins as a new member (thesis §4.1,
    ``raftlab.membership``): ``/remove`` it, and only once that is committed delete its
    data, start it empty with ``kvapi --join`` and ``/add`` it back.  It catches up as a
    learner, whose vote and acknowledgements do not count, and the leader promotes it to
    a voter once it has caught up.

    Returns the seconds from its start (``--join``) until it had applied every entry.
    """
    leader = cluster.wait_for_leader()
    victim = max(i for i in cluster.ids if i != leader)
    last = cluster.status(leader)["last_index"]
    cluster.stop_node(victim)
    t0 = time.perf_counter()
    cluster.remove_node(victim)
    removed = time.perf_counter() - t0
    cluster.wipe(victim)
    _say(
        f"  stopped S{victim}, removed it from the configuration ({removed:.2f} s) and "
        f"deleted its {cluster.data_dir(victim)}; the others hold {last} entries"
    )
    t0 = time.perf_counter()
    cluster.add_node(victim, wait_voter=False)
    up = time.perf_counter() - t0

    def caught_up(c: LocalCluster) -> bool:
        st = c.status(victim)
        return st is not None and st["last_applied"] >= last

    cluster.wait_until(caught_up, 60.0, f"S{victim} catching up")
    took = time.perf_counter() - t0
    cluster.wait_until(
        lambda c: victim in c.members()["committed"]["voters"], 30.0, f"S{victim} a voter"
    )
    voter = time.perf_counter() - t0
    _say(
        f"  S{victim} started empty with --join and was added after {up:.2f} s, had applied "
        f"all {last} entries after {took:.2f} s, and was a voter again after {voter:.2f} s"
    )
    check_same(cluster, expected_state, f"after re-replicating S{victim}")
    return took


def idle_cpu(cluster: LocalCluster, seconds: float) -> dict[int, float]:
    """Each node's CPU use over ``seconds`` of idleness, in % of one core."""
    time.sleep(0.5)  # let the last replies and applies settle
    before = {i: cluster.cpu_seconds(i) for i in cluster.ids}
    t0 = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - t0
    return {i: 100 * (cluster.cpu_seconds(i) - before[i]) / wall for i in cluster.ids}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m raftlab stress",
        description="The seed's stress test on real server processes.",
    )
    p.add_argument("--entries", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=8_000, help="commands per POST /batch")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument(
        "--clients", type=int, default=1, help="threads sending batches at once (default 1)"
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=8192,
        help="the servers' most entries per AppendEntries (default 8192)",
    )
    p.add_argument("--heartbeat", type=float, default=100.0, metavar="MS")
    p.add_argument("--election-timeout", default="300-600", metavar="LO-HI")
    p.add_argument("--idle-seconds", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0, help="for the random keys and values")
    p.add_argument("--dir", help="keep the data and logs in this directory")
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        a = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if a.entries < 1 or a.batch < 1 or a.clients < 1 or not 1 <= a.nodes <= 15:
        parser.print_usage(sys.stderr)
        print(
            "error: --entries, --batch and --clients must be >= 1, --nodes between 1 and 15",
            file=sys.stderr,
        )
        return 2
    try:
        lo, _, hi = a.election_timeout.partition("-")
        timeouts = (float(lo), float(hi or lo))
    except ValueError:
        print(
            f"error: --election-timeout {a.election_timeout!r} is not LO-HI in ms", file=sys.stderr
        )
        return 2
    _say(
        f"stress: {a.nodes} nodes, {a.entries} entries in batches of {a.batch} from "
        f"{a.clients} client(s), "
        f"max {a.max_batch} entries per AppendEntries, fsync on"
    )
    t = time.perf_counter()
    cmds, expected = make_commands(a.entries, a.seed)
    expected_state = codec.state_digest(expected)
    _say(
        f"prepared {len(cmds)} commands ({len(expected)} distinct keys) in "
        f"{time.perf_counter() - t:.2f} s"
    )
    cluster = LocalCluster(
        a.nodes,
        directory=a.dir,
        election_timeout_ms=timeouts,
        heartbeat_ms=a.heartbeat,
        max_batch=a.max_batch,
    )
    try:
        return _run(cluster, a, cmds, expected_state)
    except CheckFailed as exc:
        _say(f"FAILED: {exc}")
        for i in cluster.ids:
            _say(f"--- S{i} log (end) ---\n{cluster.log_text(i)[-1500:]}")
        return 1
    finally:
        cluster.close()


def _run(
    cluster: LocalCluster, a: argparse.Namespace, cmds: list[bytes], expected_state: str
) -> int:
    _say("\n1. start")
    t = time.perf_counter()
    cluster.start()
    leader = cluster.wait_for_leader()
    _say(
        f"  {len(cluster.ids)} processes up and S{leader} elected leader after "
        f"{time.perf_counter() - t:.2f} s (data in {cluster.directory})"
    )

    _say("\n2. insert")
    total, lat = insert(cluster, cmds, a.batch, a.clients)
    rate = len(cmds) / total
    ms = [x * 1000 for x in lat]
    _say(f"  {len(cmds)} entries in {total:.2f} s: {rate:,.0f} entries/s (wall clock)")
    _say(
        f"  batch latency ms: p50 {percentile(ms, 50):.1f}  p90 {percentile(ms, 90):.1f}  "
        f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
    )

    _say("\n3. verify")
    check_same(cluster, expected_state, "after the inserts")
    fsyncs = {i: cluster.status(i)["fsyncs"] for i in cluster.ids}
    _say(
        "  fsyncs so far: "
        + ", ".join(f"S{i} {n}" for i, n in fsyncs.items())
        + f" (for {len(cmds)} entries: group commit)"
    )

    _say("\n4. restart every node")
    t = time.perf_counter()
    cluster.restart()
    leader = cluster.wait_for_leader()
    _say(f"  back up, S{leader} leads, after {time.perf_counter() - t:.2f} s")
    check_same(cluster, expected_state, "after the restart")

    _say("\n5. delete one node's data, and bring it back as a new member")
    _say(
        "  (restarting it empty would be unsafe: its vote could elect a leader that lacks "
        "a committed write. It is removed from the configuration first, then added back "
        "empty, and catches up as a learner before it counts.)"
    )
    took = rereplicate(cluster, expected_state)

    _say(f"\n6. idle for {a.idle_seconds:g} s")
    cpu = idle_cpu(cluster, a.idle_seconds)
    roles = {i: (cluster.status(i) or {}).get("role", "?") for i in cluster.ids}
    for i, pct in cpu.items():
        _say(f"  S{i} ({roles[i]}): {pct:.2f} % of a core")

    ok_rate = rate >= TARGET_RATE
    ok_rep = took < TARGET_REPLICATION_S
    ok_cpu = max(cpu.values()) < TARGET_IDLE_CPU
    _say("\nsummary")
    _say(
        f"  throughput      {rate:10,.0f} entries/s   target >= {TARGET_RATE:,}   "
        f"{'met' if ok_rate else 'MISSED'}"
    )
    _say(
        f"  re-replication  {took:10.2f} s           target < {TARGET_REPLICATION_S:g} s    "
        f"{'met' if ok_rep else 'MISSED'}"
    )
    _say(
        f"  idle CPU (max)  {max(cpu.values()):10.2f} % of a core target < "
        f"{TARGET_IDLE_CPU:g} %     {'met' if ok_cpu else 'MISSED'}"
    )
    _say(
        "  every check passed: same logs and data on every node, after the inserts, "
        "after a full restart and after re-replication"
    )
    return 1 if a.strict and not (ok_rate and ok_rep and ok_cpu) else 0


if __name__ == "__main__":
    sys.exit(main())
