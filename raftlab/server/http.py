"""The key-value store's HTTP API (the seed's ``cmd/kvapi``, with more endpoints).

Endpoints (each also accepts POST with the same fields as an
``application/x-www-form-urlencoded`` body, for long values; HEAD works wherever GET does):

=============================================  =============================================
``GET /set?key=K&value=V``                     set K to V through the log
``GET /get?key=K``                             read K through the log (linearizable)
``GET /get?key=K&relaxed=true``                read this node's copy (any node; may be stale)
``GET /get?key=K&mode=M``                      ``M``: ``log`` (the default), ``read_index``
                                               (ReadIndex: a heartbeat round, no log entry,
                                               thesis §6.4), ``lease`` (the leader's lease,
                                               §6.4.1; needs ``--lease-ms``), ``relaxed``
``GET /delete?key=K``                          delete K
``GET /cas?key=K&expected=E&value=V``          set K to V if it holds E; ``swapped`` says
``GET /append?key=K&value=V``                  append V to K's value
``POST /batch``                                many encoded commands at once (see below)
``GET /status``                                id, role, term, commit and last index, leader
``GET /digest``                                hashes of the log and of the data, to compare
``GET /members``                               the configuration: voters, learners, addresses
``GET /add?id=4&raft=:3033&http=:2023``        add a server (a learner first; thesis §4.1)
``GET /remove?id=1``                           remove a server (the leader may remove itself)
=============================================  =============================================

``/add`` and ``/remove`` go to the leader (a follower redirects, as for writes) and answer
once the change is applied, with its log ``index``.  One change at a time: while one is in
flight, or before a new leader has committed its no-op, the answer is ``409`` with a
sentence and ``Retry-After: 1``.  A new server is started with ``kvapi --join``
(``raftlab.server.kvapi``) before or after ``/add``; the leader promotes it to a voter once
it has caught up, and ``/members`` shows when.

Writes may carry ``client=ID&seq=N`` (both or neither): the command is then wrapped in a
session envelope and a retry with the same pair is applied at most once
(``raftlab.kv.state_machine``).  ``raftlab.server.client.Client`` does this for you.

``/get`` and ``/set`` answer as goraft's ``cmd/kvapi`` does, so the article's ``curl``
session prints what it prints: ``/get`` answers the bare value as ``text/plain``, ``/set``
answers ``200`` with an empty body.  A client that sends ``Accept: application/json``
(``raftlab.server.client.Client`` does) gets JSON instead: the value or the write's log
``index``.  Every other answer is JSON, and so is every error: ``{"error": "a sentence",
...}``, with the status code saying what kind (``404`` "key not found" for a missing key).

A node that is not the leader answers ``307 Temporary Redirect`` with a
``Location`` on the leader's HTTP address (so ``curl -L`` follows it) and a body naming the
leader; it learns that address from the ``X-Raftlab-Http`` header the leader sends when
it connects to it (``raftlab.server.transport``), and ``/status`` shows it as
``leader_http``.
With no leader known it answers ``503`` with ``Retry-After: 1``.  ``503`` also means the
leader lost its leadership and the command was not applied (safe to retry; for a batch,
the message says how many of its commands were applied before that); ``504`` means
no answer came in time and the command may or may not be applied (retry with the same
``client`` and ``seq``).  Missing or malformed parameters get ``400`` (so does a parameter
that is not valid UTF-8: it is never rewritten); a key, value or body
over the limits (``--max-key-bytes``, ``--max-value-bytes``, ``--max-body-bytes``) ``413``.

``POST /batch`` takes the commands of ``raftlab.kv.encode_command``, each behind a u32
length (``raftlab.server.codec.encode_batch``), proposes them together and answers, per
command, a status byte, a u32 length and the result or the error message
(``codec.decode_results``).  The commands are not decoded on the way in (that would cost
the leader as much as applying them): a malformed one is committed like any other and its
result is the decoder's error, the same on every replica.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from aiohttp import web

from raftlab.errors import ConfigurationChangeRefused, LeadershipLost, NotLeader
from raftlab.kv import Command, KeyNotFound, Kind, encode_command
from raftlab.node import Applied
from raftlab.server import codec
from raftlab.server.bridge import Bridge
from raftlab.server.reads import Deadlines
from raftlab.server.runtime import NodeRuntime

_U64_MAX = 2**64 - 1

#: The read modes of ``/get?mode=`` (``raftlab.history.READ_MODES``).
_READ_MODES = ("log", "read_index", "lease", "relaxed")


@dataclass(frozen=True, slots=True)
class Limits:
    """What the API accepts; over a limit is ``413``, with the flag to raise it."""

    max_key_bytes: int = 1024
    max_value_bytes: int = 1 << 20
    max_body_bytes: int = 64 << 20
    request_timeout_s: float = 5.0
    read_timeout_s: float = 10.0  # a request (or its body) must arrive within this
    max_connections: int = 1000  # more get a 503 at once (raftlab.server.listener)
    max_in_flight: int = 1024  # client requests handed to the node at once


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


Handler = Callable[[web.Request], Awaitable[web.Response]]


def kv_app(
    runtime: NodeRuntime,
    limits: Limits,
    *,
    raft_loop: asyncio.AbstractEventLoop | None = None,
    transport: Any = None,
) -> web.Application:
    """The client-facing application of one node.

    ``raft_loop`` is the event loop that drives the node when this application runs on
    another one (``raftlab.server.listener.ThreadedListener``): every call into the node
    then hops to that loop.  ``transport`` (an ``HttpTransport``) enables the test-only
    ``/test/partition`` endpoint (``kvapi --test-faults``).
    """
    api = _Api(runtime, limits, raft_loop)
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[_errors_as_json])
    for name in ("set", "get", "delete", "cas", "append"):
        handler = api.wrap(getattr(api, name))
        app.router.add_route("GET", f"/{name}", handler)  # HEAD too (see _errors_as_json)
        app.router.add_route("POST", f"/{name}", handler)
    app.router.add_post("/batch", api.wrap(api.batch))
    app.router.add_get("/status", api.wrap(api.status))
    app.router.add_get("/digest", api.wrap(api.digest))
    app.router.add_get("/members", api.wrap(api.members))
    app.router.add_route("GET", "/add", api.wrap(api.add))
    app.router.add_route("POST", "/add", api.wrap(api.add))
    app.router.add_route("GET", "/remove", api.wrap(api.remove))
    app.router.add_route("POST", "/remove", api.wrap(api.remove))
    app.router.add_get("/", api.wrap(api.index))
    if transport is not None:
        app.router.add_get("/test/partition", api.wrap(_partition_handler(transport)))
    return app


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One error format: aiohttp's own 404 and 405 become JSON sentences too, and HEAD is
    answered wherever GET is (the same status and headers, no body)."""
    try:
        if request.method == "HEAD":
            return await _head(request)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = (
                f"no such endpoint {request.path!r}; try /get?key=x, /set?key=x&value=1, "
                "/delete, /cas, /append, /batch, /status or /digest"
            )
        elif exc.status == 405:
            allowed = getattr(exc, "allowed_methods", None) or ()
            message = f"{request.method} is not allowed on {request.path}; use " + " or ".join(
                sorted({*allowed, *(("HEAD",) if "GET" in allowed else ())})
            )
        else:
            message = exc.text or exc.reason
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return _json(exc.status, {"error": message}, headers)


