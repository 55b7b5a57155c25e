"""Time on the x axis: who led which term (§5.2), crashes, partitions, and every message.

``draw_timeline`` reads the trace: one lane per server coloured by its role over time, a
top lane with a band per leader and term, crashes as grey hatched stretches and network
faults (partitions, isolated servers, cut links) as red bands across every lane.

``draw_messages`` is a space-time diagram, as in Lamport's "Time, Clocks" paper: one lane
per server, one arrow per message from (sent, sender) to (delivered, receiver), so a
learner can follow an election or a round of AppendEntries message by message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.patches import FancyArrowPatch, Rectangle

from raftlab.roles import Role
from raftlab.snapshot import ClusterSnapshot, MessageView
from raftlab.viz import palette
from raftlab.viz.common import (
    NOTEBOOK_WIDTH,
    add,
    as_snapshot,
    draw_key,
    draw_text,
    parse_term,
    progress,
    reset_axes,
)

CRASHED = "crashed"
ROLE_KINDS = (Role.FOLLOWER.value, Role.CANDIDATE.value, Role.LEADER.value)
FAULT_COLOR = "#F5B7B1"


@dataclass(frozen=True, slots=True)
class Segment:
    """Server ``node`` was in ``role`` (or ``"crashed"``) at ``term`` from ``start`` to ``end``."""

    node: int
    start: float
    end: float
    role: str
    term: int


@dataclass(frozen=True, slots=True)
class FaultPeriod:
    """From ``start`` to ``end`` the links ``cut`` could not carry messages."""

    start: float
    end: float
    label: str
    cut: frozenset[tuple[int, int]]


def role_segments(x: object, end: float | None = None) -> list[Segment]:
    """Each server's roles over time, read from the trace (role changes, crashes, restarts).

    Every server starts a follower in term 0 at time 0 (§5.2).
    """
    snap = as_snapshot(x)
    end = snap.time if end is None else end
    state = {i: (0.0, Role.FOLLOWER.value, 0) for i in snap.ids}  # since, role, term
    out: list[Segment] = []

    def switch(i: int, t: float, role: str, term: int) -> None:
        since, old_role, old_term = state[i]
        if t > since:
            out.append(Segment(i, since, t, old_role, old_term))
        state[i] = (t, role, term)

    for e in snap.trace:
        if e.node not in state:
            continue
        term = e.term if e.term is not None else parse_term(e.detail)
        _, role, old_term = state[e.node]
        if e.kind in ROLE_KINDS:
            switch(e.node, e.time, e.kind, old_term if term is None else term)
        elif e.kind == "crash":
            switch(e.node, e.time, CRASHED, old_term)
        elif e.kind == "restart":
            switch(e.node, e.time, Role.FOLLOWER.value, old_term if term is None else term)
    for i in snap.ids:
        since, role, term = state[i]
        if end > since:
            out.append(Segment(i, since, end, role, term))
    return sorted(out, key=lambda s: (s.node, s.start))


_ID_RE = re.compile(r"S(\d+)")


def _groups_in(e) -> tuple[tuple[int, ...], ...]:
    """The servers a network event names, for traces written before events carried them
    (``TraceEvent.groups``)."""
    return tuple(tuple(int(m) for m in _ID_RE.findall(part)) for part in e.detail.split("|"))


def fault_periods(x: object, end: float | None = None) -> list[FaultPeriod]:
    """Stretches of time when some link was cut, read from the trace.

    Replays ``partition`` (cuts every link between groups), ``isolate`` (cuts a server's
    links), ``cut``/``connect`` (one link) and ``heal`` (every link back).
    """
    snap = as_snapshot(x)
    end = snap.time if end is None else end
    ids = snap.ids
    cut: frozenset[tuple[int, int]] = frozenset()
    since, label = 0.0, ""
    out: list[FaultPeriod] = []
    for e in snap.trace:
        if e.kind not in ("partition", "isolate", "cut", "connect", "heal"):
            continue
        named = e.groups if e.groups is not None else _groups_in(e)
        if e.kind == "partition":
            groups = [list(g) for g in named]
            group_of = {i: g for g, members in enumerate(groups) for i in members}
            new = frozenset(
                (a, b)
                for a in ids
                for b in ids
                if a < b and group_of.get(a, -1) != group_of.get(b, -2)
            )
            new_label = "partition " + " | ".join(" ".join(f"S{i}" for i in g) for g in groups if g)
        elif e.kind == "isolate":
            i = named[0][0] if named and named[0] else e.node
            new = cut | {(min(i, j), max(i, j)) for j in ids if j != i}
            new_label = f"S{i} isolated"
        elif e.kind in ("cut", "connect"):
            a, b = named[0][:2]
            link = (min(a, b), max(a, b))
            new = cut | {link} if e.kind == "cut" else cut - {link}
            new_label = f"link S{a}-S{b} cut" if e.kind == "cut" else label
        else:
            new, new_label = frozenset(), ""
        if cut and e.time > since:
            out.append(FaultPeriod(since, e.time, label, cut))
        cut, since = frozenset(new), e.time
        label = new_label if cut else ""
    if cut and end > since:
        out.append(FaultPeriod(since, end, label, cut))
    return out


def leader_periods(segments: list[Segment]) -> list[Segment]:
    """Who the newest leader was over time: at each instant, the leader with the highest
    term (a deposed leader may go on believing it leads until it hears of the new term)."""
    leaders = [s for s in segments if s.role == Role.LEADER.value]
    cuts = sorted({t for s in leaders for t in (s.start, s.end)})
    out: list[Segment] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        mid = (a + b) / 2
        live = [s for s in leaders if s.start <= mid < s.end]
        if not live:
            continue
        best = max(live, key=lambda s: (s.term, -s.node))
        if out and out[-1].node == best.node and out[-1].term == best.term and out[-1].end == a:
            out[-1] = Segment(best.node, out[-1].start, b, best.role, best.term)
        else:
            out.append(Segment(best.node, a, b, best.role, best.term))
    return out


def stale_leadership(segments: list[Segment]) -> list[tuple[int, float, float]]:
    """``(node, start, end)`` stretches when a server was leader of a term older than the
    newest leader's: it is deposed but does not know it yet (§5.1)."""
    newest = leader_periods(segments)
    out = []
    for s in segments:
        if s.role != Role.LEADER.value:
            continue
        for p in newest:
            a, b = max(s.start, p.start), min(s.end, p.end)
            if a < b and p.term > s.term:
                out.append((s.node, a, b))
    return out


