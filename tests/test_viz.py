"""Pictures: inspect the artists they draw, from hand-made snapshots and from real clusters.

Every picture draws from a ``ClusterSnapshot``; the factory below builds small ones by hand
so each test controls exactly what is on screen.  Text is drawn as markers (see
``raftlab.viz.common.draw_text``), whose Line2D label holds the text after a leading "_".
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from raftlab.cluster import Cluster  # noqa: E402
from raftlab.history import History, Operation  # noqa: E402
from raftlab.linearizability import check  # noqa: E402
from raftlab.log import Entry  # noqa: E402
from raftlab.roles import Role  # noqa: E402
from raftlab.snapshot import ClusterSnapshot, MessageView, NodeView  # noqa: E402
from raftlab.trace import TraceEvent  # noqa: E402
from raftlab.viz import (  # noqa: E402
    as_snapshot,
    cluster_graph,
    draw_cluster,
    draw_history,
    draw_logs,
    draw_messages,
    draw_timeline,
    fault_periods,
    leader_periods,
    palette,  # noqa: E402
    role_segments,
    stale_leadership,
)
from raftlab.viz.logs import UNCOMMITTED_HATCH, paler  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ----------------------------------------------------------------------------- factory


def make_log(terms: list[int]) -> tuple[Entry, ...]:
    """Entries with these terms; the first entry of each term is that leader's no-op (§8)."""
    out, prev = [], None
    for i, t in enumerate(terms, start=1):
        out.append(Entry(i, t, None if t != prev else f"cmd {i}".encode()))
        prev = t
    return tuple(out)


def node(
    i,
    role=Role.FOLLOWER,
    term=3,
    log=(),
    commit=0,
    *,
    alive=True,
    voted_for=None,
    votes=(),
    deadline=None,
    timeout=200.0,
    next_index=(),
    match_index=(),
) -> NodeView:
    return NodeView(
        i,
        alive,
        role,
        term,
        voted_for,
        tuple(log),
        commit,
        commit,
        tuple(next_index),
        tuple(match_index),
        frozenset(votes),
        deadline,
        timeout,
    )


def msg(
    src, dst, kind, sent, deliver, *, term=3, success=None, entries=0, dropped=False, label="m"
) -> MessageView:
    return MessageView(src, dst, kind, term, sent, deliver, label, success, entries, dropped)


def snapshot(
    nodes,
    time=100.0,
    in_flight=(),
    *,
    groups=None,
    cut_links=(),
    leader=None,
    trace=(),
    message_log=(),
) -> ClusterSnapshot:
    groups = groups or (frozenset(n.id for n in nodes),)
    return ClusterSnapshot(
        time,
        0,
        tuple(nodes),
        tuple(in_flight),
        tuple(groups),
        frozenset(cut_links),
        leader,
        tuple(trace),
        len(trace),
        tuple(message_log),
        len(message_log),
    )


LOG = make_log([1, 1, 2, 3, 3, 3, 3])  # indexes 1..7; no-ops at 1, 3 and 4


def five_nodes() -> list[NodeView]:
    """S1 leads term 3; S4 crashed; S5 is a candidate for term 4 with its own vote."""
    return [
        node(
            1,
            Role.LEADER,
            3,
            LOG,
            5,
            voted_for=1,
            next_index=[(2, 8), (3, 6), (4, 8), (5, 4)],
            match_index=[(2, 7), (3, 5), (4, 7), (5, 3)],
        ),
        node(2, Role.FOLLOWER, 3, LOG, 5, voted_for=1, deadline=250.0, timeout=200.0),
        node(3, Role.FOLLOWER, 3, LOG[:5], 4, voted_for=1, deadline=150.0, timeout=200.0),
        node(4, Role.FOLLOWER, 3, LOG, 5, alive=False, deadline=120.0),
        node(
            5,
            Role.CANDIDATE,
            4,
            LOG[:3],
            2,
            voted_for=5,
            votes=(5, 3),
            deadline=300.0,
            timeout=250.0,
        ),
    ]


IN_FLIGHT = [
    msg(1, 2, "AppendEntries", 95, 105, label="heartbeat"),
    msg(1, 3, "AppendEntries", 90, 110, entries=2, label="AE 2 entries"),
    msg(1, 3, "AppendEntries", 99, 109, label="heartbeat"),  # a second message on 1 -> 3
    msg(3, 1, "AppendEntriesReply", 98, 102, success=False, label="AE rejected"),
    msg(5, 2, "RequestVote", 96, 104, term=4, label="RequestVote"),
    msg(2, 5, "RequestVoteReply", 99, 107, term=4, success=False, label="vote denied"),
]


def labels(ax, gid: str) -> list[str]:
    """Texts drawn as markers with this gid."""
    return [line.get_label()[1:] for line in ax.lines if line.get_gid() == gid]


