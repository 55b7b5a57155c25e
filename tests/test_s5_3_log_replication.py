"""§5.3 Log replication: appending, the consistency check, repairing logs, committing,
and the flow control raftlab adds (one batch in flight, ``max_batch`` entries at most).

One test per sentence of the paper's §5.3 and the AppendEntries box of Figure 2.
"""

from __future__ import annotations

from nodeutil import (
    ack,
    all_acknowledge,
    append,
    deliver,
    entries,
    kinds,
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
from raftlab.log import Entry
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply
from raftlab.statemachine import CommandList

# ------------------------------------------------------------------ the leader appends


def test_s5_3_leader_appends_the_command_to_its_log():
    """The paper: "The leader appends the command to its log as a new entry" (§5.3), in
    its own term, and asks the caller to persist it."""
    leader = make_leader(term=2, log=(1,))  # log: 1, then the no-op of term 2
    first, term = leader.propose([b"a", b"b"], 300)
    rd = leader.ready()
    assert (first, term) == (3, 2)
    assert leader.log.entries(3) == [Entry(3, 2, b"a"), Entry(4, 2, b"b")]
    assert rd.persist_from == 3
    assert ("propose", "index=3..4") in rd.events


def test_s5_3_leader_sends_new_entries_to_every_follower():
    """The paper: "... then issues AppendEntries RPCs in parallel to each of the other servers to
    replicate the entry" (§5.3), with the index and term of the entry before them."""
    leader = make_leader(term=2, log=(1,))
    all_acknowledge(leader, 300)
    leader.propose([b"a"], 301)
    rd = leader.ready()
    for m in sent(rd, AppendEntries):
        assert (m.prev_log_index, m.prev_log_term) == (2, 2)
        assert m.entries == (Entry(3, 2, b"a"),)
        assert m.leader_commit == 2
    assert [m.dst for m in sent(rd, AppendEntries)] == [2, 3]


# ------------------------------------------------------------- the follower's side


def test_s5_3_follower_appends_entries_and_replies_with_what_it_now_shares():
    """A follower that passes the check appends the entries, persists them, and replies
    success with match_index = prevLogIndex + len(entries)."""
    node = make_node(term=2, log=(1,))
    node.step(append(2, 1, 2, prev=1, prev_term=1, ents=entries(2, 2, 2)), 10)
    rd = node.ready()
    assert terms_of(node.log) == [1, 2, 2]
    assert rd.persist_from == 2
    reply = only(rd, AppendEntriesReply)
    assert (reply.success, reply.match_index, reply.term) == (True, 3, 2)


def test_s5_3_consistency_check_rejects_a_different_term_at_prev_log_index():
    """The paper: "If the follower does not find an entry in its log with the same index and term,
    then it refuses the new entries" (§5.3)."""
    node = make_node(term=3, log=(1, 1, 1))
    node.step(append(2, 1, 3, prev=3, prev_term=2, ents=entries(4, 3)), 10)
    rd = node.ready()
    assert only(rd, AppendEntriesReply).success is False
    assert terms_of(node.log) == [1, 1, 1]
    assert rd.persist_from is None


def test_s5_3_consistency_check_rejects_a_missing_entry_at_prev_log_index():
    """A follower whose log ends before prevLogIndex has no such entry: it refuses too,
    and says where its log ends (conflict_term 0)."""
    node = make_node(term=3, log=(1,))
    node.step(append(2, 1, 3, prev=3, prev_term=1, ents=entries(4, 3)), 10)
    reply = only(node.ready(), AppendEntriesReply)
    assert (reply.success, reply.rejected_index) == (False, 3)
    assert (reply.conflict_term, reply.conflict_index) == (0, 2)
    assert node.log.last_index == 1


def test_s5_3_empty_log_accepts_the_first_entry():
    """Index 0 stands for the empty prefix (term 0), which every log shares."""
    node = make_node(term=1)
    node.step(append(2, 1, 1, prev=0, prev_term=0, ents=entries(1, 1)), 10)
    assert only(node.ready(), AppendEntriesReply).success
    assert terms_of(node.log) == [1]


def test_s5_3_conflicting_entry_and_all_that_follow_are_deleted():
    """The paper: "If an existing entry conflicts with a new one (same index but different terms),
    delete the existing entry and all that follow it" (Figure 2).  The deleted entries
    are reported in ready.removed and the log persisted from the cut."""
    node = make_node(term=3, log=(1, 1, 2, 2))
    node.step(append(2, 1, 3, prev=2, prev_term=1, ents=entries(3, 3)), 10)
    rd = node.ready()
    assert terms_of(node.log) == [1, 1, 3]
    assert [(e.index, e.term) for e in rd.removed] == [(3, 2), (4, 2)]
    assert rd.persist_from == 3
    assert "truncate" in kinds(rd)


def test_s5_3_entries_already_present_are_not_rewritten():
    """The paper: "Append any new entries not already in the log" (Figure 2): the follower keeps
    what matches, and only the new entries need persisting."""
    node = make_node(term=1, log=(1, 1))
    node.step(append(2, 1, 1, prev=0, prev_term=0, ents=entries(1, 1, 1, 1)), 10)
    rd = node.ready()
    assert terms_of(node.log) == [1, 1, 1]
    assert rd.persist_from == 3 and rd.removed == []


# ------------------------------------------------------- the leader repairs a log


def test_s5_3_leader_backs_up_after_a_rejection_and_retries():
    """The paper: "After a rejection, the leader decrements nextIndex and retries the AppendEntries
    RPC" (§5.3); here the follower's short log lets it jump straight to its end."""
    leader = make_leader(term=3, log=(1, 1, 2))  # no-op at 4; next_index starts at 4
    reject = refusal(2, 1, 3, rejected=3, conflict_index=3)
    leader.step(reject, 300)
    retry = only(leader.ready(), AppendEntries, dst=2)
    assert (retry.prev_log_index, retry.prev_log_term) == (2, 1)
    assert [e.index for e in retry.entries] == [3, 4]
    assert leader.next_index[2] == 3


def test_s5_3_fast_backup_skips_a_whole_term_the_leader_lacks():
    """§5.3's optimisation: the follower names the conflicting term and its first index;
    a leader without that term skips all of it in one round trip."""
    leader = make_leader(term=5, log=(1, 1, 4, 4))  # no-op at 5
    follower = make_node(2, term=5, log=(1, 1, 2, 2, 2, 3))
    follower.step(append(1, 2, 5, prev=4, prev_term=4), 300)
    reply = only(follower.ready(), AppendEntriesReply)
    assert (reply.conflict_term, reply.conflict_index) == (2, 3)
    leader.step(reply, 301)
    retry = only(leader.ready(), AppendEntries, dst=2)
    assert retry.prev_log_index == 2  # not 3: term 2 skipped whole


def test_s5_3_fast_backup_to_the_end_of_a_term_both_logs_hold():
    """When the leader does hold the conflicting term, the logs may agree up to the end
    of the leader's entries of that term: it retries from just after them."""
    leader = make_leader(term=4, log=(1, 2, 2, 3))  # no-op at 5
    # The follower holds 1 2 2 2 2: at index 4, term 2 where the leader has 3.
    reply = refusal(2, 1, 4, rejected=4, conflict_term=2, conflict_index=2)
    leader.step(reply, 300)
    retry = only(leader.ready(), AppendEntries, dst=2)
    assert (retry.prev_log_index, retry.prev_log_term) == (3, 2)
    assert [e.term for e in retry.entries] == [3, 4]


def test_s5_3_stale_rejection_is_ignored():
    """A rejection of an AppendEntries the leader no longer sends (its prevLogIndex is
    not nextIndex - 1) tells nothing new: it must not move nextIndex again."""
    leader = make_leader(term=3, log=(1, 1, 2))
    reject = refusal(2, 1, 3, rejected=3, conflict_index=3)
    leader.step(reject, 300)
    leader.ready()
    leader.step(reject, 301)  # the same rejection, duplicated by the network
    assert leader.ready().messages == []
    assert leader.next_index[2] == 3


def test_s5_3_a_probe_ignores_refusals_of_an_acknowledged_index():
    """A follower never loses what it acknowledged, so while the leader probes (one
    batch in flight, starting after matchIndex), a refusal at or below matchIndex is an
    old one and the probe gets its own answer.  Answering it would be worse than
    useless: a follower that did lose the entry (a planted bug, a lost disk) refuses
    every resend, and with the network duplicating refusals, answering each copy
    multiplies the messages without end (a probe storm)."""
    leader = make_leader(term=3, log=(1, 1, 2))  # no-op at 4, not yet at S2
    leader.step(ack(2, 1, 3, match=3), 300)
    leader.ready()
    assert leader.match_index[2] == 3
    # With batches pipelined, a refusal at matchIndex may be that of a batch that
    # overtook the one before it: the leader probes and sends it once more.
    reject = refusal(2, 1, 3, rejected=3, conflict_index=3)
    leader.step(reject, 301)
    retry = only(leader.ready(), AppendEntries, dst=2)
    assert retry.prev_log_index == 3
    for now in (302, 303, 304):  # that refusal duplicated, then the retry's own
        leader.step(reject, now)
        assert leader.ready().messages == []
    assert (leader.match_index[2], leader.next_index[2]) == (3, 4)


def test_s5_3_rejection_for_an_old_term_does_not_move_next_index():
    """A follower that refuses an AppendEntries only because its term is old (§5.1) says
    nothing about its log.  If the sender has meanwhile been elected into the term of the
    reply, that reply must not back nextIndex up (issue 9: it used to fall to
    matchIndex + 1, and the leader re-sent its whole log)."""
    leader = make_leader(1, 3, term=2, log=(1, 1))  # log: 1, 1, then the no-op of term 2
    follower = make_node(2, 3, term=2, log=(1, 1, 2))
    all_acknowledge(leader, 300)
    leader.tick(leader.heartbeat_deadline)
    old = only(leader.ready(), AppendEntries, dst=2)  # a heartbeat of term 2, prev 3
    assert (old.term, old.prev_log_index) == (2, 3)
    # S3 runs for term 3 with a shorter log: S1 steps down and refuses its vote.
    leader.step(request_vote(3, 1, 3, last_index=2, last_term=1), 400)
    leader.ready()
    # S1 times out and runs for term 4; S2 grants its vote, then the delayed heartbeat
    # of term 2 reaches S2, which refuses it for its old term.
    rv = only(time_out(leader), RequestVote, dst=2)
    follower.step(rv, 700)
    grant = only(follower.ready(), RequestVoteReply)
    assert grant.vote_granted
    follower.step(old, 701)
    refused = only(follower.ready(), AppendEntriesReply)
    assert (refused.success, refused.term) == (False, 4)
    leader.step(grant, 702)  # S1 leads term 4; its no-op (index 4) goes out
    assert leader.current_term == 4 and leader.role == "leader"
    leader.ready()
    before = leader.next_index[2]
    assert before == 4
    leader.step(refused, 703)  # the refusal of term 2's heartbeat, in term 4
    assert leader.next_index[2] == before
    assert sent(leader.ready(), AppendEntries) == []  # no re-send from index 1


def test_s5_3_leader_repairs_a_divergent_follower_until_logs_match():
    """The paper: "Eventually nextIndex will reach a point where the leader and follower logs match
    ... and the follower's log is consistent with the leader's" (§5.3): the Log Matching
    Property, after conflicts, extra entries and small batches."""
    config = Config(max_batch=2)
    leader = make_node(1, 3, term=3, log=(1, 1, 2, 3, 3), config=config)
    follower = make_node(2, 3, term=3, log=(1, 1, 2, 2, 2, 2, 2, 2), config=config)
    first = win_election(leader)
    now = leader.heartbeat_deadline
    deliver({1: leader, 2: follower}, sent(first, AppendEntries, dst=2), now)
    assert follower.log.as_tuple() == leader.log.as_tuple()
    assert leader.match_index[2] == leader.next_index[2] - 1 == leader.log.last_index


# ------------------------------------------------------------------- committing


def test_s5_3_entry_commits_once_a_majority_stores_it():
    """The paper: "A log entry is committed once the leader that created the entry has replicated it
    on a majority of the servers" (§5.3): 3 of 5, the leader included."""
    leader = make_leader(1, 5, term=1)  # the no-op at index 1
    leader.step(ack(2, 1, 1, 1), 300)
    assert leader.commit_index == 0
    leader.step(ack(3, 1, 1, 1), 301)
    assert leader.commit_index == 1
    assert ("commit", "index=1") in leader.ready().events


def test_s5_3_commit_index_is_the_highest_index_a_majority_stores():
    """Figure 2: "a majority of matchIndex[i] >= N": the leader commits the median match."""
    leader = make_leader(1, 5, term=1)
    leader.propose([b"a", b"b", b"c", b"d"], 300)  # indexes 2..5
    for peer, match in ((2, 5), (3, 3), (4, 2)):
        leader.step(ack(peer, 1, 1, match), 301)
    assert leader.commit_index == 3  # stored on S1, S2, S3


def test_s5_3_leader_commit_travels_in_the_next_append_entries():
    """The paper: "The leader keeps track of the highest index it knows to be committed, and it
    includes that index in future AppendEntries RPCs (including heartbeats)" (§5.3)."""
    leader = make_leader(term=1)
    all_acknowledge(leader, 300)
    leader.tick(leader.heartbeat_deadline)
    assert {m.leader_commit for m in sent(leader.ready(), AppendEntries)} == {1}


def test_s5_3_follower_commits_up_to_the_last_new_entry_only():
    """The paper: "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last
    new entry)" (Figure 2): past that index the follower's log may still differ."""
    node = make_node(term=2, log=(1, 1, 1, 1, 1))
    node.step(append(2, 1, 2, prev=1, prev_term=1, ents=entries(2, 1), commit=5), 10)
    assert node.commit_index == 2
    node.step(append(2, 1, 2, prev=3, prev_term=1, commit=5), 20)  # a heartbeat
    assert node.commit_index == 3


def test_s5_3_follower_commit_index_never_goes_back():
    """Committed stays committed: neither a lower leaderCommit nor a delayed heartbeat
    vouching for fewer entries moves commitIndex back."""
    node = make_node(term=1, log=(1, 1, 1))
    node.step(append(2, 1, 1, prev=3, prev_term=1, commit=3), 10)
    node.step(append(2, 1, 1, prev=3, prev_term=1, commit=1), 20)
    assert node.commit_index == 3
    node.step(append(2, 1, 1, prev=1, prev_term=1, commit=5), 30)  # min(5, 1) is 1
    assert node.commit_index == 3


def test_s5_3_follower_applies_committed_entries_in_log_order():
    """The paper: "Once a follower learns that a log entry is committed, it applies the entry to its
    local state machine (in log order)" (§5.3); uncommitted entries wait."""
    sm = CommandList()
    node = make_node(term=1, state_machine=sm)
    node.step(append(2, 1, 1, ents=entries(1, 1, 1, 1), commit=2), 10)
    applied = node.apply_committed()
    assert [a.entry.index for a in applied] == [1, 2]
    assert sm.commands == [e.command for e in node.log.entries(1, 3)]
    assert node.last_applied == 2


# ------------------------------------------------------------------ flow control


def test_s5_3_one_batch_in_flight_per_follower():
    """Flow control: while a batch is unanswered, new proposals wait, then travel together
    in one AppendEntries when the reply comes."""
    leader = make_leader(term=1)
    all_acknowledge(leader, 300)
    leader.propose([b"a"], 301)
    assert len(sent(leader.ready(), AppendEntries)) == 2  # index 2, to S2 and S3
    leader.propose([b"b"], 302)
    leader.propose([b"c"], 303)
    assert leader.ready().messages == []  # waiting for the replies
    leader.step(ack(2, 1, 1, 2), 304)
    batch = only(leader.ready(), AppendEntries, dst=2)
    assert [e.command for e in batch.entries] == [b"b", b"c"]


def test_s5_3_at_most_max_batch_entries_per_append_entries():
    """No AppendEntries carries more than ``max_batch`` entries; the rest follow as the
    replies come back.  (One batch at a time here; pipelining has its own tests.)"""
    leader = make_leader(term=1, config=Config(max_batch=3, max_inflight=1))
    all_acknowledge(leader, 300)
    leader.propose([b"c%d" % i for i in range(7)], 301)  # indexes 2..8
    sizes = []
    batch = only(leader.ready(), AppendEntries, dst=2)
    while batch is not None:
        sizes.append(len(batch.entries))
        leader.step(ack(2, 1, 1, batch.entries[-1].index), 302)
        found = sent(leader.ready(), AppendEntries, dst=2)
        batch = found[0] if found else None
    assert sizes == [3, 3, 1]
    assert leader.match_index[2] == 8


def test_s5_3_heartbeat_during_a_batch_points_at_what_is_known_to_match():
    """A heartbeat sent while a batch is in flight carries no entries, and its
    prevLogIndex is matchIndex, so it cannot be refused for what the batch carries."""
    leader = make_leader(term=2, log=(1, 1))  # no-op at 3 in flight, match_index 0
    leader.tick(leader.heartbeat_deadline)
    for m in sent(leader.ready(), AppendEntries):
        assert m.entries == ()
        assert (m.prev_log_index, m.prev_log_term) == (0, 0)


def test_s5_3_heartbeat_to_an_up_to_date_follower_carries_no_entries():
    leader = make_leader(term=2, log=(1, 1))
    all_acknowledge(leader, 300)
    leader.tick(leader.heartbeat_deadline)
    for m in sent(leader.ready(), AppendEntries):
        assert (m.entries, m.prev_log_index, m.prev_log_term) == ((), 3, 2)


def test_s5_3_lost_batch_is_resent_after_a_heartbeat_round():
    """The paper: "If followers crash or run slowly, or if network packets are lost, the leader
    retries AppendEntries RPCs indefinitely" (§5.3): a batch with no reply for a whole
    heartbeat round is presumed lost and sent again."""
    leader = make_leader(term=1)
    all_acknowledge(leader, 300)
    leader.propose([b"a"], 301)
    leader.ready()  # the batch is lost
    leader.tick(leader.heartbeat_deadline)
    assert all(m.entries == () for m in sent(leader.ready(), AppendEntries))
    leader.tick(leader.heartbeat_deadline)
    for m in sent(leader.ready(), AppendEntries):
        assert m.entries == (Entry(2, 1, b"a"),)