def data_per_point(ax: Axes, span: float) -> float:
    """How many x data units one point of text covers, when the x axis spans ``span``."""
    fig = ax.get_figure()
    width_pt = ax.get_position().width * fig.get_figwidth() * 72
    return span / max(width_pt, 1.0)


def _window(snap: ClusterSnapshot, start: float | None, end: float | None, default: float):
    end_given = end is not None
    end = snap.time if end is None else float(end)
    start = max(0.0, end - default) if start is None else float(start)
    if not end > start and not end_given:
        # A cluster that has not run yet (time 0): show its first millisecond, empty,
        # rather than refuse; a dashboard's "timeline" view can be opened at once.
        end = start + 1.0
    if not end > start:
        raise ValueError(f"the time window must have start < end, got start={start}, end={end}")
    return start, end


def _style_time_axis(ax: Axes, start: float, end: float, rows: int) -> None:
    ax.set_xlim(start, end)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=9)
    ax.set_xlabel("simulated time (ms)", fontsize=10)


def _draw_faults(
    ax: Axes,
    snap: ClusterSnapshot,
    start: float,
    end: float,
    top: float,
    bottom: float,
    label_y: float,
    row_step: float,
) -> int:
    """Shade every fault period; label them in up to two rows.  Returns the rows used."""
    periods = [p for p in fault_periods(snap, end) if p.end > start and p.start < end]
    span = end - start
    rects = [
        Rectangle((max(p.start, start), top), min(p.end, end) - max(p.start, start), bottom - top)
        for p in periods
    ]
    if rects:
        pc = PatchCollection(rects, facecolors=FAULT_COLOR, edgecolors="none", alpha=0.45, zorder=0)
        pc.set_gid("faults")
        ax.add_collection(pc, autolim=False)
    # Labels go in the first of two rows where they do not run into the previous one, so
    # a fault that starts right after another one still gets its name.
    row_ends = [-float("inf")] * 2
    rows_used = 0
    for p in periods:
        x0 = max(p.start, start)
        row = next((r for r, e in enumerate(row_ends) if x0 >= e), None)
        if not p.label or row is None:
            continue
        draw_text(
            ax,
            x0 + span * 0.004,
            label_y + row * row_step,
            p.label,
            8,
            color="#A93226",
            ha="left",
            va="bottom",
            gid="fault-label",
        )
        row_ends[row] = x0 + span * (len(p.label) * 0.0075 + 0.01)
        rows_used = max(rows_used, row + 1)
    return rows_used


