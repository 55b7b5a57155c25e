"""``python -m raftlab nemesis``: a Jepsen-style test of the real servers.

::

    python -m raftlab nemesis [--seconds 60 --clients 8 --nodes 3 --seed 0 --history FILE]

For ``--seconds``, ``--clients`` threads call a ``LocalCluster`` of real ``kvapi``
processes (started with ``--test-faults``) as fast as it answers: ``set``, ``get``
through the log, relaxed ``get`` on a random node (the read modes the servers have),
``cas`` and ``append``.  Every call is recorded in one ``History``; a call that timed out
or failed without an answer stays incomplete (its outcome is unknown).  Meanwhile the
nemesis, one fault at a time, every ``--interval`` seconds:

- **kills** a node with ``SIGKILL`` and restarts it from its disk;
- **pauses** a node with ``SIGSTOP`` (alive, silent: a long GC pause) and resumes it;
- **isolates** a node: through the transport's fault hook (``/test/partition``, served
  only with ``--test-faults``), the node and the others drop every message between them;
  then heals it.

Then it heals everything and checks:

1. the history is linearizable (``raftlab.linearizability.check``, model ``kv``;
   relaxed reads are left out, as they promise nothing);
2. no acknowledged write is lost: every ``set`` of a write-once key that was answered
   reads back its value, and every answered ``append`` is in its key's final value
   exactly once (and no token at all appears twice: a retry is applied once, §8).

It saves the history as raftlab JSON (``--history``, default ``nemesis-history.json`` in
the run's directory) for ``python -m raftlab check-history``, prints the figures, and
exits 0 when both checks pass, 1 otherwise.  Every load loop is bounded in time; all
traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from raftlab.errors import Timeout
from raftlab.history import History
from raftlab.kv import KeyNotFound
from raftlab.linearizability import check
from raftlab.server.local import LocalCluster


def _say(text: str = "") -> None:
    print(text, flush=True)


@dataclass
class Report:
    seconds: float = 0.0
    operations: int = 0
    completed: int = 0
    unknown: int = 0
    by_kind: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    linearizable: bool | None = None
    check_seconds: float = 0.0
    lost: list[str] = field(default_factory=list)
    acknowledged_writes: int = 0
    history_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.linearizable is True and not self.lost

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items()))
        faults = ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items())) or "none"
        verdict = {True: "linearizable", False: "NOT linearizable", None: "undecided (timeout)"}
        return [
            f"  {self.operations} operations in {self.seconds:.1f} s "
            f"({self.operations / max(self.seconds, 1e-9):,.0f}/s): {kinds}",
            f"  {self.completed} answered, {self.unknown} without an answer (outcome unknown)",
            f"  faults: {faults}",
            f"  history: {verdict[self.linearizable]} (checked in {self.check_seconds:.1f} s)",
            f"  acknowledged writes checked: {self.acknowledged_writes}, lost: "
            + (", ".join(self.lost[:10]) if self.lost else "none"),
            f"  history saved to {self.history_path}",
        ]


class _Workload:
    """One client thread's loop: random operations until ``stop`` (bounded by time)."""

    def __init__(
        self,
        cluster: LocalCluster,
        history: History,
        w: int,
        seed: int,
        keys: int,
        read_modes: tuple[str, ...] = ("log",),
    ):
        self.cluster = cluster
        self.read_modes = read_modes  # the linearizable gets' modes (/get?mode=)
        self.client = cluster.client(history=history, timeout_s=2.0, client_id=1000 + w)
        self.rng = random.Random(seed * 1000 + w)
        self.w = w
        self.keys = keys
        self.n = 0
        self.acked_sets: dict[str, str] = {}  # write-once keys -> value, answered
        self.acked_appends: list[tuple[str, str]] = []  # (key, token), answered
        self.error: BaseException | None = None

    def run(self, stop: threading.Event, until: float) -> None:
        try:
            while not stop.is_set() and time.monotonic() < until:
                self.n += 1
                # No answer: the history leaves the call incomplete (outcome unknown).
                with contextlib.suppress(Timeout, OSError, ValueError):
                    self._step()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc
        finally:
            self.client.close()

    def _step(self) -> None:
        r, n, w, c = self.rng.random(), self.n, self.w, self.client
        reg = f"r{self.rng.randrange(self.keys)}"
        if r < 0.2:
            key, value = f"u{w}.{n}", f"{w}.{n}"
            c.set(key, value)
            self.acked_sets[key] = value
        elif r < 0.35:
            c.set(reg, f"{w}.{n}")
        elif r < 0.55:
            modes = self.read_modes
            mode = modes[0] if len(modes) == 1 else self.rng.choice(modes)
            with contextlib.suppress(KeyNotFound):
                c.get(reg, mode)
        elif r < 0.7:
            node = self.rng.choice(self.cluster.ids)
            with contextlib.suppress(KeyNotFound):
                c.get(reg, relaxed=True, node=node)
        elif r < 0.85:
            try:
                seen = c.get(reg)
            except KeyNotFound:
                return
            c.cas(reg, seen, f"{w}.{n}")
        else:
            key, token = f"a{self.rng.randrange(3)}", f"<{w}.{n}>"
            c.append(key, token)
            self.acked_appends.append((key, token))


