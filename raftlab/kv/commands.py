"""Key-value commands and their bytes: what a client puts in the Raft log.

Theory of operation
-------------------
Raft replicates opaque byte strings; it never looks inside them.  This module decides
what those bytes are for the key-value store.  The layout is the one of the seed
(the ``cmd/kvapi`` of Phil Eaton's goraft article), byte for byte::

    kind          1 byte          SET=0, GET=1, DELETE=2, CAS=3, APPEND=4
    key length    8 bytes         unsigned, little-endian
    key           key length      UTF-8
    value length  8 bytes         unsigned, little-endian (always written)
    value         value length    UTF-8 (empty for GET and DELETE)
    -- CAS only --
    expected len  8 bytes         unsigned, little-endian
    expected      expected len    UTF-8

So ``set x=1`` is ``00 | 01 00 00 00 00 00 00 00 | 78 | 01 00 00 00 00 00 00 00 | 31``.

raftlab's additions (the seed has neither):

* ``APPEND`` (kind 4): append the value to the key's current string (a missing key
  counts as ``""``).
* **Session envelope**, for exactly-once retries.  A command that carries a
  ``client_id`` and a ``seq`` is prefixed with one byte ``0x80``, then ``client_id``
  (u64 LE), then ``seq`` (u64 LE), then the seed's layout of the inner command.  The
  seed never writes a first byte of ``0x80``, so a plain command is never mistaken for
  an enveloped one, and a command without a session is exactly the seed's bytes.  The
  state machine uses the envelope to apply a retried write only once
  (see :mod:`raftlab.kv.state_machine`).

Two rules for this module: encoding is a pure function of the :class:`Command`, and
every byte string maps to exactly one outcome: a :class:`Command` whose encoding is the
same bytes again, or a ``ValueError`` with a sentence that says what is wrong.  That is
what lets every replica decode the same log to the same commands.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from raftlab.records import fast_init

__all__ = [
    "SESSION_MARKER",
    "ByteField",
    "Command",
    "Kind",
    "bytes_table",
    "decode_command",
    "describe_bytes",
    "encode_command",
]

SESSION_MARKER = 0x80
"""First byte of a session envelope (raftlab's addition; never a seed kind byte)."""

_U64 = struct.Struct("<Q")
_SESSION_HEAD = struct.Struct("<BQQB")  # 0x80, client_id, seq, kind: 18 bytes, no padding
_U64_MAX = 2**64 - 1


class Kind(IntEnum):
    """What a command does.  The numbers are the kind byte on the wire."""

    SET = 0
    GET = 1
    DELETE = 2
    CAS = 3
    APPEND = 4  # raftlab's addition


# Members read once: on Python 3.11 ``Kind.CAS`` goes through the enum metaclass's
# __getattr__ hook (about 0.4 us), and every client command is checked and encoded.
_GET, _DELETE, _CAS = Kind.GET, Kind.DELETE, Kind.CAS


@fast_init
@dataclass(frozen=True, slots=True)
class Command:
    """One key-value command.  It checks itself, so every ``Command`` can be encoded.

    ``value`` is the new value (SET, CAS), the suffix (APPEND), and ``""`` for GET and
    DELETE.  ``expected`` is CAS's expected current value and ``None`` otherwise.
    ``client_id`` and ``seq`` are set together or not at all: with them the command is
    wrapped in a session envelope so the state machine can drop duplicate retries.
    """

    kind: Kind
    key: str
    value: str = ""
    expected: str | None = None
    client_id: int | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        # Every client operation makes a Command, so the common case is kept cheap: a
        # field of the expected type passes each test below at once, and only a wrong one
        # pays for building its message.
        kind = self.kind
        if kind.__class__ is not Kind:
            if isinstance(kind, bool) or not isinstance(kind, int):
                raise TypeError(f"kind must be a Kind, got {kind!r}")
            try:
                kind = Kind(kind)
            except ValueError:
                raise ValueError(
                    f"unknown command kind {int(kind)}; use one of "
                    + ", ".join(f"{k.name}={k.value}" for k in Kind)
                ) from None
            object.__setattr__(self, "kind", kind)  # accept a plain int, store the enum
        key, value, expected = self.key, self.value, self.expected
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, got {key!r}")
        if not isinstance(value, str):
            raise TypeError(f"value must be a str, got {value!r}")
        if expected is not None and not isinstance(expected, str):
            raise TypeError(f"expected must be a str or None, got {expected!r}")
        if (kind is _GET or kind is _DELETE) and value:
            raise ValueError(f"a {kind.name} command carries no value, got {value!r}")
        if kind is _CAS and expected is None:
            raise ValueError(
                "a CAS command needs an expected value: Command(Kind.CAS, key, new, expected=old)"
            )
        if kind is not _CAS and expected is not None:
            raise ValueError(f"only CAS takes an expected value, not {kind.name}")
        # Fail now, not later in encode_command.  ASCII text is always valid UTF-8, and
        # str.isascii() answers without reading the text.
        if not key.isascii():
            _utf8(key, "key")
        if not value.isascii():
            _utf8(value, "value")
        if expected is not None and not expected.isascii():
            _utf8(expected, "expected")
        client_id, seq = self.client_id, self.seq
        if (client_id is None) != (seq is None):
            raise ValueError("client_id and seq go together: set both (a session) or neither")
        if client_id is not None:
            for name, number in (("client_id", client_id), ("seq", seq)):
                if isinstance(number, bool) or not isinstance(number, int):
                    raise TypeError(f"{name} must be an int, got {number!r}")
                if not 0 <= number <= _U64_MAX:
                    raise ValueError(
                        f"{name} must fit in 8 unsigned bytes (0..2**64-1), got {number}"
                    )

    @property
    def in_session(self) -> bool:
        """True when the command carries a (client_id, seq) session envelope."""
        return self.client_id is not None

    def __str__(self) -> str:
        name = self.kind.name.lower()
        if self.kind is Kind.SET:
            text = f"set {self.key}={self.value}"
        elif self.kind is Kind.CAS:
            text = f"cas {self.key} {self.expected}->{self.value}"
        elif self.kind is Kind.APPEND:
            text = f"append {self.key}+={self.value}"
        else:
            text = f"{name} {self.key}"
        if self.in_session:
            text += f" (client {self.client_id} #{self.seq})"
        return text


def _utf8(text: str, name: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Lone surrogates such as "\ud800" are str but not text; UTF-8 cannot hold them.
        raise ValueError(
            f"{name} is not valid text: {exc.reason} at position {exc.start}"
        ) from None


def encode_command(cmd: Command) -> bytes:
    """The bytes of ``cmd``: the seed's layout, behind a session envelope if it has one."""
    if not isinstance(cmd, Command):
        raise TypeError(f"encode_command takes a Command, got {type(cmd).__name__}")
    if cmd.kind is _CAS and cmd.expected is None:  # Command checks this too; belt and braces
        raise ValueError("a CAS command needs an expected value")
    key = cmd.key.encode("utf-8")
    value = cmd.value.encode("utf-8")
    if cmd.client_id is not None:
        # The envelope and the kind byte in one pack: marker, client_id, seq, kind.
        head = _SESSION_HEAD.pack(SESSION_MARKER, cmd.client_id, cmd.seq, cmd.kind)
    else:
        head = bytes((cmd.kind,))
    parts = [head, _U64.pack(len(key)), key, _U64.pack(len(value)), value]
    if cmd.kind is _CAS:
        expected = cmd.expected.encode("utf-8")
        parts += [_U64.pack(len(expected)), expected]
    data = b"".join(parts)
    if type(cmd) is Command:
        # Every replica will decode these bytes: hand them this very command (decoding
        # gives back an equal one, see the module docstring), so none has to parse them.
        _remember(data, cmd)
    return data


class _Reader:
    """Walks the bytes left to right; every short read becomes a ValueError."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        left = len(self.data) - self.pos
        if n > left:
            raise ValueError(
                f"command is truncated: {what} needs {n} byte(s) at offset {self.pos}, "
                f"but only {left} remain"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u64(self, what: str) -> int:
        return _U64.unpack(self.take(8, what))[0]

    def text(self, what: str) -> str:
        length = self.u64(f"the {what} length")
        left = len(self.data) - self.pos
        if length > left:  # checked before slicing, so a length of 2**64-1 costs nothing
            raise ValueError(
                f"the {what} length says {length} bytes, but only {left} remain after offset "
                f"{self.pos}"
            )
        raw = self.take(length, f"the {what}")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"the {what} is not valid UTF-8 (byte {exc.start} of it: {exc.reason})"
            ) from None


# Decoded commands, by their bytes.  Every server applies every command, and a restarted
# one applies them all again: decoding each once instead of each time was a third of a
# chaos run's CPU.  A Command is frozen, so handing out the same one is safe.  Bounded:
# cleared when full, which changes nothing but speed.
_DECODED: dict[bytes, Command] = {}
_DECODED_MAX = 8192


def _remember(data: bytes, cmd: Command) -> None:
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.clear()
    _DECODED[data] = cmd


def decode_command(data: bytes) -> Command:
    """Parse bytes written by :func:`encode_command`; ``ValueError`` on anything else.

    Accepted bytes decode to a command that encodes back to exactly the same bytes.
    """
    if type(data) is bytes:
        cmd = _DECODED.get(data)
        if cmd is None:
            cmd = _decode(data)
            _remember(data, cmd)
        return cmd
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"decode_command takes bytes, got {type(data).__name__}")
    return _decode(bytes(data))


def _decode(data: bytes) -> Command:
    reader = _Reader(data)
    if not reader.data:
        raise ValueError("an empty byte string is not a command (it needs at least a kind byte)")
    client_id = seq = None
    if reader.data[0] == SESSION_MARKER:
        reader.take(1, "the session marker")
        client_id = reader.u64("the session's client id")
        seq = reader.u64("the session's sequence number")
    kind_byte = reader.take(1, "the kind byte")[0]
    if kind_byte not in Kind._value2member_map_:
        where = "inside a session envelope " if client_id is not None else ""
        raise ValueError(
            f"unknown command kind byte 0x{kind_byte:02x} {where}at offset {reader.pos - 1}; "
            "known kinds are " + ", ".join(f"{k.name}={k.value}" for k in Kind)
        )
    kind = Kind(kind_byte)
    key = reader.text("key")
    value = reader.text("value")
    expected = reader.text("expected value") if kind is Kind.CAS else None
    if reader.pos != len(reader.data):
        raise ValueError(
            f"{len(reader.data) - reader.pos} unexpected trailing byte(s) after a complete "
            f"{kind.name} command (it ends at offset {reader.pos})"
        )
    # Command's own checks catch the rest (a value on GET/DELETE); they raise ValueError.
    return Command(kind, key, value, expected, client_id, seq)


@dataclass(frozen=True, slots=True)
class ByteField:
    """One field of an encoded command, for showing "the bytes, byte by byte"."""

    offset: int
    name: str
    raw: bytes
    meaning: str

    @property
    def hex(self) -> str:
        return self.raw.hex(" ")


def describe_bytes(data: bytes | Command) -> list[ByteField]:
    """The fields of an encoded command, in order, each with its bytes and meaning.

    ``b"".join(f.raw for f in describe_bytes(data)) == data``.  Malformed bytes raise
    ``ValueError`` (from :func:`decode_command`).
    """
    if isinstance(data, Command):
        data = encode_command(data)
    cmd = decode_command(data)
    data = bytes(data)
    rows: list[ByteField] = []
    pos = 0

    def add(name: str, size: int, meaning: str) -> None:
        nonlocal pos
        rows.append(ByteField(pos, name, data[pos : pos + size], meaning))
        pos += size

    if cmd.in_session:
        add("session", 1, "session envelope follows (raftlab's addition)")
        add("client id", 8, f"client {cmd.client_id} (u64 little-endian)")
        add("seq", 8, f"request {cmd.seq} of that client (u64 little-endian)")
    add("kind", 1, f"{cmd.kind.name} ({int(cmd.kind)})")
    fields = [("key", cmd.key), ("value", cmd.value)]
    if cmd.expected is not None:
        fields.append(("expected", cmd.expected))
    for name, text in fields:
        size = len(text.encode("utf-8"))
        add(f"{name} length", 8, f"{size} byte{'s' if size != 1 else ''} (u64 little-endian)")
        add(name, size, repr(text) if size else "(empty)")
    return rows


def bytes_table(data: bytes | Command, max_hex_bytes: int = 12) -> str:
    """:func:`describe_bytes` as a plain-text table; long fields show only their first bytes."""
    width = 3 * max_hex_bytes + 1
    lines = [f"{'offset':>6}  {'field':<16} {'bytes':<{width}} meaning"]
    for field in describe_bytes(data):
        shown = field.raw[:max_hex_bytes].hex(" ")
        meaning = field.meaning
        if len(field.raw) > max_hex_bytes:
            shown += " …"
            if len(meaning) > 40:
                meaning = meaning[:39] + "…"
        lines.append(f"{field.offset:>6}  {field.name:<16} {shown:<{width}} {meaning}")
    return "\n".join(line.rstrip() for line in lines)