def _lane_labels(ax: Axes, snap: ClusterSnapshot, lanes: dict[int, float], x: float) -> None:
    for i, y in lanes.items():
        n = snap.node(i)
        color = palette.ROLE_EDGE[n.role] if n.alive else palette.DEAD_TEXT
        draw_text(ax, x, y, f"S{i}", 10, bold=True, color=color, ha="right", gid="lane-label")


def draw_timeline(
    x: object,
    ax: Axes | None = None,
    *,
    start: float | None = None,
    end: float | None = None,
    legend: bool = True,
) -> Axes:
    """Draw terms and leaders over time from the trace.

    One lane per server shows its role (follower, candidate, leader, crashed) and its term;
    the top lane has a band for each leader, coloured by its term as in ``draw_logs``.
    Red bands across every lane are network faults.  By default the whole run is shown.
    """
    snap = as_snapshot(x)
    start, end = _window(snap, start, end, default=snap.time)
    ids = snap.ids
    ax = reset_axes(ax, (NOTEBOOK_WIDTH, 1.9 + 0.42 * (len(ids) + 1)), "timeline")
    lanes = {i: float(k + 1) for k, i in enumerate(ids)}
    span = end - start
    segs = [s for s in role_segments(snap, end) if s.end > start and s.start < end]

    label_rows = _draw_faults(ax, snap, start, end, 0.5, len(ids) + 0.5, len(ids) + 0.55, 0.32)

    # Role bars, one PatchCollection per role so tests and legends can find them.
    heights = {"follower": 0.34, "candidate": 0.52, "leader": 0.6, CRASHED: 0.6}
    for role in ("follower", "candidate", "leader", CRASHED):
        rects = []
        for s in segs:
            if s.role != role:
                continue
            h = heights[role]
            x0, x1 = max(s.start, start), min(s.end, end)
            rects.append(Rectangle((x0, lanes[s.node] - h / 2), x1 - x0, h))
        if not rects:
            continue
        if role == CRASHED:
            pc = PatchCollection(
                rects,
                facecolors=palette.DEAD_FILL,
                edgecolors=palette.DEAD_EDGE,
                hatch="xx",
                linewidths=0.5,
                zorder=2,
            )
        else:
            pc = PatchCollection(
                rects,
                facecolors=palette.ROLE_COLORS[role],
                edgecolors=palette.ROLE_EDGE[role],
                linewidths=0.6,
                zorder=2,
            )
        pc.set_gid(f"role-{role}")
        ax.add_collection(pc, autolim=False)
    stale = [
        Rectangle((max(a, start), lanes[node] - 0.3), min(b, end) - max(a, start), 0.6)
        for node, a, b in stale_leadership(segs)
        if b > start and a < end
    ]
    if stale:
        pc = PatchCollection(
            stale,
            facecolors=palette.STALE_LEADER,
            edgecolors=palette.ROLE_EDGE[Role.LEADER],
            hatch="//",
            linewidths=0.6,
            zorder=2.5,
        )
        pc.set_gid("stale-leader")
        ax.add_collection(pc, autolim=False)

    # Each term a server enters is written once, in its first bar with room for it.
    per_pt = data_per_point(ax, span)
    labelled: dict[int, int] = {}
    for s in segs:
        x0, x1 = max(s.start, start), min(s.end, end)
        label = f"term {s.term}"
        room = (x1 - x0) > (len(label) * 4.6 + 6) * per_pt
        if labelled.get(s.node) != s.term and s.role != CRASHED and room:
            labelled[s.node] = s.term
            draw_text(
                ax,
                x0 + 3 * per_pt,
                lanes[s.node],
                label,
                7.5,
                color="white" if s.role == "leader" else "#1A1A1A",
                ha="left",
                gid="term-label",
            )

    # The leader lane: one band per leader and term.  A deposed leader that has not yet
    # heard of the newer term still thinks it leads; the lane shows the newest leader.
    bands, colors = [], []
    for p in leader_periods(segs):
        x0, x1 = max(p.start, start), min(p.end, end)
        bands.append(Rectangle((x0, -0.3), x1 - x0, 0.6))
        colors.append(palette.term_color(p.term))
        label = f"S{p.node} · term {p.term}"
        if (x1 - x0) > (len(label) * 5.2 + 8) * per_pt:
            draw_text(
                ax,
                (x0 + x1) / 2,
                0,
                label,
                8.5,
                color="#1A1A1A",
                gid="leader-label",
            )
    if bands:
        pc = PatchCollection(
            bands, facecolors=colors, edgecolors="#4D4D4D", linewidths=0.6, zorder=2
        )
        pc.set_gid("leader-bands")
        ax.add_collection(pc, autolim=False)

    _lane_labels(ax, snap, lanes, start - span * 0.012)
    draw_text(
        ax,
        start - span * 0.012,
        0,
        "leader",
        10,
        bold=True,
        color=palette.ROLE_EDGE[Role.LEADER],
        ha="right",
        gid="lane-label",
    )
    ax.axhline(0.5, color="#BBBBBB", lw=0.8, zorder=1)
    _style_time_axis(ax, start, end, len(ids))
    ax.set_ylim(len(ids) + 0.9 + 0.32 * max(0, label_rows - 1), -0.6)
    ax.set_title(f"Terms and leaders, {start:.0f} to {end:.0f} ms", fontsize=12, y=1.0)
    if legend:
        entries = [
            (
                role,
                "patch",
                {
                    "facecolor": palette.ROLE_COLORS[role],
                    "edgecolor": palette.ROLE_EDGE[role],
                    "lw": 0.6,
                },
            )
            for role in ("leader", "candidate", "follower")
        ]
        entries += [
            (
                CRASHED,
                "patch",
                {
                    "facecolor": palette.DEAD_FILL,
                    "edgecolor": palette.DEAD_EDGE,
                    "hatch": "xx",
                    "lw": 0.5,
                },
            ),
            (
                "network fault",
                "patch",
                {"facecolor": FAULT_COLOR, "alpha": 0.6, "edgecolor": "none"},
            ),
            (
                "deposed leader, unaware",
                "patch",
                {
                    "facecolor": palette.STALE_LEADER,
                    "edgecolor": palette.ROLE_EDGE[Role.LEADER],
                    "hatch": "//",
                    "lw": 0.6,
                },
            ),
            (
                "leader lane: colour = term",
                "patch",
                {"facecolor": palette.term_color(1), "edgecolor": "#4D4D4D", "lw": 0.6},
            ),
        ]
        draw_key(ax, entries, x=1.01, y=0.98)
    else:
        draw_key(ax, None)  # a key kept from the previous frame goes
    return ax


