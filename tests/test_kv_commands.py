"""The key-value command bytes: the seed's layout, the session envelope, a strict decoder."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftlab.kv import (
    SESSION_MARKER,
    Command,
    Kind,
    bytes_table,
    decode_command,
    describe_bytes,
    encode_command,
)

ONE = bytes([1, 0, 0, 0, 0, 0, 0, 0])  # u64 little-endian 1, written out by hand
ZERO = bytes(8)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


# --- hand-computed bytes, one per kind ------------------------------------------------------


def test_set_x_1_is_the_seed_layout_byte_for_byte():
    assert encode_command(Command(Kind.SET, "x", "1")) == b"\x00" + ONE + b"x" + ONE + b"1"
    assert encode_command(Command(Kind.SET, "x", "1")).hex(" ") == (
        "00 01 00 00 00 00 00 00 00 78 01 00 00 00 00 00 00 00 31"
    )


def test_get_writes_an_empty_value_like_the_seed():
    assert encode_command(Command(Kind.GET, "x")) == b"\x01" + ONE + b"x" + ZERO


def test_delete_writes_an_empty_value():
    assert (
        encode_command(Command(Kind.DELETE, "ab")) == b"\x02" + bytes([2]) + bytes(7) + b"ab" + ZERO
    )


def test_cas_appends_expected_length_and_bytes_after_the_new_value():
    got = encode_command(Command(Kind.CAS, "x", "new", expected="old"))
    three = bytes([3, 0, 0, 0, 0, 0, 0, 0])
    assert got == b"\x03" + ONE + b"x" + three + b"new" + three + b"old"


def test_append_uses_the_seed_layout_with_kind_4():
    assert encode_command(Command(Kind.APPEND, "x", "1")) == b"\x04" + ONE + b"x" + ONE + b"1"


def test_lengths_count_utf8_bytes_not_characters():
    got = encode_command(Command(Kind.SET, "é", "€"))  # 2 and 3 UTF-8 bytes
    assert (
        got
        == b"\x00" + bytes([2]) + bytes(7) + b"\xc3\xa9" + bytes([3]) + bytes(7) + b"\xe2\x82\xac"
    )


def test_lengths_are_little_endian_u64():
    got = encode_command(Command(Kind.SET, "k", "v" * 258))  # 258 = 0x0102
    assert got[10:18] == bytes([0x02, 0x01, 0, 0, 0, 0, 0, 0])


def test_session_envelope_is_0x80_client_seq_then_the_seed_bytes():
    got = encode_command(Command(Kind.SET, "x", "1", client_id=7, seq=3))
    seed = b"\x00" + ONE + b"x" + ONE + b"1"
    assert got == b"\x80" + bytes([7]) + bytes(7) + bytes([3]) + bytes(7) + seed
    assert got[0] == SESSION_MARKER


def test_kind_numbers_are_the_wire_bytes():
    assert [(k.name, int(k)) for k in Kind] == [
        ("SET", 0),
        ("GET", 1),
        ("DELETE", 2),
        ("CAS", 3),
        ("APPEND", 4),
    ]


# --- Command checks itself ------------------------------------------------------------------


def test_cas_without_expected_raises_value_error():
    with pytest.raises(ValueError, match="expected"):
        encode_command(Command(Kind.CAS, "x", "1"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kind=Kind.GET, key="x", value="1"), "no value"),
        (dict(kind=Kind.DELETE, key="x", value="1"), "no value"),
        (dict(kind=Kind.SET, key="x", value="1", expected="0"), "only CAS"),
        (dict(kind=9, key="x"), "unknown command kind 9"),
        (dict(kind=Kind.SET, key="x", client_id=1), "go together"),
        (dict(kind=Kind.SET, key="x", seq=1), "go together"),
        (dict(kind=Kind.SET, key="x", client_id=-1, seq=1), "client_id must fit"),
        (dict(kind=Kind.SET, key="x", client_id=1, seq=2**64), "seq must fit"),
        (dict(kind=Kind.SET, key="\ud800"), "key is not valid text"),
        (dict(kind=Kind.SET, key="x", value="a\udfffb"), "value is not valid text"),
    ],
)
def test_bad_commands_raise_value_error_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        Command(**kwargs)
    assert type(info.value) is ValueError  # not a UnicodeError subclass


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kind=Kind.SET, key=b"x"),
        dict(kind=Kind.SET, key="x", value=1),
        dict(kind=True, key="x"),
        dict(kind="SET", key="x"),
        dict(kind=Kind.SET, key="x", client_id=1.0, seq=1),
    ],
)
def test_wrong_types_raise_type_error(kwargs):
    with pytest.raises(TypeError):
        Command(**kwargs)


def test_a_plain_int_kind_becomes_the_enum():
    assert Command(0, "x", "1").kind is Kind.SET


def test_str_reads_like_the_operation():
    assert str(Command(Kind.SET, "x", "1")) == "set x=1"
    assert str(Command(Kind.CAS, "x", "2", expected="1", client_id=4, seq=9)) == (
        "cas x 1->2 (client 4 #9)"
    )


# --- the decoder: malformed input is a ValueError with a sentence ---------------------------

SET_X_1 = b"\x00" + ONE + b"x" + ONE + b"1"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\x00", "truncated: the key length"),
        (b"\x00" + ONE[:5], "truncated: the key length"),
        (b"\x00" + u64(5) + b"ab", "key length says 5 bytes, but only 2 remain"),
        (b"\x00" + u64(2**64 - 1) + b"x", "key length says 18446744073709551615"),
        (b"\x00" + ONE + b"x", "truncated: the value length"),
        (b"\x00" + ONE + b"x" + u64(2**63) + b"1", "value length says"),
        (SET_X_1 + b"\x00", "1 unexpected trailing byte"),
        (b"\x05" + ONE + b"x" + ZERO, "unknown command kind byte 0x05"),
        (b"\xff", "unknown command kind byte 0xff"),
        (b"\x00" + ONE + b"\xff" + ZERO, "key is not valid UTF-8"),
        (b"\x00" + ONE + b"x" + ONE + b"\x80", "value is not valid UTF-8"),
        (b"\x00" + ONE + b"x" + u64(3) + b"\xed\xa0\x80", "value is not valid UTF-8"),  # surrogate
        (b"\x00" + ONE + b"x" + u64(2) + b"\xc0\xaf", "value is not valid UTF-8"),  # overlong '/'
        (b"\x01" + ONE + b"x" + ONE + b"1", "GET command carries no value"),
        (b"\x02" + ONE + b"x" + ONE + b"1", "DELETE command carries no value"),
        (b"\x03" + ONE + b"x" + ONE + b"1", "truncated: the expected value length"),
        (b"\x80" + ONE, "truncated: the session's sequence number"),
        (b"\x80" + ONE + ONE, "truncated: the kind byte"),
        (b"\x80" + ONE + ONE + b"\x80" + ONE + ONE + SET_X_1, "0x80 inside a session envelope"),
    ],
)
def test_decode_rejects_malformed_bytes_with_value_error(data, message):
    with pytest.raises(ValueError, match=message) as info:
        decode_command(data)
    assert type(info.value) is ValueError


def test_decode_accepts_bytearray_and_memoryview():
    assert decode_command(bytearray(SET_X_1)) == Command(Kind.SET, "x", "1")
    assert decode_command(memoryview(SET_X_1)) == Command(Kind.SET, "x", "1")


def test_decode_of_a_non_bytes_argument_is_a_type_error():
    with pytest.raises(TypeError):
        decode_command("set x=1")


# --- properties -----------------------------------------------------------------------------

texts = st.text(max_size=20)
u64s = st.integers(0, 2**64 - 1)


@st.composite
def commands(draw) -> Command:
    kind = draw(st.sampled_from(Kind))
    value = "" if kind in (Kind.GET, Kind.DELETE) else draw(texts)
    expected = draw(texts) if kind is Kind.CAS else None
    session = draw(st.none() | st.tuples(u64s, u64s))
    client_id, seq = session if session else (None, None)
    return Command(kind, draw(texts), value, expected, client_id, seq)


@given(commands())
def test_round_trip_for_every_kind(cmd):
    data = encode_command(cmd)
    assert decode_command(data) == cmd
    assert encode_command(decode_command(data)) == data


@given(commands())
def test_an_enveloped_command_is_the_marker_ids_and_the_plain_bytes(cmd):
    plain = Command(cmd.kind, cmd.key, cmd.value, cmd.expected)
    data = encode_command(cmd)
    if cmd.client_id is None:
        assert data == encode_command(plain)
        assert data[0] != SESSION_MARKER
    else:
        assert data == b"\x80" + u64(cmd.client_id) + u64(cmd.seq) + encode_command(plain)


def _decode_is_value_error_or_canonical(data: bytes) -> None:
    """The decoder's contract: a plain ValueError, or a command that encodes back to ``data``."""
    try:
        cmd = decode_command(data)
    except ValueError as exc:
        assert type(exc) is ValueError, f"{type(exc).__name__}: {exc}"
        assert str(exc)
    else:
        assert encode_command(cmd) == data


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_decode_of_arbitrary_bytes_raises_only_value_error(data):
    _decode_is_value_error_or_canonical(data)


