"""Stories about log compaction (§7), scripted on the simulator, for tests and chapter 10.

- :func:`lagging_follower` : a follower cut off while the leader compacts its log comes
  back and is brought up to date by ``InstallSnapshot`` (Figure 13), in chunks.
- :func:`retry_after_snapshot` : a client's write commits, every server snapshots, one
  restarts from its snapshot, then the client's retry of that write arrives.  A snapshot
  that holds the client-session table drops the retry everywhere; one that leaves the
  table out (the planted bug ``snapshot_forgets_sessions``) makes the restarted server
  apply it twice, and the safety checks see two snapshots of one index that differ.
"""

from __future__ import annotations

from collections.abc import Iterable

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.kv.commands import Command, Kind, encode_command
from raftlab.kv.state_machine import KVStateMachine


def _set(key: str, value: str) -> bytes:
    return encode_command(Command(Kind.SET, key, value))


def lagging_follower(
    *, seed: int = 4, threshold: int = 10, chunk_bytes: int = 64, writes: int = 40
) -> Cluster:
    """Five servers compacting every ``threshold`` entries; S(lagging) is isolated while
    ``writes`` SETs commit, then the network heals.  Returns the cluster right after the
    heal: run it and watch ``snapshot-to`` and ``installed`` in the trace."""
    c = Cluster(
        5,
        seed,
        config=Config(snapshot_threshold=threshold, snapshot_chunk_bytes=chunk_bytes),
        state_machine=KVStateMachine,
    )
    leader = c.wait_for_leader()
    lagging = next(i for i in c.ids if i != leader)
    c.isolate(lagging)
    for k in range(writes):
        c.apply([_set(f"k{k % 7}", str(k))])
    c.heal()
    return c


#: The client's write, with its session: client 7, operation 1 (the retry is the same bytes).
RETRIED_WRITE = encode_command(Command(Kind.APPEND, "x", "a;", client_id=7, seq=1))


def retry_after_snapshot(bugs: Iterable[str] = (), *, seed: int = 1) -> Cluster:
    """A write commits; every server snapshots; a follower restarts from its snapshot;
    the client's retry of the write commits; the servers snapshot again.

    With the session table in the snapshot, every replica drops the retry (it remembers
    client 7's operation 1) and ends with ``x == "a;"``.  With
    ``bugs={"snapshot_forgets_sessions"}``, the restarted follower applies it again
    (``x == "a;a;"``), and the next snapshot at the same index as the others' differs:
    ``SafetyViolation`` ("State Machine Safety").
    """
    c = Cluster(
        3, seed, config=Config(snapshot_threshold=4), state_machine=KVStateMachine, bugs=bugs
    )
    leader = c.wait_for_leader()
    c.apply([RETRIED_WRITE])  # the client never hears back (say the answer was lost)
    c.apply([_set("y", str(k)) for k in range(4)])  # past a multiple of 4: snapshots
    follower = min(i for i in c.ids if i != leader)
    c.run_until(lambda c: c.nodes[follower].log.snapshot_index >= 4, 1000)
    c.crash(follower)
    c.restart(follower)  # from its snapshot: the state machine is restored, not replayed
    c.run(300)
    c.apply([RETRIED_WRITE])  # the retry, committed at a new index
    c.apply([_set("z", str(k)) for k in range(4)])  # the next snapshots compare the states
    c.run(300)
    return c