def patches(ax, gid: str) -> list:
    """Patches whose gid is ``gid``, or starts with it when it ends with "-"."""
    if gid.endswith("-"):
        return [p for p in ax.patches if (p.get_gid() or "").startswith(gid)]
    return [p for p in ax.patches if p.get_gid() == gid]


def collection(ax, gid: str):
    found = [c for c in ax.collections if c.get_gid() == gid]
    assert len(found) <= 1
    return found[0] if found else None


# ----------------------------------------------------------------------------- as_snapshot


def test_as_snapshot_accepts_a_snapshot_or_anything_with_snapshot():
    snap = snapshot(five_nodes())

    class Holder:
        def snapshot(self):
            return snap

    assert as_snapshot(snap) is snap
    assert as_snapshot(Holder()) is snap
    with pytest.raises(TypeError, match="Cluster or a ClusterSnapshot"):
        as_snapshot(42)


# ----------------------------------------------------------------------------- cluster_graph


def test_cluster_graph_nodes_carry_the_state_of_each_server():
    g = cluster_graph(snapshot(five_nodes(), leader=1))
    assert sorted(g.nodes) == [1, 2, 3, 4, 5]
    s1, s5 = g.nodes[1], g.nodes[5]
    assert (s1["role"], s1["term"], s1["commit_index"], s1["last_index"]) == ("leader", 3, 5, 7)
    assert s1["alive"] and not g.nodes[4]["alive"]
    assert s5["role"] == Role.CANDIDATE and s5["voted_for"] == 5 and s5["votes"] == (3, 5)
    assert g.graph["leader"] == 1


def test_cluster_graph_edges_are_messages_in_flight_with_progress():
    g = cluster_graph(snapshot(five_nodes(), 100.0, IN_FLIGHT))
    assert sorted(g.edges) == [(1, 2), (1, 3), (2, 5), (3, 1), (5, 2)]
    e = g.edges[1, 2]
    assert e["kind"] == "AppendEntries" and e["label"] == "heartbeat"
    assert e["progress"] == pytest.approx((100 - 95) / (105 - 95))
    # Two messages on one link: aggregated, oldest first.
    both = g.edges[1, 3]["messages"]
    assert [m["sent_at"] for m in both] == [90, 99]
    assert [m["style"] for m in both] == ["append", "heartbeat"]
    assert both[0]["progress"] == pytest.approx(0.5)
    assert g.edges[2, 5]["messages"][0]["style"] == "vote_denied"
    assert not any(d["cut"] for _, _, d in g.edges(data=True))


def test_cluster_graph_shows_cut_links_both_ways():
    snap = snapshot(
        five_nodes(),
        100.0,
        [IN_FLIGHT[0]],
        groups=(frozenset({1, 2}), frozenset({3, 4, 5})),
        cut_links={(a, b) for a in (1, 2) for b in (3, 4, 5)},
    )
    g = cluster_graph(snap)
    cut = sorted((u, v) for u, v, d in g.edges(data=True) if d["kind"] == "cut")
    assert len(cut) == 12  # 6 links, each both ways
    assert (3, 1) in cut and (1, 3) in cut
    assert g.edges[1, 2]["kind"] == "AppendEntries" and not g.edges[1, 2]["cut"]


# ----------------------------------------------------------------------------- draw_cluster


def test_draw_cluster_draws_one_shape_per_server_shaped_by_role():
    ax = draw_cluster(snapshot(five_nodes(), leader=1))
    nodes = {p.get_gid(): p for p in patches(ax, "node-")}
    assert sorted(nodes) == ["node-S1", "node-S2", "node-S3", "node-S4", "node-S5"]
    assert nodes["node-S1"].numvertices == 6  # leader: hexagon
    assert nodes["node-S5"].numvertices == 4  # candidate: diamond
    assert to_rgba(nodes["node-S2"].get_facecolor()) == to_rgba(palette.ROLE_COLORS["follower"])
    dead = nodes["node-S4"]
    assert to_rgba(dead.get_facecolor()) == to_rgba(palette.DEAD_FILL)
    assert dead.get_linestyle() == "--"


def test_draw_cluster_labels_name_term_indexes_and_votes():
    ax = draw_cluster(snapshot(five_nodes(), leader=1))
    names = sorted(t for i in range(1, 6) for t in labels(ax, f"name-S{i}"))
    assert names == ["S1", "S2", "S3", "S4", "S5"]
    (s1,) = labels(ax, "info-S1")
    assert "term 3" in s1 and "commit 5" in s1 and "last 7" in s1
    (s5,) = labels(ax, "info-S5")
    assert "term 4" in s5 and "votes 2/5: S3,S5" in s5
    (s4,) = labels(ax, "info-S4")
    assert s4.startswith("crashed")
    assert "leader S1, term 3" in ax.get_title()


