"""The cluster as a graph: who is leader, who votes, what is on the wire, who is cut off.

``cluster_graph`` gives the picture's facts as a ``networkx.DiGraph`` (handy for tests and
for your own drawings); ``draw_cluster`` draws them: servers on a circle, shaped and
coloured by role (§5.1), each with an election timer that empties as its deadline nears
(§5.2), messages as arrows placed along their path by how far they have travelled, and
partitions as cut links over shaded groups.
"""

from __future__ import annotations

import math

import networkx as nx
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.patches import Circle, FancyArrowPatch, Polygon, RegularPolygon, Wedge

from raftlab.roles import Role
from raftlab.snapshot import ClusterSnapshot, MessageView, NodeView
from raftlab.viz import palette
from raftlab.viz.common import (
    NOTEBOOK_WIDTH,
    add,
    as_snapshot,
    draw_key,
    draw_text,
    progress,
    reset_axes,
)


def cluster_graph(x: object) -> nx.DiGraph:
    """The cluster at one instant as a directed graph.

    Nodes are server ids with attributes ``name`` ("S1"), ``role``, ``term``,
    ``commit_index``, ``last_index``, ``alive``, ``voted_for`` and ``votes`` (a sorted
    tuple of the ids a candidate has votes from).

    Edges ``(src, dst)`` carry the messages in flight on that link, oldest first, in the
    attribute ``messages`` (a list of dicts with ``kind``, ``style``, ``label``, ``term``,
    ``sent_at``, ``deliver_at`` and ``progress`` from 0 just sent to 1 arriving).  The edge's
    own ``kind``, ``label`` and ``progress`` are those of its oldest message.  A link cut by
    a partition appears in both directions with ``cut=True`` and ``kind="cut"`` (a message
    still in flight on it stays listed in ``messages``: it will be lost).
    """
    snap = as_snapshot(x)
    g = nx.DiGraph(time=snap.time, leader=snap.leader, groups=snap.groups)
    for n in snap.nodes:
        g.add_node(
            n.id,
            name=f"S{n.id}",
            role=n.role,
            term=n.current_term,
            commit_index=n.commit_index,
            last_index=n.last_index,
            alive=n.alive,
            voted_for=n.voted_for,
            votes=tuple(sorted(n.votes)),
        )
    for m in sorted(snap.in_flight, key=lambda m: (m.sent_at, m.src, m.dst)):
        info = {
            "kind": m.kind,
            "style": palette.message_style_key(m),
            "label": m.label,
            "term": m.term,
            "sent_at": m.sent_at,
            "deliver_at": m.deliver_at,
            "progress": progress(m, snap.time),
        }
        if g.has_edge(m.src, m.dst):
            g.edges[m.src, m.dst]["messages"].append(info)
        else:
            g.add_edge(
                m.src,
                m.dst,
                kind=m.kind,
                label=m.label,
                progress=info["progress"],
                cut=False,
                messages=[info],
            )
    for a, b in sorted(snap.cut_links):
        for u, v in ((a, b), (b, a)):
            if g.has_edge(u, v):
                g.edges[u, v].update(kind="cut", cut=True)
            else:
                g.add_edge(u, v, kind="cut", label="cut", progress=None, cut=True, messages=[])
    return g


# ---------------------------------------------------------------------------------------
# Geometry.  Servers sit on the unit circle, S1 at the top, then clockwise.


def node_positions(ids: list[int]) -> dict[int, tuple[float, float]]:
    n = len(ids)
    return {
        i: (
            math.cos(math.pi / 2 - 2 * math.pi * k / n),
            math.sin(math.pi / 2 - 2 * math.pi * k / n),
        )
        for k, i in enumerate(ids)
    }


