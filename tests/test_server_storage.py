"""DiskStorage: term, vote and log survive a restart; damage is refused with file and offset.

§5, Figure 2: "Persistent state on all servers (updated on stable storage before
responding to RPCs)": currentTerm, votedFor, log[].
"""

from __future__ import annotations

import os
import shutil
import struct

import pytest

from raftlab.log import Entry, Log
from raftlab.node import HardState, Ready
from raftlab.server.codec import EntryCache
from raftlab.server.storage import (
    FILE_NAME,
    CorruptLog,
    DataDirInUse,
    DiskStorage,
    UnusableDataDir,
)


def entries(first: int, terms: list[int], size: int = 8) -> list[Entry]:
    return [Entry(first + k, t, bytes([65 + (first + k) % 26]) * size) for k, t in enumerate(terms)]


def save(
    st: DiskStorage, log: Log, *, hard: HardState | None = None, persist_from: int | None = None
) -> None:
    rd = Ready()
    rd.hard_state = hard
    rd.persist_from = persist_from
    st.save(rd, log)


def reopen(path, node_id: int = 1, **kw) -> tuple[HardState, list[Entry]]:
    with DiskStorage(path, node_id, **kw) as st:
        return st.load()


def test_empty_directory_loads_term_zero_and_no_entries(tmp_path):
    assert reopen(tmp_path / "d") == (HardState(0, None), [])


def test_term_vote_and_entries_survive_a_reopen_s5(tmp_path):
    log = Log()
    with DiskStorage(tmp_path, 1) as st:
        st.load()
        save(st, log, hard=HardState(3, 2))
        log.append(entries(1, [1, 1, 3]) + [Entry(4, 3, None)])  # a no-op too (§8)
        save(st, log, persist_from=1)
    hard, got = reopen(tmp_path)
    assert hard == HardState(3, 2)
    assert got == list(log) and got[3].command is None


def test_truncation_then_new_entries_replace_the_suffix_s5_3(tmp_path):
    log = Log(entries(1, [1, 1, 1, 1]))
    with DiskStorage(tmp_path, 1) as st:
        st.load()
        save(st, log, persist_from=1)
        log.truncate(3)
        log.append(entries(3, [2]))
        save(st, log, persist_from=3)
    assert reopen(tmp_path)[1] == list(log)
    assert [e.term for e in reopen(tmp_path)[1]] == [1, 1, 2]


def test_the_last_hard_state_wins_and_a_vote_of_nobody_reads_back_as_none(tmp_path):
    log = Log()
    with DiskStorage(tmp_path, 1) as st:
        st.load()
        save(st, log, hard=HardState(1, 1))
        save(st, log, hard=HardState(2, None))
    assert reopen(tmp_path)[0] == HardState(2, None)


def test_one_sync_per_save_whatever_the_number_of_entries(tmp_path, monkeypatch):
    """Group commit: a Ready with a new term and 5,000 entries costs one fdatasync."""
    calls = []
    import raftlab.server.storage as storage_mod

    real = storage_mod._sync
    monkeypatch.setattr(storage_mod, "_sync", lambda fd: (calls.append(fd), real(fd)))
    log = Log(entries(1, [1] * 5000))
    with DiskStorage(tmp_path, 1) as st:
        st.load()
        save(st, log, hard=HardState(1, 1), persist_from=1)
        assert len(calls) == 1 and st.syncs == 1
    assert len(reopen(tmp_path)[1]) == 5000


def test_entries_of_any_size(tmp_path):
    big = [Entry(1, 1, os.urandom(3 << 20)), Entry(2, 1, b""), Entry(3, 1, b"x" * 112)]
    log = Log(big)
    with DiskStorage(tmp_path, 1) as st:
        st.load()
        save(st, log, persist_from=1)
    assert reopen(tmp_path)[1] == big


def test_a_gap_in_what_is_saved_is_refused_before_writing(tmp_path):
    log = Log(entries(1, [1, 1, 1]))
    with DiskStorage(tmp_path, 1) as st:
        st.load()
        with pytest.raises(RuntimeError, match="gap"):
            save(st, log, persist_from=3)
        assert st.syncs == 0


def test_the_entry_cache_makes_the_same_bytes(tmp_path):
    log = Log(entries(1, [1, 2, 2]))
    cache = EntryCache()
    with DiskStorage(tmp_path / "a", 1, cache=cache) as a, DiskStorage(tmp_path / "b", 1) as b:
        for st in (a, b):
            st.load()
            save(st, log, persist_from=1)
    assert cache.misses == 1
    raw = [(tmp_path / d / FILE_NAME).read_bytes() for d in "ab"]
    assert raw[0] == raw[1]


def _file_with_two_records(tmp_path):
    log = Log(entries(1, [1, 1]))
    with DiskStorage(tmp_path, 1) as st:
        st.load()
        save(st, log, hard=HardState(1, 1))
        first_end = (tmp_path / FILE_NAME).stat().st_size
        save(st, log, persist_from=1)
    return tmp_path / FILE_NAME, first_end


