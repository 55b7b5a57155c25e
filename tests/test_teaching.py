"""raftlab.teaching, headless: the narrators against real clusters.

Every expected value is read from the cluster itself (its trace, its network, its nodes)
or from a twin cluster with the same seed driven through the public calls, never copied
from a previous run.  The chapters' widgets built on these are tested in ``test_widgets``.
"""

from __future__ import annotations

import pytest

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.errors import Timeout
from raftlab.kv import KVStateMachine
from raftlab.kv.commands import Command, Kind, bytes_table, encode_command
from raftlab.log import Entry
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply
from raftlab.roles import Role
from raftlab.teaching import (
    Election,
    Step,
    Won,
    command_bytes,
    describe_message,
    elections_won,
    explain_step,
    explain_until,
    first_election,
    kv_log,
    replay_log,
    state_table,
)


def majority(n: int) -> int:
    return n // 2 + 1


# ------------------------------------------------------------------------ describe_message


def test_describe_message_names_kind_ends_term_and_figure_2_fields():
    e = (Entry(2, 1, b"a"), Entry(3, 1, b"b"))
    cases = [
        (
            RequestVote(1, 2, 4, 1, 7, 3),
            "RequestVote S1→S2 term=4 lastLogIndex=7 lastLogTerm=3",
        ),
        (RequestVoteReply(2, 1, 4, True), "RequestVoteReply S2→S1 term=4 granted"),
        (RequestVoteReply(3, 1, 4, False), "RequestVoteReply S3→S1 term=4 refused"),
        (
            AppendEntries(1, 3, 2, 1, 1, 1, e, 1),
            "AppendEntries S1→S3 term=2 prevLogIndex=1 prevLogTerm=1 entries=[2..3] leaderCommit=1",
        ),
        (
            AppendEntries(1, 3, 2, 1, 1, 1, e[:1], 1),
            "AppendEntries S1→S3 term=2 prevLogIndex=1 prevLogTerm=1 entries=[2] leaderCommit=1",
        ),
        (
            AppendEntries(1, 3, 2, 1, 3, 1, (), 3),
            "AppendEntries S1→S3 term=2 prevLogIndex=3 prevLogTerm=1 entries=[] (heartbeat) "
            "leaderCommit=3",
        ),
        (
            AppendEntriesReply(3, 1, 2, True, 3),
            "AppendEntriesReply S3→S1 term=2 success matchIndex=3",
        ),
        (
            AppendEntriesReply(3, 1, 2, False, 0, 5, 1, 2),
            "AppendEntriesReply S3→S1 term=2 rejected conflictTerm=1 conflictIndex=2",
        ),
        (
            AppendEntriesReply(3, 1, 2, False, 0, 5, 0, 4),
            "AppendEntriesReply S3→S1 term=2 rejected (log too short) conflictIndex=4",
        ),
        (
            AppendEntriesReply(3, 1, 5, False),
            "AppendEntriesReply S3→S1 term=5 rejected (stale term)",
        ),
    ]
    for msg, text in cases:
        assert describe_message(msg) == text


def test_describe_message_reads_a_network_envelope_like_its_message():
    c = Cluster(5, seed=1)
    c.run_until(lambda c: c.network.in_flight, 1000)
    env = c.network.in_flight[0]
    text = describe_message(env)
    assert text == describe_message(env.msg)
    assert text.startswith(f"RequestVote S{env.msg.src}→S{env.msg.dst} term=1 ")


# --------------------------------------------------------------------------- explain_step


def test_explain_step_processes_exactly_the_event_cluster_step_would():
    narrated, twin = Cluster(5, seed=1), Cluster(5, seed=1)
    for _ in range(40):
        step = explain_step(narrated)
        twin.step()
        assert isinstance(step, Step)
        assert narrated.now == twin.now == step.time
        assert narrated.event_count == twin.event_count
        assert [str(e) for e in narrated.trace] == [str(e) for e in twin.trace]


