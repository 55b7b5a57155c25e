"""§7, log compaction: the log after a snapshot, InstallSnapshot (Figure 13), restarts.

Unit tests drive one ``RaftNode`` by hand (``tests.nodeutil``); scenarios run a
``Cluster``; properties check the log's offsets and the snapshot's chunks with hypothesis.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftlab import Cluster, Config, SafetyViolation
from raftlab.compaction import Incoming, Snapshot
from raftlab.errors import Compacted
from raftlab.kv import KVStateMachine
from raftlab.kv.commands import Command, Kind, encode_command
from raftlab.log import Entry, Log
from raftlab.messages import InstallSnapshot, InstallSnapshotReply
from raftlab.node import HardState, RaftNode
from raftlab.progress import State
from raftlab.roles import Role
from raftlab.snapshot_scenarios import RETRIED_WRITE, lagging_follower, retry_after_snapshot
from raftlab.statemachine import CommandList
from raftlab.storage import MemoryStorage
from tests.nodeutil import CONFIG, ack, append, entries, make_leader, sent

# ------------------------------------------------------------------ the log after a snapshot


def compacted_log() -> Log:
    """Entries 1..10 of terms 1,1,1,2,2,2,2,3,3,3, compacted up to index 5."""
    terms = [1, 1, 1, 2, 2, 2, 2, 3, 3, 3]
    log = Log(list(entries(1, *terms)))
    log.compact(5)
    return log


def test_a_compacted_log_keeps_working_from_the_snapshot_on():
    log = compacted_log()
    assert (log.snapshot_index, log.snapshot_term) == (5, 2)
    assert (log.first_index, log.last_index, log.last_term) == (6, 10, 3)
    assert len(log) == 5  # the entries held
    assert log.term(5) == 2  # the snapshot's last entry, for the next consistency check
    assert log.entry(6) == Entry(6, 2, b"x6t2")
    assert [e.index for e in log.entries(6, 8)] == [6, 7]
    assert log.last_index_of_term(3) == 10
    assert log.last_index_of_term(2) == 7
    assert log.first_index_of_term(9) == 8
    # A run of term 2 that reaches into the snapshot starts, as far as the log knows, there.
    assert log.first_index_of_term(7) == 5


@pytest.mark.parametrize("index", [1, 4])
def test_asking_for_a_discarded_entry_is_an_explicit_error(index):
    log = compacted_log()
    with pytest.raises(Compacted, match=r"snapshot covers indexes 1\.\.5"):
        log.term(index)
    with pytest.raises(Compacted):
        log.entry(index)
    with pytest.raises(Compacted):
        log.entries(index)
    with pytest.raises(Compacted):
        log.truncate(index)
    with pytest.raises(Compacted):
        log.entry(5)  # its term is known, not its command


def test_beyond_the_end_is_still_a_plain_index_error():
    log = compacted_log()
    with pytest.raises(IndexError, match=r"holds 6\.\.10") as caught:
        log.term(11)
    assert not isinstance(caught.value, Compacted)


def test_last_term_of_a_log_with_nothing_after_its_snapshot_is_the_snapshots():
    log = Log([], 7, 3)
    assert (log.last_index, log.last_term, log.first_index) == (7, 3, 8)
    assert log.last_index_of_term(3) == 7 and log.last_index_of_term(2) == 0


def test_reset_discards_everything_for_a_snapshot():
    log = compacted_log()
    gone = log.reset(20, 4)
    assert [e.index for e in gone] == [6, 7, 8, 9, 10]
    assert (log.snapshot_index, log.snapshot_term, log.last_index, len(log)) == (20, 4, 20, 0)


def test_compact_outside_the_log_is_refused_and_changes_nothing():
    log = compacted_log()
    version = log.version
    for bad in (4, 11):
        with pytest.raises(IndexError):
            log.compact(bad)
    assert (log.snapshot_index, log.last_index, log.version) == (5, 10, version)


@pytest.mark.parametrize(
    "kw",
    [
        dict(entries=list(entries(1, 1)), snapshot_index=3, snapshot_term=1),
        dict(entries=[], snapshot_index=3, snapshot_term=0),
        dict(entries=[], snapshot_index=-1, snapshot_term=1),
    ],
)
def test_a_log_that_does_not_start_after_its_snapshot_is_refused(kw):
    with pytest.raises(ValueError, match="snapshot"):
        Log(kw["entries"], kw["snapshot_index"], kw["snapshot_term"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("atc"), st.integers(0, 6)), max_size=40))
def test_a_compacted_log_answers_like_the_whole_log_from_its_snapshot_on(ops):
    """Property: append/truncate/compact in any order; every index at or after the snapshot
    answers as a plain list of all entries would, and every index before it is refused."""
    log, model, term = Log(), [], 1
    for op, k in ops:
        if op == "a":
            term += k % 2
            new = [Entry(len(model) + 1 + j, term, b"c") for j in range(k)]
            log.append(new)
            model += new
        elif op == "t" and k and len(model) - k >= log.snapshot_index:
            log.truncate(len(model) - k + 1)
            del model[len(model) - k :]
        elif op == "c" and model:
            log.compact(log.snapshot_index + (len(model) - log.snapshot_index) * k // 6)
    assert log.last_index == len(model)
    assert log.last_term == (model[-1].term if model else 0)
    for i in range(1, len(model) + 1):
        if i < log.snapshot_index:
            with pytest.raises(Compacted):
                log.term(i)
        else:
            assert log.term(i) == model[i - 1].term
        if i > log.snapshot_index:
            assert log.entry(i) == model[i - 1]
            assert log.entries(i) == model[i - 1 :]
    for t in range(term + 1):
        want = max((e.index for e in model if e.term == t), default=0)
        if want >= log.snapshot_index:
            assert log.last_index_of_term(t) == want


# ------------------------------------------------------------------------- config


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10", None])
def test_a_bad_snapshot_threshold_is_a_value_error_with_a_sentence(bad):
    with pytest.raises(ValueError, match=r"Config.snapshot_threshold must be a whole number"):
        Config(snapshot_threshold=bad)


@pytest.mark.parametrize("bad", [0, -5, 2.0, False])
def test_a_bad_chunk_size_is_a_value_error(bad):
    with pytest.raises(ValueError, match=r"Config.snapshot_chunk_bytes"):
        Config(snapshot_chunk_bytes=bad)


def test_zero_means_never():
    c = Cluster(3, seed=1, config=Config(snapshot_threshold=0))
    c.wait_for_leader()
    c.apply([b"x"] * 30)
    assert all(n.log.snapshot_index == 0 and n.snapshot is None for n in c.nodes.values())


def test_compaction_needs_a_state_machine_that_can_snapshot():
    class ApplyOnly:
        def apply(self, command):
            return None

    with pytest.raises(TypeError, match=r"snapshot\(\) -> bytes and restore\(bytes\)"):
        Cluster(3, seed=1, config=Config(snapshot_threshold=5), state_machine=ApplyOnly)


def test_a_snapshot_covers_at_least_one_entry_and_holds_bytes():
    with pytest.raises(ValueError, match="index and term >= 1"):
        Snapshot(0, 1, (1,), b"")
    with pytest.raises(TypeError, match="bytes"):
        Snapshot(1, 1, (1,), "text")  # type: ignore[arg-type]


def test_a_node_refuses_a_log_that_does_not_fit_its_snapshot():
    snap = Snapshot(5, 2, (1, 2, 3), CommandList().snapshot())
    with pytest.raises(ValueError, match="must start right after the snapshot"):
        RaftNode(1, [1, 2, 3], rng=random.Random(0), log=Log([], 4, 2), snapshot=snap)
    with pytest.raises(ValueError, match="pass that snapshot too"):
        RaftNode(1, [1, 2, 3], rng=random.Random(0), log=Log([], 5, 2))


# ------------------------------------------------------------- taking a snapshot


def test_a_node_snapshots_at_each_multiple_of_the_threshold_and_discards_the_prefix():
    c = Cluster(3, seed=2, config=Config(snapshot_threshold=5), state_machine=CommandList)
    c.wait_for_leader()
    c.apply([f"c{k}".encode() for k in range(11)])  # the no-op at 1, then 2..12
    c.run(200)
    for n in c.nodes.values():
        assert n.last_applied == 12
        assert (n.log.snapshot_index, n.log.first_index) == (10, 11)
        assert n.snapshot is not None and n.snapshot.index == 10
        assert n.snapshot.configuration.voters == {1, 2, 3}
        restored = CommandList()
        restored.restore(n.snapshot.data)
        assert restored.commands == [f"c{k}".encode() for k in range(9)]  # 2..10
    taken = [(e.node, int(e.detail.split()[0][6:])) for e in c.trace if e.kind == "snapshot"]
    assert sorted(taken) == [(i, k) for i in (1, 2, 3) for k in (5, 10)]


def test_storage_keeps_the_snapshot_and_only_the_log_after_it():
    c = Cluster(3, seed=2, config=Config(snapshot_threshold=5), state_machine=CommandList)
    c.wait_for_leader()
    c.apply([f"c{k}".encode() for k in range(23)])
    c.run(200)
    for i in c.ids:
        st = c.storage[i]
        assert st.snapshot is not None and st.snapshot.index == 20
        assert [e.index for e in st.entries] == [21, 22, 23, 24]


def test_a_restart_restores_the_snapshot_then_the_log_after_it():
    c = Cluster(3, seed=2, config=Config(snapshot_threshold=5), state_machine=CommandList)
    leader = c.wait_for_leader()
    c.apply([f"c{k}".encode() for k in range(13)])  # up to index 14
    c.run(200)
    follower = min(i for i in c.ids if i != leader)
    c.crash(follower)
    c.restart(follower)
    n = c.nodes[follower]
    # At once, before any message: the state of indexes 1..10, and the log 11..14 after it.
    assert (n.commit_index, n.last_applied, n.log.first_index, n.log.last_index) == (10, 10, 11, 14)
    assert n.state_machine.commands == [f"c{k}".encode() for k in range(9)]
    assert c.trace[-1].detail == "term=1 last=14"
    c.run(300)
    assert n.state_machine.commands == [f"c{k}".encode() for k in range(13)]
    c.check_invariants()


# ------------------------------------------------------------ the leader's side


def compacted_leader(*, chunk: int = 4) -> RaftNode:
    """S1 leads term 1 of three with entries up to 12, compacted at 10 (threshold 5):
    everyone acknowledged up to 12 except S3, which never answered."""
    config = Config(snapshot_threshold=5, snapshot_chunk_bytes=chunk)
    leader = make_leader(1, 3, term=1, config=config, state_machine=CommandList())
    leader.propose([f"c{k}".encode() for k in range(11)], 10.0)
    leader.ready()
    leader.step(ack(2, 1, 1, 12), 11.0)
    leader.apply_committed()
    leader.ready()
    assert leader.log.snapshot_index == 10 and leader.commit_index == 12
    return leader


def test_a_follower_behind_the_snapshot_gets_install_snapshot_in_chunks():
    leader = compacted_leader()
    pr = leader.progress[3]
    # S3 never answered the no-op's AppendEntries: once it is presumed lost (a heartbeat
    # round without a reply), the leader would resend from index 1, which is gone.
    for _ in range(3):
        leader.tick(leader.heartbeat_deadline)
        rd = leader.ready()
        if sent(rd, InstallSnapshot):
            break
    assert pr.state is State.SNAPSHOT and pr.snapshot is leader.snapshot
    (chunk,) = sent(rd, InstallSnapshot)
    assert (chunk.last_included_index, chunk.last_included_term, chunk.offset) == (10, 1, 0)
    assert chunk.data == leader.snapshot.data[:4] and not chunk.done
    assert ("snapshot-to", "to=S3 index=10") in rd.events
    # No AppendEntries goes to S3 while the snapshot is on its way; the next heartbeat
    # round resends the chunk S3 waits for (it may have been lost).
    leader.tick(leader.heartbeat_deadline)
    rd = leader.ready()
    to_s3 = [m for m in rd.messages if m.dst == 3]
    assert [type(m) for m in to_s3] == [InstallSnapshot] and to_s3[0].offset == 0
    # S3 confirms 4 bytes: the next chunk goes at once; a duplicate of that reply does nothing.
    reply = InstallSnapshotReply(3, 1, 1, 10, 4)
    leader.step(reply, 30.0)
    (nxt,) = sent(leader.ready(), InstallSnapshot)
    assert nxt.offset == 4
    leader.step(reply, 31.0)
    assert sent(leader.ready(), InstallSnapshot) == []
    # Installed: S3 matches up to 10, gets entries 11.. by AppendEntries, and leaves the
    # snapshot state.
    leader.step(InstallSnapshotReply(3, 1, 1, 10, len(leader.snapshot.data), True, 10), 32.0)
    rd = leader.ready()
    assert pr.state is State.REPLICATE and pr.match == 10 and pr.snapshot is None
    (ae,) = [m for m in rd.messages if m.dst == 3]
    assert ae.prev_log_index == 10 and ae.prev_log_term == 1
    assert [e.index for e in ae.entries] == [11, 12]


def test_a_reply_about_another_snapshot_or_term_is_ignored():
    leader = compacted_leader()
    pr = leader.progress[3]
    pr.send_snapshot(leader.snapshot)
    for stale in (
        InstallSnapshotReply(3, 1, 1, 5, 4, True, 5),  # an older snapshot
        InstallSnapshotReply(3, 1, 0, 10, 4, True, 10),  # an older term
    ):
        leader.step(stale, 40.0)
        assert leader.ready().messages == []
        assert pr.state is State.SNAPSHOT and pr.match == 0


# ------------------------------------------------------------ the follower's side (Figure 13)


def kv_snapshot(index: int, term: int, **data: str) -> Snapshot:
    sm = KVStateMachine()
    for k, v in data.items():
        sm.apply(encode_command(Command(Kind.SET, k, v)))
    sm.apply(encode_command(Command(Kind.APPEND, "log", "a", client_id=9, seq=4)))
    return Snapshot(index, term, (1, 2, 3), sm.snapshot())


def follower(*, term: int = 2, log: tuple[int, ...] = (), commit: int = 0) -> RaftNode:
    node = RaftNode(
        2,
        [1, 2, 3],
        config=CONFIG,
        rng=random.Random(0),
        hard_state=HardState(term, None),
        log=Log(list(entries(1, *log))),
        state_machine=KVStateMachine(),
    )
    node.commit_index = commit
    node.apply_committed()
    node.ready()
    return node


def chunks(snap: Snapshot, size: int, term: int = 2) -> list[InstallSnapshot]:
    out, offset = [], 0
    while True:
        data, done = snap.chunk(offset, size)
        out.append(
            InstallSnapshot(1, 2, term, 1, snap.index, snap.term, offset, data, done, (1, 2, 3))
        )
        if done:
            return out
        offset += len(data)


def test_chunks_in_order_install_the_snapshot_and_discard_a_log_that_lacks_its_last_entry():
    node = follower(log=(1, 1, 1), commit=1)
    snap = kv_snapshot(8, 2, x="1")
    msgs = chunks(snap, 10)
    assert len(msgs) > 3
    for m in msgs[:-1]:
        node.step(m, 5.0)
        (reply,) = node.ready().messages
        assert not reply.done and reply.offset == m.offset + len(m.data)
        assert node.log.last_index == 3  # nothing changes before the last chunk
    node.step(msgs[-1], 6.0)
    rd = node.ready()
    (reply,) = rd.messages
    assert reply.done and reply.match_index == 8
    # Figure 13, steps 7 and 8: the whole log goes, the state machine is reset from it.
    assert (node.log.snapshot_index, node.log.snapshot_term, node.log.last_index) == (8, 2, 8)
    assert (node.commit_index, node.last_applied) == (8, 8)
    assert dict(node.state_machine.data) == {"x": "1", "log": "a"}
    assert node.state_machine.sessions[9].last_seq == 4
    assert rd.snapshot == snap and node.snapshot == snap
    assert rd.persist_from == 9  # storage drops the old log after the snapshot too
    assert ("installed", "index=8 term=2 from=S1") in rd.events


def test_a_log_that_holds_the_snapshots_last_entry_keeps_what_follows():
    node = follower(log=(1, 1, 2, 2, 2), commit=1)
    node.step(chunks(kv_snapshot(3, 2, x="1"), 1000)[0], 5.0)
    rd = node.ready()
    # Figure 13, step 6: entries 4 and 5 follow the snapshot's last entry (3, term 2).
    assert (node.log.first_index, node.log.last_index) == (4, 5)
    assert [e.term for e in node.log] == [2, 2]
    assert rd.removed == [] and rd.persist_from is None


def test_entries_after_the_snapshot_in_a_conflicting_log_are_reported_removed():
    node = follower(log=(1, 1, 1, 1, 1), commit=1)
    node.step(chunks(kv_snapshot(3, 2, x="1"), 1000)[0], 5.0)
    rd = node.ready()
    assert [e.index for e in rd.removed] == [4, 5]
    assert node.log.last_index == 3


def test_a_duplicate_chunk_changes_nothing_and_a_gap_asks_for_the_missing_bytes():
    node = follower()
    msgs = chunks(kv_snapshot(8, 2, x="1"), 10)
    node.step(msgs[0], 5.0)
    node.step(msgs[1], 5.0)
    node.ready()
    node.step(msgs[0], 6.0)  # a duplicate of the first chunk
    (reply,) = node.ready().messages
    assert reply.offset == 20 and not reply.done
    node.step(msgs[3], 7.0)  # the third chunk was lost
    (reply,) = node.ready().messages
    assert reply.offset == 20 and not reply.done
    for m in msgs[2:]:
        node.step(m, 8.0)
    assert node.log.snapshot_index == 8


def test_a_chunk_of_an_older_snapshot_does_not_disturb_the_newer_one():
    node = follower()
    newer = chunks(kv_snapshot(8, 2, x="new"), 10)
    older = chunks(kv_snapshot(5, 2, x="old"), 10)
    node.step(newer[0], 5.0)
    node.step(older[0], 5.0)  # a delayed first chunk of the leader's previous snapshot
    node.ready()
    for m in newer[1:]:
        node.step(m, 6.0)
    assert node.log.snapshot_index == 8 and node.state_machine.data["x"] == "new"


def test_a_snapshot_older_than_the_commit_index_is_not_installed():
    node = follower(log=(1, 1, 2, 2, 2, 2), commit=6)
    before = (node.log.as_tuple(), dict(node.state_machine.data), node.last_applied)
    node.step(chunks(kv_snapshot(4, 2, x="old"), 1000)[0], 5.0)
    rd = node.ready()
    (reply,) = rd.messages
    # Already committed here: refused; the leader learns that this log matches its own up
    # to the snapshot's index, and AppendEntries takes it from there.
    assert reply.done and reply.match_index == 4
    assert (node.log.as_tuple(), dict(node.state_machine.data), node.last_applied) == before
    assert rd.snapshot is None


def test_install_snapshot_of_an_older_term_is_refused_with_the_newer_term():
    node = follower(term=3)
    node.step(chunks(kv_snapshot(8, 2, x="1"), 1000, term=2)[0], 5.0)
    (reply,) = node.ready().messages
    assert reply == InstallSnapshotReply(2, 1, 3)
    assert node.log.snapshot_index == 0


def test_install_snapshot_makes_a_candidate_of_that_term_a_follower():
    node = follower(term=1)
    node.tick(node.election_deadline)
    node.ready()
    assert node.role is Role.CANDIDATE and node.current_term == 2
    node.step(chunks(kv_snapshot(8, 2, x="1"), 1000)[0], 500.0)
    assert node.role is Role.FOLLOWER and node.leader_id == 1
    assert node.log.snapshot_index == 8


def test_append_entries_below_the_followers_snapshot_skip_what_it_covers():
    node = follower()
    node.step(chunks(kv_snapshot(8, 2, x="1"), 1000)[0], 5.0)
    node.ready()
    # The leader still thinks S2 needs 7..10: entries up to 8 are in the snapshot.
    node.step(append(1, 2, 2, prev=6, prev_term=2, ents=entries(7, 2, 2, 2, 2), commit=10), 6.0)
    (reply,) = node.ready().messages
    assert reply.success and reply.match_index == 10
    assert (node.log.first_index, node.log.last_index) == (9, 10)
    # A heartbeat from far below the snapshot is accepted; it vouches only for index 2.
    node.step(append(1, 2, 2, prev=2, prev_term=1, commit=10), 7.0)
    (reply,) = node.ready().messages
    assert reply.success and reply.match_index == 2
    assert node.log.last_index == 10  # nothing cut


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    dup=st.floats(0, 0.5),
)
def test_chunks_lost_duplicated_and_reordered_still_install_the_exact_snapshot(size, seed, dup):
    """Property: whatever the network does to the chunks, the follower's replies lead the
    leader (resending from the offset the follower reports) to a byte-exact install."""
    rng = random.Random(seed)
    node = follower()
    snap = kv_snapshot(8, 2, a="x" * 30, b="y" * 17)

    def chunk_at(offset: int) -> InstallSnapshot:
        data, done = snap.chunk(offset, size)
        return InstallSnapshot(1, 2, 2, 1, 8, 2, offset, data, done, (1, 2, 3))

    offset, in_flight = 0, [chunk_at(0)]
    for step in range(3000):
        if node.log.snapshot_index == 8:
            break
        if step % 5 == 0:
            in_flight.append(chunk_at(offset))  # a heartbeat round resends
        if not in_flight:
            continue
        msg = in_flight.pop(rng.randrange(len(in_flight)))  # any order
        if rng.random() < dup:
            in_flight.append(msg)  # duplicated
        if rng.random() < 0.2:
            continue  # lost
        node.step(msg, float(step))
        (reply,) = node.ready().messages
        if not reply.done and reply.offset != offset:
            offset = reply.offset  # the leader follows the follower's count
            in_flight.append(chunk_at(offset))
    assert node.snapshot == snap
    assert node.state_machine.snapshot() == snap.data


def test_chunks_of_one_name_from_two_senders_are_never_mixed():
    """A snapshot's chunks come from one leader in one term.  With the checks off, a
    planted bug can make two leaders send different bytes under one (index, term): the
    second sender's chunks start a new snapshot, so no mixture is ever restored."""
    node = follower()
    mine = kv_snapshot(8, 2, a="x" * 30)
    other = kv_snapshot(8, 2, a="z" * 30, b="w")
    head, _ = mine.chunk(0, 20)
    node.step(InstallSnapshot(1, 2, 2, 1, 8, 2, 0, head, False, (1, 2, 3)), 1.0)
    node.ready()
    # S3 (the bug's second leader of term 2) sends the rest of *its* snapshot.
    rest, done = other.chunk(20, 1000)
    assert done
    node.step(InstallSnapshot(3, 2, 2, 3, 8, 2, 20, rest, True, (1, 2, 3)), 2.0)
    (reply,) = node.ready().messages
    assert (reply.offset, reply.done) == (0, False)  # from the start, please
    assert node.log.snapshot_index == 0
    data, done = other.chunk(0, 1000)
    node.step(InstallSnapshot(3, 2, 2, 3, 8, 2, 0, data, done, (1, 2, 3)), 3.0)
    assert node.state_machine.snapshot() == other.data