async def _head(request: web.Request) -> web.StreamResponse:
    """HEAD: route as GET would, answer with GET's status and headers and no body."""
    get = request.clone(method="GET")
    match = await request.app.router.resolve(get)
    if match.http_exception is not None:
        raise match.http_exception
    get._match_info = match  # the router does this itself for a request it dispatches
    # aiohttp sends a response to a HEAD request without its body (keeping its length).
    return await match.handler(get)


def _partition_handler(transport: Any) -> Handler:
    async def partition(request: web.Request) -> web.Response:
        """Test only: drop every message to and from the peers in ``blocked=2,3``."""
        text = request.query.get("blocked", "")
        try:
            blocked = frozenset(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise BadRequest(400, f"blocked must be node ids like 2,3, got {text!r}") from None
        transport.blocked = blocked  # one assignment: safe from this thread
        return _json(200, {"ok": True, "blocked": sorted(blocked)})

    return partition


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body) + "\n",
        content_type="application/json",
        headers=headers,
    )


def wants_json(request: web.Request) -> bool:
    """Whether the client asked for JSON (``Accept: application/json``)."""
    return "application/json" in request.headers.get("Accept", "")


def _plain(text: str) -> web.Response:
    """goraft's answer: the bare value (no newline added), or nothing."""
    return web.Response(status=200, text=text, content_type="text/plain", charset="utf-8")