def test_draw_cluster_title_names_a_stale_leader_of_an_older_term():
    nodes = five_nodes()
    nodes[1] = node(2, Role.LEADER, term=2, log=LOG[:3], commit=3)
    title = draw_cluster(snapshot(nodes, leader=1)).get_title()
    # S2 leads term 2, cut off and unaware of term 3: harmless, so it is only "stale".
    assert "leader S1, term 3; S2 still thinks it leads" in title
    assert "Election Safety" not in title


def test_draw_cluster_title_says_two_leaders_of_one_term_break_election_safety():
    nodes = five_nodes()
    nodes[1] = node(2, Role.LEADER, term=3, log=LOG, commit=5)
    nodes[2] = node(3, Role.LEADER, term=1, log=LOG[:1], commit=1)
    title = draw_cluster(snapshot(nodes, leader=1)).get_title()
    assert "two leaders in term 3: S1 and S2 (Election Safety violated)" in title
    assert "S1, S2" not in title and "S2 still thinks" not in title
    # A third leader, of an older term, is still only stale.
    assert title.endswith("; S3 still thinks it leads")


def test_draw_cluster_timer_arcs_empty_as_the_deadline_nears():
    ax = draw_cluster(snapshot(five_nodes(), 100.0, leader=1))
    arcs = {p.get_gid(): p for p in patches(ax, "timer-")}
    # Leaders have no election timer; crashed servers neither.
    assert sorted(arcs) == ["timer-S2", "timer-S3", "timer-S5"]
    # S2: (250 - 100) / 200 = 75% left; S3: (150 - 100) / 200 = 25%; S5: 200 / 250 = 80%.
    for gid, left in (("timer-S2", 0.75), ("timer-S3", 0.25), ("timer-S5", 0.8)):
        w = arcs[gid]
        assert (w.theta2 - w.theta1) / 360 == pytest.approx(left)


def test_draw_cluster_draws_one_arrow_per_message_in_flight():
    ax = draw_cluster(snapshot(five_nodes(), 100.0, IN_FLIGHT, leader=1))
    arrows = patches(ax, "message")
    assert len(arrows) == len(IN_FLIGHT)
    colors = sorted(to_rgba(a.get_edgecolor()) for a in arrows)
    expected = sorted(
        to_rgba(palette.MESSAGE_STYLES[palette.message_style_key(m)]["color"]) for m in IN_FLIGHT
    )
    assert colors == expected


def test_draw_cluster_arrow_moves_along_its_path_with_time():
    m = msg(1, 3, "AppendEntries", 100, 120, entries=1)
    s1 = snapshot(five_nodes(), 102.0, [m])
    s2 = snapshot(five_nodes(), 118.0, [m])
    (early,) = patches(draw_cluster(s1), "message")
    (late,) = patches(draw_cluster(s2), "message")
    # S1 sits at the top of the circle and S3 lower right: the arrow must get closer to S3.
    s3 = (0.588, -0.809)

    def dist(a):
        (x, y) = a._posA_posB[1]
        return (x - s3[0]) ** 2 + (y - s3[1]) ** 2

    assert dist(late) < dist(early)


def test_draw_cluster_shows_cut_links_and_partition_groups():
    cut = {(a, b) for a in (1, 2) for b in (3, 4, 5)}
    snap = snapshot(
        five_nodes(), groups=(frozenset({1, 2}), frozenset({3, 4, 5})), cut_links=cut, leader=1
    )
    ax = draw_cluster(snap)
    lc = collection(ax, "cut-links")
    assert lc is not None and len(lc.get_segments()) == 6
    assert len(patches(ax, "group")) == 2
    healed = draw_cluster(snapshot(five_nodes(), leader=1))
    assert collection(healed, "cut-links") is None and not patches(healed, "group")


def test_redrawing_into_the_same_axes_replaces_the_drawing():
    fig, ax = plt.subplots()
    draw_cluster(snapshot(five_nodes(), 100.0, IN_FLIGHT, leader=1), ax=ax)
    draw_cluster(snapshot(five_nodes(), 101.0, IN_FLIGHT[:2], leader=1), ax=ax)
    assert len(patches(ax, "node-")) == 5
    assert len(patches(ax, "message")) == 2
    # Another picture into the same Axes clears it fully.
    draw_logs(snapshot(five_nodes(), leader=1), ax=ax)
    assert not patches(ax, "node-")


@pytest.mark.parametrize("figsize", [(9.5, 6.2), (5.0, 3.0), (9.5, 3.5)])
def test_draw_cluster_fits_every_label_inside_axes_of_any_size(figsize):
    fig, ax = plt.subplots(figsize=figsize)
    fig.subplots_adjust(left=0.02, right=0.7, bottom=0.02, top=0.9)
    draw_cluster(snapshot(five_nodes(), leader=1), ax=ax)
    fig.canvas.draw()
    box = ax.get_window_extent()
    infos = [line for line in ax.lines if (line.get_gid() or "").startswith("info-")]
    assert len(infos) == 5
    for line in infos:
        e = line.get_window_extent()
        assert box.x0 - 1 <= e.x0 and e.x1 <= box.x1 + 1, line.get_gid()
        assert box.y0 - 1 <= e.y0 and e.y1 <= box.y1 + 1, line.get_gid()