class _Nemesis:
    """One fault at a time, on live nodes only, so that every fault can be undone."""

    KINDS = ("kill", "pause", "isolate")

    def __init__(self, cluster: LocalCluster, seed: int, interval_s: float, report: Report):
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.interval_s = interval_s
        self.report = report
        self.error: BaseException | None = None

    def run(self, stop: threading.Event, until: float) -> None:
        first = self.rng.randrange(len(self.KINDS))
        try:
            while not stop.is_set() and time.monotonic() < until:
                if stop.wait(self.interval_s / 2):
                    break
                # Each kind in turn (from a random first), so even a short run has all.
                kind = self.KINDS[(first + sum(self.report.faults.values())) % len(self.KINDS)]
                node = self.rng.choice(self.cluster.ids)
                self.report.faults[kind] += 1
                self._fault(kind, node)
                try:
                    stop.wait(min(self.interval_s, max(0.0, until - time.monotonic())))
                finally:
                    self._heal(kind, node)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc

    def _fault(self, kind: str, node: int) -> None:
        c = self.cluster
        if kind == "kill":
            c.kill(node)
        elif kind == "pause":
            c.pause(node)
        else:
            others = [i for i in c.ids if i != node]
            self.partition(node, others)
            for i in others:
                self.partition(i, [node])

    def _heal(self, kind: str, node: int) -> None:
        c = self.cluster
        if kind == "kill":
            c.start_node(node)
        elif kind == "pause":
            c.resume(node)
        else:
            for i in c.ids:
                self.partition(i, [])

    def partition(self, node: int, blocked: list[int]) -> None:
        url = f"{self.cluster.http[node]}/test/partition?blocked={','.join(map(str, blocked))}"
        for _ in range(50):  # the node may be busy for a moment; never loop unbounded
            try:
                with urllib.request.urlopen(url, timeout=2.0) as r:
                    json.loads(r.read())
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"S{node} did not take the partition {blocked}")