def test_explain_step_an_election_timer_says_who_became_candidate_and_what_it_sent():
    c = Cluster(5, seed=1)
    step = explain_step(c)
    (became,) = step.trace
    assert became.kind == "candidate" and became.detail == "term=1"
    cand = became.node
    assert step.what == f"S{cand}'s election timer fires"
    assert step.message is None and not any(step.involves(i) for i in c.ids)
    others = " ".join(f"S{i}" for i in c.ids if i != cand)
    assert step.sent == (f"RequestVote term=1 lastLogIndex=0 lastLogTerm=0 to {others}",)
    wire = c.network.in_flight
    assert sorted(e.msg.dst for e in wire) == [i for i in c.ids if i != cand]
    assert all(e.msg.kind == "RequestVote" and e.msg.src == cand for e in wire)
    text = str(step)
    assert text.splitlines()[0] == f"{c.now:8.2f}  S{cand}'s election timer fires"
    assert f"trace: S{cand} candidate    term=1" in text
    assert f"sends: RequestVote term=1 lastLogIndex=0 lastLogTerm=0 to {others}" in text


def test_explain_step_an_arrival_names_the_message_the_network_delivered():
    c = Cluster(5, seed=1)
    explain_step(c)  # the first candidate's timer
    step = explain_step(c)
    delivered = c.network.log[-1]
    assert not delivered.dropped and delivered.deliver_at == c.now
    msg = delivered.msg
    assert step.message == msg
    assert step.what == describe_message(msg) + " arrives"
    assert step.involves(msg.src) and step.involves(msg.dst)
    assert not any(step.involves(i) for i in c.ids if i not in (msg.src, msg.dst))
    # A follower granting its vote: trace lines for the voter, a reply back to the candidate.
    assert [(e.node, e.kind) for e in step.trace] == [(msg.dst, "follower"), (msg.dst, "vote")]
    assert step.trace[1].detail == f"for=S{msg.src} term=1"
    assert step.sent == (f"RequestVoteReply term=1 granted to S{msg.src}",)
    assert c.nodes[msg.dst].voted_for == msg.src


def test_explain_step_a_heartbeat_to_a_crashed_follower_is_listed_though_lost_at_once():
    c = Cluster(5, seed=1)
    leader = c.wait_for_leader()
    c.run(200)
    down = next(i for i in c.ids if i != leader)
    c.crash(down)  # what was on its way to or from it is lost now
    dropped, mark = c.network.stats["dropped"], len(c.network.log)
    steps = explain_until(c, lambda c: c.network.stats["dropped"] > dropped)
    step = steps[-1]
    assert step.what == f"S{leader}'s heartbeat timer fires"
    (line,) = step.sent
    assert line.startswith("AppendEntries term=1 ")
    assert "entries=[] (heartbeat)" in line
    assert line.endswith("to " + " ".join(f"S{i}" for i in c.ids if i != leader))
    lost = [e for e in c.network.log[mark:] if e.dropped]
    assert [(e.msg.src, e.msg.dst, e.sent_at) for e in lost] == [(leader, down, c.now)]


def test_explain_step_returns_none_when_nothing_is_left_to_happen():
    c = Cluster(3, seed=1)
    c.run(100)
    for i in c.ids:
        c.crash(i)
    events, trace = c.event_count, len(c.trace)
    assert explain_step(c) is None
    assert (c.event_count, len(c.trace)) == (events, trace)
    assert c.kernel.peek() == float("inf")  # only stale timers were left, now discarded


def test_explain_step_a_lone_leaders_heartbeat_timer_is_an_event_not_the_end():
    """A one-node cluster leads alone: its heartbeat timer fires, sends nothing, writes no
    trace line, yet events go on; ``None`` would wrongly say that nothing is left."""
    c = Cluster(1, seed=0)
    assert c.wait_for_leader() == 1
    for _ in range(3):
        now, events = c.now, c.event_count
        step = explain_step(c)
        assert step is not None, "time goes on: the leader's timer keeps firing"
        assert c.event_count == events + 1 and c.now > now and step.time == c.now
        assert step.sent == () and step.trace == () and step.message is None


