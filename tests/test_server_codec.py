"""The server's bytes: every Raft message and batch round-trips; garbage is a ValueError."""

from __future__ import annotations

import random

import pytest

from raftlab.log import Entry
from raftlab.messages import (
    AppendEntries,
    AppendEntriesReply,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
)
from raftlab.server import codec

MESSAGES = [
    RequestVote(1, 2, 7, 1, 40, 6),
    RequestVoteReply(2, 1, 7, True),
    RequestVoteReply(3, 1, 8, False),
    AppendEntries(1, 3, 7, 1, 0, 0, (), 0),
    AppendEntries(
        1, 3, 7, 1, 4, 6, (Entry(5, 7, None), Entry(6, 7, b""), Entry(7, 7, b"\x00set x=1" * 50)), 5
    ),
    AppendEntriesReply(3, 1, 7, True, match_index=7),
    AppendEntriesReply(3, 1, 7, False, rejected_index=4, conflict_term=5, conflict_index=2),
    # raftlab.reads: PreVote, transfer votes, heartbeat rounds, TimeoutNow.
    RequestVote(1, 2, 8, 1, 40, 6, pre_vote=True),
    RequestVote(1, 2, 8, 1, 40, 6, transfer=True),
    RequestVoteReply(2, 1, 8, True, pre_vote=True),
    AppendEntries(1, 3, 7, 1, 0, 0, (), 0, seq=2**40 + 3),
    AppendEntriesReply(3, 1, 7, True, match_index=7, seq=12),
    TimeoutNow(1, 3, 7),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: m.kind)
def test_each_message_round_trips(msg):
    assert codec.decode_message(codec.encode_message(msg)) == msg


def test_a_batch_of_messages_round_trips():
    assert codec.decode_messages(codec.encode_messages(MESSAGES)) == MESSAGES
    assert codec.decode_messages(b"") == []


def test_entries_keep_their_indexes_from_prev_log_index():
    msg = MESSAGES[4]
    got = codec.decode_message(codec.encode_message(msg))
    assert [e.index for e in got.entries] == [5, 6, 7]


def _decodes_exactly_or_raises_valueerror(data: bytes) -> bool:
    """Either a ValueError, or messages that encode back to exactly these bytes."""
    try:
        msgs = codec.decode_messages(data)
    except ValueError:
        return False
    assert codec.encode_messages(msgs) == data
    return True


def test_every_truncation_and_byte_flip_is_a_valueerror_or_the_same_bytes_again():
    """A decoder must never raise IndexError or struct.error on bytes from the wire, and
    what it accepts must mean exactly one thing."""
    raw = codec.encode_messages(MESSAGES)
    accepted = [_decodes_exactly_or_raises_valueerror(raw[:cut]) for cut in range(len(raw))]
    assert accepted.count(True) == len(MESSAGES)  # exactly the cuts between messages
    rng = random.Random(8)
    for _ in range(2000):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        _decodes_exactly_or_raises_valueerror(bytes(data))


def test_errors_name_the_offset():
    raw = codec.encode_message(MESSAGES[0])
    with pytest.raises(ValueError, match="offset 0"):
        codec.decode_message(b"Z" + raw[1:])
    with pytest.raises(ValueError, match="should have"):
        codec.decode_message(raw + b"\x00")


def test_the_entry_cache_encodes_a_run_once_and_recognises_a_decoded_run():
    entries = tuple(Entry(i, 1, b"c%d" % i) for i in range(1, 101))
    cache = codec.EntryCache()
    a = codec.AppendEntries(1, 2, 1, 1, 0, 0, entries, 0)
    b = codec.AppendEntries(1, 3, 1, 1, 0, 0, entries, 0)
    assert codec.encode_message(a, cache)[-10:] == codec.encode_message(b, cache)[-10:]
    assert (cache.misses, cache.hits) == (1, 1)
    # Same values but other objects: a different run, encoded again (never confused).
    copy = tuple(Entry(e.index, e.term, e.command) for e in entries)
    codec.encode_message(codec.AppendEntries(1, 2, 1, 1, 0, 0, copy, 0), cache)
    assert cache.misses == 2
    # A follower remembers the bytes it decoded, so writing them to disk encodes nothing.
    f_cache = codec.EntryCache()
    got = codec.decode_message(codec.encode_message(a), cache=f_cache)
    assert f_cache.encode(got.entries) == codec.encode_entries(entries)
    assert (f_cache.misses, f_cache.hits) == (0, 1)


def test_client_batches_and_results_round_trip():
    cmds = [b"", b"a", bytes(range(256)) * 10]
    assert codec.decode_batch(codec.encode_batch(cmds)) == cmds
    res = [(codec.OK, b""), (codec.NOT_FOUND, b"no key"), (codec.ERROR, b"bad")]
    assert codec.decode_results(codec.encode_results(res)) == res
    with pytest.raises(ValueError, match="command 2"):
        codec.decode_batch(codec.encode_batch([b"x", b"yy"])[:-1])
    with pytest.raises(ValueError):
        codec.decode_results(b"\x07\x00\x00\x00\x00")


def test_digests_tell_logs_and_stores_apart():
    e = [Entry(1, 1, b"a"), Entry(2, 1, None)]
    assert codec.log_digest(e) == codec.log_digest(list(e))
    assert codec.log_digest(e) != codec.log_digest([Entry(1, 1, b"a"), Entry(2, 2, None)])
    assert codec.log_digest(e) != codec.log_digest([Entry(1, 1, b"a"), Entry(2, 1, b"")])
    assert codec.state_digest({"a": "1", "b": "2"}) == codec.state_digest({"b": "2", "a": "1"})
    assert codec.state_digest({"ab": ""}) != codec.state_digest({"a": "b"})
