"""A listening port that a slow or greedy client cannot exhaust.

aiohttp's server, left alone, waits forever for a request that is sent one byte a minute,
and accepts connections until the process runs out of file descriptors (then asyncio logs
"accept() out of system resource" on every retry while the node stays deaf).  A
:class:`Listener` puts two bounds in front of an aiohttp application:

- **a connection limit**: a connection over ``max_connections`` is answered at once with
  ``503`` and a JSON sentence (``Retry-After: 1``), then closed, so it costs one accept and
  one write, never a file descriptor kept open;
- **a read timeout**: a connection must deliver a complete request within
  ``read_timeout_s`` of opening, and the next one within ``read_timeout_s`` of the last
  answer (the idle timeout).  Otherwise it is closed.  While a request is being handled
  the clock does not run: a client waiting for a commit is not "slow".  Handlers bound
  their own body reads (``raftlab.server.http``).

:class:`ThreadedListener` runs a listener on its own event loop in its own thread.  The
client API runs there, so a burst of clients (accepting, parsing, answering) competes
with Raft's heartbeats only for the interpreter lock, which Python hands over every few
milliseconds, and never queues Raft's timers behind thousands of client callbacks on one
loop (§5.2: a leader that misses its heartbeats is deposed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("raftlab.server")


class _JsonErrors(RequestHandler):
    """aiohttp's protocol, with its own error answers (a request it cannot parse: a line
    or header over the limits, bad syntax) as JSON sentences like every other error."""

    def handle_error(self, request, status=500, exc=None, message=None):  # type: ignore[override]
        resp = super().handle_error(request, status, exc, message)  # logs (rate-limited)
        text = message or (resp.text or "").strip().splitlines()[0]
        answer = web.Response(
            status=resp.status,
            text=json.dumps({"error": f"the request could not be read: {text}"}) + "\n",
            content_type="application/json",
        )
        answer.force_close()
        return answer


def _make_handler(server: web.Server) -> RequestHandler:
    # web.Server() builds a RequestHandler with the runner's settings (limits, timeouts);
    # build ours with the same ones.
    return _JsonErrors(server, loop=server._loop, **server._kwargs)  # noqa: SLF001


def _busy_answer(what: str, limit: int) -> bytes:
    body = (
        json.dumps(
            {
                "error": f"too many connections: this {what} holds {limit} open connections "
                "(--max-connections); retry shortly"
            }
        )
        + "\n"
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


class _Guard(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: counts it and times its reads."""

    def __init__(self, listener: Listener):
        self.listener = listener
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.busy = 0  # requests being handled on this connection
        self.deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        lst = self.listener
        self.transport = transport  # type: ignore[assignment]
        if len(lst.guards) >= lst.max_connections:
            lst.refused += 1
            log.warning(
                "%s: refused a connection: %d open (--max-connections)",
                lst.what,
                lst.max_connections,
            )
            transport.write(lst.busy_answer)  # type: ignore[attr-defined]
            transport.close()
            return
        lst.guards[transport] = self
        self.inner = _make_handler(lst.runner.server)
        self.inner.connection_made(transport)
        self.touch()
        self._arm(lst.read_timeout_s)

    def touch(self) -> None:
        self.deadline = self.listener.loop.time() + self.listener.read_timeout_s

    def _arm(self, delay: float) -> None:
        self._timer = self.listener.loop.call_later(delay, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        now = self.listener.loop.time()
        if self.busy == 0 and now >= self.deadline:
            self.listener.timed_out += 1
            log.warning(
                "%s: closed a connection that sent no complete request within %g s",
                self.listener.what,
                self.listener.read_timeout_s,
            )
            self.transport.abort()
            return
        idle = self.busy == 0
        self._arm(max(self.deadline - now, 0.05) if idle else self.listener.read_timeout_s)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.inner is not None:
            self.listener.guards.pop(self.transport, None)
            self.inner.connection_lost(exc)
            self.inner = None
        self.transport = None


class Listener:
    """An aiohttp application on one address, with a connection limit and a read timeout."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        *,
        what: str,
        max_connections: int,
        read_timeout_s: float,
        **runner_kwargs: Any,
    ):
        self.app = app
        self.host = host
        self.port = port
        self.what = what
        self.max_connections = max_connections
        self.read_timeout_s = read_timeout_s
        self.busy_answer = _busy_answer(what, max_connections)
        self.runner_kwargs = runner_kwargs
        self.guards: dict[Any, _Guard] = {}
        self.refused = 0  # connections over the limit
        self.timed_out = 0  # connections closed for sending too slowly
        self.runner: web.AppRunner | None = None
        self.server: asyncio.Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        app.middlewares.insert(0, self._track)

    @web.middleware
    async def _track(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        guard = self.guards.get(request.transport)
        if guard is None:
            return await handler(request)
        guard.busy += 1
        try:
            return await handler(request)
        finally:
            guard.busy -= 1
            guard.touch()

    async def start(self) -> None:
        """Bind and serve; ``OSError`` if the address cannot be bound."""
        self.loop = asyncio.get_running_loop()
        self.runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=self.read_timeout_s,
            **self.runner_kwargs,
        )
        await self.runner.setup()
        try:
            self.server = await self.loop.create_server(
                lambda: _Guard(self), self.host, self.port, reuse_address=True, backlog=1024
            )
        except BaseException:
            await self.runner.cleanup()
            self.runner = None
            raise

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.runner is not None:
            await self.runner.cleanup()  # closes the connections aiohttp knows of
            self.runner = None
        for transport in list(self.guards):
            transport.abort()


class ThreadedListener:
    """A :class:`Listener` on its own event loop, in its own thread (see the docstring)."""

    def __init__(self, listener: Listener):
        self.listener = listener
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the thread and bind; re-raises the ``OSError`` if binding failed."""
        self._thread = threading.Thread(
            target=self._run, name=f"http-{self.listener.what}", daemon=True
        )
        self._thread.start()
        self._ready.wait(timeout_s)
        if self._error is not None:
            self._thread.join(timeout_s)
            raise self._error

    def _run(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.listener.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.listener.close()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._thread is None:
            return
        if self.loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        self._thread = None
