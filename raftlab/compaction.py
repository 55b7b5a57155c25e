"""Log compaction (§7): snapshots, and the pieces of one on their way to a follower.

Theory of operation
-------------------
A log that grows forever fills the disk and makes a restart replay every entry ever
written.  So once a node's state machine has applied ``Config.snapshot_threshold``
entries past its last snapshot, the node writes its state down (``snapshot()`` on the
state machine), with the index and term of the last entry applied, and discards the log
up to there (``Log.compact``).  Everything the discarded entries did lives on in that
state; only committed entries are ever compacted, so nothing undecided is lost (§7).

A leader that has discarded the entries a lagging follower still needs cannot send them:
it sends its snapshot instead, with ``InstallSnapshot`` (Figure 13), in chunks of
``Config.snapshot_chunk_bytes``.  Its ``Progress`` for that follower is then in the
*snapshot* state (like etcd's ``StateSnapshot``): no AppendEntries, only the next chunk,
until the follower says the snapshot is installed.  The follower collects the chunks in
an :class:`Incoming`; the last one installs it (``RaftNode._install_snapshot``):

- if its log holds the snapshot's last entry (same index and term), it keeps what
  follows and discards only the prefix (Figure 13, step 6);
- otherwise it discards its whole log (step 7);
- either way its state machine is reset from the snapshot's bytes (step 8).

A snapshot at or below the follower's commit index brings nothing new and is refused
(its entries are already applied there); chunks of an older snapshot than the one being
received are ignored, and a chunk that repeats bytes already received changes nothing.

A restart loads the latest snapshot into a fresh state machine, then the log after it
(``raftlab.storage``); the node starts with ``commit_index = last_applied`` at the
snapshot's index, since a snapshot holds only committed entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raftlab.membership import Configuration


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A state machine's state after applying every entry up to ``index`` (§7, Figure 12).

    ``term`` is the term of that last entry, for the consistency check of the entry that
    follows.  ``configuration`` is the cluster's membership as of ``index`` (the latest
    configuration entry at or before it, thesis §4.1), so a node restored from a snapshot
    knows whose votes count (§7).
    ``data`` is what the state machine's ``snapshot()`` returned.
    """

    index: int
    term: int
    configuration: Configuration
    data: bytes

    def __post_init__(self) -> None:
        from raftlab.membership import Configuration  # here: membership imports nothing back

        conf = self.configuration
        if not isinstance(conf, Configuration):
            # The ids of the voters will do, as in ``Cluster``'s own first configuration.
            try:
                conf = Configuration(frozenset(conf))
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"a snapshot's configuration is a raftlab.membership.Configuration or the "
                    f"ids of its voters, got {conf!r} ({exc})"
                ) from None
            object.__setattr__(self, "configuration", conf)
        if self.index < 1 or self.term < 1:
            raise ValueError(
                f"a snapshot covers at least one entry: index and term >= 1, got "
                f"index={self.index}, term={self.term}"
            )
        if not isinstance(self.data, bytes):
            raise TypeError(
                f"a snapshot's data is bytes (what the state machine's snapshot() returns), "
                f"got {type(self.data).__name__}"
            )

    def chunk(self, offset: int, size: int) -> tuple[bytes, bool]:
        """The bytes from ``offset`` (at most ``size``), and whether they are the last."""
        end = offset + size
        return self.data[offset:end], end >= len(self.data)

    def __repr__(self) -> str:
        return (
            f"Snapshot(index={self.index}, term={self.term}, "
            f"configuration={self.configuration}, {len(self.data)} bytes)"
        )


class Incoming:
    """A snapshot a follower is receiving, chunk by chunk (Figure 13, steps 2 to 4)."""

    __slots__ = ("index", "term", "configuration", "leader_term", "leader", "data")

    def __init__(
        self,
        index: int,
        term: int,
        configuration: Configuration,
        leader_term: int,
        leader: int = 0,
    ):
        self.index = index
        self.term = term
        self.configuration = configuration
        self.leader_term = leader_term  # the term of the leader sending it
        self.leader = leader  # and its id: one snapshot's chunks come from one sender
        self.data = bytearray()

    def write(self, offset: int, chunk: bytes) -> bool:
        """Write ``chunk`` at ``offset``; ``False`` if it would leave a gap (a chunk was lost
        or overtaken).  Bytes already received are the same bytes again (one snapshot never
        changes), so a repeated chunk is harmless."""
        if offset > len(self.data):
            return False
        self.data[offset : offset + len(chunk)] = chunk
        return True

    def snapshot(self) -> Snapshot:
        return Snapshot(self.index, self.term, self.configuration, bytes(self.data))
