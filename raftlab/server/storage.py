"""Durable storage for a real server: one append-only file with a checksum per record.

What must survive a crash (§5, Figure 2: "Persistent state on all servers, updated on
stable storage before responding to RPCs") is ``current_term``, ``voted_for`` and the
log.  ``DiskStorage`` keeps all three in one file, ``DIR/raft.log``, and implements the
same two-method interface as the simulator's ``MemoryStorage`` (``raftlab.storage``):
``save(ready, log)`` and ``load()``.

Why an append-only file and not SQLite
--------------------------------------
Raft only ever appends to its log, or cuts a suffix off and appends again (§5.3), and it
rewrites two small numbers.  So every change is a *record appended to one file*:

- ``H``: a new hard state (term, vote).  The last one in the file wins.
- ``E``: entries from index ``first`` on.  Replaying it first deletes whatever the log
  held from ``first`` on, so a truncation and the entries that replace it are one record.

One ``save`` (one ``Ready``, which the runtime builds from every input that arrived since
the last one) becomes one ``write`` and one ``fdatasync``: group commit comes for free,
whatever the number of entries.  SQLite in WAL mode with ``synchronous=FULL`` would also
make one sync per transaction, but it adds a B-tree per entry, a page cache and a second
file, and when its pages are damaged it says "database disk image is malformed" without
saying where.  Here every record carries a CRC-32 of its header and of its payload, so a
damaged file is reported with its name and the byte offset of the bad record.

``fdatasync`` rather than ``fsync``: it flushes the data and the file size (what is needed
to read the data back) and skips timestamps; that is what a log append needs.  The file's
creation is made durable once, by syncing the directory too.

Layout (integers little-endian)::

    file header  "raftlab log\\n" | version u32 | node id u64 | crc32 of those 24 bytes u32
    record       payload length u64 | crc32(payload) u32 | crc32(first 12 bytes) u32 | payload
    payload H    b"H" | term u64 | voted_for u64 (0: nobody; node ids are never 0)
    payload E    b"E" | first index u64 | count u64 | entries (raftlab.server.codec)

The header names the node, so node 2 refuses to start on node 1's directory.

What start-up does with damage
------------------------------
A record whose checksum fails, or a record that leaves a gap in the log, stops the node
with :class:`CorruptLog` naming the file and the offset: the record may hold entries that
are committed, and silently dropping them could lose an acknowledged write.  A record cut
short at the very end of the file (a write interrupted by a crash, so never synced, so
never acknowledged) is reported the same way; ``truncate_torn_tail=True`` (the command
line's ``--truncate-torn-tail``) drops exactly that incomplete record and nothing else.
A ``raft.log`` that is empty or shorter than its header is damage too: a brand-new node
has no file at all (the header is written under another name and linked into place), so
a short file means the node's term and vote were lost after it used them.  A restart on a
full disk is reported with the free space, since a full disk also cuts records short.

Log compaction (§7)
-------------------
A snapshot lives in its own file, ``DIR/snapshot``, written atomically: the bytes go to a
temporary file, which is synced, renamed over ``snapshot``, and the directory synced, so a
crash leaves either the old snapshot or the new one, whole.  Then ``raft.log`` is
rewritten the same way (temporary file, sync, rename, sync the directory) holding only
the hard state and the entries *after* the snapshot, so the directory stays bounded: the
latest snapshot, plus at most the entries since it.  A crash between the two renames
leaves the new snapshot with the old, longer ``raft.log``; start-up drops the entries
the snapshot covers.  ``load`` reads the snapshot first, then the log after it.

    snapshot file  "raftlab snap" | version u32 | node id u64 | index u64 | term u64 |
                   server count u64 | data length u64 | server ids u64... | data |
                   crc32 of everything before it u32

The new ``raft.log`` is locked before it is renamed into place, so the directory is never
without a locked log.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import struct
import zlib
from pathlib import Path

from raftlab.compaction import Snapshot
from raftlab.log import Entry, Log
from raftlab.node import HardState, Ready
from raftlab.server.codec import (
    EntryCache,
    decode_configuration,
    decode_entries,
    encode_configuration,
    encode_entries,
)

FILE_NAME = "raft.log"
MAGIC = b"raftlab log\n"
VERSION = 1
SNAPSHOT_NAME = "snapshot"
SNAP_MAGIC = b"raftlab snap"
_SNAP_HEAD = struct.Struct("<12sIQQQQQ")

_FILE_HEADER = struct.Struct("<12sIQI")
_RECORD = struct.Struct("<QII")
_HARD = struct.Struct("<cQQ")
_ENTRIES = struct.Struct("<cQQ")

_sync = getattr(os, "fdatasync", os.fsync)


class CorruptLog(ValueError):  # noqa: N818 - named like the condition, as in raftlab.errors
    """The log file is damaged; ``path`` and ``offset`` say where."""

    def __init__(self, path: Path, offset: int, reason: str, torn: bool = False):
        self.path = path
        self.offset = offset
        self.reason = reason
        self.torn = torn
        if torn:
            advice = (
                "It ends with a record cut short, as a crash in the middle of a write "
                "leaves it; such a record was never synced, so never acknowledged. "
                "Restart with --truncate-torn-tail to drop that one record."
            )
        else:
            advice = (
                "The node refuses to start rather than drop entries that may be "
                "committed. Restore this directory from a copy taken while the node was "
                "stopped, or leave the node stopped (the others go on while they are a "
                "majority). Do not start it with an empty directory: a node that forgot "
                "what it acknowledged can help elect a leader that lacks a committed "
                "write, which is then lost (raftlab has no membership change to bring in "
                "a fresh node safely)."
            )
        super().__init__(
            f"{path} is damaged at byte offset {offset}: {reason}. {advice}"
            + (_disk_note(path.parent) if torn else "")
        )


class DataDirInUse(RuntimeError):  # noqa: N818
    """Another process holds the lock on this data directory."""


class UnusableDataDir(RuntimeError):  # noqa: N818
    """The data directory cannot be created, opened or written; the message says why."""


def _why(exc: OSError, directory: Path) -> str:
    """A sentence for an ``OSError`` met while opening ``directory``, with the remedy."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full; free some space"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"permission denied ({exc.strerror}); give this user write access to "
            f"{directory}, or choose another --data"
        )
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return "a file (not a directory) is in the way; choose another --data"
    return f"{exc.strerror or exc}; check the path or choose another --data"