@settings(max_examples=300)
@given(
    st.sampled_from(Kind), st.lists(st.integers(0, 12) | u64s, max_size=4), st.binary(max_size=24)
)
def test_decode_of_plausible_headers_raises_only_value_error(kind, lengths, tail):
    # Random bytes rarely get past the kind byte; these start like a command, with small
    # lengths (which may or may not fit) and huge ones, so the deeper checks are exercised.
    data = bytes([kind]) + b"".join(u64(n) for n in lengths) + tail
    _decode_is_value_error_or_canonical(data)
    _decode_is_value_error_or_canonical(b"\x80" + u64(1) + u64(2) + data)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(encode_command(draw(commands())))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "insert":
            data.insert(draw(st.integers(0, len(data))), draw(st.integers(0, 255)))
        elif not data:
            continue
        elif op == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete":
            del data[draw(st.integers(0, len(data) - 1))]
        else:
            del data[draw(st.integers(0, len(data) - 1)) :]
    return bytes(data)


@settings(max_examples=500)
@given(mutated())
def test_decode_of_mutated_commands_is_value_error_or_canonical(data):
    _decode_is_value_error_or_canonical(data)


# --- looking at the bytes -------------------------------------------------------------------


@given(commands())
def test_describe_bytes_covers_every_byte_in_order(cmd):
    data = encode_command(cmd)
    rows = describe_bytes(data)
    assert b"".join(r.raw for r in rows) == data
    assert [r.offset for r in rows] == [sum(len(r.raw) for r in rows[:i]) for i in range(len(rows))]


