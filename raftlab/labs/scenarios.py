"""Staged scenarios, one per classic mistake: the short stories a lab runs first.

Each scenario is a few staged elections (:func:`raftlab.scenarios.elect`: crashes and
restarts only) on three nodes, chosen so that one rule of Figure 2 is the only thing
standing between the cluster and a violation.  With the paper's rule the staged election
or append is refused and the cluster carries on safely; with the mistake the safety
checker raises ``SafetyViolation``.  The four planted bugs of :mod:`raftlab.bugs` each
have one (``tests/test_planted_bugs.py`` checks that); the others catch mistakes a learner
makes that no planted bug makes.

Every scenario takes ``bugs`` and ``node_class`` like ``Cluster`` and returns the cluster.
A step that must succeed for the story to go on (an election that must be won, an entry
that must commit) raises :class:`StagingFailed` with a sentence when it does not: with a
learner's rules that is a finding too (the cluster could not make progress).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.node import RaftNode
from raftlab.scenarios import elect


class StagingFailed(AssertionError):
    """A step the scenario needs did not happen (an election not won, an entry not
    committed): the cluster made no progress where Raft makes it."""


def need(ok: object, what: str) -> None:
    if not ok:
        raise StagingFailed(what)


def terms(c: Cluster, i: int) -> list[int]:
    return [e.term for e in c.nodes[i].log]


def _elect(c: Cluster, candidate: int, voters: list[int], term: int) -> None:
    need(
        elect(c, candidate, voters, term=term),
        f"S{candidate} should have won the election of term {term} with the votes of "
        + " and ".join(f"S{v}" for v in voters)
        + ", but did not",
    )


def _committed_everywhere(c: Cluster, index: int) -> None:
    need(
        c.run_until(lambda c: all(n.commit_index >= index for n in c.nodes.values()), 1000),
        f"every server should have committed index {index} within 1000 ms",
    )


Hook = Callable[[Cluster], None] | None


def _new(hook: Hook, seed: int, bugs, node_class, config: Config | None = None) -> Cluster:
    c = Cluster(3, seed=seed, config=config, bugs=bugs, node_class=node_class)
    if hook is not None:
        hook(c)  # the caller keeps the cluster, to show it even if the story raises
    return c


def figure8(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """Figure 8 on three nodes (§5.4.2).  S1 (term 4) brings its term-2 entry at index 2
    to S2: on 2 of 3 nodes, but of an old term.  Counting replicas, the bug commits it;
    then S3, whose index 2 is of term 3, wins term 5 with S2's vote and lacks it."""
    c = _new(on_cluster, 11, bugs, node_class, Config(max_batch=1))
    _elect(c, 1, [2, 3], term=1)
    _committed_everywhere(c, 1)
    _elect(c, 1, [2], term=2)
    c.crash(2)  # S1's index 2 (term 2) reaches nobody
    c.crash(1)
    _elect(c, 3, [2], term=3)
    c.crash(2)  # S3's index 2 (term 3) reaches nobody
    c.crash(3)
    _elect(c, 1, [2], term=4)
    need(
        c.run_until(lambda c: c.nodes[1].match_index[2] == 2, 1000),
        "S1, leader of term 4, should have brought its index 2 to S2 within 1000 ms",
    )
    c.crash(2)  # index 3 (term 4) was on its way: lost
    need(
        terms(c, 1) == [1, 2, 4] and terms(c, 2) == [1, 2] and terms(c, 3) == [1, 3],
        "the logs should be S1 [1 2 4], S2 [1 2], S3 [1 3] before the last election",
    )
    c.crash(1)
    _elect(c, 3, [2], term=5)
    return c