def _disk_note(directory: Path) -> str:
    """A word about the disk when it is (nearly) full: a full disk also cuts writes short."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return ""
    if free >= 1 << 20:
        return ""
    return (
        f" The disk holding it has only {free} bytes free: a full disk cuts writes short "
        "too, so free some space first."
    )


class DiskStorage:
    """A node's term, vote and log in ``directory/raft.log`` (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike,
        node_id: int,
        *,
        cache: EntryCache | None = None,
        truncate_torn_tail: bool = False,
    ):
        if isinstance(node_id, bool) or not isinstance(node_id, int) or node_id < 1:
            raise ValueError(f"node ids are whole numbers >= 1, got {node_id!r}")
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self.node_id = node_id
        self.cache = cache
        self.truncate_torn_tail = truncate_torn_tail
        self.syncs = 0  # how many fdatasyncs: one per save, whatever the number of entries
        self.bytes_written = 0
        self._last_index: int | None = None  # what the file holds, once loaded
        self._hard = HardState()  # the last hard state stored (a rewrite copies it)
        self.snapshot: Snapshot | None = None  # the latest snapshot stored (§7)
        self.compactions = 0  # how many times raft.log was rewritten after a snapshot
        self._base = 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._create()
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except OSError as exc:
            raise UnusableDataDir(
                f"cannot use {self.directory} as S{node_id}'s data directory: "
                f"{_why(exc, self.directory)}"
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise DataDirInUse(
                f"{self.directory} is in use by another raftlab process; "
                "each node needs its own data directory"
            ) from None

    def _create(self) -> None:
        """Create ``raft.log`` with its header, atomically.

        The header is written and synced under another name, then linked into place: a
        crash leaves either no ``raft.log`` (a brand-new node) or a whole header.  So a
        ``raft.log`` shorter than its header was damaged after the node wrote it, and
        :meth:`load` refuses it like any other damage (the node's term and vote are gone).
        """
        head = _FILE_HEADER.pack(MAGIC, VERSION, self.node_id, 0)[:-4]
        tmp = self.directory / f"{FILE_NAME}.new-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, head + struct.pack("<I", zlib.crc32(head)))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self.path)  # fails if another process created it meanwhile
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        _sync_dir(self.directory)  # the file's existence must survive a crash too

    # ------------------------------------------------------------------ reading

    def load(self) -> tuple[HardState, list[Entry]]:
        """Read and check the whole file; ``CorruptLog`` if any record is damaged."""
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size, 0)
        path = self.path
        if len(data) < _FILE_HEADER.size:
            # A brand-new node has no raft.log at all (_create writes it whole), so this
            # file was written before and lost at least its term and vote since.
            raise CorruptLog(
                path,
                0,
                f"the file header needs {_FILE_HEADER.size} bytes, the file holds {len(data)} "
                "(it was emptied or cut short after this node wrote it, so the node's term, "
                "vote and log are gone)",
            )
        magic, version, node_id, crc = _FILE_HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise CorruptLog(path, 0, "this is not a raftlab log file (wrong magic bytes)")
        if crc != zlib.crc32(data[: _FILE_HEADER.size - 4]):
            raise CorruptLog(path, 0, "the file header's checksum does not match")
        if version != VERSION:
            raise CorruptLog(
                path, 0, f"log format version {version}; this raftlab reads version {VERSION}"
            )
        if node_id != self.node_id:
            raise CorruptLog(
                path,
                0,
                f"this directory belongs to node {node_id}, not to node "
                f"{self.node_id}; check --node and --data",
            )
        for stale in self.directory.glob("*.tmp-*"):
            stale.unlink()  # a compaction cut short by a crash; the renamed files are whole
        snap = self.snapshot = self._load_snapshot()
        hard = HardState()
        entries: list[Entry] = []
        self._base = 0  # the index of entries[0], once an entries record said
        pos = _FILE_HEADER.size
        end = len(data)
        while pos < end:
            try:
                hard, pos = self._replay_record(data, pos, entries, hard)
            except CorruptLog as exc:
                if not (exc.torn and self.truncate_torn_tail):
                    raise
                os.ftruncate(self._fd, exc.offset)
                os.fsync(self._fd)
                break
        base = self._base or 1
        if snap is not None:
            if base > snap.index + 1:
                raise CorruptLog(
                    path,
                    _FILE_HEADER.size,
                    f"the log starts at index {base}, but the snapshot ends at {snap.index}: "
                    "the entries in between are missing",
                )
            del entries[: snap.index + 1 - base]  # the snapshot covers them (§7)
        elif base != 1:
            raise CorruptLog(
                path,
                _FILE_HEADER.size,
                f"the log starts at index {base} but there is no {SNAPSHOT_NAME} file to "
                "stand for the entries before it",
            )
        self._hard = hard
        self._last_index = (snap.index if snap is not None else 0) + len(entries)
        return hard, entries

    def load_snapshot(self) -> Snapshot | None:
        """The latest snapshot stored (read by :meth:`load`), or ``None``."""
        return self.snapshot

    def _load_snapshot(self) -> Snapshot | None:
        path = self.directory / SNAPSHOT_NAME
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) < _SNAP_HEAD.size + 4:
            raise CorruptLog(path, 0, f"the snapshot file holds only {len(data)} bytes")
        if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
            raise CorruptLog(path, 0, "the snapshot file's checksum does not match")
        magic, version, node_id, index, term, count, size = _SNAP_HEAD.unpack_from(data, 0)
        if magic != SNAP_MAGIC or version != VERSION:
            raise CorruptLog(path, 0, "this is not a raftlab snapshot file of this version")
        if node_id != self.node_id:
            raise CorruptLog(path, 0, f"this snapshot belongs to node {node_id}")
        at = _SNAP_HEAD.size
        if at + count + size + 4 != len(data):
            raise CorruptLog(path, 0, "the snapshot file's sizes do not add up")
        try:
            conf = decode_configuration(data[at : at + count], "the snapshot file")
            return Snapshot(index, term, conf, data[at + count : at + count + size])
        except ValueError as exc:
            raise CorruptLog(path, 0, str(exc)) from None

    def _replay_record(
        self, data: bytes, pos: int, entries: list[Entry], hard: HardState
    ) -> tuple[HardState, int]:
        path, end = self.path, len(data)
        if end - pos < _RECORD.size:
            raise CorruptLog(
                path,
                pos,
                f"the last record's header is cut short ({end - pos} of {_RECORD.size} bytes)",
                torn=True,
            )
        length, crc, head_crc = _RECORD.unpack_from(data, pos)
        if head_crc != zlib.crc32(data[pos : pos + 12]):
            raise CorruptLog(path, pos, "a record header's checksum does not match")
        body = pos + _RECORD.size
        if length > end - body:
            raise CorruptLog(
                path,
                pos,
                f"the last record says it holds {length} bytes, but "
                f"the file ends {end - body} bytes later",
                torn=True,
            )
        if crc != zlib.crc32(data[body : body + length]):
            raise CorruptLog(path, pos, "a record's checksum does not match its contents")
        kind = data[body : body + 1]
        try:
            if kind == b"H":
                if length != _HARD.size:
                    raise ValueError(f"a hard-state record has {length} bytes, not {_HARD.size}")
                _, term, vote = _HARD.unpack_from(data, body)
                if term < hard.current_term:
                    raise ValueError(f"the term goes back from {hard.current_term} to {term}")
                hard = HardState(term, vote or None)
            elif kind == b"E":
                if length < _ENTRIES.size:
                    raise ValueError("an entries record is too short for its header")
                _, first, count = _ENTRIES.unpack_from(data, body)
                if not self._base:
                    # The first entries record: index 1, or right after a snapshot (§7).
                    self._base = first
                base = self._base
                if not base <= first <= base + len(entries):
                    raise ValueError(
                        f"entries from index {first} would leave a gap after "
                        f"the entries {base}..{base + len(entries) - 1} before them"
                    )
                new = decode_entries(data, first, count, body + _ENTRIES.size, body + length)
                del entries[first - base :]
                entries.extend(new)
            else:
                raise ValueError(f"unknown record type {kind!r}")
        except ValueError as exc:
            raise CorruptLog(path, pos, str(exc)) from None
        return hard, body + length

    # ------------------------------------------------------------------ writing

    def encode(self, ready: Ready, log: Log) -> bytes:
        """The records that make ``ready`` durable (call :meth:`write` with them).

        A ``ready.snapshot`` is written at once (the snapshot file, then ``raft.log``
        rewritten to hold only what follows it); what remains to append is then nothing."""
        if ready.snapshot is not None and (
            self.snapshot is None or ready.snapshot.index > self.snapshot.index
        ):
            if ready.hard_state is not None:
                self._hard = ready.hard_state
            self._compact(ready.snapshot, log)
            return b""
        parts: list[bytes] = []
        if ready.hard_state is not None:
            hs = self._hard = ready.hard_state
            _add_record(parts, _HARD.pack(b"H", hs.current_term, hs.voted_for or 0), b"")
        start = ready.persist_from
        if start is not None:
            if self._last_index is not None and start > self._last_index + 1:
                raise RuntimeError(
                    f"entries from {start} would leave a gap after the "
                    f"{self._last_index} stored; a Ready was not saved"
                )
            entries = log.entries(start)
            blob = self.cache.encode(entries) if self.cache else encode_entries(entries)
            _add_record(parts, _ENTRIES.pack(b"E", start, len(entries)), blob)
            self._last_index = start - 1 + len(entries)
        return b"".join(parts)

    def write(self, data: bytes) -> None:
        """Append ``data`` and sync it: once this returns, it survives a crash."""
        if not data:
            return
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        _sync(self._fd)
        self.syncs += 1
        self.bytes_written += len(data)

    def save(self, ready: Ready, log: Log) -> None:
        """Durably store ``ready.hard_state`` and the log from ``ready.persist_from`` on."""
        self.write(self.encode(ready, log))

    def _compact(self, snap: Snapshot, log: Log) -> None:
        """Write ``snap`` atomically, then rewrite ``raft.log`` with only what follows it."""
        conf = encode_configuration(snap.configuration)
        head = _SNAP_HEAD.pack(
            SNAP_MAGIC, VERSION, self.node_id, snap.index, snap.term, len(conf), len(snap.data)
        )
        body = head + conf + snap.data
        body += struct.pack("<I", zlib.crc32(body))
        tmp = self.directory / f"{SNAPSHOT_NAME}.tmp-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / SNAPSHOT_NAME)
        _sync_dir(self.directory)
        self.bytes_written += len(body)

        # raft.log again: the hard state and the entries after the snapshot.
        entries = log.entries(max(snap.index + 1, log.first_index))
        start = entries[0].index if entries else snap.index + 1
        hs = self._hard
        parts = [_FILE_HEADER.pack(MAGIC, VERSION, self.node_id, 0)[:-4]]
        parts.append(struct.pack("<I", zlib.crc32(parts[0])))
        _add_record(parts, _HARD.pack(b"H", hs.current_term, hs.voted_for or 0), b"")
        blob = encode_entries(entries)
        _add_record(parts, _ENTRIES.pack(b"E", start, len(entries)), blob)
        data = b"".join(parts)
        tmp = self.directory / f"{FILE_NAME}.tmp-{os.getpid()}"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked before it is in place
            _write_all(fd, data)
            os.fsync(fd)
            os.replace(tmp, self.path)
        except BaseException:
            os.close(fd)
            raise
        _sync_dir(self.directory)
        old, self._fd = self._fd, fd
        os.close(old)
        self.snapshot = snap
        self._last_index = start - 1 + len(entries)
        self.syncs += 2
        self.bytes_written += len(data)
        self.compactions += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing releases the lock
            self._fd = -1

    def __enter__(self) -> DiskStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DiskStorage({str(self.path)!r}, node={self.node_id})"


def _add_record(parts: list[bytes], head: bytes, blob: bytes) -> None:
    length = len(head) + len(blob)
    crc = zlib.crc32(blob, zlib.crc32(head))
    first = struct.pack("<QI", length, crc)
    parts += [first, struct.pack("<I", zlib.crc32(first)), head, blob]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
