"""The five safety properties of Raft (§5.2, §5.3, §5.4, Figure 3), checked as the run goes.

Theory of operation
-------------------
Checking every pair of logs after every event would cost more than the simulation itself.
Instead the checker watches what each node *reports* (its ``Ready``: role changes, log
changes, commits, applies) and keeps a few ledgers that make each property an O(1) or
O(changed entries) test:

- ``leaders``: term -> the node that won it.  **Election Safety**: at most one leader per
  term (§5.2).
- ``links``: (index, term) -> (term of the previous entry, command), recorded the first
  time any log holds that entry.  **Log Matching** (§5.3): if two logs hold an entry with
  the same index and term, they agree on everything before it.  By induction it is enough
  that every copy of an (index, term) entry has the same command and the same previous
  term as the first copy.
- A leader that deletes entries from its own log breaks **Leader Append-Only** (§5.3).
- ``committed``: index -> entry, for every entry some node has marked committed.  **Leader
  Completeness** (§5.4): a leader of a later term holds all of them.  Checked when a node
  becomes leader and when a new entry is committed.  Deleting a committed entry from a
  log is reported too, when the leader that sent the overwrite has the term of the commit
  or a later one (a stale leader may still overwrite a lagging follower's copy).
- ``applied``: index -> entry, for every entry any state machine has applied, surviving
  crashes.  **State Machine Safety** (§5.4.3): no two servers apply different entries at
  the same index.

``check_all`` recomputes the properties that can be seen in the present state from
scratch (every pair of logs), for tests and for ``Cluster.check_invariants()``.

After log compaction (§7)
-------------------------
A compacted log no longer holds its prefix: a snapshot stands for it, known by its last
index and term and by the state it holds.  What the checker can still check, and how:

- **Log Matching** is checked on every entry when it is first stored (``links``), before
  any compaction can discard it, so nothing is missed.  Between two present logs
  (``check_all``) only the indexes both still hold can be compared, and the last index of
  the newer snapshot by its term.
- **Leader Completeness**: a leader's entries are compared with the committed ledger
  from its ``first_index`` on; below it, only the snapshot's last entry can be compared
  (its term).  The rest of the prefix was applied by that leader (checked entry by entry
  in ``applied`` at the time) or installed from a snapshot (checked below).
- **State Machine Safety**, entries: every entry applied is in ``applied`` as it is
  applied.  Entries a node never applies because it installs a snapshot instead cannot be
  checked one by one; the snapshot is checked in their place:
- ``snapshots``: index -> the first snapshot seen at that index (node, term, state).
  Two snapshots at the same index must end with the same term *and hold the same state*
  (the same log applied in the same order gives the same state, §5.4.3), and that term
  must be the committed entry's.  ``Config.snapshot_threshold`` makes servers snapshot at
  the same indexes, so this compares their states regularly: a state machine whose
  snapshot leaves something out (the ``snapshot_forgets_sessions`` bug) diverges from
  the others, and it shows at the next snapshot.

What cannot be checked: the content of a discarded entry that no checked node applied or
stored while the checker watched (none, in a simulation that checks from the start), and
the state *between* snapshot indexes, which only a state machine's outputs would reveal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from raftlab.compaction import Snapshot
from raftlab.errors import SafetyViolation
from raftlab.log import Entry
from raftlab.node import Applied, RaftNode, Ready
from raftlab.roles import Role

# Read once: on Python 3.11 ``Role.LEADER`` costs a metaclass hook call each time.
_LEADER = Role.LEADER


def _show(entry: Entry) -> str:
    cmd = "no-op" if entry.command is None else repr(entry.command)
    if len(cmd) > 40:
        cmd = cmd[:37] + "..."
    return f"(index {entry.index}, term {entry.term}, {cmd})"


class SafetyChecker:
    """Keeps the ledgers described in the module docstring."""

    def __init__(self) -> None:
        self.leaders: dict[int, int] = {}
        self.links: dict[tuple[int, int], tuple[int, bytes | None]] = {}
        self.committed: dict[int, Entry] = {}
        # index -> the term in which it was first seen committed (the committing leader's).
        # Leader Completeness binds only leaders of later terms: a stale leader of an older
        # term may lack an entry that a newer leader committed later (Figure 8 (d)).
        self.commit_terms: dict[int, int] = {}
        self.applied: dict[int, tuple[int, Entry]] = {}  # index -> (first node, entry)
        self.max_committed = 0
        # index -> (first node, term, digest of the state) of snapshots (§7)
        self.snapshots: dict[int, tuple[int, int, bytes]] = {}

    # ------------------------------------------------------------ incremental

    def observe(
        self,
        node: RaftNode,
        ready: Ready,
        applied: list[Applied],
        nodes: Mapping[int, RaftNode],
        old_commit: int,
    ) -> None:
        """Check what one input changed at ``node``.  Raises ``SafetyViolation``."""
        if ready.removed:
            self._check_truncation(node, ready.removed)
        if ready.persist_from is not None:
            self._check_links(node, ready.persist_from)
        if ready.roles and ready.became_leader:
            self._check_new_leader(node)
        if node.commit_index > old_commit:
            self._check_commits(node, old_commit, nodes, applied)
        if ready.snapshot is not None:
            self._check_snapshot(node, ready.snapshot)
        if applied:
            ledger = self.applied
            for a in applied:  # _check_applied, inlined: one per entry per server
                entry = a.entry
                seen = ledger.get(entry.index)
                if seen is None:
                    ledger[entry.index] = (node.id, entry)
                elif seen[1] is not entry:
                    self._check_applied(node, entry)

    def _check_new_leader(self, node: RaftNode) -> None:
        term = node.current_term
        other = self.leaders.get(term)
        if other is not None and other != node.id:
            raise SafetyViolation(
                "Election Safety",
                f"S{other} and S{node.id} were both elected leader in term {term}; "
                "at most one leader may be elected in a term (§5.2). "
                "Did a server vote twice in that term?",
            )
        self.leaders[term] = node.id
        self._check_has_committed(node)

    def _check_has_committed(self, leader: RaftNode) -> None:
        log = leader.log
        snap = log.snapshot_index
        if snap:
            entry = self.committed.get(snap)
            if (
                entry is not None
                and self.commit_terms[snap] < leader.current_term
                and entry.term != log.snapshot_term
            ):
                raise SafetyViolation(
                    "Leader Completeness",
                    f"S{leader.id} leads term {leader.current_term}, but its snapshot ends at "
                    f"index {snap} with term {log.snapshot_term}, where the committed entry is "
                    f"{_show(entry)} (§5.4, §7)",
                )
        # Below the snapshot, the prefix is checked through the snapshots (see above).
        # The leader's entries up to the highest commit, read once (not entry by entry).
        held = log.entries(snap + 1, self.max_committed + 1)
        last, term = snap + len(held), leader.current_term
        committed, terms = self.committed, self.commit_terms
        for index in range(snap + 1, self.max_committed + 1):
            entry = committed.get(index)
            if entry is None or terms[index] >= term:
                continue
            if index > last or (
                held[index - snap - 1] is not entry and held[index - snap - 1] != entry
            ):
                raise SafetyViolation(
                    "Leader Completeness",
                    f"S{leader.id} leads term {leader.current_term} but its log lacks the "
                    f"committed entry {_show(entry)}; a leader must hold every entry committed "
                    "in earlier terms (§5.4). Did a voter skip the up-to-date log check "
                    "(§5.4.1), or was an old-term entry committed by counting replicas (§5.4.2)?",
                )

    def _check_truncation(self, node: RaftNode, removed: list[Entry]) -> None:
        start = removed[0].index
        if node.role is Role.LEADER:
            raise SafetyViolation(
                "Leader Append-Only",
                f"leader S{node.id} (term {node.current_term}) deleted its own entries from "
                f"index {start} on; a leader never overwrites or deletes its entries (§5.3)",
            )
        if start <= self.max_committed:
            # The follower has just taken the sending leader's term.  A stale leader of a
            # term before the commit may still overwrite a lagging follower's copy: the
            # entry lives on in the majority that committed it, whose terms are higher, so
            # they refuse that leader.  A leader of the commit's term or later must not.
            committed, terms, term = self.committed, self.commit_terms, node.current_term
            lost = next(
                (e for e in removed if committed.get(e.index) == e and terms[e.index] <= term),
                None,
            )
            if lost is not None:
                raise SafetyViolation(
                    "Leader Completeness",
                    f"S{node.id} deleted entries from index {start} on, including the committed "
                    f"entry {_show(lost)}; committed entries must never be lost. The leader of "
                    f"term {node.current_term} that sent the overwrite lacked it (§5.4)",
                )

    def _check_links(self, node: RaftNode, start: int) -> None:
        log = node.log
        start = max(start, log.first_index)  # a snapshot stands for what comes before
        links = self.links
        prev_term = log.term(start - 1)
        for entry in log.entries(start):
            key = (entry.index, entry.term)
            link = (prev_term, entry.command)
            seen = links.get(key)
            if seen is None:
                links[key] = link
            elif seen != link:
                what = (
                    "a different command"
                    if seen[1] != entry.command
                    else f"a different previous entry (term {prev_term} at index "
                    f"{entry.index - 1}, where others have term {seen[0]})"
                )
                raise SafetyViolation(
                    "Log Matching",
                    f"S{node.id} holds an entry at index {entry.index} with term {entry.term}, "
                    f"like another log, but with {what}. Two logs with the same index and term "
                    "must be identical up to there (§5.3). Did a follower skip the "
                    "prevLogIndex/prevLogTerm check?",
                )
            prev_term = entry.term

    def _check_commits(
        self,
        node: RaftNode,
        old_commit: int,
        nodes: Mapping[int, RaftNode],
        applied: list[Applied] = (),  # type: ignore[assignment]
    ) -> None:
        committed = self.committed
        log = node.log
        first = log.first_index
        newly = log.entries(max(old_commit + 1, first), node.commit_index + 1)
        if old_commit + 1 < first:
            # Compacted within this very input: those entries were just applied.  (After
            # an installed snapshot there are none: the snapshot is checked instead.)
            newly = [a.entry for a in applied if old_commit < a.entry.index < first] + newly
        later: list[RaftNode] | None = None  # leaders of a later term, found once per call
        for entry in newly:
            index = entry.index
            known = committed.get(index)
            if known is None:
                committed[index] = entry
                self.commit_terms[index] = node.current_term
                if index > self.max_committed:
                    self.max_committed = index
                # Committed no later than in node's current term: every leader of a later
                # term must hold it.  (A stale leader of an older term need not: it is
                # about to learn it has been deposed.)
                if later is None:
                    term = node.current_term
                    later = [
                        o for o in nodes.values() if o.role is _LEADER and o.current_term > term
                    ]
                for other in later:
                    o = other.log
                    if index <= o.snapshot_index:
                        if index < o.snapshot_index or o.snapshot_term == entry.term:
                            continue  # in its snapshot: checked through the snapshots
                    elif index <= o.last_index and o.entry(index) == entry:
                        continue
                    raise SafetyViolation(
                        "Leader Completeness",
                        f"S{node.id} committed {_show(entry)}, but S{other.id}, leader "
                        f"of the later term {other.current_term}, does not hold it (§5.4)",
                    )
            elif known is not entry and known != entry:
                raise SafetyViolation(
                    "State Machine Safety",
                    f"S{node.id} committed {_show(entry)} at index {index}, where "
                    f"{_show(known)} was committed before; servers must never commit different "
                    "entries at the same index (§5.4.3)",
                )

    def _check_snapshot(self, node: RaftNode, snap: Snapshot) -> None:
        """A snapshot taken or installed (§7): same index, same term and same state as
        every other snapshot there, and its last entry the committed one."""
        digest = hashlib.blake2b(snap.data, digest_size=16).digest()
        index = snap.index
        entry = self.committed.get(index)
        if entry is not None and entry.term != snap.term:
            raise SafetyViolation(
                "State Machine Safety",
                f"S{node.id} holds a snapshot up to index {index} of term {snap.term}, but the "
                f"entry committed there is {_show(entry)}; a snapshot holds only committed "
                "entries (§7)",
            )
        seen = self.snapshots.get(index)
        if seen is None:
            self.snapshots[index] = (node.id, snap.term, digest)
        elif seen[1] != snap.term or seen[2] != digest:
            raise SafetyViolation(
                "State Machine Safety",
                f"S{node.id} and S{seen[0]} both hold a snapshot up to index {index}, but "
                + (
                    f"of different terms ({snap.term} and {seen[1]})"
                    if seen[1] != snap.term
                    else "their states differ"
                )
                + "; the same log applied in the same order must give the same state "
                "(§5.4.3). Did a snapshot leave part of the state out, or a restored "
                "state machine apply an entry differently?",
            )

    def _check_applied(self, node: RaftNode, entry: Entry) -> None:
        seen = self.applied.get(entry.index)
        if seen is None:
            self.applied[entry.index] = (node.id, entry)
        elif seen[1] is not entry and seen[1] != entry:
            raise SafetyViolation(
                "State Machine Safety",
                f"S{node.id} applied {_show(entry)} at index {entry.index}, but S{seen[0]} applied "
                f"{_show(seen[1])} there; every state machine must apply the same command at "
                "each index (§5.4.3)",
            )

    # --------------------------------------------------------------- full scan

    def check_all(self, nodes: Mapping[int, RaftNode]) -> None:
        """Recheck everything visible in the present state, from scratch."""
        leaders_by_term: dict[int, int] = {}
        for i in sorted(nodes):
            n = nodes[i]
            if n.role is Role.LEADER:
                other = leaders_by_term.setdefault(n.current_term, i)
                if other != i:
                    raise SafetyViolation(
                        "Election Safety",
                        f"S{other} and S{i} are both leaders of term {n.current_term} (§5.2)",
                    )
        for term, leader in sorted(self.leaders.items()):
            n = nodes[leader]
            if n.role is Role.LEADER and n.current_term == term:
                self._check_has_committed(n)
        ids = sorted(nodes)
        for a_pos, a in enumerate(ids):
            for b in ids[a_pos + 1 :]:
                _check_pair(nodes[a], nodes[b])
        applied = self.applied
        for i in ids:
            n = nodes[i]
            # The entries this log still holds up to last_applied, read in one slice.
            for entry in n.log.entries(n.log.first_index, n.last_applied + 1):
                seen = applied.get(entry.index)
                if seen is not None and seen[1] is not entry and seen[1] != entry:
                    raise SafetyViolation(
                        "State Machine Safety",
                        f"S{i} applied {_show(entry)} but S{seen[0]} applied {_show(seen[1])} "
                        "at the same index (§5.4.3)",
                    )


def _check_pair(a: RaftNode, b: RaftNode) -> None:
    """Log Matching for one pair of logs: agree at an (index, term) => agree before it."""
    la, lb = a.log, b.log
    n = min(la.last_index, lb.last_index)
    # Below the newer snapshot, one of them holds nothing to compare (§7); at its last
    # index both still know the term.
    lo = max(la.snapshot_index, lb.snapshot_index)
    # The highest index where both hold the same term; everything up to it must match.
    top = lo
    for i in range(n, lo, -1):
        if la.term(i) == lb.term(i):
            top = i
            break
    if top > lo and n >= lo and la.term(lo) != lb.term(lo):
        raise SafetyViolation(
            "Log Matching",
            f"S{a.id} and S{b.id} both hold an entry with index {top} and term "
            f"{la.term(top)}, but differ at index {lo}: term {la.term(lo)} vs {lb.term(lo)} (§5.3)",
        )
    if top <= lo:
        return
    # Both runs compared at once (a list comparison, which passes shared entries by
    # identity); the first difference is looked for only when there is one.
    held_a, held_b = la.entries(lo + 1, top + 1), lb.entries(lo + 1, top + 1)
    if held_a == held_b:
        return
    for ea, eb in zip(held_a, held_b, strict=True):
        if ea != eb:
            raise SafetyViolation(
                "Log Matching",
                f"S{a.id} and S{b.id} both hold an entry with index {top} and term "
                f"{la.term(top)}, but differ at index {ea.index}: {_show(ea)} vs {_show(eb)} "
                "(§5.3)",
            )
