"""§7 on disk: DiskStorage writes snapshots atomically and keeps raft.log bounded.

A snapshot goes to ``DIR/snapshot`` (temporary file, sync, rename, sync the directory),
then ``raft.log`` is rewritten to hold only the hard state and the entries after it.  A
restart reads the snapshot, then the log after it.
"""

from __future__ import annotations

import os
import shutil

import pytest

from raftlab.compaction import Snapshot
from raftlab.log import Entry, Log
from raftlab.node import HardState, Ready
from raftlab.server.storage import FILE_NAME, SNAPSHOT_NAME, CorruptLog, DiskStorage


def entries(first: int, n: int, term: int = 1) -> list[Entry]:
    return [Entry(first + k, term, b"x" * 100) for k in range(n)]


def ready(*, hard=None, persist_from=None, snapshot=None) -> Ready:
    rd = Ready()
    rd.hard_state, rd.persist_from, rd.snapshot = hard, persist_from, snapshot
    return rd


def grow(st: DiskStorage, log: Log, n: int) -> None:
    first = log.last_index + 1
    log.append(entries(first, n))
    st.save(ready(persist_from=first), log)


def snapshot_of_ten(tmp_path) -> tuple[DiskStorage, Log]:
    """Storage for S1 holding a snapshot of entries 1-10 and an empty log after it."""
    st = DiskStorage(tmp_path, 1)
    st.load()
    log = Log()
    grow(st, log, 10)
    log.compact(10)
    st.save(ready(snapshot=Snapshot(10, 1, (1,), b"state")), log)
    return st, log


def test_a_snapshot_replaces_the_log_prefix_on_disk(tmp_path):
    st = DiskStorage(tmp_path, 1)
    st.load()
    log = Log()
    st.save(ready(hard=HardState(3, 2)), log)
    grow(st, log, 500)
    before = (tmp_path / FILE_NAME).stat().st_size
    snap = Snapshot(480, 1, (1, 2, 3), b"state" * 10)
    log.compact(480)
    st.save(ready(snapshot=snap), log)
    after = (tmp_path / FILE_NAME).stat().st_size
    assert after < before / 10  # 20 entries left, not 500
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME, SNAPSHOT_NAME]
    grow(st, log, 5)
    st.close()

    st = DiskStorage(tmp_path, 1)
    hard, tail = st.load()
    assert hard == HardState(3, 2)  # the rewrite kept the hard state
    assert st.load_snapshot() == snap
    assert [e.index for e in tail] == list(range(481, 506))
    st.close()


def test_an_installed_snapshot_with_nothing_after_it_loads_as_an_empty_tail(tmp_path):
    st = DiskStorage(tmp_path, 2)
    st.load()
    log = Log()
    grow(st, log, 10)
    log.reset(50, 4)
    st.save(
        ready(hard=HardState(4, None), snapshot=Snapshot(50, 4, (1, 2), b"s"), persist_from=51), log
    )
    st.close()
    st = DiskStorage(tmp_path, 2)
    hard, tail = st.load()
    assert (hard, tail, st.load_snapshot().index) == (HardState(4, None), [], 50)
    # Appending after a reload continues from 51.
    log2 = Log([], 50, 4)
    log2.append(entries(51, 2, 4))
    st.save(ready(persist_from=51), log2)
    st.close()
    st = DiskStorage(tmp_path, 2)
    assert [e.index for e in st.load()[1]] == [51, 52]
    st.close()


def test_a_crash_between_the_two_renames_loses_nothing(tmp_path):
    st = DiskStorage(tmp_path, 1)
    st.load()
    log = Log()
    grow(st, log, 30)
    st.close()
    old_log = (tmp_path / FILE_NAME).read_bytes()
    st = DiskStorage(tmp_path, 1)
    st.load()
    log.compact(20)
    st.save(ready(snapshot=Snapshot(20, 1, (1,), b"s")), log)
    st.close()
    # The crash: the new snapshot is in place, raft.log is still the old, long one.
    (tmp_path / FILE_NAME).write_bytes(old_log)
    (tmp_path / f"{FILE_NAME}.tmp-999").write_bytes(b"half a file")
    st = DiskStorage(tmp_path, 1)
    _, tail = st.load()
    assert [e.index for e in tail] == list(range(21, 31))
    assert not (tmp_path / f"{FILE_NAME}.tmp-999").exists()
    st.close()


def test_a_damaged_snapshot_file_is_refused_with_its_name(tmp_path):
    st, _ = snapshot_of_ten(tmp_path)
    st.close()
    data = bytearray((tmp_path / SNAPSHOT_NAME).read_bytes())
    data[-6] ^= 0xFF
    (tmp_path / SNAPSHOT_NAME).write_bytes(bytes(data))
    st = DiskStorage(tmp_path, 1)
    with pytest.raises(CorruptLog, match=r"snapshot.*checksum"):
        st.load()
    st.close()


def test_a_log_that_starts_after_a_missing_snapshot_is_refused(tmp_path):
    st, log = snapshot_of_ten(tmp_path)
    grow(st, log, 3)
    st.close()
    os.unlink(tmp_path / SNAPSHOT_NAME)
    st = DiskStorage(tmp_path, 1)
    with pytest.raises(CorruptLog, match="no snapshot file"):
        st.load()
    st.close()


def test_the_directory_stays_bounded_while_the_log_grows(tmp_path):
    st = DiskStorage(tmp_path, 1)
    st.load()
    log, sizes = Log(), []
    for round in range(1, 21):
        grow(st, log, 100)
        log.compact(round * 100 - 10)
        st.save(ready(snapshot=Snapshot(round * 100 - 10, 1, (1,), b"s" * 1000)), log)
        sizes.append(sum(p.stat().st_size for p in tmp_path.iterdir()))
    assert max(sizes) - min(sizes) < 200  # 2,000 entries written, the same few KB on disk
    assert st.compactions == 20
    st.close()
    shutil.rmtree(tmp_path)


def test_real_servers_catch_a_stopped_follower_up_by_install_snapshot(tmp_path):
    """Three processes compacting every 50 entries; a follower stopped while 600 writes
    commit comes back, gets the leader's snapshot (chunks on the wire), and ends with the
    same data; its directory then holds a snapshot and a short log."""
    from raftlab.server import codec  # noqa: PLC0415
    from raftlab.server.local import LocalCluster  # noqa: PLC0415
    from raftlab.server.stress import make_commands  # noqa: PLC0415

    cmds, _ = make_commands(600, seed=3)
    with LocalCluster(3, directory=tmp_path, extra_args=["--snapshot-threshold", "50"]) as c:
        leader = c.wait_for_leader()
        follower = next(i for i in c.ids if i != leader)
        c.stop_node(follower)
        client = c.client(timeout_s=30)
        assert all(s == codec.OK for s, _ in client.batch(cmds))
        last = c.status(leader)["last_index"]
        c.start_node(follower)
        c.wait_applied(last, timeout_s=30)
        assert c.status(follower)["snapshot_index"] >= 550
        digests = {i: client.digest(i, upto=last, since=last) for i in c.ids}
        assert len({d["state_sha256"] for d in digests.values()}) == 1
        assert digests[follower]["keys"] == 600
        assert "installed a snapshot" in c.log_text(follower)
        assert (c.data_dir(follower) / SNAPSHOT_NAME).exists()
        assert (c.data_dir(follower) / FILE_NAME).stat().st_size < 60_000