def test_the_key_is_drawn_once_and_kept_across_redraws():
    fig, ax = plt.subplots()
    for t in (100.0, 101.0, 102.0):
        draw_cluster(snapshot(five_nodes(), t, leader=1), ax=ax)
    (key,) = [line for line in ax.lines if line.get_gid() == "key-labels"]
    assert key.get_label()[1:].split("\n")[:3] == ["leader", "candidate", "follower"]
    draw_cluster(snapshot(five_nodes(), 103.0, leader=1), ax=ax, legend=False)
    assert not [line for line in ax.lines if (line.get_gid() or "").startswith("key")]
    assert not [p for p in ax.patches if p.get_gid() == "key"]


# ----------------------------------------------------------------------------- draw_logs


def test_draw_logs_committed_cells_solid_uncommitted_hatched_coloured_by_term():
    nodes = five_nodes()
    ax = draw_logs(snapshot(nodes, leader=1))
    solid, hatched = collection(ax, "log-committed"), collection(ax, "log-uncommitted")
    n_committed = sum(min(n.commit_index, n.last_index) for n in nodes)
    n_total = sum(n.last_index for n in nodes)
    assert len(solid.get_paths()) == n_committed == 5 + 5 + 4 + 5 + 2
    assert len(hatched.get_paths()) == n_total - n_committed
    assert solid.get_hatch() in (None, "") and hatched.get_hatch() == UNCOMMITTED_HATCH
    # Row order and index order: S1's committed entries 1..5 come first.
    first_five = [tuple(c) for c in solid.get_facecolors()[:5]]
    assert first_five == [to_rgba(palette.term_color(t)) for t in (1, 1, 2, 3, 3)]
    assert tuple(hatched.get_facecolors()[0]) == to_rgba(paler(palette.term_color(3)))


def test_draw_logs_annotates_terms_marks_noops_and_commit_indexes():
    ax = draw_logs(snapshot(five_nodes(), leader=1))
    cells = {
        line.get_label()[1:]: len(line.get_xdata())
        for line in ax.lines
        if line.get_gid() == "cell-labels"
    }
    # Labels are split by liveness (S4 is crashed, drawn greyer), so sum per text.
    by_text: dict[str, int] = {}
    for line in ax.lines:
        if line.get_gid() == "cell-labels":
            by_text[line.get_label()[1:]] = by_text.get(line.get_label()[1:], 0) + len(
                line.get_xdata()
            )
    assert cells and by_text["cell 1\n∅"] == 5  # every log starts with term 1's no-op
    assert by_text["cell 2\n∅"] == 5 and by_text["cell 3\n∅"] == 4
    assert by_text["cell 3"] == 3 + 3 + 1 + 3
    bars = collection(ax, "commit-index").get_segments()
    assert sorted(round(seg[0][0] - 0.5) for seg in bars) == [2, 4, 5, 5, 5]


def test_draw_logs_marks_the_leaders_next_and_match_index():
    ax = draw_logs(snapshot(five_nodes(), leader=1))
    (nxt,) = [line for line in ax.lines if line.get_gid() == "next-index"]
    (mt,) = [line for line in ax.lines if line.get_gid() == "match-index"]
    assert list(nxt.get_xdata()) == [8, 6, 8, 4]  # S2..S5
    assert list(mt.get_xdata()) == [7, 5, 7, 3]
    rows = [round(y) for y in nxt.get_ydata()]
    assert rows == [1, 2, 3, 4]
    no_leader = draw_logs(snapshot(five_nodes(), leader=None))
    assert not [line for line in no_leader.lines if line.get_gid() == "next-index"]


def test_draw_logs_shows_the_newest_window_of_a_long_log():
    long = make_log([1] * 40 + [2] * 10)
    nodes = [node(1, Role.LEADER, 2, long, 45), node(2, Role.FOLLOWER, 2, long[:30], 30)]
    ax = draw_logs(snapshot(nodes, leader=1), window=20)
    assert "newest 20 of 50" in ax.get_title()
    solid, hatched = collection(ax, "log-committed"), collection(ax, "log-uncommitted")
    assert len(solid.get_paths()) == 15  # S1: indexes 31..45; S2 ends at 30
    assert len(hatched.get_paths()) == 5
    assert ax.get_xlim()[0] == pytest.approx(31 - 0.6)
    with pytest.raises(ValueError, match="window"):
        draw_logs(snapshot(nodes), window=0)


def test_draw_logs_of_empty_logs_says_so():
    ax = draw_logs(snapshot([node(1), node(2), node(3)]))
    assert collection(ax, "log-committed") is None
    assert labels(ax, "row-label") == ["S1 follower", "S2 follower", "S3 follower"]


