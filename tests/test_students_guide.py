"""Every pitfall of Jon Gjengset's "Students' Guide to Raft" (2016), as a unit test.

The guide, written by a teaching assistant of MIT 6.824, lists the Raft mistakes students
make over and over.  Each test below names one pitfall in its docstring, with the
guide's section in brackets, and checks that ``RaftNode`` does not make it.  Sections:
The importance of details, Livelocks, Incorrect RPC handlers, Failure to follow The
Rules, Term confusion, An aside on optimizations, Applications on top of Raft.

Not here: the guide's snapshot pitfalls (raftlab has no log compaction), and locking
("four-way deadlock") has a sans-IO form only, tested last.
"""

from __future__ import annotations

from nodeutil import (
    ack,
    append,
    entries,
    make_leader,
    make_node,
    only,
    refusal,
    request_vote,
    terms_of,
    time_out,
    vote,
)

from raftlab.kv import Command, Kind, KVStateMachine, encode_command
from raftlab.log import Entry
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply
from raftlab.node import HardState
from raftlab.roles import Role
from raftlab.statemachine import CommandList

# ------------------------------------------------------ The importance of details


def test_guide_heartbeats_are_not_special_they_run_the_consistency_check():
    """Pitfall [The importance of details]: answering a heartbeat with success without
    the prevLogIndex/prevLogTerm check.  Success tells the leader the logs match up to
    prevLogIndex, and lets leaderCommit commit entries that may not match."""
    node = make_node(term=2, log=(1, 1, 1))
    node.step(append(2, 1, 2, prev=3, prev_term=2, commit=3), 10)
    assert only(node.ready(), AppendEntriesReply).success is False
    assert node.commit_index == 0


def test_guide_heartbeats_do_not_truncate_the_log():
    """Pitfall [The importance of details]: on a heartbeat, cutting the log after
    prevLogIndex and appending the (no) entries.  Nothing conflicts, so nothing goes."""
    node = make_node(term=1, log=(1, 1, 1))
    node.step(append(2, 1, 1, prev=1, prev_term=1), 10)
    rd = node.ready()
    assert terms_of(node.log) == [1, 1, 1] and rd.removed == []
    assert only(rd, AppendEntriesReply).match_index == 1


def test_guide_follower_with_all_entries_does_not_truncate_on_delayed_append():
    """Pitfall [The importance of details]: "If the follower has all the entries the
    leader sent, the follower MUST NOT truncate its log."  A delayed, older AppendEntries
    must not take back entries the follower already acknowledged."""
    node = make_node(term=1)
    older = append(2, 1, 1, ents=entries(1, 1, 1))
    newer = append(2, 1, 1, ents=entries(1, 1, 1, 1, 1))
    node.step(newer, 10)
    node.ready()
    node.step(older, 11)  # arrives late
    rd = node.ready()
    assert node.log.last_index == 4 and rd.removed == []
    assert only(rd, AppendEntriesReply).match_index == 2


# -------------------------------------------------------------------- Livelocks


def test_guide_timer_reset_by_append_entries_from_the_current_leader():
    """Pitfall [Livelocks]: the election timer restarts on an AppendEntries from the
    current leader (a), even one that fails the log check."""
    node = make_node(term=1, log=(1,))
    node.step(append(2, 1, 1, prev=5, prev_term=1), 100)  # refused: log too short
    assert node.election_deadline == 100 + node.election_timeout


def test_guide_timer_not_reset_by_append_entries_of_an_older_term():
    """Pitfall [Livelocks]: "if the term in the AppendEntries arguments is outdated, you
    should not reset your timer"."""
    node = make_node(term=3)
    deadline = node.election_deadline
    node.step(append(2, 1, 2), 100)
    assert node.election_deadline == deadline
    node.tick(deadline)
    assert node.role is Role.CANDIDATE


def test_guide_timer_reset_when_starting_an_election():
    """Pitfall [Livelocks]: the timer restarts when an election starts (b), with a fresh
    random timeout, so a split vote does not repeat in lockstep."""
    node = make_node()
    start = node.election_deadline
    time_out(node)
    assert node.election_deadline == start + node.election_timeout


def test_guide_timer_reset_when_granting_a_vote():
    """Pitfall [Livelocks]: the timer restarts when the server grants a vote (c)."""
    node = make_node(term=1)
    node.step(request_vote(2, 1, 2), 100)
    assert only(node.ready(), RequestVoteReply).vote_granted
    assert node.election_deadline == 100 + node.election_timeout


def test_guide_timer_not_reset_when_denying_a_vote():
    """Pitfall [Livelocks]: restarting the timer on every vote request.  Then a server
    with an outdated log, asking again and again, keeps the servers that could win from
    ever timing out.  A refused vote leaves the timer alone, even in a newer term."""
    node = make_node(term=2, log=(1, 2))
    deadline = node.election_deadline
    node.step(request_vote(2, 1, 3, last_index=5, last_term=1), 100)  # stale log
    assert only(node.ready(), RequestVoteReply).vote_granted is False
    assert node.current_term == 3 and node.election_deadline == deadline


