"""raftlab.teaching, headless: the narrators and the chapters' widgets against real clusters.

Every expected value is read from the cluster itself (its trace, its network, its nodes)
or from a twin cluster with the same seed driven through the public calls, never copied
from a previous run.  Widgets are driven as a user would: set ``value``, ``click()``.
Without a kernel, what a widget prints into its ``Output`` goes to stdout (read with
``capsys``); the pictures it shows are caught by replacing ``IPython.display.display``.
"""

from __future__ import annotations

import html

import IPython.display
import matplotlib.pyplot as plt
import pytest

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.errors import Timeout
from raftlab.kv import KVStateMachine
from raftlab.kv.commands import Command, Kind, bytes_table, decode_command, encode_command
from raftlab.log import Entry
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply
from raftlab.roles import Role
from raftlab.teaching import (
    ByteEditor,
    ChaosLab,
    Election,
    PartitionLab,
    RestartLab,
    Step,
    Stepper,
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


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def shown(monkeypatch) -> list:
    """Every object the widgets ``display`` (their pictures), in order."""
    out: list = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: out.extend(objs))
    return out


def widgets(root, kind: str) -> list:
    """Every widget of class ``kind`` under ``root``, depth first, in layout order."""
    found = [root] if type(root).__name__ == kind else []
    for child in getattr(root, "children", ()):
        found += widgets(child, kind)
    return found


def button(root, description: str):
    (b,) = [b for b in widgets(root, "Button") if b.description == description]
    return b


def title(fig) -> str:
    return fig.axes[0].get_title()


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


# ---------------------------------------------------------------------------- ByteEditor


def editor_parts(ed):
    kind = widgets(ed, "Dropdown")[0]
    key, value, expected = widgets(ed, "Text")
    (shown,) = widgets(ed, "HTML")
    return kind, key, value, expected, shown


def pre(text: str) -> str:
    return f"<pre style='line-height:1.3'>{html.escape(text)}</pre>"


def test_byte_editor_shows_the_bytes_of_what_is_typed_at_once():
    ed = ByteEditor()
    kind, key, value, expected, shown = editor_parts(ed)
    assert (kind.value, key.value, value.value) == ("SET", "x", "1")
    assert shown.value == pre(command_bytes("SET", "x", "1"))
    assert expected.disabled and not value.disabled
    key.value = "<k>"
    value.value = "é"
    data = encode_command(Command(Kind.SET, "<k>", "é"))
    assert shown.value == pre(f"{bytes_table(data)}\n\n{len(data)} bytes: {data.hex(' ')}")
    assert "&lt;k&gt;" in shown.value and "<k>" not in shown.value  # escaped for HTML
    assert "c3 a9" in shown.value  # é is two bytes of UTF-8


def test_byte_editor_enables_only_the_fields_the_kind_takes():
    ed = ByteEditor()
    kind, key, value, expected, shown = editor_parts(ed)
    kind.value = "CAS"
    assert not expected.disabled and not value.disabled
    assert "a CAS command needs an expected value" not in shown.value  # "" is an expected value
    expected.value = "0"
    assert shown.value == pre(command_bytes("CAS", "x", "1", "0"))
    kind.value = "GET"  # the value box keeps "1" but is off: GET carries no value
    assert value.disabled and expected.disabled
    assert shown.value == pre(command_bytes("GET", "x"))
    kind.value = "DELETE"
    assert shown.value == pre(command_bytes("DELETE", "x"))
    kind.value = "APPEND"
    assert not value.disabled and expected.disabled
    assert shown.value == pre(command_bytes("APPEND", "x", "1"))


def test_byte_editor_shows_why_a_key_cannot_be_encoded():
    ed = ByteEditor()
    kind, key, value, expected, shown = editor_parts(ed)
    key.value = "\ud800"
    assert "not a command: key is not valid text" in shown.value


def test_byte_editor_refuses_an_unknown_kind():
    assert editor_parts(ByteEditor(kind="cas", expected="1"))[0].value == "CAS"
    with pytest.raises(ValueError, match="unknown command kind 'PUT'; use one of SET, GET"):
        ByteEditor(kind="PUT")


# -------------------------------------------------------------------------------- Stepper