# ----------------------------------------------------------------------------- timeline


TRACE = [
    TraceEvent(150.0, 1, "candidate", "term=1"),
    TraceEvent(152.0, 2, "follower", "term=1"),
    TraceEvent(152.0, 2, "vote", "for=S1 term=1"),
    TraceEvent(160.0, 1, "leader", "term=1"),
    TraceEvent(300.0, None, "partition", "S1 | S2 S3"),
    TraceEvent(500.0, 2, "candidate", "term=2"),
    TraceEvent(510.0, 2, "leader", "term=2"),
    TraceEvent(600.0, None, "heal", ""),
    TraceEvent(605.0, 1, "follower", "term=2"),
    TraceEvent(700.0, 3, "crash", "term=2"),
    TraceEvent(800.0, 3, "restart", "term=2 last=3"),
    TraceEvent(850.0, None, "isolate", "S2"),
]


def three_nodes_with_trace(time=900.0) -> ClusterSnapshot:
    nodes = [node(1, term=2), node(2, Role.LEADER, 2), node(3, term=2)]
    return snapshot(nodes, time, leader=2, trace=TRACE)


def test_role_segments_follow_the_trace():
    segs = [
        (s.node, s.start, s.end, s.role, s.term) for s in role_segments(three_nodes_with_trace())
    ]
    assert (1, 160.0, 605.0, "leader", 1) in segs
    assert (2, 510.0, 900.0, "leader", 2) in segs
    assert (3, 700.0, 800.0, "crashed", 0) in segs
    assert (3, 800.0, 900.0, "follower", 2) in segs


def test_leader_lane_shows_the_newest_leader_and_marks_the_deposed_one():
    segs = role_segments(three_nodes_with_trace())
    newest = [(p.node, p.start, p.end, p.term) for p in leader_periods(segs)]
    assert newest == [(1, 160.0, 510.0, 1), (2, 510.0, 900.0, 2)]
    # S1 led term 1 until 605 without knowing S2 leads term 2 from 510.
    assert stale_leadership(segs) == [(1, 510.0, 605.0)]


def test_fault_periods_replay_partitions_isolation_and_heal():
    periods = fault_periods(three_nodes_with_trace())
    assert [(p.start, p.end) for p in periods] == [(300.0, 600.0), (850.0, 900.0)]
    assert periods[0].cut == frozenset({(1, 2), (1, 3)})
    assert periods[1].cut == frozenset({(1, 2), (2, 3)}) and "S2 isolated" in periods[1].label


def test_draw_timeline_draws_roles_leader_bands_crashes_and_faults():
    ax = draw_timeline(three_nodes_with_trace())
    assert len(collection(ax, "role-leader").get_paths()) == 2
    assert len(collection(ax, "role-crashed").get_paths()) == 1
    bands = collection(ax, "leader-bands")
    assert [tuple(c) for c in bands.get_facecolors()] == [
        to_rgba(palette.term_color(1)),
        to_rgba(palette.term_color(2)),
    ]
    assert len(collection(ax, "stale-leader").get_paths()) == 1
    assert len(collection(ax, "faults").get_paths()) == 2
    assert sorted(labels(ax, "leader-label")) == ["S1 · term 1", "S2 · term 2"]
    with pytest.raises(ValueError, match="start < end"):
        draw_timeline(three_nodes_with_trace(), start=500, end=400)


# ----------------------------------------------------------------------------- messages


def test_draw_messages_draws_sent_messages_in_the_window_and_marks_lost_ones():
    log = [
        msg(1, 2, "RequestVote", 10, 15, term=1),
        msg(2, 1, "RequestVoteReply", 15, 19, term=1, success=True),
        msg(1, 3, "RequestVote", 10, 14, term=1, dropped=True),
        msg(1, 2, "AppendEntries", 30, 36, term=1, entries=2),
        msg(1, 2, "AppendEntries", 120, 125, term=1),  # outside the window
    ]
    wire = [msg(1, 3, "AppendEntries", 80, 95, term=1)]  # still on its way at t=90
    snap = snapshot(
        [node(1, Role.LEADER, 1), node(2, term=1), node(3, term=1)],
        90.0,
        wire,
        message_log=log,
        trace=TRACE[:4],
    )
    ax = draw_messages(snap, 0, 100)
    assert len(patches(ax, "message")) == 3
    assert all(a.get_alpha() in (None, 1.0) for a in patches(ax, "message"))
    assert len(patches(ax, "message-dropped")) == 1
    assert len([line for line in ax.lines if line.get_gid() == "drop-mark"]) == 1
    assert labels(ax, "entries-label") == ["+2"]
    (on_wire,) = patches(ax, "message-in-flight")
    assert on_wire.get_alpha() < 1
    assert "(5)" in ax.get_title()