def test_guide_candidate_whose_timer_fires_starts_another_election():
    """Pitfall [Livelocks]: a candidate whose election timer fires must start another
    election, or delayed or dropped RPCs stall the cluster."""
    node = make_node()
    time_out(node)
    rd = time_out(node)  # no answers at all
    assert (node.role, node.current_term) == (Role.CANDIDATE, 2)
    assert {m.term for m in rd.messages if isinstance(m, RequestVote)} == {2}


def test_guide_higher_term_is_adopted_before_handling_the_rpc():
    """Pitfall [Livelocks]: handling an RPC before applying "if RPC request or response
    contains term T > currentTerm: set currentTerm = T, convert to follower".  A server
    that voted (for itself) this term must first adopt the newer term, which clears its
    vote, and then grant the vote."""
    node = make_node(term=1)
    time_out(node)  # a candidate in term 2, voted for itself
    node.step(request_vote(2, 1, 3), 400)
    rd = node.ready()
    assert only(rd, RequestVoteReply).vote_granted
    assert rd.hard_state == HardState(3, 2) and node.role is Role.FOLLOWER


def test_guide_candidate_steps_down_on_append_entries_of_its_own_term():
    """Pitfall [Livelocks]: a candidate that ignores the leader of its own term keeps
    campaigning.  An AppendEntries of the same term means someone won: follow it."""
    node = make_node(term=1)
    time_out(node)
    node.step(append(3, 1, 2), 400)
    assert (node.role, node.leader_id, node.current_term) == (Role.FOLLOWER, 3, 2)


# -------------------------------------------------------- Incorrect RPC handlers


def test_guide_reply_false_means_reply_at_once_and_do_nothing_else():
    """Pitfall [Incorrect RPC handlers]: after a step that says "reply false", going on
    with the later steps: here appending the entries and taking leaderCommit."""
    node = make_node(term=2, log=(1, 1))
    node.step(append(2, 1, 2, prev=2, prev_term=2, ents=entries(3, 2), commit=3), 10)
    rd = node.ready()
    assert only(rd, AppendEntriesReply).success is False
    assert terms_of(node.log) == [1, 1]
    assert node.commit_index == 0 and rd.persist_from is None


def test_guide_prev_log_index_beyond_the_log_is_rejected_like_a_mismatch():
    """Pitfall [Incorrect RPC handlers]: a prevLogIndex past the end of the log must be
    answered false, as if the entry were there with another term (and never crash)."""
    node = make_node(term=1, log=(1,))
    node.step(append(2, 1, 1, prev=7, prev_term=1, ents=entries(8, 1), commit=8), 10)
    reply = only(node.ready(), AppendEntriesReply)
    assert reply.success is False and node.log.last_index == 1 and node.commit_index == 0


def test_guide_commit_index_is_capped_by_the_index_of_the_last_new_entry():
    """Pitfall [Incorrect RPC handlers]: the min in the last step of AppendEntries must use
    the index of the last new entry, not the end of the log.  Entries after those the
    leader sent may differ from the leader's, and would be applied wrongly."""
    sm = CommandList()
    node = make_node(term=3, log=(1, 1, 2, 2), state_machine=sm)  # 3 and 4: a dead term
    node.step(append(2, 1, 3, prev=1, prev_term=1, ents=entries(2, 1), commit=4), 10)
    assert node.commit_index == 2
    assert len(node.apply_committed()) == 2 and len(sm.commands) == 2


def test_guide_up_to_date_check_compares_last_term_before_length():
    """Pitfall [Incorrect RPC handlers]: "No cheating and just checking the length!"  A
    longer log with an older last term is behind; a shorter one with a later term is not."""
    voter = make_node(term=3, log=(1, 1, 3))
    voter.step(request_vote(2, 1, 4, last_index=6, last_term=2), 10)
    assert only(voter.ready(), RequestVoteReply).vote_granted is False
    voter.step(request_vote(3, 1, 4, last_index=2, last_term=4), 11)
    assert only(voter.ready(), RequestVoteReply).vote_granted is True


# ------------------------------------------------------ Failure to follow The Rules


def test_guide_committed_entries_applied_in_order_exactly_once():
    """Pitfall [Failure to follow The Rules]: applying entries out of order, twice, or
    from two places.  ``apply_committed`` is the one place; each entry goes once."""
    sm = CommandList()
    node = make_node(term=1, log=(1, 1, 1, 1, 1), state_machine=sm)
    node.step(append(2, 1, 1, prev=5, prev_term=1, commit=2), 10)
    first = node.apply_committed()
    again = node.apply_committed()
    node.step(append(2, 1, 1, prev=5, prev_term=1, commit=5), 20)
    rest = node.apply_committed()
    assert [a.entry.index for a in first + again + rest] == [1, 2, 3, 4, 5]
    assert sm.commands == [e.command for e in node.log]


