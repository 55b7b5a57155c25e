"""LocalCluster: real ``kvapi`` server processes on this machine, for notebooks and tests.

::

    with LocalCluster(3) as cluster:        # three processes, free ports, temporary data
        leader = cluster.wait_for_leader()  # its node id
        client = cluster.client()
        client.set("x", "1")
        cluster.kill(leader)                # SIGKILL: a crash, not a clean stop
        cluster.wait_for_leader()           # another node takes over
        cluster.start_node(leader)          # back, from what it had on disk

Each node is ``python -m raftlab kvapi`` in its own process group, with its output in
``DIR/node-ID.log``.  Every process started here is stopped by ``close()`` (also at the
end of a ``with`` block, and at interpreter exit), and on Linux the kernel kills them too
if the process that started them dies (``PR_SET_PDEATHSIG``).  The kernel watches the
*thread* that started a node, so start nodes from a thread that outlives them (the main
thread, as notebooks and tests do).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import raftlab
from raftlab.errors import Timeout
from raftlab.server.client import Client

_LIVE: weakref.WeakSet[LocalCluster] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for cluster in list(_LIVE):
        cluster.close()


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that nobody listens on right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class LocalCluster:
    """``n`` server processes on 127.0.0.1 (see the module docstring).

    ``directory`` holds each node's data and log (a temporary directory, removed by
    ``close()``, when not given).  ``election_timeout_ms``, ``heartbeat_ms`` and
    ``max_batch`` become the servers' flags; ``extra_args`` are passed to every node.
    """

    def __init__(
        self,
        n: int = 3,
        *,
        directory: str | os.PathLike | None = None,
        election_timeout_ms: tuple[float, float] = (300, 600),
        heartbeat_ms: float = 100,
        max_batch: int = 4096,
        extra_args: Iterable[str] = (),
        log_level: str = "info",
    ):
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 15:
            raise ValueError(f"a local cluster has between 1 and 15 nodes, got {n!r}")
        self._own_dir = directory is None
        self.directory = Path(
            tempfile.mkdtemp(prefix="raftlab-") if directory is None else directory
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ids = list(range(1, n + 1))
        ports = free_ports(2 * n)
        self.rpc = {i: f"127.0.0.1:{ports[i - 1]}" for i in self.ids}
        self.http = {i: f"http://127.0.0.1:{ports[n + i - 1]}" for i in self.ids}
        self.cluster_flag = ";".join(f"{i},{self.rpc[i]}" for i in self.ids)
        # A fresh secret per cluster: peers sign every frame with it (raftlab.server.peers).
        self.key_file = self.directory / "cluster.key"
        if not self.key_file.exists():
            self.key_file.write_text(secrets.token_hex(32) + "\n")
            self.key_file.chmod(0o600)
        lo, hi = election_timeout_ms
        self.args = [
            "--election-timeout",
            f"{lo:g}-{hi:g}",
            "--heartbeat",
            f"{heartbeat_ms:g}",
            "--max-batch",
            str(max_batch),
            "--log-level",
            log_level,
            *extra_args,
        ]
        self.procs: dict[int, subprocess.Popen | None] = {i: None for i in self.ids}
        self._logs: dict[int, Any] = {}
        self.joining: dict[int, str] = {}  # started with --join, from this member's URL
        _LIVE.add(self)

    # --------------------------------------------------------------- processes

    def data_dir(self, i: int) -> Path:
        return self.directory / f"node-{i}"

    def log_path(self, i: int) -> Path:
        return self.directory / f"node-{i}.log"

    def command(self, i: int) -> list[str]:
        """The command line that starts node ``i``."""
        self._check(i)
        if i in self.joining:
            return [
                sys.executable,
                "-m",
                "raftlab",
                "kvapi",
                "--join",
                self.joining[i],
                "--id",
                str(i),
                "--raft",
                self.rpc[i],
                "--http",
                self.http[i].removeprefix("http://"),
                "--data",
                str(self.data_dir(i)),
                "--cluster-key-file",
                str(self.key_file),
                *self.args,
            ]
        return [
            sys.executable,
            "-m",
            "raftlab",
            "kvapi",
            "--node",
            str(i - 1),
            "--http",
            self.http[i].removeprefix("http://"),
            "--cluster",
            self.cluster_flag,
            "--data",
            str(self.data_dir(i)),
            "--cluster-key-file",
            str(self.key_file),
            *self.args,
        ]

    def start(self, wait: bool = True) -> LocalCluster:
        """Start every node that is not running; with ``wait``, until all answer."""
        for i in self.ids:
            if not self.running(i):
                self.start_node(i, wait=False)
        if wait:
            for i in self.ids:
                self.wait_ready(i)
        return self

    def start_node(self, i: int, wait: bool = True, extra_args: Iterable[str] = ()) -> None:
        """Start node ``i`` from its data directory (empty if it has none)."""
        self._check(i)
        if self.running(i):
            raise ValueError(f"S{i} is already running (pid {self.procs[i].pid})")
        env = dict(os.environ)
        root = str(Path(raftlab.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        self._close_log(i)
        log = self._logs[i] = open(self.log_path(i), "ab")  # noqa: SIM115 - kept open
        self.procs[i] = subprocess.Popen(
            [*self.command(i), *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        if wait:
            self.wait_ready(i)

    def wait_ready(self, i: int, timeout_s: float = 20.0) -> None:
        """Wait until node ``i`` answers ``/status``; ``RuntimeError`` if it exits."""
        deadline = time.monotonic() + timeout_s
        while True:
            proc = self.procs[i]
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise RuntimeError(
                    f"S{i} exited with code {code} while starting:\n" + self.log_text(i)[-2000:]
                )
            if self.status(i) is not None:
                return
            if time.monotonic() > deadline:
                raise Timeout(f"S{i} did not answer within {timeout_s:g} s")
            time.sleep(0.05)

    def running(self, i: int) -> bool:
        proc = self.procs[i]
        return proc is not None and proc.poll() is None

    @property
    def alive(self) -> list[int]:
        return [i for i in self.ids if self.running(i)]

    def pid(self, i: int) -> int | None:
        proc = self.procs[i]
        return proc.pid if proc is not None and proc.poll() is None else None

    def stop_node(self, i: int, timeout_s: float = 10.0) -> int | None:
        """Stop node ``i`` cleanly (SIGTERM; SIGKILL if it lingers); its exit code."""
        return self._signal(i, signal.SIGTERM, timeout_s)

    def kill(self, i: int) -> None:
        """Crash node ``i`` (SIGKILL): no chance to tidy up, as in a power cut."""
        self._signal(i, signal.SIGKILL, 10.0)

    def pause(self, i: int) -> None:
        """Freeze node ``i`` (SIGSTOP): alive but silent, like a long GC pause."""
        self._group(i, signal.SIGSTOP)

    def resume(self, i: int) -> None:
        self._group(i, signal.SIGCONT)

    def stop(self) -> None:
        """Stop every running node."""
        for i in self.ids:
            if self.running(i):
                self._group(i, signal.SIGTERM)
        for i in self.ids:
            self._signal(i, signal.SIGTERM, 10.0)

    def restart(self) -> None:
        """Stop every node, then start them all again from their disks."""
        self.stop()
        self.start()

    def wipe(self, i: int) -> None:
        """Delete node ``i``'s data directory (stop it first)."""
        if self.running(i):
            raise ValueError(f"S{i} is running; stop it before deleting its data")
        shutil.rmtree(self.data_dir(i), ignore_errors=True)

    # -------------------------------------------------------------- membership

    def members(self, i: int | None = None) -> dict[str, Any]:
        """``/members`` of node ``i`` (default: the leader)."""
        i = self.wait_for_leader() if i is None else i
        with urllib.request.urlopen(self.http[i] + "/members", timeout=5) as r:
            return json.loads(r.read())

    def change(self, path: str, timeout_s: float = 20.0) -> dict[str, Any]:
        """``GET path`` (``/add?...``, ``/remove?...``) on the leader, retried while there
        is no leader or another change is in flight (503, 409); the JSON answer."""
        deadline = time.monotonic() + timeout_s
        while True:
            leader = self.leader()
            if leader is not None:
                try:
                    with urllib.request.urlopen(self.http[leader] + path, timeout=10) as r:
                        return json.loads(r.read())
                except urllib.error.HTTPError as exc:
                    if exc.code not in (307, 409, 503, 504):
                        raise ValueError(f"{path}: {exc.code} {exc.read().decode()}") from None
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise Timeout(f"{path} was not accepted within {timeout_s:g} s")
            time.sleep(0.1)

    def add_node(
        self,
        i: int,
        *,
        wait_voter: bool = True,
        timeout_s: float = 30.0,
        extra_args: Iterable[str] = (),
    ) -> None:
        """Start a new server ``i`` with ``kvapi --join`` and add it with ``/add`` (thesis
        §4.1): a learner first, a voter once the leader finds it caught up."""
        if i in self.procs and self.running(i):
            raise ValueError(f"S{i} is already running")
        if i not in self.procs:
            rpc_port, http_port = free_ports(2)
            self.ids.append(i)
            self.rpc[i] = f"127.0.0.1:{rpc_port}"
            self.http[i] = f"http://127.0.0.1:{http_port}"
            self.procs[i] = None
        leader = self.wait_for_leader()
        self.joining[i] = self.http[leader]
        self.start_node(i, extra_args=extra_args)
        self.change(f"/add?id={i}&raft={self.rpc[i]}&http={self.http[i].removeprefix('http://')}")
        if wait_voter:
            self.wait_until(
                lambda c: i in c.members()["committed"]["voters"], timeout_s, f"S{i} a voter"
            )

    def remove_node(self, i: int, timeout_s: float = 20.0) -> None:
        """``/remove?id=i`` on the leader, and wait until the removal is committed.  The
        process keeps running (stop it with ``stop_node``)."""
        self.change(f"/remove?id={i}", timeout_s)
        self.wait_until(
            lambda c: i not in c.members()["committed"]["voters"], timeout_s, f"S{i} removed"
        )

    def replace_wiped(self, i: int, timeout_s: float = 30.0) -> None:
        """The safe way back for a node whose disk is lost: stop it, remove it, delete
        its data, and add it back as a new, empty member (``add_node``).  Until the removal
        commits its old place counts in every majority, so no vote of its empty disk can
        elect a leader that lacks an acknowledged write."""
        if self.running(i):
            self.stop_node(i)
        self.remove_node(i, timeout_s)
        self.wipe(i)
        self.add_node(i, timeout_s=timeout_s)

    def close(self) -> None:
        """Stop every process started here; remove the directory if it was temporary."""
        with contextlib.suppress(Exception):
            self.stop()
        for i in self.ids:
            proc = self.procs[i]
            if proc is not None and proc.poll() is None:  # stop() failed somehow: be sure
                self._group(i, signal.SIGKILL)
                proc.wait(5)
            self._close_log(i)
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _signal(self, i: int, sig: int, timeout_s: float) -> int | None:
        self._check(i)
        proc = self.procs[i]
        if proc is None:
            return None
        if proc.poll() is None:
            self._group(i, sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._group(i, signal.SIGKILL)
                proc.wait(5)
        self.procs[i] = None
        self._close_log(i)
        return proc.returncode

    def _group(self, i: int, sig: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)  # the node's whole process group

    def _close_log(self, i: int) -> None:
        f = self._logs.pop(i, None)
        if f is not None:
            f.close()

    def _check(self, i: object) -> None:
        if i not in self.procs:
            raise ValueError(f"unknown node {i!r}; this cluster's nodes are {self.ids}")

    # ----------------------------------------------------------------- looking

    def status(self, i: int, timeout_s: float = 1.0) -> dict[str, Any] | None:
        """Node ``i``'s ``/status``, or ``None`` if it does not answer."""
        try:
            with urllib.request.urlopen(self.http[i] + "/status", timeout=timeout_s) as r:
                return json.loads(r.read())
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def statuses(self) -> dict[int, dict[str, Any]]:
        """``/status`` of every node that answers."""
        out = {}
        for i in self.alive:
            st = self.status(i)
            if st is not None:
                out[i] = st
        return out

    def leader(self) -> int | None:
        """The running node that says it leads, in the highest term; ``None`` if none."""
        best = None
        for i, st in self.statuses().items():
            if st["role"] == "leader" and (best is None or st["term"] > best[1]):
                best = (i, st["term"])
        return best[0] if best else None

    def wait_until(
        self,
        pred: Callable[[LocalCluster], Any],
        timeout_s: float = 10.0,
        what: str = "the condition",
    ) -> Any:
        """Poll ``pred(self)`` every 20 ms until it is truthy; return it or ``Timeout``."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = pred(self)
            if value:
                return value
            if time.monotonic() > deadline:
                raise Timeout(f"{what} did not happen within {timeout_s:g} s")
            time.sleep(0.02)

    def wait_for_leader(self, timeout_s: float = 10.0, exclude: Iterable[int] = ()) -> int:
        """Wait until a running node leads (not one in ``exclude``) and return its id."""
        skip = set(exclude)

        def found(c: LocalCluster) -> int | None:
            leader = c.leader()
            return leader if leader is not None and leader not in skip else None

        return self.wait_until(found, timeout_s, "a leader election")

    def wait_applied(
        self, index: int, nodes: Iterable[int] | None = None, timeout_s: float = 10.0
    ) -> None:
        """Wait until each node (default: every running one) has applied ``index``."""
        nodes = list(self.alive if nodes is None else nodes)

        def done(c: LocalCluster) -> bool:
            sts = [c.status(i) for i in nodes]
            return all(st is not None and st["last_applied"] >= index for st in sts)

        self.wait_until(done, timeout_s, f"applying index {index} on {nodes}")

    def client(self, **kwargs: Any) -> Client:
        """A ``Client`` for this cluster's nodes (keyword arguments go to ``Client``)."""
        return Client(self.http, **kwargs)

    def log_text(self, i: int) -> str:
        try:
            return self.log_path(i).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def cpu_seconds(self, i: int) -> float:
        """CPU time (user + system) node ``i``'s process has used so far, from /proc."""
        pid = self.pid(i)
        if pid is None:
            raise ValueError(f"S{i} is not running")
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # After the ")" closing the command name, utime and stime are fields 12 and 13.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __repr__(self) -> str:
        return f"LocalCluster({len(self.ids)} nodes, running={self.alive}, dir={self.directory})"
