"""§8 Client interaction: only the leader takes commands, the others redirect; a new
leader's no-op; results of the state machine go back to the client.
"""

from __future__ import annotations

import random

import pytest
from nodeutil import (
    CONFIG,
    all_acknowledge,
    append,
    entries,
    make_leader,
    make_node,
    request_vote,
    sent,
    time_out,
    win_election,
)

from raftlab.errors import NotLeader
from raftlab.log import Entry
from raftlab.messages import AppendEntries
from raftlab.node import RaftNode
from raftlab.statemachine import CommandList

# ------------------------------------------------------------------- the no-op


def test_s8_new_leader_appends_a_noop_entry_of_its_term():
    """The paper: "Raft handles this by having each leader commit a blank no-op entry into the log
    at the start of its term" (§8).  The no-op has no command and is persisted."""
    node = make_node(term=2, log=(1, 2))
    rd = win_election(node)
    assert node.log.entry(3) == Entry(3, 3, None)
    assert rd.persist_from == 3


def test_s8_noop_travels_in_the_new_leaders_first_append_entries():
    node = make_node(term=2, log=(1, 2))
    rd = win_election(node)
    for m in sent(rd, AppendEntries):
        assert m.entries == (Entry(3, 3, None),)
        assert (m.prev_log_index, m.prev_log_term) == (2, 2)


def test_s8_noop_never_reaches_the_state_machine_on_the_leader():
    """The no-op moves last_applied past it, but the state machine never sees it."""
    sm = CommandList()
    leader = make_leader(term=1, state_machine=sm)
    leader.propose([b"a"], 300)
    all_acknowledge(leader, 301)
    applied = leader.apply_committed()
    assert [(a.entry.index, a.result) for a in applied] == [(1, None), (2, 1)]
    assert sm.commands == [b"a"]
    assert leader.last_applied == 2


def test_s8_noop_never_reaches_the_state_machine_on_a_follower():
    sm = CommandList()
    node = make_node(term=1, state_machine=sm)
    noop = Entry(1, 1, None)
    node.step(append(2, 1, 1, ents=(noop, *entries(2, 1)), commit=2), 10)
    node.apply_committed()
    assert sm.commands == [node.log.entry(2).command]


def test_s8_an_empty_command_is_an_ordinary_command():
    """Only ``None`` marks a no-op: ``b""`` is a command like any other and is applied."""
    sm = CommandList()
    leader = make_leader(term=1, state_machine=sm)
    leader.propose([b""], 300)
    all_acknowledge(leader, 301)
    leader.apply_committed()
    assert sm.commands == [b""]


# ------------------------------------------------------------ finding the leader


def test_s8_follower_refuses_commands_and_names_the_leader():
    """The paper: "If the client's first choice is not the leader, that server will reject the
    client's request and supply information about the most recent leader it has heard
    from" (§8)."""
    node = make_node(term=1)
    node.step(append(3, 1, 1), 10)
    with pytest.raises(NotLeader) as err:
        node.propose([b"a"], 11)
    assert err.value.leader_hint == 3
    assert "S3" in str(err.value)


def test_s8_follower_that_knows_no_leader_gives_no_hint():
    with pytest.raises(NotLeader) as err:
        make_node().propose([b"a"], 0)
    assert err.value.leader_hint is None


def test_s8_candidate_refuses_commands_without_a_hint():
    """A candidate knows no leader for its term: nobody has won it yet."""
    node = make_node(term=1)
    node.step(append(3, 1, 1), 10)
    time_out(node)
    with pytest.raises(NotLeader) as err:
        node.propose([b"a"], node.election_deadline)
    assert err.value.leader_hint is None


def test_s8_deposed_leader_redirects_to_its_successor():
    leader = make_leader(term=1)
    leader.step(append(2, 1, 2), 400)
    with pytest.raises(NotLeader) as err:
        leader.propose([b"a"], 401)
    assert err.value.leader_hint == 2


def test_s8_hint_is_forgotten_when_a_new_term_begins_without_a_leader():
    """A vote request of a newer term means the old leader's term is over."""
    node = make_node(term=1)
    node.step(append(3, 1, 1), 10)
    node.step(request_vote(2, 1, 2), 20)
    with pytest.raises(NotLeader) as err:
        node.propose([b"a"], 21)
    assert err.value.leader_hint is None


def test_s8_refused_command_changes_nothing():
    node = make_node(term=1, log=(1,))
    node.step(append(3, 1, 1, prev=1, prev_term=1), 10)
    node.ready()
    with pytest.raises(NotLeader):
        node.propose([b"a"], 11)
    rd = node.ready()
    assert node.log.last_index == 1
    assert (rd.messages, rd.events, rd.persist_from) == ([], [], None)


@pytest.mark.parametrize(
    ("commands", "error"),
    [(b"ab", TypeError), ("ab", TypeError), ([], ValueError)],
    ids=["bytes", "str", "empty"],
)
def test_s8_propose_misuse_is_refused_and_changes_nothing(commands, error):
    """A bare ``bytes`` instead of a list, or no command at all, is a misuse of the API."""
    leader = make_leader(term=1)
    before = leader.log.as_tuple()
    with pytest.raises(error):
        leader.propose(commands, 300)
    rd = leader.ready()
    assert leader.log.as_tuple() == before
    assert (rd.messages, rd.events, rd.persist_from) == ([], [], None)


# ------------------------------------------------------------------- results


def test_s8_proposal_returns_the_index_and_term_a_client_can_watch_for():
    """Consecutive indexes for one batch, all in the leader's term: the client knows its
    command made it when an entry with that index *and term* is applied."""
    leader = make_leader(term=3, log=(1, 2))
    assert leader.propose([b"a", b"b"], 300) == (4, 3)
    assert leader.propose([b"c"], 301) == (6, 3)


def test_s8_leader_hands_back_the_state_machine_result():
    """The paper: "... the leader applies the entry to its state machine and returns the result of
    that execution to the client" (§5.3, §8)."""
    sm = CommandList()
    leader = make_leader(term=1, state_machine=sm)
    leader.propose([b"a", b"b"], 300)
    all_acknowledge(leader, 301)
    results = {a.entry.command: a.result for a in leader.apply_committed()}
    assert results == {None: None, b"a": 1, b"b": 2}


def test_s8_state_machine_error_is_that_entry_result_not_a_crash():
    """A command the state machine refuses fails alone; the entries after it apply."""

    class Picky(CommandList):
        def apply(self, command: bytes) -> int:
            if command == b"bad":
                raise ValueError("no bad commands")
            return super().apply(command)

    sm = Picky()
    leader = make_leader(term=1, state_machine=sm)
    leader.propose([b"bad", b"good"], 300)
    all_acknowledge(leader, 301)
    bad, good = leader.apply_committed()[1:]
    assert isinstance(bad.error, ValueError) and bad.result is None
    assert good.error is None and good.result == 1
    assert sm.commands == [b"good"]


def test_s8_single_server_commits_commands_at_once():
    """A cluster of one is its own majority: a proposal commits as it is appended."""
    node = RaftNode(1, [1], config=CONFIG, rng=random.Random(0))
    time_out(node)
    node.propose([b"a"], 300)
    assert node.commit_index == 2
    assert node.ready().messages == []  # nobody else to tell