LOST_REACH = 0.35  # how far along its path a lost message is drawn, before rounding
IN_FLIGHT_ALPHA = 0.45


def lost_stub_end(m: MessageView, y0: float, y1: float, span: float) -> tuple[float, float]:
    """Where the stub of lost message ``m`` ends, at its X, on lanes one unit apart.

    About a third of the way along the path the message would have taken, rounded to the
    nearest point midway between two lanes: an X on a third server's line would read as
    that server losing it.  A message lost the moment it was sent (a cut link, a peer
    that is down) has no path in time, so it leans forward by ``span * 0.012`` to read as
    sent.  The X's time is only where the message would have been: the network does not
    record when, on its way, a message was lost.
    """
    gap = abs(y1 - y0)
    if gap == 0:
        return m.sent_at + span * 0.012, y0
    lanes_crossed = math.floor(gap * LOST_REACH) + 0.5  # never a whole number of lanes
    frac = lanes_crossed / gap
    tx = m.sent_at + max((m.deliver_at - m.sent_at) * frac, span * 0.012)
    return tx, y0 + (y1 - y0) * frac


def _draw_lost(ax: Axes, m: MessageView, y0: float, y1: float, span: float, st: dict) -> None:
    tx, ty = lost_stub_end(m, y0, y1, span)
    arrow = FancyArrowPatch(
        (m.sent_at, y0),
        (tx, ty),
        arrowstyle="-",
        color=st["color"],
        lw=st["lw"] * 0.8,
        ls=":",
        shrinkA=0,
        shrinkB=0,
        zorder=4,
    )
    arrow.set_gid("message-dropped")
    add(ax, arrow)
    ax.plot(
        [tx],
        [ty],
        ls="",
        marker="x",
        ms=7,
        mew=2,
        color=palette.DROPPED_COLOR,
        zorder=5,
        gid="drop-mark",
    )