def test_describe_bytes_names_each_field_of_an_enveloped_cas():
    rows = describe_bytes(Command(Kind.CAS, "k", "new", expected="old", client_id=7, seq=3))
    assert [(r.name, r.hex) for r in rows] == [
        ("session", "80"),
        ("client id", "07 00 00 00 00 00 00 00"),
        ("seq", "03 00 00 00 00 00 00 00"),
        ("kind", "03"),
        ("key length", "01 00 00 00 00 00 00 00"),
        ("key", "6b"),
        ("value length", "03 00 00 00 00 00 00 00"),
        ("value", "6e 65 77"),
        ("expected length", "03 00 00 00 00 00 00 00"),
        ("expected", "6f 6c 64"),
    ]
    assert rows[3].meaning == "CAS (3)"
    assert rows[1].meaning.startswith("client 7")


def test_bytes_table_shows_one_line_per_field():
    table = bytes_table(SET_X_1)
    lines = table.splitlines()
    assert len(lines) == 1 + 5
    assert lines[1].split() == ["0", "kind", "00", "SET", "(0)"]
    assert lines[3].split() == ["9", "key", "78", "'x'"]
    assert "01 00 00 00 00 00 00 00" in lines[2]


def test_bytes_table_shortens_long_fields():
    table = bytes_table(Command(Kind.SET, "k", "v" * 100), max_hex_bytes=4)
    value_line = table.splitlines()[-1]
    assert "76 76 76 76 …" in value_line
    assert len(value_line) < 100


def test_describe_bytes_of_malformed_bytes_is_a_value_error():
    with pytest.raises(ValueError, match="trailing"):
        describe_bytes(SET_X_1 + b"!")


def test_encoding_hands_replicas_the_same_command_decoding_would_make():
    # encode_command remembers the command for decode_command (every replica decodes
    # every entry); what it hands out must equal a fresh parse of the bytes.
    from raftlab.kv.commands import _decode

    for cmd in (
        Command(Kind.SET, "k", "v"),
        Command(Kind.CAS, "k", "new", expected="old", client_id=3, seq=9),
        Command(2, "gone"),
    ):
        data = encode_command(cmd)
        assert decode_command(data) == _decode(data) == cmd
        assert decode_command(data).kind is _decode(data).kind
