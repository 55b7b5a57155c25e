"""§5.2 Leader election: timeouts, candidates, votes, majorities and split votes.

One test per sentence of the paper's §5.2 and the RequestVote box of Figure 2.
"""

from __future__ import annotations

import random

from nodeutil import (
    CONFIG,
    append,
    kinds,
    make_leader,
    make_node,
    only,
    request_vote,
    sent,
    time_out,
    vote,
)

from raftlab.config import Config
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply
from raftlab.node import HardState, RaftNode
from raftlab.roles import Role


def test_s5_2_follower_waits_for_its_election_timeout():
    """The paper: "If a follower receives no communication over a period of time called the election
    timeout, then it ... begins an election" (§5.2); not one moment earlier."""
    node = make_node()
    node.tick(node.election_deadline - 0.001)
    assert node.role is Role.FOLLOWER and node.ready().messages == []
    node.tick(node.election_deadline)
    assert node.role is Role.CANDIDATE


def test_s5_2_candidate_votes_for_itself_and_requests_votes():
    """The paper: "To begin an election, a follower increments its current term and transitions to
    candidate state.  It then votes for itself and issues RequestVote RPCs in parallel to
    each of the other servers" (§5.2).  Term and vote reach storage in the same Ready."""
    node = make_node(1, 5, term=2, log=(1, 2))
    rd = time_out(node)
    assert (node.role, node.current_term, node.voted_for) == (Role.CANDIDATE, 3, 1)
    assert rd.hard_state == HardState(3, 1)
    requests = sent(rd, RequestVote)
    assert [m.dst for m in requests] == [2, 3, 4, 5]
    for m in requests:
        assert (m.term, m.candidate_id, m.last_log_index, m.last_log_term) == (3, 1, 2, 2)
    assert "candidate" in kinds(rd)


def test_s5_2_election_timeout_is_random_within_the_configured_range():
    """The paper: "Raft uses randomized election timeouts ... chosen randomly from a fixed
    interval (e.g., 150-300ms)" (§5.2): the configured one.  Every new timer draws again."""
    config = Config(election_timeout_ms=(400, 600), heartbeat_ms=50)
    node = make_node(config=config, seed=11)
    timeouts = []
    for _ in range(200):
        start = node.election_deadline
        time_out(node)  # each election restarts the timer with a fresh draw
        timeouts.append(node.election_timeout)
        assert node.election_deadline == start + node.election_timeout
    assert all(400 <= t <= 600 for t in timeouts)
    assert min(timeouts) < 420 and max(timeouts) > 580  # spread over the whole range
    assert len(set(timeouts)) == len(timeouts)  # never the same twice


def test_s5_2_election_timeouts_come_from_the_given_rng_only():
    """The node's one source of randomness is the generator it is given: the same seed
    gives the same timeouts (a run can be replayed), another seed gives others."""

    def deadlines(seed: int) -> list[float]:
        node = RaftNode(1, [1, 2, 3], config=CONFIG, rng=random.Random(seed))
        out = []
        for _ in range(5):
            out.append(node.election_deadline)
            node.tick(node.election_deadline)
        return out

    assert deadlines(7) == deadlines(7)
    assert deadlines(7) != deadlines(8)


def test_s5_2_follower_grants_vote_to_first_candidate_of_the_term():
    """The paper: "Each server will vote for at most one candidate in a given term, on a first-come-
    first-served basis" (§5.2)."""
    node = make_node(term=1)
    node.step(request_vote(2, 1, 2), 10)
    reply = only(node.ready(), RequestVoteReply)
    assert (reply.dst, reply.term, reply.vote_granted) == (2, 2, True)
    assert node.voted_for == 2


def test_s5_2_votes_at_most_once_per_term():
    """A second candidate in the same term is refused (§5.2); the candidate already voted
    for may ask again (its request was duplicated or retried) and hears yes again."""
    node = make_node(term=1)
    node.step(request_vote(2, 1, 2), 10)
    node.ready()
    node.step(request_vote(3, 1, 2), 11)
    assert only(node.ready(), RequestVoteReply).vote_granted is False
    node.step(request_vote(2, 1, 2), 12)
    assert only(node.ready(), RequestVoteReply).vote_granted is True
    assert node.voted_for == 2


def test_s5_2_vote_is_persisted_in_the_same_ready_as_the_reply():
    """Figure 2: voted_for is persistent state, "updated on stable storage before
    responding to RPCs".  The Ready that carries the granting reply also carries the
    vote, and the caller persists before it sends."""
    node = make_node(term=4)
    node.step(request_vote(3, 1, 4), 10)
    rd = node.ready()
    assert only(rd, RequestVoteReply).vote_granted
    assert rd.hard_state == HardState(4, 3)


def test_s5_2_vote_survives_a_restart():
    """A server that voted, crashed and restarted from its hard state still refuses a
    second candidate of that term."""
    node = make_node(term=1)
    node.step(request_vote(2, 1, 2), 10)
    saved = node.ready().hard_state
    restarted = make_node(term=saved.current_term, voted_for=saved.voted_for)
    restarted.step(request_vote(3, 1, 2), 20)
    assert only(restarted.ready(), RequestVoteReply).vote_granted is False