# -------------------------------------------------------------------------- explain_until


def test_explain_until_stops_at_the_first_event_where_the_condition_holds():
    c, twin = Cluster(5, seed=1), Cluster(5, seed=1)
    steps = explain_until(c, lambda c: c.leader() is not None)
    assert twin.run_until(lambda c: c.leader() is not None, 5000)
    assert (c.now, c.event_count) == (twin.now, twin.event_count)
    assert len(steps) == c.event_count
    assert [e.kind for e in steps[-1].trace] == ["leader"]
    assert steps[-1].trace[0].node == c.leader()
    assert c.leader() is not None  # it holds now ...
    assert explain_until(c, lambda c: c.leader() is not None) == []  # ... so nothing more


def test_explain_until_times_out_after_max_steps_having_done_exactly_that_many():
    c = Cluster(3, seed=2)
    with pytest.raises(Timeout, match="within 3 events"):
        explain_until(c, lambda c: False, max_steps=3)
    assert c.event_count == 3


def test_explain_until_says_when_nothing_is_left_to_happen():
    c = Cluster(3, seed=2)
    for i in c.ids:
        c.crash(i)
    with pytest.raises(Timeout, match="nothing is left to happen"):
        explain_until(c, lambda c: c.leader() is not None)


# -------------------------------------------------------------------------- first_election


SPLIT = Config(election_timeout_ms=(150, 155))  # timeouts this close split votes often


def test_first_election_matches_a_cluster_run_to_its_first_leader_and_its_trace():
    for seed, config in ((1, None), (9, SPLIT)):
        e = first_election(seed, config)
        c = Cluster(5, seed=seed, config=config, check_invariants=False)
        leader = c.wait_for_leader()
        assert e == Election(leader, c.nodes[leader].current_term, c.now)
        (won,) = elections_won(c)
        assert (won.leader, won.term, won.time) == (e.leader, e.term, e.time)
        failed = {int(t.detail[5:]) for t in c.trace if t.kind == "candidate"} - {e.term}
        assert failed == set(range(1, e.term)), "every lower term was an election that failed"
    assert first_election(9, SPLIT).term >= 2  # the split vote the config is meant to show


def test_first_election_without_a_leader_in_time_reports_the_highest_term():
    c = Cluster(5, seed=1)
    c.run_until(lambda c: any(n.role is Role.CANDIDATE for n in c.nodes.values()), 1000)
    assert c.leader() is None
    cutoff = c.now + 0.5
    assert first_election(1, timeout_ms=cutoff) == Election(None, 1, cutoff)
    assert first_election(1, timeout_ms=100) == Election(None, 0, 100.0)


def test_first_election_refuses_bad_input_with_a_sentence():
    with pytest.raises(ValueError, match="between 1 and 15 nodes"):
        first_election(1, n=0)
    with pytest.raises(ValueError, match="timeout_ms"):
        first_election(1, timeout_ms=-5)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        first_election("one")


# --------------------------------------------------------------------------- elections_won


