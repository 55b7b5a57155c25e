"""The key-value state machine: what every replica does with each committed entry.

Theory of operation
-------------------
Raft's promise (§5.4.3, State Machine Safety) is that every replica applies the same
commands in the same order.  If ``apply`` is deterministic (it reads no clock, draws no
random number and iterates nothing in hash order), replicas that applied the same prefix
of the log hold exactly the same state.  ``KVStateMachine`` is such a function over a
plain ``dict[str, str]``:

==========  =========================================  ===================================
command     effect                                     ``apply`` returns
==========  =========================================  ===================================
SET k v     ``data[k] = v``                            ``b""`` (as the seed: nothing)
GET k       none                                       the value's UTF-8 bytes, or raises
                                                       :class:`KeyNotFound`
DELETE k    removes k if present                       ``b""`` (also when k was missing)
CAS k e v   ``data[k] = v`` if ``data[k] == e``        ``b"true"``, or ``b"false"`` (also
                                                       when k is missing)
APPEND k v  ``data[k] = data.get(k, "") + v``          the new value's UTF-8 bytes
==========  =========================================  ===================================

Malformed bytes raise ``ValueError`` (from :func:`~raftlab.kv.commands.decode_command`)
and change nothing; every replica raises the same error for the same entry.

Exactly-once retries (§8 of the Raft paper, "Client interaction")
-----------------------------------------------------------------
A client that times out cannot tell whether its write was lost or committed, so it
retries, and the log may then hold the same write twice.  For a SET that is harmless; for
an APPEND or a CAS it is not.  So a command may carry a session ``(client_id, seq)``,
and the state machine remembers, per client, the last ``seq`` it applied and the result
(:class:`Session`).  Clients have one operation outstanding at a time and number them
1, 2, 3, ..., which leaves three cases for an enveloped write:

* ``seq`` is new (above the last one, or the client's first): apply it and remember.
* ``seq`` equals the last one: a retry.  Change nothing; return the remembered result.
* ``seq`` is below the last one: a very old duplicate that no client is waiting for.
  Change nothing; return ``b""``.

GETs read the current data every time and neither consult nor update the table: a read
changes nothing, so applying one twice is harmless, and a client may number its reads
with the same counter as its writes without disturbing the dedup of its writes.

The table is replicated state like the data: it is built only by ``apply``, so every
replica that applies the same log builds the same table, and a new leader still drops a
retry of a write that its predecessor committed.  (It grows by one entry per client,
forever; real systems expire sessions, which needs a deterministic notion of time.)

Snapshots (§7)
--------------
``snapshot()`` writes the whole state as bytes and ``restore(bytes)`` reads it back.
The whole state is the data **and the session table**: a replica restored from a
snapshot without the table would apply a retried write again (§6.3 of Ongaro's thesis;
the planted bug ``snapshot_forgets_sessions`` does exactly that).  The bytes are
canonical (keys and client ids sorted), so two replicas in the same state write the
same bytes, and the safety checks can compare them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from raftlab.errors import RaftLabError
from raftlab.kv.commands import Command, Kind, decode_command
from raftlab.records import fast_init

__all__ = ["KVStateMachine", "KeyNotFound", "Session", "decode_snapshot", "encode_snapshot"]

# The kinds, read once: on Python 3.11 each ``Kind.GET`` calls the enum metaclass's
# __getattr__ hook, and apply compares kinds for every entry on every replica.
_GET, _SET, _DELETE, _CAS, _APPEND = Kind.GET, Kind.SET, Kind.DELETE, Kind.CAS, Kind.APPEND


class KeyNotFound(KeyError, RaftLabError):
    """A GET asked for a key the store does not hold.  ``key`` is that key."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(key)

    def __str__(self) -> str:
        # KeyError's own str() is just repr(key); say what happened instead.
        return f"no key {self.key!r} in the store"


@fast_init
@dataclass(frozen=True, slots=True)
class Session:
    """What the state machine remembers about one client: its last applied write."""

    last_seq: int
    result: bytes