def arrow_ends(arrow) -> tuple[tuple[float, float], tuple[float, float]]:
    """A FancyArrowPatch's two ends, in data coordinates."""
    return arrow._posA_posB


def test_draw_messages_draws_each_message_in_flight_up_to_the_snapshot_time():
    """The snapshot's in_flight messages appear, paler, their arrows ending where each
    message is at the snapshot's time; only those sent inside the window count."""
    wire = [
        msg(1, 3, "AppendEntries", 80, 100, term=1),  # half way at t=90
        msg(2, 1, "AppendEntriesReply", 86, 91, term=1, success=True),  # 4/5 of the way
        msg(1, 2, "AppendEntries", 40, 95, term=1),  # sent before the window
    ]
    snap = snapshot(
        [node(1, Role.LEADER, 1), node(2, term=1), node(3, term=1)], 90.0, wire, trace=TRACE[:4]
    )
    ax = draw_messages(snap, 50, 120)
    shown = patches(ax, "message-in-flight")
    assert len(shown) == len([m for m in snap.in_flight if 50 <= m.sent_at <= 120]) == 2
    assert patches(ax, "message") == []
    ends = sorted(arrow_ends(a) for a in shown)
    # Lanes: S1 at y=0, S2 at 1, S3 at 2.
    assert ends[0][0] == (80, 0.0) and ends[0][1] == pytest.approx((90.0, 1.0))
    assert ends[1][0] == (86, 1.0) and ends[1][1] == pytest.approx((90.0, 0.2))
    assert all(a.get_alpha() < 1 for a in shown)
    # The rest of each path, dotted, shows where and when it is due.
    rest = sorted(arrow_ends(a)[1] for a in patches(ax, "message-in-flight-rest"))
    assert rest == [(91, 0.0), (100, 2.0)]
    assert "(2)" in ax.get_title()


def lane_of(ax) -> dict[str, float]:
    """Lane label ("S3") -> its y, read from the picture itself."""
    return {
        line.get_label()[1:]: line.get_ydata()[0]
        for line in ax.lines
        if line.get_gid() == "lane-label"
    }


@pytest.mark.parametrize("n", [3, 5, 7])
def test_a_lost_message_is_never_marked_on_a_server_lane(n):
    """Every X sits between the sender's and the receiver's lanes and off every lane, so
    no third server looks like the one that lost it (S3 to S1 crosses S2's lane)."""
    lost = [
        msg(a, b, "AppendEntries", 10.0 * a, 10.0 * a + 8, term=1, dropped=True)
        for a in range(1, n + 1)
        for b in range(1, n + 1)
        if a != b
    ]
    lost += [msg(3, 1, "RequestVote", 5, 5, term=1, dropped=True)]  # lost at once
    nodes = [node(i, term=1) for i in range(1, n + 1)]
    ax = draw_messages(snapshot(nodes, 200.0, message_log=lost), 0, 200)
    marks = [line for line in ax.lines if line.get_gid() == "drop-mark"]
    stubs = patches(ax, "message-dropped")
    assert len(marks) == len(stubs) == len(lost)
    lanes = lane_of(ax)
    assert sorted(lanes) == sorted(f"S{i}" for i in range(1, n + 1))
    drawn = sorted(lost, key=lambda m: (m.sent_at, m.src, m.dst))  # the drawing order
    for m, mark, stub in zip(drawn, marks, stubs, strict=True):
        x, y = mark.get_xdata()[0], mark.get_ydata()[0]
        assert arrow_ends(stub)[1] == (x, y), "the X ends its own stub"
        y0, y1 = lanes[f"S{m.src}"], lanes[f"S{m.dst}"]
        assert min(y0, y1) < y < max(y0, y1)
        assert min(abs(y - lane) for lane in lanes.values()) >= 0.45, (m.src, m.dst, y)
        assert m.sent_at < x <= max(m.deliver_at, m.sent_at + 200 * 0.012)


# ----------------------------------------------------------------------------- history


def small_history() -> History:
    return History(
        [
            Operation(1, "set", "x", "1", call=0, ret=10),
            Operation(2, "get", "x", output="1", call=12, ret=20),
            Operation(3, "set", "x", "2", call=11, ret=30),  # after set x=1 returned
            Operation(1, "get", "x", output="1", call=31, ret=40),  # stale after set x=2 returned
            Operation(2, "delete", "x", call=42, ret=None),
        ]
    )


def test_draw_history_one_bar_per_operation_and_labels():
    h = small_history()
    ax = draw_history(h)
    assert len(patches(ax, "op")) == len(h) == 5
    texts = labels(ax, "op-label")
    assert "set x=1" in texts and "get x→1" in texts and "delete x" in texts
    assert labels(ax, "op-unknown") == ["?"]
    assert sorted(labels(ax, "client-label")) == ["client 1", "client 2", "client 3"]
    (unknown,) = [p for p in patches(ax, "op") if p.get_linestyle() == "--"]
    assert unknown.get_x() == 42