def _draw_in_flight(ax: Axes, m: MessageView, y0: float, y1: float, now: float, st: dict) -> None:
    """A message on the wire at ``now``: a pale arrow from its sending to where it is now,
    then a faint dotted line on to where and when it is due (visible if the window goes
    past ``now``).  One sent at ``now`` exactly is drawn a tenth of the way, to be seen."""
    f = max(progress(m, now), 0.1)
    tip = (m.sent_at + (m.deliver_at - m.sent_at) * f, y0 + (y1 - y0) * f)
    arrow = FancyArrowPatch(
        (m.sent_at, y0),
        tip,
        arrowstyle="-|>",
        mutation_scale=11,
        color=st["color"],
        lw=st["lw"] * 0.75,
        ls=st["ls"],
        alpha=IN_FLIGHT_ALPHA,
        shrinkA=0,
        shrinkB=0,
        zorder=4,
    )
    arrow.set_gid("message-in-flight")
    add(ax, arrow)
    if f < 1:
        rest = FancyArrowPatch(
            tip,
            (m.deliver_at, y1),
            arrowstyle="-",
            color=st["color"],
            lw=st["lw"] * 0.5,
            ls=":",
            alpha=IN_FLIGHT_ALPHA * 0.6,
            shrinkA=0,
            shrinkB=0,
            zorder=3.5,
        )
        rest.set_gid("message-in-flight-rest")
        add(ax, rest)


