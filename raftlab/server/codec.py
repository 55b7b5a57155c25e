"""Bytes for the real servers: log entries, Raft messages and client batches.

Theory of operation
-------------------
The simulator passes Python objects around; real servers must turn them into bytes, for
the disk (``raftlab.server.storage``) and for the wire (``raftlab.server.transport``).
Both use the same encoding of a run of log entries, so an entry received from the leader
can be written to disk without being encoded again (see :class:`EntryCache`).

All integers are little-endian.  A run of entries starting at a known index is::

    for each entry:  term u64 | length u64 | command (length bytes)

with ``length == NOOP`` (2**64 - 1) and no bytes for a new leader's no-op (§8), whose
command is ``None``.  Indexes are not stored: the run's first index is written once by
whoever frames it.  A Raft message is one type byte and fixed fields (node ids, terms and
indexes as u64; a vote or a success as one byte); an AppendEntries adds its entry count
and the run of entries.  A batch of messages (one HTTP request to a peer) is each message
behind its u64 length.

A client batch (``POST /batch``) is each command behind a u32 length; its answer is, per
command, a status byte (``OK``, ``ERROR``, ``NOT_FOUND``), a u32 length and the result or
the error message in UTF-8.

Every decoder raises ``ValueError`` with a sentence naming the offset on anything
malformed, never ``IndexError`` or ``struct.error``: bytes from a socket or a disk are
input, not trusted data.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence

from raftlab.log import Entry
from raftlab.messages import (
    AppendEntries,
    AppendEntriesReply,
    Message,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
)

NOOP = 2**64 - 1  # the length that marks a no-op entry (command None)

_ENTRY = struct.Struct("<QQ")
_LEN64 = struct.Struct("<Q")
_LEN32 = struct.Struct("<I")
# The last field of each is raftlab.reads's: a vote's flags (1 PreVote, 2 transfer), a
# pre-vote answer's flag, and the heartbeat round (seq) an AppendEntries and its reply carry.
_VOTE = struct.Struct("<BQQQQQQB")  # kind src dst term candidate last_index last_term flags
_VOTE_REPLY = struct.Struct("<BQQQBB")  # kind src dst term granted pre_vote
_APPEND = struct.Struct("<BQQQQQQQQQ")  # kind src dst term leader prev prev_term commit count seq
_APPEND_REPLY = struct.Struct("<BQQQBQQQQQ")  # kind src dst term ok match rejected cterm cindex seq
_TIMEOUT_NOW = struct.Struct("<BQQQ")  # kind src dst term
_RESULT = struct.Struct("<BI")

_K_VOTE, _K_VOTE_REPLY, _K_APPEND, _K_APPEND_REPLY, _K_TIMEOUT_NOW = b"VvAaT"

# Status bytes of a /batch answer.
OK, ERROR, NOT_FOUND = 0, 1, 2


# ----------------------------------------------------------------------------- entries


def encode_entries(entries: Sequence[Entry]) -> bytes:
    """The run of ``entries`` (their indexes are implied by the first one)."""
    pack = _ENTRY.pack
    parts: list[bytes] = []
    append = parts.append
    for e in entries:
        cmd = e.command
        if cmd is None:
            append(pack(e.term, NOOP))
        else:
            append(pack(e.term, len(cmd)))
            append(cmd)
    return b"".join(parts)


def decode_entries(
    data: bytes, first_index: int, count: int, start: int = 0, end: int | None = None
) -> list[Entry]:
    """Read ``count`` entries from ``data[start:end]``, numbered from ``first_index``.

    The run must fill the span exactly; anything else is a ``ValueError``.
    """
    end = len(data) if end is None else end
    unpack = _ENTRY.unpack_from
    out: list[Entry] = []
    append = out.append
    pos = start
    index = first_index
    for _ in range(count):
        if pos + 16 > end:
            raise ValueError(
                f"entry {index} is cut short at offset {pos}: its 16-byte "
                f"header needs {pos + 16 - end} more byte(s)"
            )
        term, length = unpack(data, pos)
        pos += 16
        if length == NOOP:
            cmd = None
        else:
            if length > end - pos:
                raise ValueError(
                    f"entry {index} at offset {pos - 16} says it holds {length} "
                    f"bytes, but only {end - pos} remain"
                )
            cmd = data[pos : pos + length]
            pos += length
        append(Entry(index, term, cmd))
        index += 1
    if pos != end:
        raise ValueError(f"{end - pos} unexpected byte(s) after {count} entries, at offset {pos}")
    return out


class EntryCache:
    """Remembers the encoding of the last few runs of entries, so a run is encoded once.

    The leader writes a batch to disk and then sends the same batch to every follower; a
    follower writes to disk the batch it has just decoded.  A run is recognised by the
    identity of its first and last ``Entry`` objects and its length: a log only ever loses
    a suffix, so if the same last object still sits at the same distance from the same
    first object, every entry in between is the same too.  The cache holds the entries it
    names, so their ids cannot be reused meanwhile.
    """

    __slots__ = ("_size", "_slots", "hits", "misses")

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._slots: list[tuple[Entry, Entry, int, bytes]] = []
        self.hits = 0
        self.misses = 0

    def encode(self, entries: Sequence[Entry]) -> bytes:
        if not entries:
            return b""
        first, last, n = entries[0], entries[-1], len(entries)
        for f, la, k, blob in self._slots:
            if f is first and la is last and k == n:
                self.hits += 1
                return blob
        self.misses += 1
        blob = encode_entries(entries)
        self.remember(entries, blob)
        return blob

    def remember(self, entries: Sequence[Entry], blob: bytes) -> None:
        if entries:
            self._slots.insert(0, (entries[0], entries[-1], len(entries), blob))
            del self._slots[self._size :]


# ---------------------------------------------------------------------------- messages


def encode_message(msg: Message, cache: EntryCache | None = None) -> bytes:
    """One Raft message as bytes (see the module docstring)."""
    if isinstance(msg, AppendEntries):
        entries = msg.entries
        blob = (
            (cache.encode(entries) if cache is not None else encode_entries(entries))
            if entries
            else b""
        )
        head = _APPEND.pack(
            _K_APPEND,
            msg.src,
            msg.dst,
            msg.term,
            msg.leader_id,
            msg.prev_log_index,
            msg.prev_log_term,
            msg.leader_commit,
            len(entries),
            msg.seq,
        )
        return head + blob if blob else head
    if isinstance(msg, AppendEntriesReply):
        return _APPEND_REPLY.pack(
            _K_APPEND_REPLY,
            msg.src,
            msg.dst,
            msg.term,
            msg.success,
            msg.match_index,
            msg.rejected_index,
            msg.conflict_term,
            msg.conflict_index,
            msg.seq,
        )
    if isinstance(msg, RequestVote):
        return _VOTE.pack(
            _K_VOTE,
            msg.src,
            msg.dst,
            msg.term,
            msg.candidate_id,
            msg.last_log_index,
            msg.last_log_term,
            msg.pre_vote | (msg.transfer << 1),
        )
    if isinstance(msg, RequestVoteReply):
        return _VOTE_REPLY.pack(
            _K_VOTE_REPLY, msg.src, msg.dst, msg.term, msg.vote_granted, msg.pre_vote
        )
    if isinstance(msg, TimeoutNow):
        return _TIMEOUT_NOW.pack(_K_TIMEOUT_NOW, msg.src, msg.dst, msg.term)
    raise TypeError(f"not a Raft message: {type(msg).__name__}")


def decode_message(
    data: bytes, start: int = 0, end: int | None = None, cache: EntryCache | None = None
) -> Message:
    """The message in ``data[start:end]``; ``ValueError`` if it is not exactly one."""
    end = len(data) if end is None else end
    if start >= end:
        raise ValueError(f"empty message at offset {start}")
    kind = data[start]
    size = end - start
    if kind == _K_APPEND:
        _need(size, _APPEND.size, "AppendEntries", start)
        (_, src, dst, term, leader, prev, prev_term, commit, count, seq) = _APPEND.unpack_from(
            data, start
        )
        entries = decode_entries(data, prev + 1, count, start + _APPEND.size, end)
        if cache is not None and entries:
            cache.remember(entries, data[start + _APPEND.size : end])
        return AppendEntries(src, dst, term, leader, prev, prev_term, tuple(entries), commit, seq)
    if kind == _K_APPEND_REPLY:
        _exact(size, _APPEND_REPLY.size, "AppendEntriesReply", start)
        (_, src, dst, term, ok, match, rejected, cterm, cindex, seq) = _APPEND_REPLY.unpack_from(
            data, start
        )
        return AppendEntriesReply(
            src, dst, term, _flag(ok, start), match, rejected, cterm, cindex, seq
        )
    if kind == _K_VOTE:
        _exact(size, _VOTE.size, "RequestVote", start)
        _, src, dst, term, cand, last_index, last_term, flags = _VOTE.unpack_from(data, start)
        if flags > 3:
            raise ValueError(f"RequestVote flags must be 0 to 3, got {flags} at offset {start}")
        return RequestVote(src, dst, term, cand, last_index, last_term, bool(flags & 1), flags > 1)
    if kind == _K_VOTE_REPLY:
        _exact(size, _VOTE_REPLY.size, "RequestVoteReply", start)
        _, src, dst, term, granted, pre = _VOTE_REPLY.unpack_from(data, start)
        return RequestVoteReply(src, dst, term, _flag(granted, start), _flag(pre, start))
    if kind == _K_TIMEOUT_NOW:
        _exact(size, _TIMEOUT_NOW.size, "TimeoutNow", start)
        _, src, dst, term = _TIMEOUT_NOW.unpack_from(data, start)
        return TimeoutNow(src, dst, term)
    raise ValueError(f"unknown message type byte 0x{kind:02x} at offset {start}")


def encode_messages(msgs: Sequence[Message], cache: EntryCache | None = None) -> bytes:
    """Several messages, each behind its u64 length: the body of one request to a peer."""
    parts: list[bytes] = []
    for msg in msgs:
        raw = encode_message(msg, cache)
        parts.append(_LEN64.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def decode_messages(data: bytes, cache: EntryCache | None = None) -> list[Message]:
    out: list[Message] = []
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 8:
            raise ValueError(f"a message length is cut short at offset {pos}")
        (length,) = _LEN64.unpack_from(data, pos)
        pos += 8
        if length > end - pos:
            raise ValueError(
                f"the message at offset {pos} says it holds {length} bytes, "
                f"but only {end - pos} remain"
            )
        out.append(decode_message(data, pos, pos + length, cache))
        pos += length
    return out


def _need(size: int, want: int, what: str, at: int) -> None:
    if size < want:
        raise ValueError(f"{what} at offset {at} is cut short: {size} of {want} header bytes")


def _exact(size: int, want: int, what: str, at: int) -> None:
    if size != want:
        raise ValueError(f"{what} at offset {at} has {size} bytes; it should have {want}")


def _flag(value: int, at: int) -> bool:
    if value > 1:
        raise ValueError(f"a yes/no byte holds {value} in the message at offset {at}")
    return bool(value)


# ------------------------------------------------------------------------ client batches


def encode_batch(commands: Sequence[bytes]) -> bytes:
    """The body of ``POST /batch``: each command behind its u32 length."""
    pack = _LEN32.pack
    parts: list[bytes] = []
    for c in commands:
        if len(c) > 0xFFFFFFFF:
            raise ValueError("a command in a batch must be under 4 GiB")
        parts.append(pack(len(c)))
        parts.append(c)
    return b"".join(parts)


def decode_batch(data: bytes) -> list[bytes]:
    unpack = _LEN32.unpack_from
    out: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 4:
            raise ValueError(f"command {len(out) + 1}'s length is cut short at offset {pos}")
        (length,) = unpack(data, pos)
        pos += 4
        if length > end - pos:
            raise ValueError(
                f"command {len(out) + 1} at offset {pos - 4} says it holds "
                f"{length} bytes, but only {end - pos} remain"
            )
        out.append(data[pos : pos + length])
        pos += length
    return out


def encode_results(results: Sequence[tuple[int, bytes]]) -> bytes:
    """The answer to ``POST /batch``: per command a status byte, a u32 length, the bytes."""
    pack = _RESULT.pack
    parts: list[bytes] = []
    for status, raw in results:
        parts.append(pack(status, len(raw)))
        parts.append(raw)
    return b"".join(parts)


def decode_results(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 5:
            raise ValueError(f"result {len(out) + 1} is cut short at offset {pos}")
        status, length = _RESULT.unpack_from(data, pos)
        pos += 5
        if status not in (OK, ERROR, NOT_FOUND) or length > end - pos:
            raise ValueError(f"result {len(out) + 1} at offset {pos - 5} is malformed")
        out.append((status, data[pos : pos + length]))
        pos += length
    return out


# ------------------------------------------------------------------------------ digests


def log_digest(entries: Iterable[Entry]) -> str:
    """SHA-256 over the terms and commands of ``entries``: equal logs, equal digests."""
    h = hashlib.sha256()
    pack = _ENTRY.pack
    for e in entries:
        cmd = e.command
        h.update(pack(e.term, NOOP if cmd is None else len(cmd)))
        if cmd:
            h.update(cmd)
    return h.hexdigest()


def state_digest(data: Mapping[str, str]) -> str:
    """SHA-256 over a key-value mapping in key order: equal stores, equal digests."""
    h = hashlib.sha256()
    pack = _ENTRY.pack
    for k in sorted(data):
        kb, vb = k.encode(), data[k].encode()
        h.update(pack(len(kb), len(vb)) + kb + vb)
    return h.hexdigest()