def test_s5_2_vote_in_a_newer_term_after_voting_in_an_older_one():
    """The at-most-once rule is per term: a vote in term 2 does not bind term 3."""
    node = make_node(term=2, voted_for=2)
    node.step(request_vote(3, 1, 3), 10)
    rd = node.ready()
    assert only(rd, RequestVoteReply).vote_granted
    assert rd.hard_state == HardState(3, 3)


def test_s5_2_candidate_wins_with_votes_from_a_majority():
    """The paper: "A candidate wins an election if it receives votes from a majority of the servers
    in the full cluster for the same term" (§5.2): 3 of 5, counting its own."""
    node = make_node(1, 5)
    time_out(node)
    node.step(vote(2, 1, 1), 300)
    assert node.role is Role.CANDIDATE  # 2 of 5
    node.step(vote(3, 1, 1), 301)
    assert node.role is Role.LEADER and node.leader_id == 1  # 3 of 5


def test_s5_2_denied_votes_do_not_count():
    """Only granted votes count toward the majority."""
    node = make_node(1, 3)
    time_out(node)
    node.step(vote(2, 1, 1, granted=False), 300)
    node.step(vote(3, 1, 1, granted=False), 301)
    assert node.role is Role.CANDIDATE


def test_s5_2_a_voter_counts_once_however_often_its_reply_arrives():
    """A majority of *servers*: a duplicated reply from one voter is still one vote."""
    node = make_node(1, 5)
    time_out(node)
    for t in range(3):
        node.step(vote(2, 1, 1), 300 + t)
    assert node.role is Role.CANDIDATE


def test_s5_2_new_leader_sends_append_entries_to_every_server_at_once():
    """The paper: "Once a candidate wins an election, it becomes leader.  It then sends heartbeat
    messages to all of the other servers to establish its authority" (§5.2)."""
    node = make_node(1, 3)
    time_out(node)
    node.step(vote(2, 1, 1), 300)
    rd = node.ready()
    assert [m.dst for m in sent(rd, AppendEntries)] == [2, 3]
    assert "leader" in kinds(rd)


def test_s5_2_leader_sends_heartbeats_every_heartbeat_interval():
    """The leader keeps its authority with periodic heartbeats (§5.2): nothing before
    heartbeat_ms has passed, then one AppendEntries per follower."""
    leader = make_leader(term=1)
    due = leader.heartbeat_deadline
    leader.tick(due - 1)
    assert leader.ready().messages == []
    leader.tick(due)
    assert [m.dst for m in sent(leader.ready(), AppendEntries)] == [2, 3]
    assert leader.heartbeat_deadline == due + CONFIG.heartbeat_ms


def test_s5_2_leader_never_starts_an_election_itself():
    """A leader has no election timeout: however long it waits, it only sends heartbeats."""
    leader = make_leader(term=1)
    for _ in range(20):
        leader.tick(leader.next_deadline)
        assert sent(leader.ready(), RequestVote) == []
    assert leader.role is Role.LEADER and leader.current_term == 1


def test_s5_2_candidate_returns_to_follower_on_append_entries_of_its_term():
    """The paper: "If the leader's term ... is at least as large as the candidate's current term,
    then the candidate recognizes the leader as legitimate and returns to follower
    state" (§5.2)."""
    node = make_node(1, 3)
    time_out(node)
    node.step(append(2, 1, 1), 300)
    assert (node.role, node.current_term, node.leader_id) == (Role.FOLLOWER, 1, 2)
    assert only(node.ready(), AppendEntriesReply).success


def test_s5_2_candidate_rejects_append_entries_of_an_older_term():
    """The paper: "If the term in the RPC is smaller than the candidate's current term, then the
    candidate rejects the RPC and continues in candidate state" (§5.2)."""
    node = make_node(1, 3, term=1)
    time_out(node)
    node.step(append(2, 1, 1), 300)
    assert node.role is Role.CANDIDATE and node.current_term == 2
    assert only(node.ready(), AppendEntriesReply).success is False


def test_s5_2_split_vote_leads_to_a_new_election_on_timeout():
    """The paper: "When this happens, each candidate will time out and start a new election by
    incrementing its term and initiating another round of RequestVote RPCs" (§5.2)."""
    node = make_node(1, 3)
    time_out(node)
    node.step(vote(2, 1, 1, granted=False), 300)  # S2 voted for another candidate
    node.ready()
    rd = time_out(node)
    assert (node.role, node.current_term, node.voted_for) == (Role.CANDIDATE, 2, 1)
    assert [(m.dst, m.term) for m in sent(rd, RequestVote)] == [(2, 2), (3, 2)]


def test_s5_2_hearing_from_the_leader_holds_off_elections():
    """The paper: "A server remains in follower state as long as it receives valid RPCs from a
    leader" (§5.2): each AppendEntries pushes the election further away."""
    node = make_node()
    now = 0.0
    for _ in range(10):
        now += 100  # less than the lowest election timeout
        node.step(append(2, 1, 1), now)
        node.tick(now)
    assert node.role is Role.FOLLOWER
    assert node.election_deadline >= now + CONFIG.election_timeout_ms[0]


def test_s5_2_single_server_elects_itself():
    """In a cluster of one, the candidate's own vote is a majority."""
    node = RaftNode(1, [1], config=CONFIG, rng=random.Random(0))
    rd = time_out(node)
    assert node.role is Role.LEADER and node.current_term == 1
    assert rd.messages == []
