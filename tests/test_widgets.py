"""raftlab.widgets, headless: set values, click buttons, check the cluster and what is shown.

As in ipywidgets' own tests, no browser: a widget's ``value`` and ``click()`` behave as a
user's would, and the Play widget's ticks are its ``value`` going up.
"""

from __future__ import annotations

import html
import re

import ipywidgets
import pytest

from raftlab import Cluster
from raftlab.kv import KVStateMachine
from raftlab.kv.commands import Command, Kind, bytes_table, decode_command, encode_command
from raftlab.roles import Role
from raftlab.teaching import command_bytes, explain_step, state_table
from raftlab.widgets import (
    ByteEditor,
    ChaosLab,
    Dashboard,
    PartitionLab,
    ReadLab,
    RestartLab,
    Stepper,
)
from raftlab.widgets.picture import Picture


@pytest.fixture
def dash() -> Dashboard:
    d = Dashboard(Cluster(5, seed=1, state_machine=KVStateMachine))
    d.time_controls.run_ms.value = 600
    d.time_controls.run.click()
    assert d.cluster.leader() is not None
    return d


def test_run_button_advances_time_and_redraws_the_picture():
    d = Dashboard(Cluster(3, seed=1))
    before = d.image.value
    d.time_controls.run_ms.value = 250
    d.time_controls.run.click()
    assert d.cluster.now == 250.0
    assert bytes(d.image.value) != bytes(before)
    assert bytes(d.image.value).startswith(b"\x89PNG")
    assert "Ran 250 ms" in d.message.value
    assert "At 250.00 ms" in d.status.value
    assert d.time.max == len(d.session.recorder) - 1 == d.time.value


def test_step_button_processes_exactly_one_event(dash: Dashboard):
    events = dash.cluster.event_count
    dash.time_controls.step.click()
    assert dash.cluster.event_count == events + 1
    assert "One event" in dash.message.value


def test_play_ticks_run_the_cluster_until_pause(dash: Dashboard):
    dash.time_controls.speed.value = 20
    dash.time_controls.play.click()
    assert dash.player.playing and dash.time_controls.play.disabled
    start = dash.cluster.now
    for _ in range(3):
        dash.player.value += 1  # what the browser does every interval while playing
    assert dash.cluster.now == start + 60
    dash.time_controls.pause.click()
    assert not dash.player.playing and not dash.time_controls.play.disabled
    dash.player.value += 1  # a tick already on its way when pause was pressed
    assert dash.cluster.now == start + 60


def test_crash_button_of_the_leader_crashes_it_and_becomes_restart(dash: Dashboard):
    leader = dash.cluster.leader()
    b = dash.nodes.buttons[leader]
    assert b.description == f"crash S{leader}"
    b.click()
    assert leader not in dash.cluster.alive
    assert b.description == f"restart S{leader}" and b.button_style == "success"
    assert f"S{leader} is down" in dash.status.value
    dash.time_controls.run.click()
    new = dash.cluster.leader()
    assert new is not None and new != leader
    assert f"S{new} is the leader of term" in dash.status.value
    b.click()
    assert leader in dash.cluster.alive and b.description == f"crash S{leader}"


def test_isolate_split_cut_connect_and_heal_change_who_can_talk(dash: Dashboard):
    net = dash.network
    net.isolate_node.value = 3
    net.isolate.click()
    assert {(1, 3), (2, 3), (3, 4), (3, 5)} <= dash.cluster.network.cut_links
    net.heal.click()
    assert dash.cluster.network.cut_links == set()
    leader = dash.cluster.leader()
    net.split.click()
    groups = sorted(dash.cluster.network.groups, key=len)
    assert len(groups) == 2 and len(groups[0]) == 2 and leader in groups[0]
    net.heal.click()
    net.link_a.value, net.link_b.value = 2, 4
    net.cut.click()
    assert dash.cluster.network.cut_links == {(2, 4)}
    assert "S2-S4" in dash.status.value
    net.connect.click()
    assert dash.cluster.network.cut_links == set()