def forget_vote(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """S3 votes for S1 in term 1, crashes and restarts.  If it forgot its vote (§5.2:
    ``voted_for`` is persistent state), or votes a second time in the same term anyway,
    it votes again in term 1, for S2: two leaders."""
    c = _new(on_cluster, 12, bugs, node_class)
    _elect(c, 1, [3], term=1)
    c.crash(3)  # right after its vote (S1's first AppendEntries to it are lost)
    elect(c, 2, [3], term=1)  # must be refused: S3 already voted in term 1
    return c


def no_log_check(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """S1 and S2 commit entries while S3 is down; S1 crashes.  S3, with an empty log,
    asks S2 for its vote: the up-to-date check (§5.4.1) must refuse it."""
    c = _new(on_cluster, 13, bugs, node_class)
    _elect(c, 1, [2], term=1)
    p = c.submit(b"x", node=1)
    need(c.run_until(lambda c: p.done, 1000) and p.ok, "S1 should have committed b'x'")
    c.crash(1)
    elect(c, 3, [2], term=2)  # must be refused: S3's log lacks a committed entry
    return c


def no_prev_check(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """S1 holds an entry of term 2 at index 2 that nobody else has; S2 and S3 hold
    S3's term-3 entry there.  S2 wins term 4 and sends its new entry at index 3 with
    prevLogIndex 2, prevLogTerm 3: S1 must refuse it (§5.3), not append after its own
    index 2."""
    c = _new(on_cluster, 14, bugs, node_class)
    _elect(c, 1, [2, 3], term=1)
    _committed_everywhere(c, 1)
    _elect(c, 1, [2], term=2)
    c.crash(2)  # S1's index 2 (term 2) reaches nobody
    c.crash(1)
    _elect(c, 3, [2], term=3)
    need(
        c.run_until(lambda c: c.nodes[3].match_index[2] == 2, 1000),
        "S3, leader of term 3, should have brought its index 2 to S2 within 1000 ms",
    )
    _elect(c, 2, [1, 3], term=4)
    need(
        terms(c, 1) == [1, 2] and terms(c, 2) == [1, 3, 4],
        "the logs should be S1 [1 2] and S2 [1 3 4] after the election of term 4",
    )
    need(
        c.run_until(lambda c: terms(c, 1) == [1, 3, 4], 1000),
        "S2 should have repaired S1's log to [1 3 4] within 1000 ms",
    )
    return c


def shorter_log_same_term(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """§5.4.1, equal last terms: "whichever log is longer is more up-to-date".  S1 and S2
    commit two entries of term 1 while S3, whose log also ends in term 1, is down.  S3
    asks S2 for its vote: same last term, shorter log, so S2 must refuse."""
    c = _new(on_cluster, 15, bugs, node_class)
    _elect(c, 1, [2, 3], term=1)
    _committed_everywhere(c, 1)
    c.crash(3)
    p = c.submit(b"x", node=1)
    need(c.run_until(lambda c: p.done, 1000) and p.ok, "S1 should have committed b'x'")
    c.crash(1)
    elect(c, 3, [2], term=2)  # must be refused
    return c


def longer_log_older_term(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """§5.4.1, different last terms: "the log with the later term is more up-to-date",
    however long the other one is.  S3 led term 1 alone and holds two extra entries of
    term 1; S1 and S2 then committed an entry of term 2.  S3 asks S2 for its vote: its
    log is longer but its last term older, so S2 must refuse."""
    c = _new(on_cluster, 16, bugs, node_class)
    _elect(c, 3, [1, 2], term=1)
    _committed_everywhere(c, 1)
    c.crash(1)
    c.crash(2)
    c.submit(b"a", node=3)
    c.submit(b"b", node=3)
    c.crash(3)  # its two entries reached nobody
    _elect(c, 1, [2], term=2)
    need(
        c.run_until(lambda c: c.nodes[1].commit_index >= 2, 1000),
        "S1, leader of term 2, should have committed its index 2 with S2 within 1000 ms",
    )
    c.crash(1)
    elect(c, 3, [2], term=3)  # must be refused
    return c


def stale_follower_commit(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """Figure 2, AppendEntries step 5: a follower sets ``commitIndex = min(leaderCommit,
    index of last new entry)``.  S1 holds two stale entries of term 2 that nobody else
    has; S3, leader of term 3, has committed indexes 2 and 3 with S2.  S1 restarts, and
    S3's heartbeat reaches it before the batch that would repair its log: the heartbeat
    vouches for nothing past index 0, so S1 must not commit its own stale entries."""
    c = _new(on_cluster, 17, bugs, node_class)
    _elect(c, 1, [2, 3], term=1)
    _committed_everywhere(c, 1)
    _elect(c, 1, [2], term=2)
    c.crash(2)  # S1's no-op of term 2 reaches nobody
    c.submit(b"stale", node=1)
    c.crash(1)
    need(terms(c, 1) == [1, 2, 2], "S1's log should be [1 2 2] before it crashes")
    _elect(c, 3, [2], term=3)
    p = c.submit(b"x", node=3)
    need(c.run_until(lambda c: p.done, 1000) and p.ok, "S3 should have committed b'x'")
    c.restart(1)
    c.run(300)
    return c


def lagging_follower(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """§5.3: a follower that missed entries refuses AppendEntries whose prevLogIndex is
    past its log, and the leader backs up until the logs meet.  S3 is down while S1 and
    S2 commit two entries; then S3 comes back and must catch up."""
    c = _new(on_cluster, 18, bugs, node_class)
    _elect(c, 1, [2], term=1)
    p = c.submit(b"x", node=1)
    need(c.run_until(lambda c: p.done, 1000) and p.ok, "S1 should have committed b'x'")
    c.restart(3)
    need(
        c.run_until(lambda c: c.nodes[3].commit_index >= 2, 1000),
        "S3, back after missing two entries, should have caught up with S1 within 1000 ms",
    )
    return c


def newer_entry_at_prev(
    bugs: Iterable[str] = (), node_class: type[RaftNode] = RaftNode, on_cluster: Hook = None
) -> Cluster:
    """§5.3: the consistency check asks for the *same* term at prevLogIndex, not any
    term.  S1 leads term 4 with log [1 2 2 4]; S3 comes back with [1 3], whose entry at
    index 2 is of a *later* term than S1's.  S1's AppendEntries with prevLogIndex 2,
    prevLogTerm 2 must be refused by S3, and S1 must back up and repair S3's log."""
    c = _new(on_cluster, 19, bugs, node_class)
    _elect(c, 1, [2, 3], term=1)
    _committed_everywhere(c, 1)
    _elect(c, 1, [2], term=2)
    c.crash(2)  # S1's no-op of term 2 reaches nobody
    c.submit(b"a", node=1)
    c.crash(1)
    _elect(c, 3, [2], term=3)
    c.crash(2)  # S3's no-op of term 3 reaches nobody
    c.crash(3)
    _elect(c, 1, [2], term=4)
    c.restart(3)
    need(
        terms(c, 1)[:4] == [1, 2, 2, 4] and terms(c, 3) == [1, 3],
        "the logs should be S1 [1 2 2 4] and S3 [1 3] when S3 comes back",
    )
    need(
        c.run_until(lambda c: terms(c, 3)[:4] == [1, 2, 2, 4], 1000),
        "S1 should have repaired S3's log to [1 2 2 4] within 1000 ms",
    )
    return c


#: scenario name -> (builder, what it guards: the rules it exercises).
SCENARIOS: dict[str, tuple[Callable[..., Cluster], tuple[str, ...]]] = {
    "figure8": (figure8, ("leader_commit", "candidate_up_to_date")),
    "forget_vote": (forget_vote, ("grants_vote",)),
    "no_log_check": (no_log_check, ("candidate_up_to_date", "grants_vote")),
    "shorter_log_same_term": (shorter_log_same_term, ("candidate_up_to_date", "grants_vote")),
    "longer_log_older_term": (longer_log_older_term, ("candidate_up_to_date", "grants_vote")),
    "lagging_follower": (lagging_follower, ("prev_matches",)),
    "no_prev_check": (no_prev_check, ("prev_matches",)),
    "newer_entry_at_prev": (newer_entry_at_prev, ("prev_matches",)),
    "stale_follower_commit": (
        stale_follower_commit,
        ("follower_commit", "prev_matches", "leader_commit"),
    ),
}