def test_a_flipped_byte_stops_start_up_naming_file_and_offset(tmp_path):
    path, second = _file_with_two_records(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the last entry's command
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptLog) as err:
        reopen(tmp_path)
    assert err.value.offset == second and not err.value.torn
    assert str(path) in str(err.value) and f"offset {second}" in str(err.value)
    assert "checksum" in str(err.value)


def test_a_damaged_length_is_corruption_not_a_torn_tail(tmp_path):
    """The header has its own checksum, so a bad length cannot pass for a torn write
    (which --truncate-torn-tail would drop, with everything after it)."""
    path, second = _file_with_two_records(tmp_path)
    data = bytearray(path.read_bytes())
    data[second] ^= 0x40  # the length field of the second record
    path.write_bytes(bytes(data))
    for flag in (False, True):
        with pytest.raises(CorruptLog) as err:
            reopen(tmp_path, truncate_torn_tail=flag)
        assert err.value.offset == second and not err.value.torn


def test_a_torn_tail_is_refused_unless_asked_and_then_only_it_is_dropped(tmp_path):
    path, second = _file_with_two_records(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 5)  # a crash in the middle of the second write
    with pytest.raises(CorruptLog) as err:
        reopen(tmp_path)
    assert err.value.torn and err.value.offset == second
    assert "--truncate-torn-tail" in str(err.value)
    assert path.stat().st_size == size - 5  # refusing changed nothing
    hard, got = reopen(tmp_path, truncate_torn_tail=True)
    assert hard == HardState(1, 1) and got == []
    assert path.stat().st_size == second
    assert reopen(tmp_path) == (HardState(1, 1), [])  # and the file is clean again


def test_a_directory_of_another_node_is_refused(tmp_path):
    reopen(tmp_path, 1)
    with pytest.raises(CorruptLog, match="belongs to node 1, not to node 2"):
        reopen(tmp_path, 2)


def test_not_a_log_file(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"hello, this is not a raft log at all")
    with pytest.raises(CorruptLog, match="not a raftlab log file"):
        reopen(tmp_path)


def test_two_processes_cannot_share_a_directory(tmp_path):
    with DiskStorage(tmp_path, 1), pytest.raises(DataDirInUse, match="in use"):
        DiskStorage(tmp_path, 1)
    DiskStorage(tmp_path, 1).close()  # the lock went with the first one


def test_a_record_leaving_a_gap_is_corruption(tmp_path):
    """Bytes that replay to a log with a hole are refused, not patched."""
    log = Log(entries(1, [1, 1, 1]))
    with DiskStorage(tmp_path, 1) as st:
        st.load()
        save(st, log, persist_from=1)
    path = tmp_path / FILE_NAME
    data = bytearray(path.read_bytes())
    # Rewrite the record's first index (1 -> 5) and fix both checksums, so only the
    # meaning is wrong.
    import zlib

    head = 28
    length, _, _ = struct.unpack_from("<QII", data, head)
    struct.pack_into("<Q", data, head + 16 + 1, 5)
    payload = bytes(data[head + 16 : head + 16 + length])
    first = struct.pack("<QI", length, zlib.crc32(payload))
    data[head : head + 16] = first + struct.pack("<I", zlib.crc32(first))
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptLog, match="gap") as err:
        reopen(tmp_path)
    assert err.value.offset == head


def test_a_torn_tail_on_a_full_disk_says_so(tmp_path, monkeypatch):
    """A restart on a full disk used to be reported as a cut-short record, nothing more."""
    path, second = _file_with_two_records(tmp_path)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 5)
    with pytest.raises(CorruptLog) as err:
        reopen(tmp_path)
    assert "disk" not in str(err.value)  # plenty of room here: no word about it
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=100))
    with pytest.raises(CorruptLog) as err:
        reopen(tmp_path)
    assert "The disk holding it has only 100 bytes free" in str(err.value)
    assert "free some space first" in str(err.value)


def test_an_emptied_or_short_log_is_damage_and_no_file_is_a_new_node(tmp_path):
    """An emptied raft.log used to start the node at term 0 with its vote forgotten."""
    path, _ = _file_with_two_records(tmp_path)
    for size in (0, 23):
        with open(path, "r+b") as f:
            f.truncate(size)
        with pytest.raises(CorruptLog) as err:
            reopen(tmp_path)
        assert err.value.offset == 0 and f"the file holds {size}" in str(err.value)
        assert path.stat().st_size == size  # refusing changed nothing
    fresh = tmp_path / "fresh"
    assert reopen(fresh) == (HardState(), [])
    assert sorted(p.name for p in fresh.iterdir()) == [FILE_NAME]  # no temporary left


def test_an_unusable_directory_is_one_sentence(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UnusableDataDir, match="a file \\(not a directory\\) is in the way"):
        DiskStorage(f, 1)