def test_sliders_set_loss_duplication_and_delay(dash: Dashboard):
    dash.network.loss.value = 0.2
    dash.network.duplicate.value = 0.1
    dash.network.delay.value = (5.0, 50.0)
    net = dash.cluster.network
    assert (net.drop_rate, net.duplicate_rate, net.delay_ms) == (0.2, 0.1, (5.0, 50.0))
    assert "between 5 and 50 ms" in dash.message.value
    assert "delay_ms=(5, 50)" in dash.trace.value


def test_client_buttons_set_get_and_relaxed_get_show_the_answer(dash: Dashboard):
    c = dash.client
    c.key.value, c.value.value = "color", "blue"
    c.set.click()
    assert "ok" in c.answer.value and "set color=blue" in dash.message.value
    c.get.click()
    assert "&#x27;blue&#x27;" in c.answer.value
    assert dash.cluster.nodes[dash.cluster.leader()].state_machine.data["color"] == "blue"
    c.node.value = dash.cluster.leader()
    c.relaxed.click()
    assert "&#x27;blue&#x27;" in c.answer.value and "local copy" in dash.message.value
    c.key.value = "missing"
    c.get.click()
    assert "no such key" in c.answer.value


def test_time_slider_shows_the_past_exactly_and_acting_there_forks(dash: Dashboard):
    old_cluster, frames = dash.cluster, len(dash.session.recorder)
    k = frames // 2
    dash.time.value = k
    past = dash.session.recorder.at(k)
    assert bytes(dash.image.value) == Picture().render(past)  # the picture of that very moment
    assert f"{past.time:.2f} ms" in dash.status.value and "the past" in dash.time_label.value
    assert len(dash.session.recorder) == frames  # looking changes nothing
    victim = next(n.id for n in past.nodes if n.alive)
    dash.nodes.buttons[victim].click()
    assert dash.cluster is not old_cluster and victim not in dash.cluster.alive
    assert victim in old_cluster.alive  # the old future is untouched
    assert "New future from" in dash.message.value
    assert dash.time.max == k + 1 == dash.time.value
    assert "live" in dash.time_label.value


def test_sliding_back_shows_the_knobs_of_then_without_changing_anything(dash: Dashboard):
    dash.network.loss.value = 0.3
    dash.time_controls.run.click()
    frames = len(dash.session.recorder)
    dash.time.value = 1
    assert dash.network.loss.value == 0.0  # as it was then
    assert dash.cluster.network.drop_rate == 0.3 and len(dash.session.recorder) == frames
    dash.time.value = frames - 1
    assert dash.network.loss.value == 0.3


def test_view_buttons_switch_to_the_timeline_and_messages(dash: Dashboard):
    seen = {bytes(dash.image.value)}
    for view in ("timeline", "messages"):
        dash.view.value = view
        seen.add(bytes(dash.image.value))
    assert len(seen) == 3


def test_a_mistake_shows_a_message_not_an_exception(dash: Dashboard):
    dash.network.link_a.value = dash.network.link_b.value = 2
    dash.network.cut.click()
    assert "raftlab-error" in dash.message.value and "two different nodes" in dash.message.value
    assert dash.cluster.network.cut_links == set()


def test_a_safety_violation_is_a_red_message_naming_the_invariant_and_play_stops():
    # Votes granted without the up-to-date check (§5.4.1) elect a server that lacks a
    # committed entry: seed 2 with this script breaks Leader Completeness.
    cluster = Cluster(3, seed=2, bugs={"no_log_check"})
    d = Dashboard(cluster)
    leader = cluster.wait_for_leader()  # driven from outside: the dashboard follows
    behind = next(i for i in cluster.ids if i != leader)
    d.nodes.buttons[behind].click()
    cluster.submit(b"a")
    d.time_controls.run_ms.value = 100
    d.time_controls.run.click()
    d.nodes.buttons[behind].click()
    d.nodes.buttons[leader].click()
    d.time_controls.speed.value = 100
    d.time_controls.play.click()
    for _ in range(20):
        if not d.player.playing:
            break
        d.player.value += 1
    assert not d.player.playing
    assert "raftlab-violation" in d.message.value and "#C0392B" in d.message.value
    assert "Safety violation: Leader Completeness" in d.message.value
    assert "Traceback" not in d.message.value
    now = d.cluster.now
    d.time_controls.play.click()  # refuses, and says why
    assert not d.player.playing and d.cluster.now == now
    assert "Slide back" in d.message.value