def test_stepper_step_button_explains_exactly_one_event(capsys, shown):
    c, twin = Cluster(5, seed=1), Cluster(5, seed=1)
    w = Stepper(c)
    assert f"t = {c.now:.2f} ms: nothing yet" in capsys.readouterr().out
    assert len(shown) == 1 and title(shown[0]).startswith("t = 0.0 ms")
    for _ in range(3):
        button(w, "step one event").click()
        expected = str(explain_step(twin))
        assert c.event_count == twin.event_count and c.now == twin.now
        assert expected in capsys.readouterr().out
        assert title(shown[-1]).startswith(f"t = {c.now:.1f} ms")
    assert len(shown) == 4


def test_stepper_trace_button_runs_to_the_next_trace_line(capsys, shown):
    c = Cluster(5, seed=1)
    w = Stepper(c)
    capsys.readouterr()
    button(w, "step to next trace line").click()
    assert len(c.trace) >= 1
    out = capsys.readouterr().out
    assert str(c.trace[0]).split(maxsplit=2)[2] in out.replace("trace: ", "")
    assert "election timer fires" in out


def test_stepper_trace_button_on_a_quiet_cluster_says_so(capsys, shown):
    """Heartbeats write no trace line: after 500 events the button must say it found
    none, not fail silently (a callback's exception never reaches the notebook cell)."""
    c = Cluster(5, seed=1)
    c.wait_for_leader()
    c.run(300)
    w = Stepper(c)
    capsys.readouterr()
    mark = len(c.trace)
    button(w, "step to next trace line").click()
    assert len(c.trace) == mark
    out = capsys.readouterr().out
    assert "no new trace line" in out and "500 events" in out
    assert title(shown[-1]).startswith(f"t = {c.now:.1f} ms")


def test_stepper_step_button_when_every_server_is_down(capsys, shown):
    c = Cluster(3, seed=1)
    c.run(100)
    for i in c.ids:
        c.crash(i)
    w = Stepper(c)
    capsys.readouterr()
    events = c.event_count
    button(w, "step one event").click()
    assert c.event_count == events
    assert "nothing left to happen" in capsys.readouterr().out


def test_stepper_run_button_runs_50_ms_and_prints_its_trace(capsys, shown):
    c = Cluster(5, seed=1)
    w = Stepper(c, logs=True)
    assert len(shown[-1].axes) == 2  # the cluster and the logs
    c.run(150)
    capsys.readouterr()
    mark = len(c.trace)
    button(w, "run 50 ms").click()
    assert c.now == 200.0
    out = capsys.readouterr().out
    new = c.trace[mark:]
    assert new, "the first election starts between 150 and 200 ms with seed 1"
    for e in new[-12:]:
        assert str(e) in out
    assert title(shown[-1]).startswith("t = 200.0 ms")


# --------------------------------------------------------------------------- PartitionLab


def test_partition_lab_splits_proposes_to_both_leaders_and_heals(capsys, shown):
    c = Cluster(5, seed=2)
    old = c.wait_for_leader()
    lab = PartitionLab(c)
    toggles = widgets(lab, "ToggleButtons")
    assert [t.description for t in toggles] == [f"S{i}" for i in c.ids]
    minority = {old, old % 5 + 1}
    for i, t in zip(c.ids, toggles, strict=True):
        t.value = "A" if i in minority else "C"
    capsys.readouterr()
    button(lab, "partition").click()
    majority_side = set(c.ids) - minority
    assert set(c.network.groups) == {frozenset(minority), frozenset(majority_side)}
    assert str(c.trace[-1]) in capsys.readouterr().out
    button(lab, "run 200 ms").click()
    button(lab, "run 200 ms").click()
    new = c.leader()
    assert new in majority_side and c.nodes[old].role is Role.LEADER  # deposed, unaware
    capsys.readouterr()
    button(lab, "propose to each leader").click()
    first, second = sorted((old, new))  # leaders are handed commands in id order
    assert c.nodes[first].log.entry(c.nodes[first].log.last_index).command == b"cmd1"
    assert c.nodes[second].log.entry(c.nodes[second].log.last_index).command == b"cmd2"
    stale_cmd = b"cmd1" if old == first else b"cmd2"
    out = capsys.readouterr().out
    assert f"S{old} propose" in out and f"S{new} propose" in out
    button(lab, "run 200 ms").click()
    assert c.nodes[new].commit_index == c.nodes[new].log.last_index  # a majority holds it
    assert c.nodes[old].commit_index < c.nodes[old].log.last_index  # two cannot commit
    button(lab, "heal").click()
    assert c.network.groups == (frozenset(c.ids),)
    button(lab, "run 200 ms").click()
    logs = {tuple(e.command for e in c.nodes[i].log) for i in c.ids}
    assert len(logs) == 1 and stale_cmd not in logs.pop()  # the minority's entry is gone
    assert c.nodes[old].role is Role.FOLLOWER
    assert len(shown[-1].axes) == 2
    assert title(shown[-1]).startswith(f"t = {c.now:.1f} ms · leader S{new}")


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