def test_guide_leader_applies_once_match_index_moves_commit_index():
    """Pitfall [Failure to follow The Rules]: not checking commitIndex > lastApplied after
    commitIndex changes on the leader, i.e. after matchIndex is updated."""
    sm = CommandList()
    leader = make_leader(term=1, state_machine=sm)
    leader.propose([b"a"], 300)
    assert leader.apply_committed() == []
    leader.step(ack(2, 1, 1, 2), 301)
    assert [a.entry.command for a in leader.apply_committed()] == [None, b"a"]


def test_guide_rejection_for_a_newer_term_makes_the_leader_step_down():
    """Pitfall [Failure to follow The Rules]: an AppendEntries refused not for log
    inconsistency but because the leader's term has passed.  Step down at once, and do
    not touch nextIndex."""
    leader = make_leader(term=2, log=(1,))
    before = dict(leader.next_index)
    leader.step(refusal(2, 1, 5, rejected=1), 300)
    assert (leader.role, leader.current_term) == (Role.FOLLOWER, 5)
    assert leader.next_index == before
    assert leader.ready().messages == []  # and no retry


def test_guide_leader_commits_only_entries_of_its_current_term():
    """Pitfall [Failure to follow The Rules]: a commitIndex moved to an entry of an
    earlier term; log[N].term == currentTerm must hold (§5.4.2)."""
    leader = make_leader(term=3, log=(1, 2))  # the no-op of term 3 at index 3
    leader.step(ack(2, 1, 3, 2), 300)
    leader.step(ack(3, 1, 3, 2), 301)
    assert leader.commit_index == 0


def test_guide_next_index_is_a_guess_match_index_decides_commits():
    """Pitfall [Failure to follow The Rules]: confusing nextIndex and matchIndex.  A new
    leader guesses every follower is up to date (nextIndex = its log end + 1), but
    commits only what matchIndex proves is stored."""
    leader = make_leader(term=2, log=(1, 1))
    assert leader.next_index == {2: 3, 3: 3}
    assert leader.match_index == {2: 0, 3: 0}
    assert leader.commit_index == 0


def test_guide_leader_only_ever_appends_to_its_own_log():
    """Pitfall [Failure to follow The Rules]: a leader editing its own log when replies
    disagree.  A rejection moves nextIndex, never the leader's entries (Leader
    Append-Only, Figure 3)."""
    leader = make_leader(term=3, log=(1, 1, 2))
    before = leader.log.as_tuple()
    leader.step(refusal(2, 1, 3, rejected=3, conflict_term=1, conflict_index=1), 300)
    rd = leader.ready()
    assert leader.log.as_tuple() == before
    assert rd.removed == [] and rd.persist_from is None


# ----------------------------------------------------------------- Term confusion


def test_guide_append_reply_from_an_older_term_is_ignored():
    """Pitfall [Term confusion]: acting on a reply to an RPC sent in an earlier term.
    Compare the term the reply answers with currentTerm; if they differ, drop it."""
    leader = make_leader(term=3, log=(1, 2))
    leader.step(ack(2, 1, 2, 3), 300)  # from when S1 was leader of term 2
    leader.step(ack(3, 1, 2, 3), 300)
    assert leader.match_index == {2: 0, 3: 0} and leader.commit_index == 0
    leader.step(refusal(2, 1, 2, rejected=2, conflict_index=1), 301)
    assert leader.next_index[2] == 3


def test_guide_vote_reply_from_an_older_election_does_not_count():
    """Pitfall [Term confusion]: counting a vote granted in an earlier election."""
    node = make_node(1, 3)
    time_out(node)  # term 1: no answers in time
    time_out(node)  # term 2
    node.step(vote(2, 1, 1), 700)  # S2's late yes for term 1
    assert node.role is Role.CANDIDATE
    node.step(vote(2, 1, 2), 701)
    assert node.role is Role.LEADER


def test_guide_match_index_comes_from_the_request_not_the_follower_log():
    """Pitfall [Term confusion]: matchIndex set from state that may have changed since
    the RPC was sent (len(log), nextIndex - 1).  The right value is prevLogIndex +
    len(entries) of the request: a follower's extra entries prove nothing."""
    node = make_node(term=2, log=(1, 1, 1, 1, 1))
    node.step(append(2, 1, 2, prev=1, prev_term=1, ents=entries(2, 1)), 10)
    assert only(node.ready(), AppendEntriesReply).match_index == 2