def test_the_timeline_and_messages_views_open_on_a_cluster_at_time_zero():
    # Found by clicking through the course in a browser: both views used to raise
    # (an empty time window) when clicked before any simulated time had passed.
    d = Dashboard(Cluster(5, seed=0))
    seen = {bytes(d.image.value)}
    for view in ("timeline", "messages"):
        d.view.value = view
        seen.add(bytes(d.image.value))
        assert "raftlab-error" not in d.message.value
    assert len(seen) == 3


def test_split_after_crashing_the_leader_says_neither_side_has_a_live_majority():
    """Chapter 0's order: crash the leader, then Split at once.  With no leader, the split
    takes S1 S2 aside, and the crashed leader may sit on the three-server side: that side
    has two live servers of five, so the message must not say it can commit."""
    d = Dashboard(Cluster(5, seed=0, state_machine=KVStateMachine))
    d.time_controls.run_ms.value = 600
    d.time_controls.run.click()
    leader = d.cluster.leader()
    d.nodes.buttons[leader].click()
    assert d.cluster.leader() is None
    d.network.split.click()
    (small, big) = d.cluster.network.groups
    big = sorted(big) if leader in big else sorted(small)
    assert leader in big and len(big) == 3, "seed 0's leader is not S1 or S2"
    text = d.message.value
    assert "only the majority side can commit" not in text
    assert "neither side has a live majority" in text and f"S{leader} down" in text
    d.time_controls.run_ms.value = 2000
    d.time_controls.run.click()
    assert d.cluster.leader() is None  # what the message said: nobody can win an election


def test_split_of_a_healthy_cluster_names_the_side_with_a_live_majority(dash: Dashboard):
    leader = dash.cluster.leader()
    dash.network.split.click()
    rest = sorted(next(g for g in dash.cluster.network.groups if leader not in g))
    side = " ".join(f"S{i}" for i in rest)
    assert f"3 of 5 servers are up on the {side} side, a majority" in dash.message.value


# ------------------------------------------------------------------ the chapters' widgets
# Each shows text in a ``TextPane`` (``.text``, and ``.note`` for what a click did or why
# it did nothing) and a picture in a ``FigureImage`` (``.figure``, the last Figure drawn,
# and ``.value``, its PNG).  No widget prints or displays anything: see test_browser.


def pngs(*images) -> set[bytes]:
    return {bytes(i.value) for i in images}


def title(widget) -> str:
    return widget.picture.figure.axes[0].get_title()


def test_chapter_widgets_draw_without_pyplot_and_send_no_output(capsys):
    import matplotlib.pyplot as plt
    from IPython.display import display  # noqa: F401 - would be the only way out

    before = plt.get_fignums()
    c = Cluster(5, seed=1)
    made = [Stepper(c), Stepper(c, logs=True), PartitionLab(c), RestartLab(c), ReadLab()]
    for w in made:
        for b in [x for x in w.children if hasattr(x, "children")]:
            for button in [y for y in b.children if isinstance(y, ipywidgets.Button)]:
                button.click()
    assert plt.get_fignums() == before, "a widget made a pyplot figure"
    assert capsys.readouterr() == ("", "")
    for w in made:
        assert bytes(w.picture.value).startswith(b"\x89PNG")
        assert w.picture.figure.canvas.__class__.__name__ == "FigureCanvasAgg"


# ------------------------------------------------------------------------------ ByteEditor


def pre(text: str) -> str:
    return f"<pre style='line-height:1.3'>{html.escape(text)}</pre>"


