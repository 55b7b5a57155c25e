"""The key-value store's HTTP API (the seed's ``cmd/kvapi``, with more endpoints).

Endpoints (each also accepts POST with the same fields as a form body, for long values):

=============================================  =============================================
``GET /set?key=K&value=V``                     set K to V through the log
``GET /get?key=K``                             read K through the log (linearizable)
``GET /get?key=K&relaxed=true``                read this node's copy (any node; may be stale)
``GET /delete?key=K``                          delete K
``GET /cas?key=K&expected=E&value=V``          set K to V if it holds E; ``swapped`` says
``GET /append?key=K&value=V``                  append V to K's value
``POST /batch``                                many encoded commands at once (see below)
``GET /status``                                id, role, term, commit and last index, leader
``GET /digest``                                hashes of the log and of the data, to compare
=============================================  =============================================

Writes may carry ``client=ID&seq=N`` (both or neither): the command is then wrapped in a
session envelope and a retry with the same pair is applied at most once
(``raftlab.kv.state_machine``).  ``raftlab.server.client.Client`` does this for you.

Answers are JSON.  A node that is not the leader answers ``307 Temporary Redirect`` with a
``Location`` on the leader's HTTP address (so ``curl -L`` follows it) and a body naming the
leader; it learns that address from the ``X-Raftlab-Http`` header the leader sends when
it connects to it (``raftlab.server.transport``), and ``/status`` shows it as
``leader_http``.
With no leader known it answers ``503`` with ``Retry-After: 1``.  ``503`` also means the
leader lost its leadership and the command was not applied (safe to retry; for a batch,
the message says how many of its commands were applied before that); ``504`` means
no answer came in time and the command may or may not be applied (retry with the same
``client`` and ``seq``).  Missing or malformed parameters get ``400``; a key, value or body
over the limits (``--max-key-bytes``, ``--max-value-bytes``, ``--max-body-bytes``) ``413``.

``POST /batch`` takes the commands of ``raftlab.kv.encode_command``, each behind a u32
length (``raftlab.server.codec.encode_batch``), proposes them together and answers, per
command, a status byte, a u32 length and the result or the error message
(``codec.decode_results``).  The commands are not decoded on the way in (that would cost
the leader as much as applying them): a malformed one is committed like any other and its
result is the decoder's error, the same on every replica.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from raftlab.errors import LeadershipLost, NotLeader
from raftlab.kv import Command, KeyNotFound, Kind, encode_command
from raftlab.node import Applied
from raftlab.server import codec
from raftlab.server.runtime import NodeRuntime

_U64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Limits:
    """What the API accepts; over a limit is ``413``, with the flag to raise it."""

    max_key_bytes: int = 1024
    max_value_bytes: int = 1 << 20
    max_body_bytes: int = 64 << 20
    request_timeout_s: float = 5.0


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


Handler = Callable[[web.Request], Awaitable[web.Response]]


def kv_app(runtime: NodeRuntime, limits: Limits) -> web.Application:
    """The client-facing application of one node."""
    api = _Api(runtime, limits)
    app = web.Application(client_max_size=limits.max_body_bytes)
    for name in ("set", "get", "delete", "cas", "append"):
        handler = api.wrap(getattr(api, name))
        app.router.add_route("GET", f"/{name}", handler)
        app.router.add_route("POST", f"/{name}", handler)
    app.router.add_post("/batch", api.wrap(api.batch))
    app.router.add_get("/status", api.wrap(api.status))
    app.router.add_get("/digest", api.wrap(api.digest))
    app.router.add_get("/", api.wrap(api.index))
    return app


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body) + "\n",
        content_type="application/json",
        headers=headers,
    )


class _Api:
    def __init__(self, runtime: NodeRuntime, limits: Limits):
        self.rt = runtime
        self.limits = limits

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
        params = dict(request.query)
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    def _text(
        self, params: dict[str, str], name: str, limit: int, flag: str, allow_empty: bool = True
    ) -> str:
        if name not in params:
            raise BadRequest(400, f"missing parameter {name!r}; e.g. /set?key=x&value=1")
        value = params[name]
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise BadRequest(400, f"parameter {name!r} is not valid UTF-8") from None
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

    async def _one(self, cmd: Command) -> Applied:
        (applied,) = await self.rt.propose([encode_command(cmd)], self.limits.request_timeout_s)
        return applied

    async def set(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        key, value = self._key(p), self._value(p)
        a = await self._one(Command(Kind.SET, key, value, None, *self._session(p)))
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
        if relaxed in ("true", "1", "yes"):
            # This node's own copy, as far as it has applied its log: fast, maybe stale.
            sm = self.rt.state_machine
            node = self.rt.node
            info = {
                "key": key,
                "relaxed": True,
                "node": self.rt.id,
                "last_applied": node.last_applied,
            }
            if key not in sm.data:
                return _json(404, {"error": f"no key {key!r} in S{self.rt.id}'s copy", **info})
            return _json(200, {**info, "value": sm.data[key]})
        a = await self._one(Command(Kind.GET, key))
        if isinstance(a.error, KeyNotFound):
            return _json(404, {"error": str(a.error), "key": key, "index": a.entry.index})
        if a.error is not None:
            return self._write_answer(a, {"key": key})
        return _json(200, {"key": key, "value": a.result.decode(), "index": a.entry.index})

    async def batch(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            commands = codec.decode_batch(body)
        except ValueError as exc:
            raise BadRequest(400, f"malformed batch body: {exc}") from None
        if not commands:
            raise BadRequest(400, "an empty batch: send at least one command")
        results = await self.rt.propose(commands, self.limits.request_timeout_s)
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
        return _json(200, self.rt.status())

    async def digest(self, request: web.Request) -> web.Response:
        """SHA-256 of the log (up to ``upto``, default all) and of the key-value data."""
        node = self.rt.node
        upto = request.query.get("upto")
        try:
            last = node.log.last_index if upto is None else int(upto)
        except ValueError:
            raise BadRequest(400, f"upto must be a whole number, got {upto!r}") from None
        if not 0 <= last <= node.log.last_index:
            raise BadRequest(
                400, f"upto={last} is past this log's last index {node.log.last_index}"
            )
        data = self.rt.state_machine.data
        log_sha = codec.log_digest(node.log.entries(1, last + 1))
        return _json(
            200,
            {
                "id": self.rt.id,
                "upto": last,
                "last_index": node.log.last_index,
                "commit_index": node.commit_index,
                "last_applied": node.last_applied,
                "log_sha256": log_sha,
                "keys": len(data),
                "state_sha256": codec.state_digest(data),
            },
        )

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
