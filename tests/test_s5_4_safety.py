"""§5.4 Safety: the election restriction (§5.4.1), committing entries from previous terms
(§5.4.2), and what the safety argument (§5.4.3) needs from one server.

One test per sentence of the paper, in the manner of etcd-io/raft's raft_paper_test.go.
Where raftlab can plant the classic bug a rule prevents, a second test shows the bug
breaking exactly that rule, so the first test is known to be able to fail.
"""

from __future__ import annotations

from nodeutil import (
    ack,
    append,
    deliver,
    entries,
    make_leader,
    make_node,
    only,
    refusal,
    request_vote,
    sent,
    terms_of,
    time_out,
    win_election,
)

from raftlab.config import Config
from raftlab.messages import AppendEntries, RequestVote, RequestVoteReply
from raftlab.roles import Role
from raftlab.statemachine import CommandList

# ---------------------------------------------------------- §5.4.1 election restriction


def granted(voter, candidate_last_index: int, candidate_last_term: int) -> bool:
    """Ask ``voter`` for its vote in the next term; did it say yes?"""
    term = voter.current_term + 1
    voter.step(request_vote(2, voter.id, term, candidate_last_index, candidate_last_term), 10)
    return only(voter.ready(), RequestVoteReply).vote_granted


def test_s5_4_1_voter_rejects_candidate_with_older_last_term():
    """The paper: "If the logs have last entries with different terms, then the log with the later
    term is more up-to-date" (§5.4.1), however long the other log is."""
    voter = make_node(term=3, log=(1, 1, 3))
    assert not granted(voter, candidate_last_index=9, candidate_last_term=2)
    assert voter.voted_for is None


def test_s5_4_1_voter_rejects_candidate_with_same_last_term_and_shorter_log():
    """The paper: "If the logs end with the same term, then whichever log is longer is more
    up-to-date" (§5.4.1)."""
    voter = make_node(term=2, log=(1, 2, 2))
    assert not granted(voter, candidate_last_index=2, candidate_last_term=2)


def test_s5_4_1_voter_grants_candidate_with_later_last_term_even_if_shorter():
    voter = make_node(term=2, log=(1, 1, 1, 1))
    assert granted(voter, candidate_last_index=2, candidate_last_term=2)


def test_s5_4_1_voter_grants_candidate_whose_log_is_as_up_to_date():
    """The paper: "At least as up-to-date": an equal log is enough."""
    voter = make_node(term=2, log=(1, 2))
    assert granted(voter, candidate_last_index=2, candidate_last_term=2)


def test_s5_4_1_refused_vote_stays_free_for_a_better_candidate():
    """Refusing a stale candidate is not voting: the voter can still vote in that term
    for a candidate whose log is up-to-date."""
    voter = make_node(term=2, log=(1, 2))
    voter.step(request_vote(2, 1, 3, last_index=1, last_term=1), 10)
    assert not only(voter.ready(), RequestVoteReply).vote_granted
    voter.step(request_vote(3, 1, 3, last_index=2, last_term=2), 11)
    assert only(voter.ready(), RequestVoteReply).vote_granted
    assert voter.voted_for == 3


def test_s5_4_1_candidate_with_a_stale_log_cannot_win():
    """The paper: "A candidate must contact a majority of the cluster in order to be elected, which
    means that every committed entry must be present in at least one of those servers"
    (§5.4.1): with entry 2 on S2 and S3, S1 (without it) loses, and S2 can win."""
    s1 = make_node(1, term=2, log=(1,))
    s2 = make_node(2, term=2, log=(1, 2))
    s3 = make_node(3, term=2, log=(1, 2))
    nodes = {1: s1, 2: s2, 3: s3}
    deliver(nodes, sent(time_out(s1), RequestVote), 300)
    assert s1.role is Role.CANDIDATE and s2.voted_for is None and s3.voted_for is None
    s2.tick(s2.election_deadline)
    deliver(nodes, sent(s2.ready(), RequestVote), s2.election_deadline)
    assert s2.role is Role.LEADER


def test_s5_4_1_planted_no_log_check_bug_elects_a_stale_candidate():
    """The planted bug ``no_log_check`` skips this check, and the voter above says yes."""
    voter = make_node(term=3, log=(1, 1, 3), bugs={"no_log_check"})
    assert granted(voter, candidate_last_index=9, candidate_last_term=2)


# ------------------------------------------- §5.4.2 entries from previous terms


def old_term_entry_on_a_majority(bugs=()):
    """The paper's Figure 8, (c) to (d): S1 leads term 4 of five servers holding the
    term-2 entry at index 2, which it replicates to S2 and S3, so three of five store it,
    while its own no-op (index 3, term 4) has not reached anyone yet."""
    config = Config(max_batch=1)  # so entry 2 travels alone, without the no-op
    leader = make_node(1, 5, term=3, log=(1, 2), config=config, bugs=bugs)
    first = win_election(leader)
    followers = {i: make_node(i, 5, term=3, log=(1,)) for i in (2, 3)}

    def noop_lost(m) -> bool:
        # The first AppendEntries (entry 3 after entry 2) is refused: S2 and S3 lack
        # entry 2.  Once entry 2 has arrived, entry 3's next trip is lost.
        return isinstance(m, AppendEntries) and followers[m.dst].log.last_index == 2

    deliver({1: leader, **followers}, first.messages, 400, drop=noop_lost)
    assert [leader.match_index[i] for i in (2, 3, 4, 5)] == [2, 2, 0, 0]
    return leader, followers