def test_elections_won_one_per_leader_line_with_a_majority_of_real_voters():
    c = Cluster(5, seed=4)
    explain_until(c, lambda c: c.leader() is not None)
    first = c.leader()
    c.run(300)
    c.crash(first)
    granted: dict[tuple[int, int], set[int]] = {}  # (candidate, term) -> replies that reached it
    for _ in range(5000):
        m = explain_step(c).message
        if isinstance(m, RequestVoteReply) and m.vote_granted:
            granted.setdefault((m.dst, m.term), set()).add(m.src)
        if c.leader() not in (None, first):
            break
    c.run(300)
    won = elections_won(c)
    leader_lines = [e for e in c.trace if e.kind == "leader"]
    assert len(won) == len(leader_lines) == 2
    assert [w.leader for w in won] == [e.node for e in leader_lines]
    assert [w.time for w in won] == [e.time for e in leader_lines]
    assert won[0].leader == first and won[1].leader == c.leader()
    assert won[0].term < won[1].term == c.nodes[c.leader()].current_term
    for w in won:
        assert isinstance(w, Won) and w.leader in w.voters
        assert len(w.voters) >= majority(5)
        assert first not in w.voters or w.term == won[0].term
    # The second leader won on the reply that made a majority; each came from a voter.
    replies = granted[(won[1].leader, won[1].term)]
    assert len(replies) + 1 == majority(5)
    assert replies <= won[1].voters - {won[1].leader}
    # Each voter of the newest term still records that vote (votedFor is persistent).
    for i in won[1].voters - {first}:
        assert c.nodes[i].voted_for == won[1].leader


def test_elections_won_is_empty_before_any_leader():
    c = Cluster(5, seed=1)
    c.run(100)
    assert elections_won(c) == []


# --------------------------------------------------------------------------- command_bytes


@pytest.mark.parametrize(
    "command",
    [
        Command(Kind.SET, "x", "1"),
        Command(Kind.GET, "x"),
        Command(Kind.DELETE, "key"),
        Command(Kind.CAS, "x", "2", "1"),
        Command(Kind.CAS, "x", "2", ""),
        Command(Kind.APPEND, "é", "✓"),
    ],
    ids=str,
)
def test_command_bytes_is_the_table_then_the_hex_of_encode_command(command):
    data = encode_command(command)
    expected = f"{bytes_table(data)}\n\n{len(data)} bytes: {data.hex(' ')}"
    args = (command.key, command.value, command.expected)
    assert command_bytes(command.kind.name, *args) == expected
    assert command_bytes(command.kind, *args) == expected
    assert command_bytes(int(command.kind), *args) == expected


def test_command_bytes_set_x_1_is_the_seeds_nineteen_bytes():
    text = command_bytes("SET", "x", "1")
    assert text.endswith("19 bytes: 00 01 00 00 00 00 00 00 00 78 01 00 00 00 00 00 00 00 31")


def test_command_bytes_a_kind_name_in_any_case():
    assert command_bytes("set", "x", "1") == command_bytes("SET", "x", "1")
    assert command_bytes("Cas", "x", "2", "1") == command_bytes(Kind.CAS, "x", "2", "1")


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("CAS", "x", "2"), "a CAS command needs an expected value"),
        (("GET", "x", "1"), "a GET command carries no value, got '1'"),
        (("DELETE", "x", "1"), "a DELETE command carries no value"),
        (("SET", "x", "1", "0"), "only CAS takes an expected value, not SET"),
        (("PUT", "x", "1"), "unknown command kind 'PUT'; use one of SET, GET, DELETE, CAS, APPEND"),
        ((9, "x", "1"), "unknown command kind 9"),
        (("SET", "\ud800", "1"), "key is not valid text"),
    ],
)
def test_command_bytes_a_command_that_cannot_exist_gives_the_sentence_why(args, why):
    text = command_bytes(*args)
    assert text.startswith("not a command: ")
    assert why in text
    assert "bytes:" not in text


# ---------------------------------------------------------------------------- state_table


def table_rows(text: str) -> dict[str, list[str]]:
    """server -> its row's cells, from ``state_table``'s text."""
    return {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}