def test_incoming_refuses_a_gap_and_accepts_repeated_bytes():
    inc = Incoming(3, 1, (1,), 1)
    assert inc.write(0, b"abc") and inc.write(1, b"bcd") and not inc.write(9, b"x")
    assert bytes(inc.data) == b"abcd"


# ------------------------------------------------------------------ scenarios


def test_a_follower_cut_off_while_the_leader_compacts_catches_up_by_install_snapshot():
    c = lagging_follower()
    lagging = next(i for i in c.ids if c.nodes[i].log.last_index < 10)
    assert c.run_until(
        lambda c: (
            c.leader() is not None
            and c.nodes[lagging].last_applied == c.nodes[c.leader()].last_applied
        ),
        3000,
    )
    kinds = [(e.kind, e.node) for e in c.trace]
    assert ("installed", lagging) in kinds
    n, leader = c.nodes[lagging], c.nodes[c.leader()]
    assert dict(n.state_machine.data) == dict(leader.state_machine.data)
    # Many chunks of 64 bytes each went out for it.
    assert n.snapshot is not None and len(n.snapshot.data) > 64
    c.check_invariants()


def test_storage_stays_bounded_under_a_long_run():
    c = Cluster(3, seed=5, config=Config(snapshot_threshold=20), state_machine=KVStateMachine)
    c.wait_for_leader()
    for k in range(300):
        c.apply([encode_command(Command(Kind.SET, f"k{k % 5}", str(k)))])
    for i in c.ids:
        assert len(c.storage[i].entries) <= 20
        assert len(c.nodes[i].log) <= 20


