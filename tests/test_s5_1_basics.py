"""§5.1 Raft basics: three roles, terms as a logical clock, stale terms recognised.

One test per sentence of the paper's §5.1 (and the "Rules for Servers, All Servers" box of
Figure 2), in the manner of etcd-io/raft's ``raft_paper_test.go``.
"""

from __future__ import annotations

import pytest
from nodeutil import (
    ack,
    append,
    make_leader,
    make_node,
    only,
    request_vote,
    time_out,
    vote,
)

from raftlab.log import Entry
from raftlab.messages import AppendEntriesReply, RequestVoteReply
from raftlab.node import HardState
from raftlab.roles import Role


def test_s5_1_servers_begin_as_followers_in_term_0():
    """The paper: "When servers start up, they begin as followers" (§5.2), knowing no leader."""
    node = make_node()
    assert node.role is Role.FOLLOWER
    assert (node.current_term, node.voted_for, node.leader_id) == (0, None, None)
    assert (node.commit_index, node.last_applied) == (0, 0)


def test_s5_1_restarted_server_remembers_its_term_and_vote():
    """current_term and voted_for are persistent state (Figure 2): a restart reads them back,
    and the restarted server is a follower again."""
    node = make_node(term=7, voted_for=3, log=(1, 7))
    assert (node.current_term, node.voted_for) == (7, 3)
    assert node.role is Role.FOLLOWER and node.log.last_term == 7


# Every message carries a term; a higher one makes any server a follower in that term.
HIGHER_TERM_MESSAGES = {
    "AppendEntries": append(2, 1, 5),
    "AppendEntriesReply": AppendEntriesReply(2, 1, 5, False),
    "RequestVote": request_vote(2, 1, 5, last_index=0, last_term=0),
    "RequestVoteReply": vote(2, 1, 5, granted=False),
}


@pytest.mark.parametrize("kind", sorted(HIGHER_TERM_MESSAGES))
def test_s5_1_leader_steps_down_on_any_message_with_higher_term(kind):
    """The paper: "If a candidate or leader discovers that its term is out of date, it immediately
    reverts to follower state" (§5.1), whether the term came in a request or a reply."""
    leader = make_leader(term=2)
    leader.step(HIGHER_TERM_MESSAGES[kind], 300)
    rd = leader.ready()
    assert leader.role is Role.FOLLOWER
    assert leader.current_term == 5
    assert rd.hard_state == HardState(5, None)  # S2's empty log gets no vote (§5.4.1)


@pytest.mark.parametrize("kind", sorted(HIGHER_TERM_MESSAGES))
def test_s5_1_candidate_steps_down_on_any_message_with_higher_term(kind):
    """§5.1: a candidate that sees a higher term, in a request or a reply, becomes a
    follower in that term."""
    candidate = make_node(term=1)
    time_out(candidate)
    assert candidate.role is Role.CANDIDATE and candidate.current_term == 2
    candidate.step(HIGHER_TERM_MESSAGES[kind], 400)
    assert candidate.role is Role.FOLLOWER
    assert candidate.current_term == 5


def test_s5_1_follower_adopts_higher_term_and_forgets_old_vote():
    """The paper: "If one server's current term is smaller than the other's, then it updates its
    current term to the larger value" (§5.1); it has not voted in the new term yet, and
    the new term reaches stable storage before anything is sent."""
    node = make_node(term=3, voted_for=2)
    node.step(append(2, 1, 4), 10)
    rd = node.ready()
    assert (node.current_term, node.voted_for) == (4, None)
    assert rd.hard_state == HardState(4, None)


def test_s5_1_follower_learns_leader_from_append_entries_of_new_term():
    """A newer term's AppendEntries names its leader (so clients can be redirected);
    a vote request of a newer term names none: nobody has won that term yet."""
    node = make_node(term=1)
    node.step(append(3, 1, 2), 10)
    assert node.leader_id == 3
    node.step(request_vote(2, 1, 3), 20)
    assert node.leader_id is None


def test_s5_1_stale_append_entries_is_rejected_with_the_newer_term():
    """The paper: "If a server receives a request with a stale term number, it rejects the request"
    (§5.1), and its reply carries its own term so the stale leader can step down."""
    node = make_node(term=5, log=(1, 5))
    node.step(append(2, 1, 4, prev=2, prev_term=5, ents=(Entry(3, 4, b"old"),), commit=3), 10)
    rd = node.ready()
    reply = only(rd, AppendEntriesReply)
    assert (reply.success, reply.term) == (False, 5)
    assert node.log.last_index == 2 and node.commit_index == 0
    assert node.current_term == 5 and node.leader_id is None


def test_s5_1_stale_vote_request_is_rejected_with_the_newer_term():
    """§5.1: a RequestVote of an older term is refused, whatever the candidate's log."""
    node = make_node(term=5)
    node.step(request_vote(2, 1, 4, last_index=9, last_term=4), 10)
    reply = only(node.ready(), RequestVoteReply)
    assert (reply.vote_granted, reply.term) == (False, 5)
    assert node.voted_for is None


def test_s5_1_stale_messages_never_lower_the_term():
    """Terms act as a logical clock (§5.1): current_term only ever grows."""
    node = make_node(term=6)
    for msg in (append(2, 1, 3), request_vote(3, 1, 5), vote(2, 1, 1), ack(3, 1, 2, 4)):
        node.step(msg, 10)
        assert node.current_term == 6
    assert node.ready().hard_state is None  # nothing new to persist


def test_s5_1_deposed_leader_starts_an_election_timer():
    """A leader that steps down is a follower like any other: if it then hears from
    nobody, its election timeout starts the next election (§5.2)."""
    leader = make_leader(term=2)
    assert leader.next_deadline == leader.heartbeat_deadline
    leader.step(request_vote(3, 1, 3, last_index=0), 1000)
    lo, hi = leader.config.election_timeout_ms
    assert 1000 + lo <= leader.next_deadline <= 1000 + hi
    leader.tick(leader.next_deadline)
    assert leader.role is Role.CANDIDATE and leader.current_term == 4


def test_s5_1_deposed_leader_stops_sending_heartbeats():
    """Once a follower, the old leader asserts nothing: its heartbeat time passes in
    silence."""
    leader = make_leader(term=2)
    heartbeat_due = leader.heartbeat_deadline
    leader.step(append(3, 1, 3), heartbeat_due - 1)
    leader.ready()
    leader.tick(heartbeat_due)
    assert leader.ready().messages == []
    assert leader.role is Role.FOLLOWER


def test_s5_1_step_refuses_what_is_not_a_raft_message_and_changes_nothing():
    """Only the four RPC messages of Figure 2 drive a node.  Anything else is a misuse,
    refused before it can act, even if it looks like a message with a higher term."""

    class LookAlike:
        term = 9
        leader_id = 2

    node = make_node(term=1)
    for wrong in ("hello", LookAlike()):
        with pytest.raises(TypeError, match="Raft message"):
            node.step(wrong, 0)  # type: ignore[arg-type]
    assert node.current_term == 1 and node.ready().hard_state is None