def parse_query(text: str | bytes) -> dict[str, str]:
    """``a=1&b=2`` as ``{"a": "1", "b": "2"}``, refusing what is not UTF-8.

    aiohttp (like most servers) decodes a ``%ff`` that is not UTF-8 to U+FFFD, so ``%ff``
    and ``%fe`` would name the same key.  Here such a parameter is a ``400`` that names it.
    The first of repeated parameters counts, as in goraft (Go's ``Query().Get``).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise BadRequest(
                400, "the form body holds bytes that are not URL-encoded; encode them (%XX)"
            ) from None
    out: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        try:
            name = unquote_to_bytes(raw_name.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(
                400, f"a parameter name ({raw_name[:40]!r}) is not valid UTF-8"
            ) from None
        try:
            value = unquote_to_bytes(raw_value.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(
                400,
                f"parameter {name!r} is not valid UTF-8 (percent-encode the UTF-8 bytes of "
                "the text, e.g. %C3%A9 for \u00e9)",
            ) from None
        out.setdefault(name, value)
    return out


class _Api:
    def __init__(
        self,
        runtime: NodeRuntime,
        limits: Limits,
        raft_loop: asyncio.AbstractEventLoop | None = None,
    ):
        self.rt = runtime
        self.limits = limits
        self.bridge = Bridge(raft_loop) if raft_loop is not None else None
        # How many client requests may be in the node's hands at once; the rest wait
        # here, on the client loop, costing the node nothing.
        self._admit: asyncio.Semaphore | None = None
        self._deadlines: Deadlines | None = None  # reads' time limit, on the client loop

    async def _on_raft(self, coro_fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``coro_fn()`` on the node's loop (it owns the node) and await it here."""
        if self.bridge is None:
            return await coro_fn()
        if self._admit is None:
            self._admit = asyncio.Semaphore(self.limits.max_in_flight)
        async with self._admit:
            return await self.bridge.call(coro_fn)

    async def _read_body(self, request: web.Request) -> bytes:
        try:
            return await asyncio.wait_for(request.read(), self.limits.read_timeout_s)
        except TimeoutError:
            raise BadRequest(
                408,
                f"the request body did not arrive within {self.limits.read_timeout_s:g} s "
                "(--read-timeout)",
            ) from None

    def wrap(self, fn: Callable[[web.Request], Awaitable[web.Response]]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            if self.rt.node is None:
                return _json(
                    503,
                    {"error": f"S{self.rt.id} is starting; retry shortly"},
                    {"Retry-After": "1"},
                )
            try:
                return await fn(request)
            except BadRequest as exc:
                return _json(exc.status, {"error": str(exc)})
            except web.HTTPRequestEntityTooLarge:
                size = request.content_length
                said = f"is {size} bytes" if size is not None else "is too large"
                return _json(
                    413,
                    {
                        "error": f"the request body {said}; the limit is "
                        f"{self.limits.max_body_bytes} (--max-body-bytes)"
                    },
                )
            except NotLeader as exc:
                return self._redirect(request, exc.leader_hint)
            except LeadershipLost as exc:
                return _json(503, {"error": str(exc)}, {"Retry-After": "1"})
            except TimeoutError as exc:
                return _json(
                    504,
                    {
                        "error": str(exc)
                        or f"no answer within {self.limits.request_timeout_s:g} s: the "
                        "command may or may not be applied; retry it (with the same client "
                        "and seq) to find out"
                    },
                )

        return handler

    # ------------------------------------------------------------ parameters

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = parse_query(request.rel_url.raw_query_string)
        kind = request.content_type
        if request.method == "POST" and kind == "application/x-www-form-urlencoded":
            params.update(parse_query(await self._read_body(request)))
        elif request.method == "POST" and kind not in ("", "application/octet-stream"):
            raise BadRequest(
                415,
                f"a form body must be application/x-www-form-urlencoded, not "
                f"{request.content_type}",
            )
        return params

    def _text(
        self, params: dict[str, str], name: str, limit: int, flag: str, allow_empty: bool = True
    ) -> str:
        if name not in params:
            raise BadRequest(400, f"missing parameter {name!r}; e.g. /set?key=x&value=1")
        value = params[name]
        size = len(value.encode("utf-8"))  # parse_query let only valid UTF-8 through
        if size > limit:
            raise BadRequest(413, f"{name} is {size} bytes; the limit is {limit} ({flag})")
        if not allow_empty and not value:
            raise BadRequest(400, f"parameter {name!r} must not be empty")
        return value

    def _key(self, params: dict[str, str]) -> str:
        return self._text(
            params, "key", self.limits.max_key_bytes, "--max-key-bytes", allow_empty=False
        )

    def _value(self, params: dict[str, str], name: str = "value") -> str:
        return self._text(params, name, self.limits.max_value_bytes, "--max-value-bytes")

    def _session(self, params: dict[str, str]) -> tuple[int | None, int | None]:
        client, seq = params.get("client"), params.get("seq")
        if (client is None) != (seq is None):
            raise BadRequest(
                400, "client and seq go together: give both (a retry-safe session) or neither"
            )
        if client is None:
            return None, None
        out = []
        for name, text in (("client", client), ("seq", seq)):
            try:
                n = int(text)
            except ValueError:
                raise BadRequest(400, f"{name} must be a whole number, got {text!r}") from None
            if not 0 <= n <= _U64_MAX:
                raise BadRequest(400, f"{name} must be between 0 and 2**64-1, got {n}")
            out.append(n)
        return out[0], out[1]

    # ------------------------------------------------------------- commands

    async def _propose(self, commands: list[bytes]) -> list[Applied]:
        rt, timeout = self.rt, self.limits.request_timeout_s
        return await self._on_raft(lambda: rt.propose(commands, timeout))

    async def _one(self, cmd: Command) -> Applied:
        (applied,) = await self._propose([encode_command(cmd)])
        return applied

    async def set(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        key, value = self._key(p), self._value(p)
        a = await self._one(Command(Kind.SET, key, value, None, *self._session(p)))
        if a.error is None and not wants_json(request):
            return _plain("")  # goraft: 200 and nothing else
        return self._write_answer(a, {"key": key})

    async def delete(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        key = self._key(p)
        a = await self._one(Command(Kind.DELETE, key, "", None, *self._session(p)))
        return self._write_answer(a, {"key": key})

    async def append(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        key, value = self._key(p), self._value(p)
        a = await self._one(Command(Kind.APPEND, key, value, None, *self._session(p)))
        out = self._write_answer(a, {"key": key})
        if a.error is None:
            out = _json(
                200, {"ok": True, "key": key, "value": a.result.decode(), "index": a.entry.index}
            )
        return out

    async def cas(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        key, expected, value = self._key(p), self._value(p, "expected"), self._value(p)
        a = await self._one(Command(Kind.CAS, key, value, expected, *self._session(p)))
        if a.error is not None:
            return self._write_answer(a, {"key": key})
        return _json(
            200, {"ok": True, "key": key, "swapped": a.result == b"true", "index": a.entry.index}
        )

    def _write_answer(self, a: Applied, extra: dict[str, Any]) -> web.Response:
        if a.error is not None:
            return _json(
                400,
                {
                    "error": f"the state machine refused the command: {a.error}",
                    "index": a.entry.index,
                    **extra,
                },
            )
        return _json(200, {"ok": True, **extra, "index": a.entry.index})

    async def get(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        key = self._key(p)
        relaxed = p.get("relaxed", "false").lower()
        if relaxed not in ("true", "false", "1", "0", "yes", "no", ""):
            raise BadRequest(400, f"relaxed must be true or false, got {p['relaxed']!r}")
        mode = p.get("mode", "log")
        if mode not in _READ_MODES:
            raise BadRequest(400, f"mode must be one of {', '.join(_READ_MODES)}, got {mode!r}")
        if relaxed in ("true", "1", "yes"):
            if mode not in ("log", "relaxed"):
                raise BadRequest(
                    400, f"relaxed=true is mode=relaxed; it cannot go with mode={mode}"
                )
            mode = "relaxed"
        if mode in ("read_index", "lease"):
            return await self._read(request, key, mode)
        if mode == "relaxed":
            # This node's own copy, as far as it has applied its log: fast, maybe stale.
            sm = self.rt.state_machine
            node = self.rt.node
            info = {
                "key": key,
                "relaxed": True,
                "node": self.rt.id,
                "last_applied": node.last_applied,
            }
            value = sm.data.get(key)  # one lookup: the node's thread may be applying
            if value is None:
                return _json(
                    404, {"error": f"key not found: no key {key!r} in S{self.rt.id}'s copy", **info}
                )
            if not wants_json(request):
                return _plain(value)
            return _json(200, {**info, "value": value})
        a = await self._one(Command(Kind.GET, key))
        if isinstance(a.error, KeyNotFound):
            return _json(
                404, {"error": f"key not found: {a.error}", "key": key, "index": a.entry.index}
            )
        if a.error is not None:
            return self._write_answer(a, {"key": key})
        value = a.result.decode()
        if not wants_json(request):
            return _plain(value)
        return _json(200, {"key": key, "value": value, "index": a.entry.index})

    async def _read(self, request: web.Request, key: str, mode: str) -> web.Response:
        """ReadIndex or a lease read (thesis §6.4): no log entry; the leader confirms it
        still leads (or its lease holds), then reads its state machine at once."""
        rt, timeout = self.rt, self.limits.request_timeout_s
        if mode == "lease" and not rt.config.lease_ms:
            raise BadRequest(
                400, "mode=lease needs a lease: start every server with --lease-ms (e.g. 100)"
            )

        # Not through the bridge: reads have their own way to the node, queued and
        # answered in batches, and lease reads mostly never reach it
        # (raftlab.server.reads).
        served = rt.read_under_lease(key) if mode == "lease" else None
        if served is None:
            if self._admit is None:
                self._admit = asyncio.Semaphore(self.limits.max_in_flight)
            if self._deadlines is None:
                self._deadlines = Deadlines(timeout)
            async with self._admit:
                served = await self._deadlines.add(rt.submit_read(mode, key))
        index, value = served
        if value is None:
            return _json(
                404,
                {
                    "error": f"key not found: no key {key!r}",
                    "key": key,
                    "mode": mode,
                    "index": index,
                },
            )
        if not wants_json(request):
            return _plain(value)
        return _json(200, {"key": key, "value": value, "mode": mode, "index": index})

    async def batch(self, request: web.Request) -> web.Response:
        body = await self._read_body(request)
        try:
            commands = codec.decode_batch(body)
        except ValueError as exc:
            raise BadRequest(400, f"malformed batch body: {exc}") from None
        if not commands:
            raise BadRequest(400, "an empty batch: send at least one command")
        results = await self._propose(commands)
        out = []
        for a in results:
            err = a.error
            if err is None:
                r = a.result
                out.append((codec.OK, r if isinstance(r, bytes) else b""))
            elif isinstance(err, KeyNotFound):
                out.append((codec.NOT_FOUND, str(err).encode()))
            else:
                out.append((codec.ERROR, f"{type(err).__name__}: {err}".encode()))
        return web.Response(
            body=codec.encode_results(out),
            content_type="application/octet-stream",
            headers={"X-Raftlab-First-Index": str(results[0].entry.index)},
        )

    # --------------------------------------------------------------- looking

    async def status(self, request: web.Request) -> web.Response:
        async def read() -> dict[str, Any]:
            return self.rt.status()

        return _json(200, await self._on_raft(read))

    async def digest(self, request: web.Request) -> web.Response:
        """SHA-256 of the log (from ``since``, default the first entry held, up to ``upto``,
        default all) and of the key-value data."""
        upto = request.query.get("upto")
        since = request.query.get("since")
        return _json(200, await self._on_raft(lambda: self._digest(upto, since)))

    async def _digest(self, upto: str | None, since: str | None = None) -> dict[str, Any]:
        node = self.rt.node
        try:
            last = node.log.last_index if upto is None else int(upto)
            first = node.log.first_index if since is None else int(since)
        except ValueError:
            raise BadRequest(
                400, f"upto and since must be whole numbers, got {upto!r}, {since!r}"
            ) from None
        if first < node.log.first_index:
            raise BadRequest(
                400,
                f"since={first} is before this log's first index {node.log.first_index}: a "
                f"snapshot replaced the entries up to {node.log.snapshot_index} (§7)",
            )
        if not 0 <= last <= node.log.last_index:
            raise BadRequest(
                400, f"upto={last} is past this log's last index {node.log.last_index}"
            )
        data = self.rt.state_machine.data
        log_sha = codec.log_digest(node.log.entries(first, last + 1) if first <= last else [])
        return {
            "id": self.rt.id,
            "since": first,
            "upto": last,
            "last_index": node.log.last_index,
            "commit_index": node.commit_index,
            "last_applied": node.last_applied,
            "log_sha256": log_sha,
            "keys": len(data),
            "state_sha256": codec.state_digest(data),
        }

    # ------------------------------------------------------------ membership

    async def members(self, request: web.Request) -> web.Response:
        """The configuration this node holds (latest and committed) and every server's
        Raft address: what ``kvapi --join`` reads to find the cluster."""

        async def read() -> dict[str, Any]:
            rt, n = self.rt, self.rt.node
            conf, committed = n.configuration, n.committed_configuration
            raft: dict[int, str] = {}
            for c in (n.base_configuration, *(c for _, c in n._configs)):
                raft.update(c.addresses)
            return {
                "id": rt.id,
                "cluster": getattr(rt, "cluster_digest", ""),
                "leader": n.leader_id,
                "leader_http": rt.leader_http,
                "voters": sorted(conf.voters),
                "learners": sorted(conf.learners),
                "committed": {
                    "voters": sorted(committed.voters),
                    "learners": sorted(committed.learners),
                },
                "raft": {str(i): a for i, a in sorted(raft.items())},
                "http": {str(i): u for i, u in sorted(rt.peer_http.items())},
            }

        return _json(200, await self._on_raft(read))

    def _server_id(self, params: dict[str, str]) -> int:
        text = params.get("id")
        if text is None:
            raise BadRequest(400, "missing parameter 'id'; e.g. /add?id=4&raft=:3033&http=:2023")
        try:
            i = int(text)
        except ValueError:
            raise BadRequest(400, f"id must be a whole number >= 1, got {text!r}") from None
        if not 1 <= i < 2**62:
            raise BadRequest(400, f"id must be a whole number >= 1, got {i}")
        return i

    async def _change(self, make: Any) -> web.Response:
        rt, timeout = self.rt, self.limits.request_timeout_s
        try:
            index = await self._on_raft(lambda: rt.change(make, timeout))
        except ConfigurationChangeRefused as exc:
            return _json(409, {"error": str(exc)}, {"Retry-After": "1"})
        except ValueError as exc:
            raise BadRequest(400, str(exc)) from None
        return _json(200, {"index": index, "configuration": str(rt.node.configuration)})

    async def add(self, request: web.Request) -> web.Response:
        """``/add?id=4&raft=:3033&http=:2023``: a new server, as a learner (§4.1)."""
        from raftlab.server.kvapi import parse_address

        p = await self._params(request)
        i = self._server_id(p)
        if "raft" not in p:
            raise BadRequest(400, "missing parameter 'raft', the new server's Raft address")
        try:
            raft = str(parse_address(p["raft"], "raft"))
            http = parse_address(p["http"], "http").url if "http" in p else None
        except ValueError as exc:
            raise BadRequest(400, str(exc)) from None

        def make(conf):
            if i in conf:
                role = "a voter" if i in conf.voters else "a learner"
                raise ValueError(f"S{i} is already {role} in the configuration ({conf})")
            return conf.with_learner(i, raft)

        if http is not None:
            self.rt.peer_http.setdefault(i, http)
        return await self._change(make)

    async def remove(self, request: web.Request) -> web.Response:
        """``/remove?id=1``: remove a server (§4.1); a leader removing itself steps down."""
        p = await self._params(request)
        i = self._server_id(p)

        def make(conf):
            if i not in conf:
                raise ValueError(f"S{i} is not in the configuration ({conf}); nothing to remove")
            if conf.voters == {i}:
                raise ValueError(f"S{i} is the last voter; a cluster cannot remove all its voters")
            return conf.without(i)

        return await self._change(make)

    async def index(self, request: web.Request) -> web.Response:
        return web.Response(
            text=f"raftlab kvapi node S{self.rt.id}: try /status, /set?key=x&value=1, /get?key=x\n"
        )

    # ----------------------------------------------------------- redirection

    def _redirect(self, request: web.Request, leader: int | None) -> web.Response:
        rt = self.rt
        url = rt.peer_http.get(leader) if leader is not None else None
        if leader is None or url is None:
            who = f"S{leader}, whose address it has not learnt yet" if leader else "no leader"
            return _json(
                503,
                {
                    "error": f"S{rt.id} is not the leader and knows {who} (an "
                    "election may be in progress); retry shortly",
                    "leader": leader,
                    "leader_http": None,
                },
                {"Retry-After": "1"},
            )
        return _json(
            307,
            {
                "error": f"S{rt.id} is not the leader; the leader is S{leader} at {url}",
                "leader": leader,
                "leader_http": url,
            },
            {"Location": url + request.path_qs},
        )