def test_a_retry_after_a_snapshot_is_dropped_by_every_replica():
    c = retry_after_snapshot()
    assert {n.state_machine.data["x"] for n in c.nodes.values()} == {"a;"}
    assert all(n.state_machine.sessions[7].last_seq == 1 for n in c.nodes.values())
    assert any(e.kind == "restart" for e in c.trace)
    c.check_invariants()


def test_snapshot_forgets_sessions_applies_the_retry_twice_and_is_caught():
    with pytest.raises(SafetyViolation) as caught:
        retry_after_snapshot({"snapshot_forgets_sessions"})
    assert caught.value.invariant == "State Machine Safety"
    assert "their states differ" in str(caught.value)


def test_without_the_checks_the_restarted_replica_holds_the_write_twice():
    from raftlab.bugs import node_class  # noqa: PLC0415

    cls = node_class({"snapshot_forgets_sessions"})
    c = Cluster(
        3,
        1,
        config=Config(snapshot_threshold=4),
        state_machine=KVStateMachine,
        node_class=cls,
        check_invariants=False,
    )
    leader = c.wait_for_leader()
    c.apply([RETRIED_WRITE])
    c.apply([encode_command(Command(Kind.SET, "y", str(k))) for k in range(4)])
    follower = min(i for i in c.ids if i != leader)
    c.run_until(lambda c: c.nodes[follower].log.snapshot_index >= 4, 1000)
    c.crash(follower)
    c.restart(follower)
    c.run(300)
    c.apply([RETRIED_WRITE])
    c.run(300)
    assert c.nodes[follower].state_machine.data["x"] == "a;a;"
    assert c.nodes[leader].state_machine.data["x"] == "a;"


def test_memory_storage_refuses_a_hole_after_a_snapshot():
    from raftlab.node import Ready  # noqa: PLC0415

    st = MemoryStorage()
    rd = Ready()
    rd.snapshot = Snapshot(5, 1, (1,), b"")
    st.save(rd, Log([], 5, 1))
    bad = Ready()
    bad.persist_from = 8
    with pytest.raises(ValueError, match="missing"):
        st.save(bad, Log([], 5, 1))
    assert st.snapshot.index == 5 and st.entries == []


def test_the_example_runs_and_tells_the_story(capsys):
    import importlib.util  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    path = Path(__file__).resolve().parent.parent / "examples" / "snapshots.py"
    spec = importlib.util.spec_from_file_location("snapshots_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    out = capsys.readouterr().out
    assert "S1 installed    index=40 term=1 from=S5" in out
    assert "before any message it has applied up to 40" in out