def test_byte_editor_shows_the_bytes_of_what_is_typed_at_once():
    ed = ByteEditor()
    assert (ed.kind.value, ed.key.value, ed.value.value) == ("SET", "x", "1")
    assert ed.shown.value == pre(command_bytes("SET", "x", "1"))
    assert ed.expected.disabled and not ed.value.disabled
    ed.key.value = "<k>"
    ed.value.value = "é"
    data = encode_command(Command(Kind.SET, "<k>", "é"))
    assert ed.shown.value == pre(f"{bytes_table(data)}\n\n{len(data)} bytes: {data.hex(' ')}")
    assert "&lt;k&gt;" in ed.shown.value and "<k>" not in ed.shown.value  # escaped for HTML
    assert "c3 a9" in ed.shown.value  # é is two bytes of UTF-8


def test_byte_editor_enables_only_the_fields_the_kind_takes():
    ed = ByteEditor()
    ed.kind.value = "CAS"
    assert not ed.expected.disabled and not ed.value.disabled
    assert "a CAS command needs an expected value" not in ed.shown.value  # "" is a value
    ed.expected.value = "0"
    assert ed.shown.value == pre(command_bytes("CAS", "x", "1", "0"))
    ed.kind.value = "GET"  # the value box keeps "1" but is off: GET carries no value
    assert ed.value.disabled and ed.expected.disabled
    assert ed.shown.value == pre(command_bytes("GET", "x"))
    ed.kind.value = "DELETE"
    assert ed.shown.value == pre(command_bytes("DELETE", "x"))
    ed.kind.value = "APPEND"
    assert not ed.value.disabled and ed.expected.disabled
    assert ed.shown.value == pre(command_bytes("APPEND", "x", "1"))


def test_byte_editor_shows_why_a_key_cannot_be_encoded():
    ed = ByteEditor()
    ed.key.value = "\ud800"
    assert "not a command: key is not valid text" in ed.shown.value


def test_byte_editor_refuses_an_unknown_kind():
    assert ByteEditor(kind="cas", expected="1").kind.value == "CAS"
    with pytest.raises(ValueError, match="unknown command kind 'PUT'; use one of SET, GET"):
        ByteEditor(kind="PUT")


# --------------------------------------------------------------------------------- Stepper


def test_stepper_step_button_explains_exactly_one_event():
    c, twin = Cluster(5, seed=1), Cluster(5, seed=1)
    w = Stepper(c)
    assert w.text.text == f"t = {c.now:.2f} ms: nothing yet"
    assert title(w).startswith("t = 0.0 ms")
    seen = pngs(w.picture)
    for _ in range(3):
        w.step_button.click()
        assert w.text.text == str(explain_step(twin))
        assert c.event_count == twin.event_count and c.now == twin.now
        assert title(w).startswith(f"t = {c.now:.1f} ms")
        seen |= pngs(w.picture)
    assert len(seen) == 4  # a new picture after each click


def test_stepper_trace_button_runs_to_the_next_trace_line():
    c = Cluster(5, seed=1)
    w = Stepper(c)
    w.trace_button.click()
    assert len(c.trace) >= 1
    out = w.text.text
    assert str(c.trace[0]).split(maxsplit=2)[2] in out.replace("trace: ", "")
    assert "election timer fires" in out


def test_stepper_trace_button_on_a_quiet_cluster_says_so():
    """Heartbeats write no trace line: after 500 events the button must say it found
    none, not fail silently (a callback's exception never reaches the notebook cell)."""
    c = Cluster(5, seed=1)
    c.wait_for_leader()
    c.run(300)
    w = Stepper(c)
    mark = len(c.trace)
    w.trace_button.click()
    assert len(c.trace) == mark
    assert "no new trace line" in w.text.text and "500 events" in w.text.text
    assert title(w).startswith(f"t = {c.now:.1f} ms")


def test_stepper_buttons_when_every_server_is_down_say_so():
    c = Cluster(3, seed=1)
    c.run(100)
    for i in c.ids:
        c.crash(i)
    w = Stepper(c)
    events = c.event_count
    w.step_button.click()
    assert c.event_count == events
    assert "nothing left to happen (every server is down)" in w.text.text
    w.run_button.click()
    assert "quiet (no trace line in 50 ms)" in w.text.text
    w.trace_button.click()
    assert "no new trace line (nothing is left to happen" in w.text.text