def test_s5_4_2_leader_does_not_commit_old_term_entry_by_counting():
    """The paper: "Raft never commits log entries from previous terms by counting replicas"
    (§5.4.2): entry 2 is on a majority, but it is of term 2 and the leader's is 4."""
    leader, followers = old_term_entry_on_a_majority()
    assert leader.commit_index == 0
    assert all(f.commit_index == 0 for f in followers.values())


def test_s5_4_2_planted_figure8_bug_commits_old_term_entry_by_counting():
    """The planted bug ``figure8`` counts replicas of any term, and commits entry 2: the
    entry the paper's Figure 8 (e) then shows being overwritten."""
    leader, _ = old_term_entry_on_a_majority(bugs={"figure8"})
    assert leader.commit_index == 2


def test_s5_4_2_old_term_entries_commit_with_the_first_current_term_entry():
    """The paper: "Only log entries from the leader's current term are committed by counting
    replicas; once an entry from the current term has been committed in this way, then
    all prior entries are committed indirectly" (§5.4.2)."""
    leader, _ = old_term_entry_on_a_majority()
    leader.step(ack(2, 1, 4, 3), 500)
    assert leader.commit_index == 0  # the no-op is on two of five
    leader.step(ack(3, 1, 4, 3), 501)
    assert leader.commit_index == 3


def test_s5_4_2_entries_keep_their_original_term_when_replicated():
    """The paper: "When a leader replicates entries from previous terms, ... log entries retain
    their original term numbers" (§5.4.2)."""
    leader, followers = old_term_entry_on_a_majority()
    assert terms_of(followers[2].log) == [1, 2]
    assert leader.log.entry(2) == followers[2].log.entry(2)


def test_s5_4_2_leader_commits_the_entries_of_earlier_terms_via_its_noop():
    """A new leader commits its predecessors' entries as soon as its no-op (§8) is on a
    majority: the reason it appends one at the start of its term."""
    leader = make_leader(term=5, log=(1, 2, 3))  # no-op at 4
    leader.step(ack(2, 1, 5, 4), 400)
    assert leader.commit_index == 4


# ------------------------------------------------------- §5.4.3 the safety argument


def test_s5_4_3_leader_never_overwrites_or_deletes_entries_in_its_log():
    """Leader Append-Only (Figure 3): whatever arrives, a leader's log only grows.  Here a
    stale leader's conflicting entries, rejections and acknowledgements."""
    leader = make_leader(term=3, log=(1, 2))
    before = leader.log.as_tuple()
    for msg in (
        append(2, 1, 2, prev=1, prev_term=1, ents=entries(2, 1, 1, 1)),  # stale leader
        refusal(2, 1, 3, rejected=2, conflict_index=1),
        ack(3, 1, 3, 3),
    ):
        leader.step(msg, 400)
        assert leader.role is Role.LEADER
        assert leader.log.as_tuple()[: len(before)] == before
    leader.propose([b"new"], 401)
    assert leader.log.as_tuple()[: len(before)] == before
    assert leader.ready().removed == []


def test_s5_4_3_follower_applies_nothing_beyond_the_commit_index():
    """State Machine Safety rests on applying only committed entries: entries a follower
    holds past commitIndex may still be replaced, so they wait."""
    sm = CommandList()
    node = make_node(term=2, log=(1, 1, 2, 2), state_machine=sm)
    node.step(append(3, 1, 2, prev=2, prev_term=1, commit=2), 10)
    node.apply_committed()
    assert node.last_applied == 2 and len(sm.commands) == 2
    node.step(append(3, 1, 3, prev=2, prev_term=1, ents=entries(3, 3), commit=3), 20)
    node.apply_committed()
    assert terms_of(node.log) == [1, 1, 3]
    assert sm.commands[-1] == node.log.entry(3).command  # the entry that survived


def test_a_stale_leader_may_overwrite_a_lagging_followers_committed_entry():
    """Index 2 (term 1) was committed in term 4 by S5's majority.  S1 still holds it but
    lags in term 1; a stale leader of term 2 (S4, cut off since) reaches S1 first and
    overwrites index 2.  Raft allows it: the term-4 majority keeps the entry and refuses
    term 2 (§5.4).  The checker once called it a Leader Completeness violation (found by
    chaos seed 1546 before pipelining changed the runs); a leader of the commit's term or
    later doing the same is one."""
    import pytest
    from nodeutil import append, make_node

    from raftlab import SafetyViolation
    from raftlab.invariants import SafetyChecker
    from raftlab.log import Entry
    from raftlab.node import Ready

    s5 = make_node(5, 5, term=4, log=(1, 1, 4))
    s1 = make_node(1, 5, term=1, log=(1, 1))
    nodes = {1: s1, 5: s5}
    checker = SafetyChecker()
    s5.commit_index = 3  # committed in term 4, index 2 with it
    checker.observe(s5, Ready(), [], nodes, 0)
    assert checker.commit_terms[2] == 4
    stale = append(4, 1, 2, prev=1, prev_term=1, ents=(Entry(2, 2, b"stale"),))
    s1.step(stale, 100)
    rd = s1.ready()
    assert [e.index for e in rd.removed] == [2]
    checker.observe(s1, rd, [], nodes, 0)  # allowed: the commit's term (4) is later
    late = make_node(1, 5, term=1, log=(1, 1))
    late.step(append(3, 1, 4, prev=1, prev_term=1, ents=(Entry(2, 4, b"new"),)), 100)
    with pytest.raises(SafetyViolation, match="Leader Completeness"):
        checker.observe(late, late.ready(), [], {1: late, 5: s5}, 0)