def test_draw_history_relaxed_reads_are_answered_reads_not_unknown_outcomes():
    """A relaxed read answered at once is a hatched bar at its call; one that got no reply
    (its server down, recorded with ret=None) is no "outcome unknown" either: a read
    changes nothing and the client knew at once, so no open bar and no "?"."""
    h = History(
        [
            Operation(1, "set", "x", "1", call=0, ret=10),
            Operation(2, "get", "x", output="1", call=12, ret=12, relaxed=True),
            Operation(3, "get", "x", call=20, ret=None, relaxed=True),  # its server was down
            Operation(1, "set", "x", "2", call=30, ret=40),
        ]
    )
    ax = draw_history(h)
    bars = patches(ax, "op")
    assert len(bars) == 4
    assert labels(ax, "op-unknown") == []
    assert all(p.get_linestyle() == "-" for p in bars)
    texts = labels(ax, "op-label")
    assert "get x→1 (relaxed)" in texts and "get x→no reply (relaxed)" in texts
    answered, refused = sorted((p for p in bars if p.get_hatch()), key=lambda p: p.get_x())
    assert (answered.get_x(), refused.get_x()) == (12, 20)
    assert refused.get_width() < 1 and answered.get_width() < 1  # instants, not open bars
    assert to_rgba(refused.get_facecolor())[:3] == (1.0, 1.0, 1.0)
    (key,) = [line for line in ax.lines if line.get_gid() == "key-labels"]
    rows = key.get_label()[1:].split("\n")
    assert "outcome unknown" not in rows
    assert "relaxed read (not checked)" in rows
    assert "relaxed read, no reply (its server was down)" in rows


def test_draw_history_highlights_the_operations_that_cannot_be_ordered():
    h = small_history()
    result = check(h)
    assert result.ok is False
    ax = draw_history(h, result)
    hot = patches(ax, "op-highlighted")
    assert len(hot) == len(result.operations) >= 2
    assert {(p.get_x(), p.get_x() + p.get_width()) for p in hot} == {
        (op.call, op.ret) for op in result.operations
    }
    assert all(to_rgba(p.get_edgecolor()) == to_rgba(palette.HIGHLIGHT_COLOR) for p in hot)
    assert "NOT linearizable" in ax.get_title()
    with pytest.raises(ValueError, match="empty"):
        draw_history([])


def test_draw_history_zooms_on_the_culprits_of_a_long_history():
    ops = [
        Operation(k % 4, "set", f"k{k}", str(k), call=10.0 * k, ret=10.0 * k + 5) for k in range(60)
    ]
    culprits = (
        Operation(7, "set", "x", "2", call=300, ret=304),
        Operation(8, "get", "x", output="1", call=306, ret=309),
    )
    ops += list(culprits)

    class Failed:
        ok = False
        key = "x"
        operations = culprits

    ax = draw_history(ops, Failed())
    lo, hi = ax.get_xlim()
    assert lo > 200 and hi < 400, "zoomed around 300-309"
    assert "zoomed" in ax.get_title()
    assert len(patches(ax, "op-highlighted")) == 2
    # Only operations that overlap the view are drawn.
    assert len(patches(ax, "op")) == len([o for o in ops[:60] if o.ret >= lo and o.call <= hi])
    full = draw_history(ops, Failed(), zoom=False)
    assert full.get_xlim()[0] < 10


# ----------------------------------------------------------------------------- real clusters


@pytest.fixture(scope="module")
def busy_cluster():
    from raftlab.cluster import Cluster

    c = Cluster(5, seed=3)
    c.wait_for_leader()
    for k in range(6):
        c.submit(f"cmd {k}".encode())
        c.run(4)
    return c


def test_real_cluster_message_arrows_match_in_flight(busy_cluster):
    snap = busy_cluster.snapshot()
    assert snap.in_flight, "the scenario should have messages on the wire"
    ax = draw_cluster(busy_cluster)
    assert len(patches(ax, "message")) == len(snap.in_flight)
    assert len(patches(ax, "node-")) == 5
    g = cluster_graph(busy_cluster)
    assert sum(len(d["messages"]) for _, _, d in g.edges(data=True)) == len(snap.in_flight)
    leader = busy_cluster.leader()
    assert g.nodes[leader]["role"] == "leader"


def test_real_cluster_partition_appears_in_graph_drawing_and_timeline():
    from raftlab.cluster import Cluster

    c = Cluster(5, seed=1)
    c.wait_for_leader()
    c.partition([1, 2], [3, 4, 5])
    c.run(50)
    g = cluster_graph(c)
    assert len([1 for _, _, d in g.edges(data=True) if d["kind"] == "cut"]) == 12
    ax = draw_cluster(c)
    assert len(collection(ax, "cut-links").get_segments()) == 6
    assert len(patches(ax, "group")) == 2
    c.heal()
    c.run(50)
    ax = draw_timeline(c)
    assert len(collection(ax, "faults").get_paths()) == 1
    assert collection(ax, "leader-bands") is not None