def test_guide_match_index_never_goes_backwards():
    """Pitfall [Term confusion]: a delayed reply to an older request lowering matchIndex
    (or nextIndex), and so the commit index it supports."""
    leader = make_leader(term=1)
    leader.propose([b"a", b"b", b"c"], 300)  # indexes 2..4
    leader.step(ack(2, 1, 1, 4), 301)
    leader.step(ack(2, 1, 1, 2), 302)  # the reply to an older, shorter AppendEntries
    assert leader.match_index[2] == 4 and leader.next_index[2] == 5
    assert leader.commit_index == 4


# ------------------------------------------------------ An aside on optimizations


def test_guide_fast_backup_follower_reports_the_conflict():
    """Pitfall [An aside on optimizations]: the accelerated log backtracking, follower side.
    A too short log gives conflictIndex = its length + 1 and no term; a mismatch gives
    the term found at prevLogIndex and the first index holding that term."""
    short = make_node(term=3, log=(1, 1))
    short.step(append(2, 1, 3, prev=5, prev_term=3), 10)
    reply = only(short.ready(), AppendEntriesReply)
    assert (reply.conflict_term, reply.conflict_index) == (0, 3)
    mismatch = make_node(term=3, log=(1, 2, 2, 2))
    mismatch.step(append(2, 1, 3, prev=4, prev_term=3), 10)
    reply = only(mismatch.ready(), AppendEntriesReply)
    assert (reply.conflict_term, reply.conflict_index) == (2, 2)


def test_guide_fast_backup_leader_uses_the_conflict_term_when_it_has_it():
    """Pitfall [An aside on optimizations]: leader side.  Holding conflictTerm, it retries
    after its last entry of that term; lacking it, from conflictIndex."""
    has = make_leader(term=4, log=(1, 2, 2, 3))  # no-op at 5, next_index 5
    has.step(refusal(2, 1, 4, rejected=4, conflict_term=2, conflict_index=2), 300)
    assert has.next_index[2] == 4
    lacks = make_leader(term=4, log=(1, 3, 3, 3))
    lacks.step(refusal(2, 1, 4, rejected=4, conflict_term=2, conflict_index=2), 300)
    assert lacks.next_index[2] == 2


# ------------------------------------------------------ Applications on top of Raft


def test_guide_duplicate_detection_applies_a_retried_write_once():
    """Pitfall [Applications on top of Raft, duplicate detection]: a client retry puts the
    same write in the log twice.  The state machine must execute it once, on every
    replica, so the table of seen requests is replicated state itself."""
    write = encode_command(Command(Kind.APPEND, "k", "x", client_id=7, seq=1))
    sm = KVStateMachine()
    node = make_node(term=1, state_machine=sm)
    twice = (Entry(1, 1, write), Entry(2, 1, write))
    node.step(append(2, 1, 1, ents=twice, commit=2), 10)
    first, retry = node.apply_committed()
    assert sm.data == {"k": "x"}
    assert first.result == retry.result == b"x"


def test_guide_reappearing_index_is_recognised_by_its_term():
    """Pitfall [Applications on top of Raft, hidden duplication / re-appearing indices]:
    a leader returns index 2 for a command, loses leadership, and a new leader puts
    another command at index 2.  The client's entry is reported removed, and the entry
    applied at index 2 carries another term: the client learns its command was lost."""
    leader = make_leader(term=1)
    index, term = leader.propose([b"mine"], 300)
    leader.ready()
    theirs = Entry(2, 2, b"theirs")
    leader.step(append(2, 1, 2, prev=1, prev_term=1, ents=(theirs,), commit=2), 400)
    rd = leader.ready()
    assert rd.removed == [Entry(index, term, b"mine")]
    applied = leader.apply_committed()[-1]
    assert applied.entry.index == index and applied.entry.term != term


def test_guide_no_callbacks_into_the_application_while_handling_input():
    """Pitfall [Applications on top of Raft, four-way deadlock]: calling into the service
    while holding Raft's lock.  Sans-IO, the node never calls the state machine while it
    handles a message: entries reach it only when the caller calls apply_committed."""
    calls = []

    class Recorder:
        def apply(self, command: bytes) -> None:
            calls.append(command)

    node = make_node(term=1, state_machine=Recorder())
    node.step(append(2, 1, 1, ents=entries(1, 1, 1), commit=2), 10)
    assert node.commit_index == 2 and calls == []
    node.apply_committed()
    assert len(calls) == 2


def test_guide_a_new_leader_sends_append_entries_at_once():
    """Pitfall [Livelocks]: a leader that waits for its first heartbeat tick to assert
    itself lets other servers time out.  It sends AppendEntries the moment it wins."""
    node = make_node(1, 3)
    time_out(node)
    node.step(vote(2, 1, 1), 300)
    assert {m.dst for m in node.ready().messages if isinstance(m, AppendEntries)} == {2, 3}
