"""``python -m raftlab kvapi``: one key-value server process (the seed's ``cmd/kvapi``).

::

    python -m raftlab kvapi --node 0 --http :2020 --cluster "1,:3030;2,:3031;3,:3032"
    python -m raftlab kvapi --node 1 --http :2021 --cluster "1,:3030;2,:3031;3,:3032"
    python -m raftlab kvapi --node 2 --http :2022 --cluster "1,:3030;2,:3031;3,:3032"
    curl -L "http://localhost:2020/set?key=x&value=1"    # prints nothing (200), as in goraft
    curl -L "http://localhost:2020/get?key=x"            # prints 1
    curl "http://localhost:2021/get?key=x&relaxed=true"  # node 2's own copy

As in the seed, ``--cluster`` lists ``ID,ADDRESS`` pairs separated by ``;`` (the peers'
Raft addresses), ``--node`` is this process's *position* in that list (0-based), and
``--http`` is where clients reach it.  Node ids are whole numbers >= 1.  A bare ``:port``
listens on 127.0.0.1 only; name another interface explicitly (``0.0.0.0:2020``) to be
reachable from elsewhere.  The endpoints are described in ``raftlab.server.http``.

Peers sign every frame with a secret every node shares (``--cluster-key-file`` or the
``RAFTLAB_CLUSTER_KEY`` variable; see ``raftlab.server.peers``).  A cluster whose
addresses are all on loopback, as above, starts without one and warns that any process on
the host can then forge its peers' messages; any other cluster needs the key.

Start-up failures are one line naming the path or flag and the remedy: exit code 2 for a
usage error (a bad flag, a missing or too short key), 1 for the rest (an unusable
``--data``, a damaged ``raft.log``, a port in use).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import hashlib
import logging
import os
import resource
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from raftlab.config import Config
from raftlab.kv import KVStateMachine
from raftlab.server import logs
from raftlab.server.codec import EntryCache
from raftlab.server.http import Limits, kv_app
from raftlab.server.listener import Listener, ThreadedListener
from raftlab.server.peers import ENV_KEY, ClusterKeyError, PeerKey, is_loopback
from raftlab.server.runtime import NodeRuntime
from raftlab.server.storage import CorruptLog, DataDirInUse, DiskStorage, UnusableDataDir
from raftlab.server.transport import HttpTransport, rpc_app

log = logging.getLogger("raftlab.server")

_DEFAULTS = Limits()
EXAMPLE = '--node 0 --http :2020 --cluster "1,:3030;2,:3031;3,:3032"'


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self}"


def parse_address(text: str, what: str) -> Address:
    """``:2020`` (127.0.0.1), ``host:2020`` or ``[::1]:2020``; ``ValueError`` otherwise."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"{what} {text!r} has no port; write it as :PORT or HOST:PORT, e.g. :3030")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{what} {text!r}: put an IPv6 address in brackets, e.g. [::1]:3030")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{what} {text!r}: the port {port_text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{what} {text!r}: the port must be between 1 and 65535")
    return Address(host or "127.0.0.1", port)


def parse_cluster(text: str) -> list[tuple[int, Address]]:
    """``"1,:3030;2,:3031;3,:3032"`` as ``[(1, Address), ...]``; ``ValueError`` naming
    the entry that is wrong."""
    if not text.strip():
        raise ValueError(
            f"--cluster is empty; write it as ID,ADDRESS;ID,ADDRESS;..., e.g. "
            f"{EXAMPLE.split('--cluster ')[1]}"
        )
    parts = text.strip().split(";")
    if parts[-1].strip() == "":
        parts.pop()  # tolerate a trailing ';'
    members: list[tuple[int, Address]] = []
    for k, part in enumerate(parts, 1):
        pieces = part.split(",")
        if len(pieces) != 2:
            raise ValueError(
                f"--cluster entry {k} ({part!r}) should be ID,ADDRESS, e.g. {k},:{3029 + k}"
            )
        id_text, addr_text = pieces
        try:
            node_id = int(id_text)
        except ValueError:
            raise ValueError(
                f"--cluster entry {k} ({part!r}): the id {id_text!r} is not a whole number"
            ) from None
        if node_id < 1:
            raise ValueError(
                f"--cluster entry {k} ({part!r}): node ids are whole numbers >= 1 "
                "(0 stands for 'nobody' in a vote)"
            )
        members.append((node_id, parse_address(addr_text, f"--cluster entry {k}'s address")))
    ids = [i for i, _ in members]
    for i in ids:
        if ids.count(i) > 1:
            raise ValueError(f"--cluster names node {i} twice; every id must be different")
    addrs = [str(a) for _, a in members]
    for a in addrs:
        if addrs.count(a) > 1:
            raise ValueError(f"--cluster gives the address {a} to two nodes")
    return members


def cluster_digest(members: list[tuple[int, Address]]) -> str:
    """A short digest of the member list, sent with every RPC (see ``transport``)."""
    text = ";".join(f"{i},{a}" for i, a in sorted(members, key=lambda m: m[0]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _timeout_range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition("-")
    try:
        return (float(lo), float(hi)) if sep else (float(lo), float(lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO-HI in ms, e.g. 300-600") from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the problem and where to look), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m raftlab kvapi",
        description="Run one key-value server of a Raft cluster (the seed's kvapi).",
        epilog=f"example: python -m raftlab kvapi {EXAMPLE}",
    )
    p.add_argument(
        "--node",
        type=int,
        required=True,
        help="this process's position in --cluster (0 is the first)",
    )
    p.add_argument("--http", required=True, help="client address, e.g. :2020 (127.0.0.1)")
    p.add_argument(
        "--cluster",
        required=True,
        help="Raft addresses of every node: ID,ADDR;ID,ADDR;... (ids >= 1)",
    )
    p.add_argument("--data", help="data directory (default: ./raftlab-data/node-ID)")
    p.add_argument(
        "--advertise-http",
        help="the URL peers give clients to reach this node (default: from --http)",
    )
    p.add_argument(
        "--election-timeout",
        type=_timeout_range,
        default=(300.0, 600.0),
        metavar="LO-HI",
        help="election timeout range in ms (default 300-600)",
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        default=100.0,
        metavar="MS",
        help="leader heartbeat interval in ms (default 100)",
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=4096,
        metavar="N",
        help="most entries per AppendEntries (default 4096)",
    )
    p.add_argument(
        "--max-key-bytes",
        type=int,
        default=_DEFAULTS.max_key_bytes,
        metavar="N",
        help=f"longest key, in UTF-8 bytes (default {_DEFAULTS.max_key_bytes})",
    )
    p.add_argument(
        "--max-value-bytes",
        type=int,
        default=_DEFAULTS.max_value_bytes,
        metavar="N",
        help=f"longest value, in UTF-8 bytes (default {_DEFAULTS.max_value_bytes})",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=_DEFAULTS.max_body_bytes,
        metavar="N",
        help="largest client request body (POST /batch, forms)",
    )
    p.add_argument(
        "--max-rpc-bytes",
        type=int,
        default=1 << 30,
        metavar="N",
        help="largest message frame a peer may send (default 1 GiB)",
    )
    p.add_argument(
        "--lease-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="leader lease for /get?mode=lease (thesis §6.4.1); 0, the default, turns "
        "leases off; at most the lowest election timeout / (1 + --max-drift)",
    )
    p.add_argument(
        "--max-drift",
        type=float,
        default=0.01,
        metavar="F",
        help="how far a clock's rate may stray, as a fraction, which leases allow for "
        "(default 0.01)",
    )
    p.add_argument(
        "--pre-vote",
        action="store_true",
        help="PreVote (thesis §9.6): a returning node cannot depose a healthy leader",
    )
    p.add_argument(
        "--check-quorum",
        action="store_true",
        help="CheckQuorum (thesis §6.2): a leader that hears from no majority steps down",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=_DEFAULTS.request_timeout_s,
        metavar="S",
        help="how long a client request may wait for its commit (default 5)",
    )
    p.add_argument(
        "--rpc-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="how long connecting or sending to a peer may take before its messages "
        "count as lost (default 5)",
    )
    p.add_argument(
        "--cluster-key-file",
        metavar="PATH",
        help=f"a file holding the secret every node shares (or set {ENV_KEY}); peers sign "
        "every frame with it. Required unless every --cluster address is on loopback",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=_DEFAULTS.max_connections,
        metavar="N",
        help=f"open client connections at most; more get 503 (default {_DEFAULTS.max_connections})",
    )
    p.add_argument(
        "--read-timeout",
        type=float,
        default=_DEFAULTS.read_timeout_s,
        metavar="S",
        help="a connection must send a whole request within S seconds of opening or of "
        f"its last answer, or it is closed (default {_DEFAULTS.read_timeout_s:g})",
    )
    p.add_argument(
        "--test-faults",
        action="store_true",
        help="for tests only: serve /test/partition, which makes this node drop messages "
        "to and from chosen peers (python -m raftlab nemesis uses it)",
    )
    p.add_argument(
        "--truncate-torn-tail",
        action="store_true",
        help="drop a record cut short at the end of the log file (after a crash "
        "mid-write) instead of refusing to start",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


@dataclass(frozen=True, slots=True)
class Settings:
    node_id: int
    members: list[tuple[int, Address]]
    rpc: Address
    http: Address
    advertise: str
    data: Path
    config: Config
    limits: Limits
    max_rpc_bytes: int
    rpc_timeout_s: float
    truncate_torn_tail: bool
    key: PeerKey
    test_faults: bool = False


def settings_from_args(argv: list[str]) -> Settings:
    """Parse and check the command line; exit 2 with a usage message on any problem."""
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        members = parse_cluster(a.cluster)
        if not 0 <= a.node < len(members):
            choices = ", ".join(map(str, range(len(members))))
            raise ValueError(
                f"--node {a.node} is out of range: --cluster lists "
                f"{len(members)} node(s), so --node is one of {choices}"
            )
        node_id, rpc = members[a.node]
        http = parse_address(a.http, "--http")
        if any(str(http) == str(addr) for _, addr in members):
            raise ValueError(
                f"--http {http} is also a Raft address in --cluster; clients and "
                "peers need different ports"
            )
        config = Config(
            election_timeout_ms=a.election_timeout,
            heartbeat_ms=a.heartbeat,
            max_batch=a.max_batch,
            lease_ms=a.lease_ms,
            max_drift=a.max_drift,
            pre_vote=a.pre_vote,
            check_quorum=a.check_quorum,
        )
        for flag, value in (
            ("--max-key-bytes", a.max_key_bytes),
            ("--max-value-bytes", a.max_value_bytes),
            ("--max-body-bytes", a.max_body_bytes),
            ("--max-rpc-bytes", a.max_rpc_bytes),
        ):
            if value < 1:
                raise ValueError(f"{flag} must be at least 1, got {value}")
        for flag, value in (
            ("--request-timeout", a.request_timeout),
            ("--rpc-timeout", a.rpc_timeout),
            ("--read-timeout", a.read_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{flag} must be a positive number of seconds, got {value}")
        if a.max_connections < 1:
            raise ValueError(f"--max-connections must be at least 1, got {a.max_connections}")
        key = _cluster_key(a.cluster_key_file, members)
    except ValueError as exc:
        parser.error(
            str(exc)
            .replace("Config.election_timeout_ms", "--election-timeout")
            .replace("Config.heartbeat_ms", "--heartbeat")
            .replace("Config.max_batch", "--max-batch")
        )
    if a.advertise_http:
        advertise = a.advertise_http.rstrip("/")
    elif http.host in ("0.0.0.0", "::", ""):
        # Peers reach us at our Raft host, so clients can reach our HTTP port there too.
        advertise = Address(rpc.host, http.port).url
    else:
        advertise = http.url
    data = Path(a.data) if a.data else Path("raftlab-data") / f"node-{node_id}"
    logging.basicConfig(
        level=a.log_level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s S{node_id} %(levelname)s %(message)s",
    )
    logs.install()  # repeated lines (a flood of bad frames or connections) are counted
    if key.derived:
        log.warning(
            "no cluster key (--cluster-key-file or %s): every --cluster address is on "
            "loopback, so S%d starts, but peers are NOT authenticated: any process on this "
            "host can send it Raft messages",
            ENV_KEY,
            node_id,
        )
    return Settings(
        node_id,
        members,
        rpc,
        http,
        advertise,
        data,
        config,
        Limits(
            a.max_key_bytes,
            a.max_value_bytes,
            a.max_body_bytes,
            a.request_timeout,
            read_timeout_s=a.read_timeout,
            max_connections=a.max_connections,
        ),
        a.max_rpc_bytes,
        a.rpc_timeout,
        a.truncate_torn_tail,
        key,
        a.test_faults,
    )


def _cluster_key(path: str | None, members: list[tuple[int, Address]]) -> PeerKey:
    """The key from ``--cluster-key-file`` or the environment; ``ValueError`` if none and
    some address is not on loopback (see ``raftlab.server.peers``)."""
    if path:
        return PeerKey.from_file(path)
    secret = os.environ.get(ENV_KEY)
    if secret:
        try:
            return PeerKey(secret.strip().encode())
        except ClusterKeyError as exc:
            raise ValueError(f"{ENV_KEY}: {exc}") from None
    outside = [str(a) for _, a in members if not is_loopback(a.host)]
    if outside:
        raise ValueError(
            f"--cluster has addresses beyond this host ({', '.join(outside)}), so peers must "
            f"prove who they are: give every node the same --cluster-key-file (or set {ENV_KEY})"
        )
    return PeerKey.derived_from(cluster_digest(members))


def _raise_file_limit(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted`` (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


async def serve(s: Settings) -> int:
    """Run the node until SIGTERM or SIGINT (exit 0) or a fatal error (exit 1)."""
    # Client connections, peers' connections, the log file and some slack must fit in the
    # open-file limit, or accept() fails and the node goes deaf (issue: 1,100 half-sent
    # requests did that at the default 1,024).
    # The node's thread and the client API's thread share the interpreter lock.  Each
    # time the node's thread wakes (a timer, a peer's frame, a disk sync done) it waits
    # for the lock up to the switch interval while the client thread is busy; 1 ms
    # instead of 5 keeps a round of heartbeats from waiting tens of ms under a burst.
    sys.setswitchinterval(0.001)
    need = s.limits.max_connections + 4 * len(s.members) + 64
    have = _raise_file_limit(need)
    limits = s.limits
    if have != resource.RLIM_INFINITY and have < need:
        fit = max(1, have - 4 * len(s.members) - 64)
        log.warning(
            "S%d may open %d files (ulimit -n); --max-connections lowered from %d to %d",
            s.node_id,
            have,
            limits.max_connections,
            fit,
        )
        limits = dataclasses.replace(limits, max_connections=fit)
    cache = EntryCache()
    try:
        storage = DiskStorage(
            s.data, s.node_id, cache=cache, truncate_torn_tail=s.truncate_torn_tail
        )
    except (DataDirInUse, UnusableDataDir) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ids = [i for i, _ in s.members]
    peers = {i: str(a) for i, a in s.members if i != s.node_id}
    digest = cluster_digest(s.members)
    transport = HttpTransport(
        s.node_id,
        peers,
        http_url=s.advertise,
        cluster_digest=digest,
        key=s.key,
        timeout_s=s.rpc_timeout_s,
        cache=cache,
    )
    runtime = NodeRuntime(
        s.node_id,
        ids,
        storage=storage,
        transport=transport,
        config=s.config,
        state_machine=KVStateMachine(),
        http_url=s.advertise,
    )
    raft_loop = asyncio.get_running_loop()
    peer_port: Listener | None = None
    client_port: ThreadedListener | None = None
    try:
        try:
            loaded = storage.load()  # check the file before binding any port
        except CorruptLog as exc:
            print(f"error: cannot start S{s.node_id}: {exc}", file=sys.stderr)
            return 1
        line = 3 * (limits.max_key_bytes + limits.max_value_bytes) + 4096
        peer_app = rpc_app(
            s.node_id,
            peers,
            digest,
            runtime.deliver,
            key=s.key,
            max_bytes=s.max_rpc_bytes,
            cache=cache,
            current_term=lambda: runtime.node.current_term if runtime.node else 0,
            blocked=lambda: transport.blocked,
        )
        # Peers: on the node's own loop.  Clients: on a loop of their own, in another
        # thread, so a burst of clients never delays a heartbeat (listener's docstring).
        peer_port = Listener(
            peer_app,
            s.rpc.host,
            s.rpc.port,
            what=f"S{s.node_id}'s Raft address",
            max_connections=64 + 4 * len(s.members),
            read_timeout_s=min(limits.read_timeout_s, 5.0),
            shutdown_timeout=1.0,
        )
        client_app = kv_app(
            runtime,
            limits,
            raft_loop=raft_loop,
            transport=transport if s.test_faults else None,
        )
        client_port = ThreadedListener(
            Listener(
                client_app,
                s.http.host,
                s.http.port,
                what=f"S{s.node_id}'s client address",
                max_connections=limits.max_connections,
                read_timeout_s=limits.read_timeout_s,
                shutdown_timeout=1.0,
                max_line_size=line,
                max_field_size=8190,
            )
        )
        for start, addr, what in (
            (peer_port.start, s.rpc, "Raft address (--cluster)"),
            (client_port.start, s.http, "client address (--http)"),
        ):
            try:
                result = start()
                if asyncio.iscoroutine(result):
                    await result
            except OSError as exc:
                why = (
                    "address already in use (another process listens there)"
                    if exc.errno == errno.EADDRINUSE
                    else exc.strerror or str(exc)
                )
                print(
                    f"error: S{s.node_id} cannot listen on {addr}, its {what}: {why}",
                    file=sys.stderr,
                )
                return 1
        runtime.start(loaded)
        log.info(
            "S%d serving clients at %s, peers at %s, data in %s",
            s.node_id,
            s.advertise,
            s.rpc,
            s.data,
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            raft_loop.add_signal_handler(sig, stop.set)
        stopping = asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(runtime.stopped.wait())
        await asyncio.wait([stopping, failed], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        failed.cancel()
        return 1 if runtime.failure is not None else 0
    finally:
        # Stop listening first (requests in progress get a second to finish while the
        # node still runs), then stop the node, its links and its disk.
        if client_port is not None:
            await asyncio.to_thread(client_port.stop)
        if peer_port is not None:
            await peer_port.close()
        await runtime.stop() if runtime.node is not None else storage.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = settings_from_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem
        return int(exc.code or 0)
    try:
        return asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