def test_stepper_run_button_runs_50_ms_and_shows_its_trace():
    c = Cluster(5, seed=1)
    w = Stepper(c, logs=True)
    assert len(w.picture.figure.axes) == 2  # the cluster and the logs
    c.run(150)
    mark = len(c.trace)
    w.run_button.click()
    assert c.now == 200.0
    new = c.trace[mark:]
    assert new, "the first election starts between 150 and 200 ms with seed 1"
    assert w.text.text == "\n".join(str(e) for e in new[-12:])
    assert title(w).startswith("t = 200.0 ms")


# ---------------------------------------------------------------------------- PartitionLab


def test_partition_lab_splits_proposes_to_both_leaders_and_heals():
    c = Cluster(5, seed=2)
    old = c.wait_for_leader()
    lab = PartitionLab(c)
    assert [t.description for t in lab.groups.values()] == [f"S{i}" for i in c.ids]
    minority = {old, old % 5 + 1}
    for i, t in lab.groups.items():
        t.value = "A" if i in minority else "C"
    lab.partition_button.click()
    majority_side = set(c.ids) - minority
    assert set(c.network.groups) == {frozenset(minority), frozenset(majority_side)}
    assert str(c.trace[-1]) in lab.text.text
    lab.run_button.click()
    lab.run_button.click()
    new = c.leader()
    assert new in majority_side and c.nodes[old].role is Role.LEADER  # deposed, unaware
    lab.propose_button.click()
    first, second = sorted((old, new))  # leaders are handed commands in id order
    assert c.nodes[first].log.entry(c.nodes[first].log.last_index).command == b"cmd1"
    assert c.nodes[second].log.entry(c.nodes[second].log.last_index).command == b"cmd2"
    stale_cmd = b"cmd1" if old == first else b"cmd2"
    assert f"S{old} propose" in lab.text.text and f"S{new} propose" in lab.text.text
    lab.run_button.click()
    assert c.nodes[new].commit_index == c.nodes[new].log.last_index  # a majority holds it
    assert c.nodes[old].commit_index < c.nodes[old].log.last_index  # two cannot commit
    lab.heal_button.click()
    assert c.network.groups == (frozenset(c.ids),)
    assert lab.text.note == "healed: every server can reach every other"
    lab.run_button.click()
    logs = {tuple(e.command for e in c.nodes[i].log) for i in c.ids}
    assert len(logs) == 1 and stale_cmd not in logs.pop()  # the minority's entry is gone
    assert c.nodes[old].role is Role.FOLLOWER
    assert len(lab.picture.figure.axes) == 2
    assert title(lab).startswith(f"t = {c.now:.1f} ms · leader S{new}")


def test_partition_lab_says_why_a_click_changed_nothing():
    c = Cluster(5, seed=2)
    lab = PartitionLab(c)
    lab.propose_button.click()  # t = 0: nobody leads yet
    assert "no live server believes it leads, so nothing was proposed" in lab.text.note
    assert all(len(c.nodes[i].log) == 0 for i in c.ids)
    lab.partition_button.click()  # every server on A
    assert "one group, so nobody is cut off" in lab.text.note


# ------------------------------------------------------------------------------ RestartLab


def table_rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}


def test_restart_lab_crash_restart_write_and_run():
    c = Cluster(5, seed=5, state_machine=KVStateMachine)
    lab = RestartLab(c)
    toggles = list(lab.toggles.values())
    assert [b.description for b in toggles] == [f"crash S{i}" for i in c.ids]
    assert state_table(c) in lab.text.text
    lab.write_button.click()  # no leader yet at t = 0
    refusal = Cluster(5, seed=5).submit(b"x").error
    assert lab.text.note == f"write #1: {refusal}"
    lab.run_button.click()
    lab.run_button.click()
    lab.run_button.click()
    leader = c.leader()
    assert leader is not None and c.now == 300.0
    lab.write_button.click()
    index = c.nodes[leader].log.last_index
    assert lab.text.note == f"write #2: index {index}"
    assert decode_command(c.nodes[leader].log.entry(index).command) == Command(Kind.SET, "k2", "2")
    lab.run_button.click()
    assert dict(c.nodes[leader].state_machine.data) == {"k2": "2"}
    b = toggles[leader - 1]
    b.click()
    assert leader not in c.alive
    assert (b.description, b.button_style) == (f"restart S{leader}", "warning")
    table = state_table(c)
    assert table in lab.text.text and str(c.trace[-1]) in lab.text.text
    assert table_rows(table)[f"S{leader}"][-4:] == ["(crashed:", "nothing", "in", "memory)"]
    assert (c.trace[-1].kind, c.trace[-1].node) == ("crash", leader)
    assert title(lab) == f"Logs at t = {c.now:.1f} ms"
    b.click()
    assert leader in c.alive and (b.description, b.button_style) == (f"crash S{leader}", "")
    assert c.nodes[leader].commit_index == 0  # a new incarnation: memory starts empty
    assert state_table(c) in lab.text.text and "crashed" not in state_table(c)
    assert (c.trace[-1].kind, c.trace[-1].node) == ("restart", leader)