def run(
    seconds: float = 10.0,
    clients: int = 8,
    nodes: int = 3,
    seed: int = 0,
    interval_s: float = 1.0,
    keys: int = 8,
    directory: str | Path | None = None,
    history_path: str | Path | None = None,
    check_timeout_s: float = 300.0,
    read_modes: tuple[str, ...] = ("log",),
) -> Report:
    """Run the test (see the module docstring) and return its :class:`Report`.

    ``read_modes``: the modes of the linearizable gets, drawn at random when there are
    several (``"read_index"``, ``"lease"``: thesis §6.4; with ``"lease"`` the servers get
    ``--lease-ms 250``).  The history records each get's mode, and all are checked.
    """
    for mode in read_modes:
        if mode not in ("log", "read_index", "lease"):
            raise ValueError(
                f"read_modes holds {mode!r}; the linearizable modes are 'log', 'read_index' "
                "and 'lease' (relaxed gets are always in the mix, and never checked)"
            )
    if not read_modes:
        raise ValueError("read_modes is empty; give at least one of 'log', 'read_index', 'lease'")
    report = Report()
    history = History()
    extra = ["--test-faults", *(["--lease-ms", "250"] if "lease" in read_modes else [])]
    cluster = LocalCluster(nodes, directory=directory, extra_args=extra)
    try:
        cluster.start()
        cluster.wait_for_leader()
        setup = cluster.client(client_id=999, history=history)
        for k in range(keys):
            setup.set(f"r{k}", "init")
        setup.close()
        stop = threading.Event()
        until = time.monotonic() + seconds
        work = [_Workload(cluster, history, w, seed, keys, read_modes) for w in range(clients)]
        nemesis = _Nemesis(cluster, seed, interval_s, report)
        threads = [threading.Thread(target=x.run, args=(stop, until)) for x in work]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        try:
            nemesis.run(stop, until)  # in this thread: LocalCluster starts nodes from here
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        report.seconds = time.monotonic() - t0
        for x in (*work, nemesis):
            if x.error is not None:
                raise x.error
        # Heal (the nemesis undid its last fault) and let every node catch up.
        cluster.start(wait=True)
        leader = cluster.wait_for_leader(timeout_s=30)
        last = cluster.status(leader)["last_index"]
        cluster.wait_applied(last, timeout_s=60)
        report.lost = _lost(cluster, work)
        report.acknowledged_writes = sum(len(x.acked_sets) + len(x.acked_appends) for x in work)
    finally:
        if history_path is None:
            history_path = cluster.directory / "nemesis-history.json"
            if directory is None:  # the cluster's directory goes away: keep the history
                history_path = Path("nemesis-history.json")
        report.history_path = Path(history_path)
        report.history_path.write_text(history.to_json())
        cluster.close()
    ops = list(history)
    report.operations = len(ops)
    report.completed = sum(op.ret is not None for op in ops)
    report.unknown = report.operations - report.completed
    report.by_kind = Counter(("relaxed get" if op.relaxed else op.op) for op in ops)
    t = time.monotonic()
    report.linearizable = check(history, model="kv", timeout_s=check_timeout_s).ok
    report.check_seconds = time.monotonic() - t
    return report


def _lost(cluster: LocalCluster, work: list[_Workload]) -> list[str]:
    client = cluster.client(timeout_s=10.0)
    lost = []
    try:
        for x in work:
            for key, value in x.acked_sets.items():
                try:
                    got = client.get(key)
                except KeyNotFound:
                    got = None
                if got != value:
                    lost.append(f"set {key}={value} (reads {got!r})")
        finals = {}
        for key in sorted({k for x in work for k, _ in x.acked_appends}):
            try:
                finals[key] = client.get(key)
            except KeyNotFound:
                finals[key] = ""
        for x in work:
            for key, token in x.acked_appends:
                count = finals[key].count(token)
                if count != 1:
                    lost.append(f"append {token} to {key} is there {count} times")
        for key, text in finals.items():
            tokens = [t for t in text.split(">") if t]
            dups = [t for t, k in Counter(tokens).items() if k > 1]
            if dups:
                lost.append(f"{key} holds {dups[0]}> twice: a retry applied twice")
    finally:
        client.close()
    return lost


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m raftlab nemesis",
        description="Jepsen-style: real servers, concurrent clients, kill -9, SIGSTOP and "
        "partitions; then a linearizability check and a check that no acknowledged write "
        "was lost.",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="how long the clients run")
    p.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="for the operations and the faults")
    p.add_argument("--interval", type=float, default=1.0, help="seconds each fault lasts")
    p.add_argument("--keys", type=int, default=8, help="registers shared by the clients")
    p.add_argument("--dir", help="keep the nodes' data and logs in this directory")
    p.add_argument("--history", help="where to save the history (raftlab JSON)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        a = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not (a.seconds > 0 and a.interval > 0) or a.clients < 1 or a.keys < 1:
        print(
            "error: --seconds and --interval must be > 0, --clients and --keys >= 1",
            file=sys.stderr,
        )
        return 2
    if not 3 <= a.nodes <= 7:
        print("error: --nodes must be between 3 and 7 (faults need a majority)", file=sys.stderr)
        return 2
    _say(
        f"nemesis: {a.nodes} nodes, {a.clients} clients, {a.seconds:g} s, a fault every "
        f"{a.interval:g} s (kill -9, SIGSTOP, isolate), seed {a.seed}"
    )
    report = run(
        a.seconds,
        a.clients,
        a.nodes,
        a.seed,
        a.interval,
        a.keys,
        a.dir,
        a.history,
    )
    for line in report.lines():
        _say(line)
    _say("PASS" if report.ok else "FAIL")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
