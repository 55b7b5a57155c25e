"""A blocking client for the key-value servers: follows the leader, retries, records history.

``Client`` is to real servers what ``raftlab.kv.KVClient`` is to the simulator::

    client = Client({1: "http://127.0.0.1:2020", 2: "http://127.0.0.1:2021"})
    client.set("x", "1")
    client.get("x")                      # "1", read through the log
    client.get("x", relaxed=True, node=2)  # node 2's own copy, maybe stale

How it finds the leader: it asks the node it last heard the leader was (at first, the
first address).  A follower answers ``307`` with the leader's address in ``Location``; the
client goes there.  A node that knows no leader (an election is running) answers ``503``;
the client waits a little and asks the next node.  A refused connection (a node is down)
also moves it to the next node.  It gives up with ``raftlab.Timeout`` after ``timeout_s``.

Retries are safe: every write carries this client's id and a sequence number
(``client=...&seq=...``), the same on every retry, so the state machine applies it at most
once (``raftlab.kv.state_machine``).  A client therefore has one request outstanding at a
time; use one ``Client`` per thread.

With ``history=`` every call is recorded (``History.call`` before, ``History.complete``
after; a call that timed out stays incomplete: its outcome is unknown), ready for
``raftlab.linearizability.check``.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from raftlab.errors import Timeout
from raftlab.history import History
from raftlab.kv import KeyNotFound
from raftlab.server import codec


def _base(address: str) -> str:
    """``host:port`` or ``http://host:port[/]`` as ``host:port``."""
    address = address.strip()
    if "://" in address:
        parts = urlsplit(address)
        if parts.scheme != "http":
            raise ValueError(f"only http:// addresses are served, got {address!r}")
        address = parts.netloc
    if address.startswith(":"):
        address = "127.0.0.1" + address
    return address.rstrip("/")