class KVStateMachine:
    """A replicated ``dict[str, str]``; feed it committed entries with :meth:`apply`.

    ``data`` is a read-only live view for pictures and tests; ``snapshot()`` writes the
    state (data and sessions) as bytes and ``restore`` reads them back (§7).
    """

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._sessions: dict[int, Session] = {}
        self.duplicates = 0  # enveloped writes not re-applied (retries and old duplicates)

    @property
    def data(self) -> Mapping[str, str]:
        """The current key -> value mapping (read-only, changes as entries are applied)."""
        return MappingProxyType(self._data)

    @property
    def sessions(self) -> Mapping[int, Session]:
        """client id -> :class:`Session`: the exactly-once table (read-only view)."""
        return MappingProxyType(self._sessions)

    def snapshot(self) -> bytes:
        """The whole state as bytes, for a Raft snapshot (§7): data and session table."""
        return encode_snapshot(self._data, self._sessions)

    def restore(self, snapshot: bytes) -> None:
        """Replace the whole state with a ``snapshot()``'s (Figure 13, step 8).  Bytes that
        are not a snapshot raise ``ValueError`` and change nothing."""
        data, sessions = decode_snapshot(snapshot)
        # In place, so a ``data`` view taken earlier follows.  New values first, then the
        # keys the snapshot lacks removed: a reader on another thread (a relaxed read on a
        # real server) sees each key as it was or as the snapshot has it, never missing
        # while both have it (clearing first left a moment with the store empty).
        store = self._data
        store.update(data)
        for key in [k for k in store if k not in data]:
            del store[key]
        self._sessions = sessions

    def apply(self, command: bytes) -> bytes:
        """Apply one committed entry and return its result (see the module docstring)."""
        cmd = decode_command(command)
        if cmd.kind is _GET:
            return self._get(cmd.key)
        if cmd.client_id is not None:  # cmd.in_session, without a property call
            session = self._sessions.get(cmd.client_id)
            if session is not None and cmd.seq <= session.last_seq:
                self.duplicates += 1
                return session.result if cmd.seq == session.last_seq else b""
            result = self._write(cmd)
            self._sessions[cmd.client_id] = Session(cmd.seq, result)
            return result
        return self._write(cmd)

    def _get(self, key: str) -> bytes:
        try:
            return self._data[key].encode("utf-8")
        except KeyError:
            raise KeyNotFound(key) from None

    def _write(self, cmd: Command) -> bytes:
        data = self._data
        if cmd.kind is _SET:
            data[cmd.key] = cmd.value
            return b""
        if cmd.kind is _DELETE:
            data.pop(cmd.key, None)
            return b""
        if cmd.kind is _CAS:
            if cmd.key in data and data[cmd.key] == cmd.expected:
                data[cmd.key] = cmd.value
                return b"true"
            return b"false"
        if cmd.kind is _APPEND:
            data[cmd.key] = data.get(cmd.key, "") + cmd.value
            return data[cmd.key].encode("utf-8")
        raise AssertionError(f"unhandled command kind {cmd.kind!r}")  # Kind is closed

    def __repr__(self) -> str:
        return f"KVStateMachine({len(self._data)} keys, {len(self._sessions)} clients)"


_SNAPSHOT_FORMAT = "raftlab.kv/1"
# What json.dumps(doc, ensure_ascii=False, separators=(",", ":")) would build at every call
# (servers snapshot every few entries), made once; it keeps no state between calls.
_SNAPSHOT_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_snapshot(data: Mapping[str, str], sessions: Mapping[int, Session]) -> bytes:
    """The key-value store's snapshot: canonical JSON (sorted), UTF-8.

    ``{"format": "raftlab.kv/1", "data": {key: value}, "sessions": [[client_id, last_seq,
    result as latin-1 text]]}``.
    """
    doc = {
        "format": _SNAPSHOT_FORMAT,
        "data": {k: data[k] for k in sorted(data)},
        "sessions": [
            [cid, sessions[cid].last_seq, sessions[cid].result.decode("latin-1")]
            for cid in sorted(sessions)
        ],
    }
    return _SNAPSHOT_ENCODER.encode(doc).encode("utf-8")


def decode_snapshot(snapshot: bytes) -> tuple[dict[str, str], dict[int, Session]]:
    """The data and session table of an :func:`encode_snapshot`; ``ValueError`` if the
    bytes are not one."""
    if not isinstance(snapshot, bytes | bytearray):
        raise TypeError(f"a snapshot is bytes, got {type(snapshot).__name__}")
    try:
        doc = json.loads(bytes(snapshot).decode("utf-8"))
        if doc.get("format") != _SNAPSHOT_FORMAT:
            raise ValueError(f"not a {_SNAPSHOT_FORMAT} snapshot")
        data = doc["data"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError("keys and values must be text")
        sessions = {
            int(cid): Session(int(seq), result.encode("latin-1"))
            for cid, seq, result in doc["sessions"]
        }
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeError) as exc:
        raise ValueError(
            f"these {len(snapshot)} bytes are not a key-value store snapshot ({exc})"
        ) from None
    return dict(data), sessions