def draw_messages(
    x: object,
    start: float | None = None,
    end: float | None = None,
    ax: Axes | None = None,
    *,
    legend: bool = True,
) -> Axes:
    """A space-time diagram of the messages sent between ``start`` and ``end`` (ms).

    One lane per server; an arrow from (sent, sender) to (delivered, receiver) per message,
    coloured by kind as in ``draw_cluster``.  A lost message is a dotted stub towards its
    receiver that stops at a red X between two lanes, never on one (``lost_stub_end``).
    Messages still in flight at the snapshot's time (``snapshot.in_flight``) are paler
    arrows that end where the message is at that time, then a faint dotted line on to
    their receiver and delivery time.  By default the window is the last 200 ms before
    the snapshot.
    """
    snap = as_snapshot(x)
    start, end = _window(snap, start, end, default=200.0)
    ids = snap.ids
    ax = reset_axes(ax, (NOTEBOOK_WIDTH, 1.6 + 0.55 * len(ids)), "messages")
    lanes = {i: float(k) for k, i in enumerate(ids)}
    span = end - start
    # Messages with a known fate, then those still on the wire at the snapshot's time.
    wire = [m for m in snap.in_flight if start <= m.sent_at <= end]
    on_wire = {id(m) for m in wire}
    msgs = [m for m in snap.message_log if start <= m.sent_at <= end] + wire

    for y in lanes.values():
        ax.plot([start, end], [y, y], color="#B0B7BF", lw=1.0, zorder=1)
    crashed = [
        s for s in role_segments(snap) if s.role == CRASHED and s.end > start and s.start < end
    ]
    for s in crashed:
        x0, x1 = max(s.start, start), min(s.end, end)
        r = Rectangle(
            (x0, lanes[s.node] - 0.12),
            x1 - x0,
            0.24,
            facecolor=palette.DEAD_FILL,
            edgecolor=palette.DEAD_EDGE,
            hatch="xx",
            lw=0.5,
            zorder=1,
        )
        r.set_gid("crashed")
        add(ax, r)
    label_rows = _draw_faults(ax, snap, start, end, -0.4, len(ids) - 0.6, -0.42, -0.3)

    # Role changes as small markers on the lanes: where elections start and end.
    for e in snap.trace:
        if e.node in lanes and start <= e.time <= end and e.kind in ("candidate", "leader"):
            role = Role(e.kind)
            ax.plot(
                [e.time],
                [lanes[e.node]],
                ls="",
                marker=palette.ROLE_MARKERS[role],
                ms=9,
                mfc=palette.ROLE_COLORS[role],
                mec=palette.ROLE_EDGE[role],
                mew=1.2,
                zorder=6,
                gid=f"became-{e.kind}",
            )

    label_entries = len(msgs) <= 60
    for m in sorted(msgs, key=lambda m: (m.sent_at, m.src, m.dst)):
        if m.src not in lanes or m.dst not in lanes:
            continue
        st = palette.MESSAGE_STYLES[palette.message_style_key(m)]
        y0, y1 = lanes[m.src], lanes[m.dst]
        if m.dropped:
            _draw_lost(ax, m, y0, y1, span, st)
            continue
        if id(m) in on_wire or m.deliver_at > snap.time:
            _draw_in_flight(ax, m, y0, y1, snap.time, st)
            continue
        arrow = FancyArrowPatch(
            (m.sent_at, y0),
            (m.deliver_at, y1),
            arrowstyle="-|>",
            mutation_scale=11,
            color=st["color"],
            lw=st["lw"] * 0.75,
            ls=st["ls"],
            shrinkA=0,
            shrinkB=0,
            zorder=4,
        )
        arrow.set_gid("message")
        add(ax, arrow)
        if label_entries and m.kind == "AppendEntries" and m.entries:
            draw_text(
                ax,
                (m.sent_at + m.deliver_at) / 2,
                (y0 + y1) / 2,
                f"+{m.entries}",
                8,
                color=st["color"],
                ha="left",
                va="bottom",
                gid="entries-label",
            )

    if snap.time < end:
        ax.axvline(snap.time, color="#555555", lw=1, ls="--", zorder=3)
    _lane_labels(ax, snap, lanes, start - span * 0.012)
    _style_time_axis(ax, start, end, len(ids))
    ax.set_ylim(len(ids) - 0.45, -0.7 - 0.3 * max(0, label_rows - 1))
    ax.set_title(
        f"Messages sent from {start:.0f} to {end:.0f} ms ({len(msgs)})", fontsize=12, y=1.0
    )
    if legend:
        entries = []
        # The fixed kinds, then any rarer kind drawn here (TimeoutNow, InstallSnapshot).
        drawn = {palette.message_style_key(m) for m in msgs}
        rare = [k for k in palette.MESSAGE_STYLES if k in drawn and k not in palette.MESSAGE_ORDER]
        for key in (*palette.MESSAGE_ORDER, *rare):
            st = palette.MESSAGE_STYLES[key]
            entries.append(
                (
                    st["label"],
                    "line",
                    {"color": st["color"], "lw": st["lw"] * 0.75, "ls": st["ls"], "arrow": True},
                )
            )
        entries.append(
            (
                "lost",
                "line",
                {
                    "color": "#777777",
                    "lw": 1.5,
                    "ls": ":",
                    "marker": "x",
                    "markevery": [1],
                    "ms": 7,
                    "mew": 2,
                    "mec": palette.DROPPED_COLOR,
                },
            )
        )
        for role in (Role.CANDIDATE, Role.LEADER):
            entries.append(
                (
                    f"becomes {role.value}",
                    "marker",
                    {
                        "marker": palette.ROLE_MARKERS[role],
                        "ms": 9,
                        "mfc": palette.ROLE_COLORS[role],
                        "mec": palette.ROLE_EDGE[role],
                    },
                )
            )
        draw_key(ax, entries, x=1.01, y=0.98)
    else:
        draw_key(ax, None)  # a key kept from the previous frame goes
    return ax