class Client:
    """Blocking calls to a raftlab cluster over HTTP (see the module docstring)."""

    def __init__(
        self,
        addresses: Mapping[int, str] | Sequence[str],
        *,
        client_id: int | None = None,
        timeout_s: float = 10.0,
        history: History | None = None,
        clock: Callable[[], float] | None = None,
        retry_delay_s: float = 0.05,
    ):
        if isinstance(addresses, str):
            raise TypeError("addresses is a list or a dict of node id -> address, not a str")
        if isinstance(addresses, Mapping):
            nodes = {int(k): _base(v) for k, v in addresses.items()}
        else:
            nodes = {k: _base(v) for k, v in enumerate(addresses, 1)}
        if not nodes:
            raise ValueError("a client needs at least one server address")
        self.nodes = dict(sorted(nodes.items()))
        self.client_id = (
            int.from_bytes(os.urandom(8), "little") >> 1 if client_id is None else client_id
        )
        self.timeout_s = timeout_s
        self.history = history
        self.clock = clock or (lambda: time.monotonic() * 1000.0)
        self.retry_delay_s = retry_delay_s
        self.seq = 0
        self.redirects = 0  # how often a follower sent us to the leader
        self.retries = 0  # attempts that failed and were tried again
        self._target = next(iter(self.nodes.values()))
        self._conns: dict[str, http.client.HTTPConnection] = {}

    # ------------------------------------------------------------- key-value

    def set(self, key: str, value: str) -> int:
        """Set ``key`` to ``value``; return the log index of the write."""
        return self._write("set", key, {"value": value})["index"]

    def delete(self, key: str) -> int:
        return self._write("delete", key, {})["index"]

    def append(self, key: str, value: str) -> str:
        """Append ``value`` to ``key``'s value (a missing key counts as ""); the new value."""
        return self._write("append", key, {"value": value})["value"]

    def cas(self, key: str, expected: str, new: str) -> bool:
        """Set ``key`` to ``new`` if it holds ``expected``; whether it did."""
        return self._write("cas", key, {"expected": expected, "value": new})["swapped"]

    def get(
        self, key: str, mode: str = "log", *, relaxed: bool = False, node: int | None = None
    ) -> str:
        """``key``'s value, read through the log (linearizable); ``KeyNotFound`` if absent.

        ``mode="read_index"`` or ``"lease"`` asks the leader for a linearizable read without
        a log entry (thesis §6.4).  With ``mode="relaxed"`` (or ``relaxed=True``) it asks
        ``node`` (default: the first) for its own copy: no round through the log, so fast,
        but it may be stale.
        """
        if mode not in ("log", "read_index", "lease", "relaxed"):
            raise ValueError(
                f"unknown read mode {mode!r}; use 'log', 'read_index', 'lease' or 'relaxed'"
            )
        relaxed = relaxed or mode == "relaxed"
        op = self._record("get", key, relaxed=relaxed, mode=mode)
        try:
            if relaxed:
                target = self.nodes[node] if node is not None else self._target
                status, body = self._once(
                    target, "GET", "/get?" + urlencode({"key": key, "relaxed": "true"})
                )
                data = json.loads(body)
            else:
                params = {"key": key} if mode == "log" else {"key": key, "mode": mode}
                status, data = self._call("GET", "/get", params)
        except BaseException:
            self._unknown(op)
            raise
        if status == 404:
            self._done(op, None)
            raise KeyNotFound(key)
        if status != 200:
            self._unknown(op)
            raise ValueError(data.get("error", f"HTTP {status}"))
        self._done(op, data["value"])
        return data["value"]

    def _write(self, name: str, key: str, params: dict[str, str]) -> dict[str, Any]:
        self.seq += 1
        fields = {"key": key, **params, "client": str(self.client_id), "seq": str(self.seq)}
        op = self._record(name, key, value=params.get("value"), expected=params.get("expected"))
        try:
            status, data = self._call("GET", f"/{name}", fields)
        except BaseException:
            self._unknown(op)
            raise
        if status != 200:
            self._unknown(op)
            raise ValueError(data.get("error", f"HTTP {status}"))
        output: Any = None
        if name == "cas":
            output = data["swapped"]
        elif name == "append":
            output = data["value"]
        self._done(op, output)
        return data

    # ----------------------------------------------------------------- batches

    def batch(self, commands: Sequence[bytes]) -> list[tuple[int, bytes]]:
        """Propose encoded commands together (``POST /batch``); per command
        ``(status, bytes)`` with status ``codec.OK``, ``ERROR`` or ``NOT_FOUND``."""
        return self.batch_body(codec.encode_batch(commands))

    def batch_body(self, body: bytes) -> list[tuple[int, bytes]]:
        """Like :meth:`batch`, with the body already encoded (``codec.encode_batch``)."""
        status, raw = self._call("POST", "/batch", None, body)
        if status != 200:
            raise ValueError(raw.get("error", f"HTTP {status}"))
        return codec.decode_results(raw)

    # ---------------------------------------------------------------- looking

    def status(self, node: int) -> dict[str, Any]:
        """``/status`` of ``node`` (an ``OSError`` if it does not answer)."""
        return json.loads(self._once(self.nodes[node], "GET", "/status", timeout=2.0)[1])

    def digest(self, node: int, upto: int | None = None) -> dict[str, Any]:
        path = "/digest" if upto is None else f"/digest?upto={upto}"
        return json.loads(self._once(self.nodes[node], "GET", path, timeout=10.0)[1])

    # ------------------------------------------------------------ the retry loop

    def _call(
        self, method: str, path: str, params: dict[str, str] | None, body: bytes | None = None
    ) -> tuple[int, Any]:
        """Send to the leader, following redirects and retrying until ``timeout_s``."""
        url = path + ("?" + urlencode(params) if params else "")
        deadline = time.monotonic() + self.timeout_s
        last_problem = "no attempt made"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"no answer within {self.timeout_s:g} s ({last_problem})")
            target = self._target
            try:
                status, raw, headers = self._once(
                    target, method, url, body, timeout=left, with_headers=True
                )
            except (OSError, http.client.HTTPException) as exc:
                last_problem = f"{target}: {exc or type(exc).__name__}"
                self._next_node()
                self._pause(deadline)
                continue
            if status == 307:
                self.redirects += 1
                self._target = _base(headers.get("Location", ""))
                continue
            if status in (503, 504):
                data = json.loads(raw)
                last_problem = data.get("error", f"HTTP {status}")
                self.retries += 1
                if status == 503 and data.get("leader_http"):
                    self._target = _base(data["leader_http"])
                elif status == 503:
                    self._next_node()
                self._pause(deadline)
                continue
            if method == "POST" and status == 200:
                return status, raw
            return status, json.loads(raw)

    def _next_node(self) -> None:
        addrs = list(self.nodes.values())
        try:
            k = addrs.index(self._target)
        except ValueError:
            k = -1
        self._target = addrs[(k + 1) % len(addrs)]

    def _pause(self, deadline: float) -> None:
        time.sleep(max(0.0, min(self.retry_delay_s, deadline - time.monotonic())))

    def _once(
        self,
        target: str,
        method: str,
        url: str,
        body: bytes | None = None,
        *,
        timeout: float | None = None,
        with_headers: bool = False,
    ) -> Any:
        for attempt in (1, 2):
            conn = self._conns.get(target)
            reused = conn is not None and conn.sock is not None
            if conn is None:
                host, _, port = target.rpartition(":")
                conn = http.client.HTTPConnection(host.strip("[]"), int(port))
                self._conns[target] = conn
            conn.timeout = timeout or self.timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                # JSON answers: without this header /get and /set answer as goraft's
                # kvapi does (the bare value; an empty body).
                headers = {"Accept": "application/json"}
                if body is not None:
                    headers["Content-Type"] = "application/octet-stream"
                conn.request(method, url, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                del self._conns[target]
                # A kept-alive connection the server had closed (it restarted, or it
                # dropped an idle connection), so most likely the request never arrived:
                # try once more on a new one.  (Writes carry a session, so even if it did
                # arrive, it is applied once.)
                if not reused or attempt == 2:
                    raise
            except BaseException:
                conn.close()
                del self._conns[target]
                raise
        if with_headers:
            return resp.status, raw, resp.headers
        return resp.status, raw

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- history

    def _record(
        self,
        op: str,
        key: str,
        *,
        value: Any = None,
        expected: Any = None,
        relaxed: bool = False,
        mode: str | None = None,
    ) -> int | None:
        if self.history is None:
            return None
        return self.history.call(
            client=self.client_id,
            op=op,
            key=key,
            value=value,
            expected=expected,
            relaxed=relaxed,
            mode=mode if op == "get" and not relaxed else None,
            time=self.clock(),
        )

    def _done(self, op: int | None, output: Any) -> None:
        if op is not None:
            self.history.complete(op, output, time=self.clock())

    def _unknown(self, op: int | None) -> None:
        """The call failed without an answer: it stays incomplete (outcome unknown)."""

    def __repr__(self) -> str:
        return f"Client(client_id={self.client_id}, nodes={self.nodes})"


def peek(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    timeout_s: float = 5.0,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request, no redirect followed, no retry: ``(status, headers, answer)``.

    ``answer`` is the decoded JSON when the server sent JSON, the text when it sent
    ``text/plain`` (as ``curl`` prints it), else the raw bytes.  For looking at what one
    server says, e.g. a follower's redirect.  ``headers`` are sent with the request.
    """
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        path = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, path or "/", body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        raw = resp.read()
        headers = dict(resp.headers)
    finally:
        conn.close()
    kind = headers.get("Content-Type", "")
    if kind.startswith("application/json"):
        return resp.status, headers, json.loads(raw)
    if kind.startswith("text/plain"):
        return resp.status, headers, raw.decode("utf-8")
    return resp.status, headers, raw