# ------------------------------------------------------------------------------ RestartLab


def test_restart_lab_crash_restart_write_and_run(capsys, shown):
    c = Cluster(5, seed=5, state_machine=KVStateMachine)
    lab = RestartLab(c)
    toggles = [b for b in widgets(lab, "Button") if b.description.startswith(("crash", "restart"))]
    assert [b.description for b in toggles] == [f"crash S{i}" for i in c.ids]
    out = capsys.readouterr().out
    assert state_table(c) in out
    button(lab, "write").click()  # no leader yet at t = 0
    refusal = Cluster(5, seed=5).submit(b"x").error
    assert f"t = 0.00 ms  write #1: {refusal}" in capsys.readouterr().out
    button(lab, "run 100 ms").click()
    button(lab, "run 100 ms").click()
    button(lab, "run 100 ms").click()
    leader = c.leader()
    assert leader is not None and c.now == 300.0
    capsys.readouterr()
    button(lab, "write").click()
    index = c.nodes[leader].log.last_index
    assert f"write #2: index {index}" in capsys.readouterr().out
    assert decode_command(c.nodes[leader].log.entry(index).command) == Command(Kind.SET, "k2", "2")
    button(lab, "run 100 ms").click()
    assert dict(c.nodes[leader].state_machine.data) == {"k2": "2"}
    b = toggles[leader - 1]
    b.click()
    assert leader not in c.alive
    assert (b.description, b.button_style) == (f"restart S{leader}", "warning")
    out = capsys.readouterr().out
    table = state_table(c)
    assert table in out and str(c.trace[-1]) in out
    assert table_rows(table)[f"S{leader}"][-4:] == ["(crashed:", "nothing", "in", "memory)"]
    assert (c.trace[-1].kind, c.trace[-1].node) == ("crash", leader)
    assert title(shown[-1]) == f"Logs at t = {c.now:.1f} ms"
    b.click()
    assert leader in c.alive and (b.description, b.button_style) == (f"crash S{leader}", "")
    assert c.nodes[leader].commit_index == 0  # a new incarnation: memory starts empty
    out = capsys.readouterr().out
    assert state_table(c) in out and "crashed" not in state_table(c) and str(c.trace[-1]) in out
    assert (c.trace[-1].kind, c.trace[-1].node) == ("restart", leader)
    assert len(shown) == 9  # one logs picture at the start and after each of 8 clicks


# ------------------------------------------------------------------------------- ChaosLab


def test_chaos_lab_runs_a_seed_then_the_next_and_shows_a_caught_bug(capsys, shown):
    from raftlab.chaos import run

    lab = ChaosLab(seed=0, duration_ms=2000)
    out = capsys.readouterr().out
    report = run(0, duration_ms=2000)
    assert report.summary() in out
    assert f"{report.ops_ok} operations answered, {report.ops_failed} unknown" in out
    assert "replay:" not in out
    seed_w = widgets(lab, "BoundedIntText")[0]
    bug_w = widgets(lab, "Dropdown")[0]
    button(lab, "next seed").click()
    assert seed_w.value == 1
    assert run(1, duration_ms=2000).summary() in capsys.readouterr().out
    bug_w.value = "no_log_check"  # caught at seed 0 within 2 s
    seed_w.value = 0
    button(lab, "run").click()
    out = capsys.readouterr().out
    caught = run(0, duration_ms=2000, bugs=("no_log_check",))
    assert not caught.ok and caught.summary() in out
    assert f"replay: {caught.replay_command}" in out
    assert len(shown) == 3 and all(fig.axes for fig in shown)