def test_restart_lab_first_run_before_any_leader_says_why_nothing_showed():
    c = Cluster(5, seed=5, state_machine=KVStateMachine)
    lab = RestartLab(c)
    lab.run_button.click()
    assert c.now == 100.0 and c.trace == [] and c.leader() is None
    lo, hi = c.config.election_timeout_ms
    assert lab.text.note == (
        f"100 ms passed and no leader yet: no election timer has fired (each server waits "
        f"a random {lo:g} to {hi:g} ms without hearing a leader first)"
    )
    assert "t = 100.00 ms" in lab.text.text
    for b in lab.toggles.values():
        b.click()
    lab.run_button.click()
    assert "every server is down, so nothing happens until a restart" in lab.text.note


# -------------------------------------------------------------------------------- ChaosLab


def test_chaos_lab_runs_a_seed_then_the_next_and_shows_a_caught_bug():
    from raftlab.chaos import run

    lab = ChaosLab(seed=0, duration_ms=2000)
    report = run(0, duration_ms=2000)
    assert report.summary() in lab.text.text
    assert f"{report.ops_ok} operations answered, {report.ops_failed} unknown" in lab.text.text
    assert "replay:" not in lab.text.text and not lab.text.alarm
    first = pngs(lab.picture)
    lab.next_button.click()
    assert lab.seed.value == 1
    assert run(1, duration_ms=2000).summary() in lab.text.text
    lab.bug.value = "no_log_check"  # caught at seed 0 within 2 s
    lab.seed.value = 0
    lab.run_button.click()
    caught = run(0, duration_ms=2000, bugs=("no_log_check",))
    assert not caught.ok and caught.summary() in lab.text.text
    assert f"replay: {caught.replay_command}" in lab.text.text
    assert lab.text.alarm and "raftlab-alarm" in lab.text.value
    assert pngs(lab.picture) != first


def test_chaos_lab_a_violation_is_red_even_when_the_history_is_linearizable():
    """Chapter 7's case: a broken property (here Leader Completeness) that no client saw.
    The verdict must be red and say the history's check does not clear the cluster."""
    from raftlab.chaos import run
    from raftlab.widgets.chaos_lab import verdict

    report = next(
        r
        for seed in range(40)
        if (r := run(seed, duration_ms=2000, bugs=("figure8",))).violation is not None
        and r.linearizable
    )
    note, alarm = verdict(report)
    assert alarm and note.startswith(f"SAFETY VIOLATION: {report.violation}")
    assert "still checks as linearizable" in note
    lab = ChaosLab(seed=report.seed, bug="figure8", duration_ms=2000)
    assert lab.text.alarm and lab.text.note == note
    assert "background:#C0392B" in lab.text.value  # red, not a quiet line of text


@pytest.mark.parametrize(
    "kwargs, sentence",
    [
        ({"seed": -1}, "seed must be a whole number from 0 to 1,000,000, got -1"),
        ({"seed": 10**7}, "seed must be a whole number from 0 to 1,000,000, got 10000000"),
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"duration_ms": 3000}, "duration_ms must be one of 2000, 5000, 10000"),
        ({"bug": "nope"}, "unknown bug 'nope'; use '' for none or one of"),
    ],
)
def test_chaos_lab_refuses_out_of_range_input_with_raftlabs_sentence(kwargs, sentence):
    with pytest.raises(ValueError, match=re.escape(sentence)):
        ChaosLab(**kwargs)