def test_real_cluster_logs_and_messages(busy_cluster):
    snap = busy_cluster.snapshot()
    ax = draw_logs(snap)
    solid = collection(ax, "log-committed")
    hatched = collection(ax, "log-uncommitted")
    total = sum(n.last_index for n in snap.nodes)
    shown = len(solid.get_paths()) + (len(hatched.get_paths()) if hatched else 0)
    assert shown == total
    ax = draw_messages(snap)
    window = [m for m in snap.message_log if snap.time - 200 <= m.sent_at <= snap.time]
    assert len(patches(ax, "message")) == len([m for m in window if not m.dropped])
    assert len(patches(ax, "message-dropped")) == len([m for m in window if m.dropped])
    assert len(patches(ax, "message-in-flight")) == len(snap.in_flight) > 0


def test_real_cluster_messages_in_flight_and_lost_when_the_leader_is_isolated():
    from raftlab.cluster import Cluster

    c = Cluster(5, seed=1)
    leader = c.wait_for_leader()
    c.run_until(lambda c: len(c.network.in_flight) >= 3, 500)
    wire = c.snapshot().in_flight
    c.isolate(leader)  # what was on the wire to or from the leader is lost on the way
    c.run(3)
    snap = c.snapshot()
    start = snap.time - 30
    ax = draw_messages(snap, start, snap.time + 10)
    now_wire = [m for m in snap.in_flight if start <= m.sent_at]
    assert len(patches(ax, "message-in-flight")) == len(now_wire)
    lost = [m for m in snap.message_log if m.dropped and m.sent_at >= start]
    assert {(m.src, m.dst, m.sent_at) for m in wire if leader in (m.src, m.dst)} <= {
        (m.src, m.dst, m.sent_at) for m in lost
    }
    marks = [line for line in ax.lines if line.get_gid() == "drop-mark"]
    assert len(marks) == len(lost) > 0
    lanes = lane_of(ax)
    for mark in marks:
        assert min(abs(mark.get_ydata()[0] - y) for y in lanes.values()) >= 0.45


def test_timeline_names_back_to_back_faults_in_a_second_label_row():
    # A second partition starting right after the first one's long label used to go
    # unnamed; it now gets a second row below the first.
    cluster = Cluster(5, seed=3)
    cluster.wait_for_leader()
    cluster.partition([1, 2], [3, 4, 5])
    cluster.run(100)
    cluster.partition([1, 2], [3, 4], [5])
    cluster.run(1000)
    ax = draw_timeline(cluster)
    assert labels(ax, "fault-label") == [
        "partition S1 S2 | S3 S4 S5",
        "partition S1 S2 | S3 S4 | S5",
    ]
    rows = {line.get_ydata()[0] for line in ax.lines if line.get_gid() == "fault-label"}
    assert len(rows) == 2
    plt.close(ax.figure)


def test_timeline_and_messages_draw_a_cluster_that_has_not_run_yet():
    # The dashboard's "timeline" and "messages" views can be opened at time 0.
    cluster = Cluster(5, seed=0)
    ax = draw_timeline(cluster)
    assert ax.get_xlim() == (0.0, 1.0)
    plt.close(ax.figure)
    ax = draw_messages(cluster)
    assert ax.get_xlim() == (0.0, 1.0)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="start < end"):
        draw_timeline(cluster, start=5, end=5)


def test_install_snapshot_is_drawn_in_the_message_diagram_and_in_flight():
    # A follower cut off while the leader compacted is sent a snapshot (§7, Figure 13):
    # its chunks and replies have their own style, and the legend names them.
    from raftlab.snapshot_scenarios import lagging_follower  # noqa: PLC0415

    c = lagging_follower(seed=4, threshold=10, chunk_bytes=64, writes=40)
    start = c.now
    c.run_until(lambda c: any(m.kind == "InstallSnapshot" for m in c.snapshot().in_flight), 1000)
    sent = c.now
    draw_cluster(c)  # a chunk in flight is drawn, not refused
    c.run(100)
    ax = draw_messages(c, start, sent + 40)
    chunk = palette.MESSAGE_STYLES["install_snapshot"]
    assert to_rgba(chunk["color"]) in {to_rgba(line.get_color()) for line in ax.lines}
    key = {to_rgba(line.get_color()) for line in ax.lines if line.get_gid() == "key"}
    reply = palette.MESSAGE_STYLES["snapshot_reply"]
    assert {to_rgba(chunk["color"]), to_rgba(reply["color"])} <= key  # both in the legend
    assert "InstallSnapshot reply" in ax._raftlab_key[0]
    plt.close("all")