def test_state_table_splits_stable_storage_from_memory_as_figure_2_does():
    c = Cluster(5, seed=5, state_machine=KVStateMachine)
    leader = c.wait_for_leader()
    c.apply([encode_command(Command(Kind.SET, "x", "1"))])
    c.run(100)
    down = next(i for i in c.ids if i != leader)
    c.crash(down)
    text = state_table(c)
    head = text.splitlines()
    assert "on stable storage" in head[0] and "in memory only" in head[0]
    assert head[1].split() == [
        "server",
        "currentTerm",
        "votedFor",
        "log",
        "commitIndex",
        "lastApplied",
        "state",
        "machine",
    ]
    rows = table_rows(text)
    assert list(rows) == [f"S{i}" for i in c.ids]
    for i in c.ids:
        hard, entries = c.storage[i].load()
        cells = rows[f"S{i}"]
        vote = f"S{hard.voted_for}" if hard.voted_for is not None else "-"
        assert cells[:4] == [str(hard.current_term), vote, str(len(entries)), "entries"]
        if i == down:
            assert " ".join(cells[4:]) == "(crashed: nothing in memory)"
        else:
            n = c.nodes[i]
            assert cells[4:6] == [str(n.commit_index), str(n.last_applied)]
            assert cells[6] == "{x=1}"
    assert rows[f"S{leader}"][1] == f"S{leader}"


def test_state_table_counts_commands_of_a_plain_state_machine():
    c = Cluster(3, seed=1)
    c.wait_for_leader()
    c.apply([b"a", b"b"])
    c.run(100)
    for cells in table_rows(state_table(c)).values():
        assert cells[-3:] == ["2", "commands", "applied"]


# -------------------------------------------------------------------------------- kv_log


def test_kv_log_decodes_each_entry_and_marks_what_is_not_committed():
    c = Cluster(5, seed=5, state_machine=KVStateMachine)
    leader = c.wait_for_leader()
    c.apply(
        [
            encode_command(Command(Kind.SET, "x", "1", client_id=7, seq=1)),
            encode_command(Command(Kind.APPEND, "x", "2")),
        ]
    )
    c.isolate(leader)
    c.submit(encode_command(Command(Kind.DELETE, "x")))  # cannot commit: no majority
    c.run(20)
    lines = kv_log(c, leader).splitlines()
    log = list(c.nodes[leader].log)
    assert len(lines) == len(log) == 4
    assert lines[0] == "index 1   term 1   no-op"
    assert lines[1] == "index 2   term 1   set x=1 (client 7 #1)"
    assert lines[2] == "index 3   term 1   append x+=2"
    assert lines[3] == "index 4   term 1   delete x   (not committed)"
    assert c.nodes[leader].commit_index == 3
    with pytest.raises(ValueError, match="unknown node 9; this cluster's nodes are 1, 2, 3, 4, 5"):
        kv_log(c, 9)


# ----------------------------------------------------------------------------- replay_log


def test_replay_log_with_sessions_applies_a_retried_write_once_without_twice():
    retried = encode_command(Command(Kind.APPEND, "x", "a", client_id=3, seq=1))
    entries = [
        Entry(1, 1, None),  # a leader's no-op
        Entry(2, 1, encode_command(Command(Kind.GET, "missing"))),  # KeyNotFound: skipped
        Entry(3, 1, retried),
        Entry(4, 2, retried),  # the client's retry after a lost reply, appended again
        Entry(5, 2, encode_command(Command(Kind.SET, "y", "1"))),
    ]
    assert dict(replay_log(entries).data) == {"x": "a", "y": "1"}
    assert replay_log(entries).duplicates == 1
    assert dict(replay_log(entries, sessions=False).data) == {"x": "aa", "y": "1"}


def test_replay_log_rebuilds_what_a_replica_applied():
    c = Cluster(3, seed=1, state_machine=KVStateMachine)
    leader = c.wait_for_leader()
    cmds = [
        Command(Kind.SET, "a", "1"),
        Command(Kind.CAS, "a", "2", "1"),
        Command(Kind.DELETE, "z"),
    ]
    c.apply([encode_command(x) for x in cmds])
    c.run(100)
    for i in c.ids:
        assert dict(replay_log(c.nodes[i].log).data) == dict(c.nodes[leader].state_machine.data)
    assert dict(c.nodes[leader].state_machine.data) == {"a": "2"}


def test_replay_log_refuses_bytes_that_are_not_a_command():
    with pytest.raises(ValueError):
        replay_log([Entry(1, 1, b"")])