def test_a_click_that_raises_is_said_in_the_widget_not_lost():
    c = Cluster(3, seed=1)
    w = Stepper(c)

    def broken(_ms: float = 50) -> list[str]:
        raise RuntimeError("boom")

    w.run = broken  # the handler calls the method at click time
    w.run_button.click()
    assert w.text.alarm and w.text.note == "the widget failed: RuntimeError: boom"
    assert w.text.text == f"t = {c.now:.2f} ms: nothing yet"  # what was shown stays


def test_the_client_row_reads_in_each_mode_the_cluster_offers():
    from raftlab import Config

    plain = Dashboard(Cluster(3, 1, state_machine=KVStateMachine))
    assert [v for _, v in plain.client.mode.options] == ["log", "read_index"]
    dash = Dashboard(Cluster(3, 1, config=Config(lease_ms=100), state_machine=KVStateMachine))
    c = dash.client
    assert [v for _, v in c.mode.options] == ["log", "read_index", "lease"]
    c.key.value, c.value.value = "x", "7"
    c.set.click()
    for mode in ("read_index", "lease"):
        c.mode.value = mode
        c.get.click()
        assert "&#x27;7&#x27;" in c.answer.value and f"get x ({mode})" in dash.message.value
    assert [op.mode for op in dash.cluster.history if op.op == "get"] == ["read_index", "lease"]


# --------------------------------------------------------------------------------- ReadLab


def deposed_read(bug: str, mode: str) -> ReadLab:
    """Write x=1, cut the leader off, write x=2 elsewhere, then read at the old leader."""
    lab = ReadLab(bug=bug)
    lab.run_button.click()
    lab.write_button.click()
    old = lab.reader.leader_guess
    assert old == lab.cluster.leader()
    lab.cut_button.click()
    assert f"S{old} is cut off from everyone" in lab.text.text
    lab.write_button.click()
    assert lab.written == "2" and lab.writer.leader_guess != old
    lab.mode.value = mode
    lab.read_button.click()
    return lab


@pytest.mark.parametrize("mode", ["log", "read_index", "lease"])
def test_read_lab_consensus_reads_at_a_deposed_leader_wait_and_are_not_stale(mode):
    lab = deposed_read("", mode)
    assert f"{mode} read of x, first sent to S" in lab.text.text
    assert "answered '2'" in lab.text.text
    assert not lab.text.alarm and lab.text.note == "linearizable so far: True"
    assert pngs(lab.picture) and lab.picture.figure.axes


def test_read_lab_relaxed_read_at_a_deposed_leader_is_stale_and_said_so():
    lab = deposed_read("", "relaxed")
    assert "answered '1'" in lab.text.text and lab.text.alarm
    assert lab.text.note.startswith("STALE READ: x is '2', this read said '1'")
    assert "left out of the linearizability check" in lab.text.note


@pytest.mark.parametrize(
    ("bug", "mode"), [("read_index_no_heartbeat", "read_index"), ("lease_ignores_drift", "lease")]
)
def test_read_lab_shows_each_read_bug_as_a_stale_read_the_checker_rejects(bug, mode):
    lab = deposed_read(bug, mode)
    assert "answered '1'" in lab.text.text and lab.text.alarm
    assert lab.text.note.endswith("linearizable so far: False")


def test_read_lab_refuses_with_a_sentence_and_changes_nothing():
    with pytest.raises(ValueError, match="unknown read bug 'figure8'"):
        ReadLab(bug="figure8")
    lab = ReadLab()
    lab.read_button.click()
    assert lab.text.note == "write x first, so that a read has a value to return"
    lab.cut_button.click()  # t = 0: nobody leads yet
    assert "no leader right now" in lab.text.note
    assert lab.cluster.network.groups == (frozenset(lab.cluster.ids),)
    assert len(lab.cluster.history) == 0 and lab.cluster.now == 0