def _node_radius(n: int) -> float:
    if n <= 1:
        return 0.22
    chord = 2 * math.sin(math.pi / n)  # distance between neighbours on the unit circle
    return min(0.22, 0.2 * chord)


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (Andrew's monotone chain), counter-clockwise."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _padded_hull(centres: list[tuple[float, float]], pad: float) -> list[tuple[float, float]]:
    samples = 24
    pts = [
        (
            cx + pad * math.cos(2 * math.pi * s / samples),
            cy + pad * math.sin(2 * math.pi * s / samples),
        )
        for cx, cy in centres
        for s in range(samples)
    ]
    return _hull(pts)


# ---------------------------------------------------------------------------------------
# Drawing.


def _node_patch(n: NodeView, xy: tuple[float, float], r: float):
    if n.alive:
        face, edge, ls, lw = palette.ROLE_COLORS[n.role], palette.ROLE_EDGE[n.role], "-", 2.0
    else:
        face, edge, ls, lw = palette.DEAD_FILL, palette.DEAD_EDGE, "--", 2.0
    style = {"facecolor": face, "edgecolor": edge, "linestyle": ls, "linewidth": lw, "zorder": 5}
    if n.role == Role.LEADER:
        patch = RegularPolygon(xy, numVertices=6, radius=r * 1.1, orientation=math.pi / 6, **style)
    elif n.role == Role.CANDIDATE:
        patch = RegularPolygon(xy, numVertices=4, radius=r * 1.15, **style)
    else:
        patch = Circle(xy, r, **style)
    patch.set_gid(f"node-S{n.id}")
    return patch


def membership_label(snap: ClusterSnapshot, i: int) -> str | None:
    """``"learner"`` or ``"not a member"`` by the committed configuration (thesis §4.1);
    ``None`` for a voter."""
    members = snap.members
    if members is None or i in members.voters:
        return None
    return "learner" if i in members.learners else "not a member"


def _node_info(n: NodeView, cluster_size: int) -> str:
    lines = [f"term {n.current_term}", f"commit {n.commit_index} · last {n.last_index}"]
    if not n.alive:
        lines.insert(0, "crashed")
    elif n.role == Role.CANDIDATE:
        who = ",".join(f"S{v}" for v in sorted(n.votes))
        lines.append(f"votes {len(n.votes)}/{cluster_size}: {who}")
    elif n.role == Role.FOLLOWER and n.voted_for is not None:
        lines.append(f"voted for S{n.voted_for}")
    return "\n".join(lines)


def _timer_fraction(n: NodeView, now: float) -> float | None:
    """Share of the election timeout still to run, or None when no timer is running."""
    if not n.alive or n.election_deadline is None or n.election_timeout <= 0:
        return None
    return min(1.0, max(0.0, (n.election_deadline - now) / n.election_timeout))


def _key_entries() -> list[tuple[str, str, dict]]:
    entries: list[tuple[str, str, dict]] = []
    for role in (Role.LEADER, Role.CANDIDATE, Role.FOLLOWER):
        style = {
            "marker": palette.ROLE_MARKERS[role],
            "ms": 11,
            "mfc": palette.ROLE_COLORS[role],
            "mec": palette.ROLE_EDGE[role],
            "mew": 1.5,
        }
        entries.append((role.value, "marker", style))
    entries.append(
        (
            "crashed",
            "marker",
            {
                "marker": "o",
                "ms": 11,
                "mfc": palette.DEAD_FILL,
                "mec": palette.DEAD_EDGE,
                "mew": 1.5,
            },
        )
    )
    entries.append(("election timer left", "line", {"color": palette.TIMER_COLOR, "lw": 3}))
    for key in palette.MESSAGE_ORDER:
        st = palette.MESSAGE_STYLES[key]
        entries.append(
            (
                st["label"],
                "line",
                {"color": st["color"], "lw": st["lw"], "ls": st["ls"], "arrow": True},
            )
        )
    entries.append(
        (
            "cut link",
            "line",
            {
                "color": palette.CUT_COLOR,
                "lw": 1.5,
                "ls": "--",
                "marker": "x",
                "markevery": [1],
                "ms": 7,
                "mew": 2,
            },
        )
    )
    entries.append(
        ("partition group", "patch", {"facecolor": palette.GROUP_COLORS[0], "edgecolor": "#9AA5B1"})
    )
    return entries


def draw_cluster(x: object, ax: Axes | None = None, *, legend: bool = True) -> Axes:
    """Draw the servers, their roles, timers and the messages on the wire at one instant.

    - Shape and colour give the role (§5.1): hexagon leader, diamond candidate, circle
      follower; a crashed server is grey with a dashed outline.
    - Under each server: its term, commit index and last log index, and for a candidate
      the votes it holds (§5.2).
    - The ring around a follower or candidate is its election timer: it empties as the
      deadline nears; when it is gone the server starts an election (§5.2).
    - Arrows are messages in flight, drawn where they are along their way; each direction
      has its own lane so a request and its reply do not hide each other.
    - A cut link is a red dashed line with an X; during a partition each group that can
      still talk is shaded.
    """
    snap = as_snapshot(x)
    ax = reset_axes(
        ax,
        (NOTEBOOK_WIDTH, 6.2),
        "cluster",
        {"left": 0.01, "right": 0.74, "bottom": 0.01, "top": 0.93},
    )
    ids = snap.ids
    pos = node_positions(ids)
    r = _node_radius(len(ids))
    ring = r + 0.1  # the timer ring's outer radius
    by_id = {n.id: n for n in snap.nodes}

    # Partition groups, behind everything.
    if len(snap.groups) > 1:
        for k, group in enumerate(sorted(snap.groups, key=lambda g: min(g) if g else 0)):
            centres = [pos[i] for i in sorted(group) if i in pos]
            if not centres:
                continue
            poly = Polygon(
                _padded_hull(centres, ring + 0.16),
                closed=True,
                facecolor=palette.GROUP_COLORS[k % len(palette.GROUP_COLORS)],
                edgecolor="#9AA5B1",
                linewidth=1.2,
                zorder=0,
            )
            poly.set_gid("group")
            add(ax, poly)

    # Links: faint when healthy, red dashed with an X when cut.
    ok_links, cut_links, cut_marks = [], [], []
    for a_i, a in enumerate(ids):
        for b in ids[a_i + 1 :]:
            seg = (pos[a], pos[b])
            if (a, b) in snap.cut_links or (b, a) in snap.cut_links:
                cut_links.append(seg)
                cut_marks.append(((pos[a][0] + pos[b][0]) / 2, (pos[a][1] + pos[b][1]) / 2))
            else:
                ok_links.append(seg)
    if ok_links:
        ax.add_collection(
            LineCollection(ok_links, colors=palette.LINK_COLOR, linewidths=1.0, zorder=1),
            autolim=False,
        )
    if cut_links:
        lc = LineCollection(
            cut_links, colors=palette.CUT_COLOR, linewidths=1.5, linestyles="--", zorder=1
        )
        lc.set_gid("cut-links")
        ax.add_collection(lc, autolim=False)
        xs, ys = zip(*cut_marks, strict=True)
        ax.plot(xs, ys, ls="", marker="x", ms=9, mew=2.5, color=palette.CUT_COLOR, zorder=2)

    # Messages in flight; an AppendEntries carrying entries says how many.
    for m in sorted(snap.in_flight, key=lambda m: (m.sent_at, m.src, m.dst)):
        arrow = _message_arrow(m, pos, ring, snap.time)
        if arrow is None:
            continue
        add(ax, arrow)
        if m.kind == "AppendEntries" and m.entries:
            (x0, y0), (x1, y1) = arrow._posA_posB
            d = math.hypot(x1 - x0, y1 - y0) or 1.0
            nx_, ny_ = (y1 - y0) / d, -(x1 - x0) / d  # to the right of travel
            draw_text(
                ax,
                (x0 + x1) / 2 + nx_ * 0.1,
                (y0 + y1) / 2 + ny_ * 0.1,
                f"+{m.entries}",
                8.5,
                bold=True,
                color=arrow.get_edgecolor(),
                gid="entries-label",
            )

    # Servers, timers and labels.
    labels: list[tuple[float, float, tuple[float, float, float, float]]] = []
    for i in ids:
        n = by_id[i]
        cx, cy = pos[i]
        frac = _timer_fraction(n, snap.time)
        if frac is not None:
            add(ax, Wedge((cx, cy), ring, 0, 360, width=0.05, facecolor="#ECEFF1", lw=0, zorder=3))
            if frac > 0:
                color = palette.TIMER_COLOR if frac > 0.2 else palette.TIMER_LOW_COLOR
                w = Wedge(
                    (cx, cy),
                    ring,
                    90 - 360 * frac,
                    90,
                    width=0.05,
                    facecolor=color,
                    lw=0,
                    zorder=4,
                )
                w.set_gid(f"timer-S{i}")
                add(ax, w)
        patch = _node_patch(n, (cx, cy), r)
        member = membership_label(snap, i)
        if member is not None:
            patch.set_linestyle(":")  # a learner, or outside the configuration (§4.1)
            patch.set_alpha(0.55 if member == "not a member" else 0.8)
        add(ax, patch)
        text_color = palette.ROLE_TEXT[n.role] if n.alive else palette.DEAD_TEXT
        draw_text(ax, cx, cy, f"S{i}", 13, bold=True, color=text_color, gid=f"name-S{i}")
        # Facts about the server go outside the circle, away from the messages inside it.
        d = math.hypot(cx, cy) or 1.0
        ux, uy = cx / d, cy / d
        lx, ly = cx + ux * (ring + 0.06), cy + uy * (ring + 0.06)
        ha = "left" if ux > 0.35 else "right" if ux < -0.35 else "center"
        va = "bottom" if uy > 0.35 else "top" if uy < -0.35 else "center"
        info = draw_text(
            ax,
            lx,
            ly,
            _node_info(n, len(n.voters) or len(ids)) + (f"\n{member}" if member else ""),
            9.5,
            ha=ha,
            va=va,
            color="#222222" if n.alive else palette.DEAD_TEXT,
            gid=f"info-S{i}",
        )
        labels.append((lx, ly, info._text_extents))

    _fit_limits(ax, labels, list(pos.values()), ring + 0.18)
    ax.set_axis_off()
    # A fixed title position spares matplotlib measuring tick labels on every frame.
    ax.set_title(f"t = {snap.time:.1f} ms · {_leader_title(snap, by_id)}", fontsize=12, y=1.0)
    draw_key(ax, _key_entries() if legend else None, x=1.0, y=0.98)
    return ax


def _leader_title(snap: ClusterSnapshot, by_id: dict[int, NodeView]) -> str:
    """Who leads, for the title: the leader of the highest term, then the other live leaders.

    A leader of an older term that has not yet heard of the newer one is harmless: it can no
    longer commit (§5.1).  Two leaders of the *same* term break Election Safety (§5.2), which
    the title says outright rather than calling one of them stale.
    """
    if snap.leader is None:
        return "no leader"
    term = by_id[snap.leader].current_term
    others = [n for n in snap.nodes if n.alive and n.role == Role.LEADER and n.id != snap.leader]
    same = sorted([snap.leader] + [n.id for n in others if n.current_term == term])
    stale = [n for n in others if n.current_term != term]
    if len(same) > 1:
        count = {2: "two", 3: "three"}.get(len(same), str(len(same)))
        names = ", ".join(f"S{i}" for i in same[:-1]) + f" and S{same[-1]}"
        who = f"{count} leaders in term {term}: {names} (Election Safety violated)"
    else:
        who = f"leader S{snap.leader}, term {term}"
    if stale:
        # A leader cut off from the majority keeps believing it leads (§5.1, §6).
        who += "; " + ", ".join(f"S{n.id}" for n in stale) + " still thinks it leads"
    return who


def _fit_limits(
    ax: Axes,
    labels: list[tuple[float, float, tuple[float, float, float, float]]],
    centres: list[tuple[float, float]],
    pad: float,
) -> None:
    """Set equal-scale limits so every server (``pad`` around its centre) and every label
    fit the Axes box.

    Labels are sized in points and servers in data units, so the room labels need depends
    on the Axes' size: find the smallest scale ``s`` (data units per inch) at which each
    label's far edge stays inside, with the picture centred on the servers.
    """
    fig = ax.get_figure()
    box = ax.get_position()
    w = box.width * fig.get_figwidth() / 2  # half-sizes in inches
    h = box.height * fig.get_figheight() / 2
    xs, ys = [c[0] for c in centres], [c[1] for c in centres]
    mx, my = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    s = max((max(xs) - mx + pad) / w, (max(ys) - my + pad) / h)
    for x, y, (x0, y0, x1, y1) in labels:
        x, y = x - mx, y - my
        for pos, reach, half in ((x, x1, w), (-x, -x0, w), (y, y1, h), (-y, -y0, h)):
            room = half - reach / 72  # inches left for the data part
            if pos > 0 and room > 0.05:
                s = max(s, pos / room)
    s *= 1.03
    ax.set_xlim(mx - w * s, mx + w * s)
    ax.set_ylim(my - h * s, my + h * s)
    # Keep circles round if the figure is resized later.
    ax.set_aspect("equal", adjustable="datalim")


def _message_arrow(
    m: MessageView, pos: dict[int, tuple[float, float]], ring: float, now: float
) -> FancyArrowPatch | None:
    if m.src not in pos or m.dst not in pos or m.src == m.dst:
        return None
    (sx, sy), (dx, dy) = pos[m.src], pos[m.dst]
    length = math.hypot(dx - sx, dy - sy)
    ux, uy = (dx - sx) / length, (dy - sy) / length
    # Each direction gets its own lane, to the right of travel, like traffic.
    lane = 0.06
    ox, oy = uy * lane, -ux * lane
    start = ring + 0.04
    travel = length - 2 * start
    p = progress(m, now)
    half = 0.1  # half the arrow's length
    centre = start + half + p * max(0.0, travel - 2 * half)
    ax_, ay_ = sx + ox + ux * (centre - half), sy + oy + uy * (centre - half)
    bx_, by_ = sx + ox + ux * (centre + half), sy + oy + uy * (centre + half)
    st = palette.MESSAGE_STYLES[palette.message_style_key(m)]
    arrow = FancyArrowPatch(
        (ax_, ay_),
        (bx_, by_),
        arrowstyle="-|>",
        mutation_scale=16,
        color=st["color"],
        linewidth=st["lw"],
        linestyle=st["ls"],
        shrinkA=0,
        shrinkB=0,
        zorder=7,
    )
    arrow.set_gid("message")
    return arrow
