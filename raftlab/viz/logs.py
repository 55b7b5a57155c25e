"""Every server's log side by side: which entries agree, which are committed (§5.3, §5.4).

One row per server, one column per log index.  A cell's colour is the term the entry was
created in, so the Log Matching property (§5.3) shows as columns of one colour, and a
conflicting suffix a new leader will overwrite stands out.  Committed entries are solid,
uncommitted ones hatched and paler; a black bar marks each server's commit index.  For
the leader's followers, small triangles mark the leader's ``next_index`` (the next entry
it will send) and ``match_index`` (the last entry it knows the follower holds).
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from raftlab.membership import is_configuration
from raftlab.roles import Role
from raftlab.viz import palette
from raftlab.viz.common import (
    NOTEBOOK_WIDTH,
    as_snapshot,
    draw_key,
    draw_text,
    reset_axes,
    text_marker,
)

COMMITTED_HATCH = ""
UNCOMMITTED_HATCH = "////"
NOOP_MARK = "∅"
CONFIG_MARK = "C"  # marks a configuration entry (thesis §4.1)


def paler(color: str, amount: float = 0.5) -> tuple[float, float, float]:
    """``color`` mixed with white: ``amount`` 0 keeps it, 1 gives white."""
    r, g, b = to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def draw_logs(x: object, ax: Axes | None = None, *, window: int = 30, legend: bool = True) -> Axes:
    """Draw each server's log as a row of cells coloured by term.

    When the longest log has more than ``window`` entries, only the newest ``window``
    indexes are shown, and the title says so.  A new leader's no-op entry (§8) is marked
    with ``∅`` under its term, a configuration entry (a membership change, thesis §4.1)
    with ``C``; the row of a learner says so, and that of a server outside the committed
    configuration says ``outside``.
    with ``∅`` under its term.  A compacted prefix (§7) is one grey block, "snapshot",
    from index 1 (or the window's left edge) to the snapshot's last index.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 log index, got {window}")
    snap = as_snapshot(x)
    nodes = snap.nodes
    ax = reset_axes(ax, (NOTEBOOK_WIDTH, 1.9 + 0.5 * len(nodes)), "logs")
    leader = snap.node(snap.leader) if snap.leader is not None else None
    nxt = dict(leader.next_index) if leader is not None else {}
    match = dict(leader.match_index) if leader is not None else {}

    longest = max((n.last_index for n in nodes), default=0)
    hi = max(longest, 1)
    lo = max(1, hi - window + 1)
    right = hi + 1  # one spare column, where a nextIndex past the end is drawn

    # A pale band behind each row shows where entries could be.
    bands = [Rectangle((lo - 0.5, k - 0.46), right - lo + 1, 0.92) for k in range(len(nodes))]
    ax.add_collection(
        PatchCollection(
            bands,
            facecolors=["#F4F6F7" if n.alive else "#E3E3E3" for n in nodes],
            edgecolors="none",
            zorder=0,
        ),
        autolim=False,
    )

    solid, solid_colors, hatched, hatched_colors = [], [], [], []
    commit_bars = []
    labels: dict[tuple[str, bool], list[tuple[int, int]]] = {}
    blocks = []
    for k, n in enumerate(nodes):
        snap_index = getattr(n, "snapshot_index", 0)
        if snap_index >= lo:
            blocks.append((k, n, snap_index))
        for e in n.log[max(0, lo - 1 - snap_index) :]:
            cell = Rectangle((e.index - 0.45, k - 0.3), 0.9, 0.6)
            if e.index <= n.commit_index:
                solid.append(cell)
                solid_colors.append(palette.term_color(e.term))
            else:
                hatched.append(cell)
                hatched_colors.append(paler(palette.term_color(e.term)))
            label = f"{e.term}\n{NOOP_MARK}" if e.command is None else str(e.term)
            if is_configuration(e.command):
                label = f"{e.term}\n{CONFIG_MARK}"  # a membership change (§4.1)
            labels.setdefault((label, n.alive), []).append((e.index, k))
        if n.commit_index >= lo - 1:
            commit_bars.append([(n.commit_index + 0.5, k - 0.4), (n.commit_index + 0.5, k + 0.4)])
    if blocks:
        # The snapshot stands for every entry up to its index: one block, not cells (§7).
        cells = [Rectangle((lo - 0.45, k - 0.3), idx - lo + 0.9, 0.6) for k, _, idx in blocks]
        pc = PatchCollection(
            cells, facecolors="#D5D8DC", edgecolors="#4D4D4D", linewidths=0.9, zorder=2
        )
        pc.set_gid("log-snapshot")
        ax.add_collection(pc, autolim=False)
        for k, n, idx in blocks:
            width = idx - lo + 1
            text = (
                f"snapshot ≤{idx} (term {n.snapshot_term})"
                if width >= 6
                else (f"snap ≤{idx}" if width >= 3 else "S")
            )
            draw_text(ax, (lo + idx) / 2, k, text, 8.0, color="#1A1A1A" if n.alive else "#666666")
    if solid:
        pc = PatchCollection(
            solid, facecolors=solid_colors, edgecolors="#4D4D4D", linewidths=0.6, zorder=2
        )
        pc.set_gid("log-committed")
        ax.add_collection(pc, autolim=False)
    if hatched:
        pc = PatchCollection(
            hatched,
            facecolors=hatched_colors,
            edgecolors="#7F7F7F",
            linewidths=0.6,
            hatch=UNCOMMITTED_HATCH,
            zorder=2,
        )
        pc.set_gid("log-uncommitted")
        ax.add_collection(pc, autolim=False)
    # Each cell shows its term; one Line2D of text markers per distinct label keeps this fast.
    for (label, alive), pts in sorted(labels.items()):
        path, ms = text_marker(label, 8.5 if "\n" not in label else 7.5)
        xs, ys = zip(*pts, strict=True)
        ax.plot(
            xs,
            ys,
            ls="",
            marker=path,
            ms=ms,
            mew=0,
            color="#1A1A1A" if alive else "#666666",
            zorder=3,
            label=f"_cell {label}",
            gid="cell-labels",
        )
    if commit_bars:
        lc = LineCollection(commit_bars, colors="#111111", linewidths=3.0, zorder=4)
        lc.set_gid("commit-index")
        ax.add_collection(lc, autolim=False)

    # The leader's view of each follower (§5.3): nextIndex above the row, matchIndex below.
    if leader is not None:
        rows = {n.id: k for k, n in enumerate(nodes)}
        nx_pts = [
            (i, rows[p] - 0.36) for p, i in sorted(nxt.items()) if p in rows and lo <= i <= right
        ]
        mt_pts = [
            (i, rows[p] + 0.36) for p, i in sorted(match.items()) if p in rows and lo <= i <= right
        ]
        if nx_pts:
            xs, ys = zip(*nx_pts, strict=True)
            ax.plot(
                xs,
                ys,
                ls="",
                marker="v",
                ms=6,
                mfc="white",
                mec="#9A5B00",
                mew=1.6,
                zorder=5,
                gid="next-index",
            )
        if mt_pts:
            xs, ys = zip(*mt_pts, strict=True)
            ax.plot(
                xs,
                ys,
                ls="",
                marker="^",
                ms=6,
                color=palette.ROLE_EDGE[Role.LEADER],
                zorder=5,
                gid="match-index",
            )

    # Labels are text markers and the axis is off: tick labels are slow to draw.
    rows = len(nodes)
    for k, n in enumerate(nodes):
        color = palette.ROLE_EDGE[n.role] if n.alive else palette.DEAD_TEXT
        draw_text(
            ax,
            lo - 0.75,
            k,
            _member_label(snap, n) or _row_label(n),
            10,
            color=color,
            ha="right",
            bold=n.role == Role.LEADER and n.alive,
            gid="row-label",
        )
    step = 1 if right - lo <= 20 else 5
    for i in range(lo, right + 1):
        if i % step == 0 or step == 1:
            draw_text(ax, i, rows - 0.4, str(i), 8, color="#555555", va="top", gid="index-label")
    draw_text(
        ax,
        lo - 0.75,
        rows - 0.4,
        "index",
        8,
        color="#555555",
        ha="right",
        va="top",
        gid="index-label",
    )
    ax.set_xlim(lo - 0.6, right + 0.6)
    ax.set_ylim(rows + 0.05, -0.55)  # S1 on top, index numbers below the last row
    ax.set_axis_off()
    title = f"Logs at t = {snap.time:.1f} ms"
    if lo > 1:
        title += f" · newest {hi - lo + 1} of {hi} indexes shown"
    ax.set_title(title, fontsize=12, y=1.0)
    if longest == 0:
        draw_text(ax, (lo + right) / 2, (rows - 1) / 2, "every log is empty", 11, color="#777777")
    draw_key(ax, _key_entries(leader is not None) if legend else None, x=1.0, y=0.98)
    return ax


def _member_label(snap, n) -> str | None:
    """A live learner or server outside the configuration says so (thesis §4.1)."""
    from raftlab.viz.graph import membership_label

    label = membership_label(snap, n.id)
    if label is None or not n.alive:
        return None
    return f"S{n.id} {'learner' if label == 'learner' else 'outside'}"


def _row_label(n) -> str:
    if not n.alive:
        return f"S{n.id} crashed"
    return f"S{n.id} {n.role.value}"


def _key_entries(with_leader: bool) -> list[tuple[str, str, dict]]:
    sample = palette.TERM_COLORS[0]
    entries = [
        ("committed", "patch", {"facecolor": sample, "edgecolor": "#4D4D4D", "lw": 0.6}),
        (
            "not committed",
            "patch",
            {
                "facecolor": paler(sample),
                "edgecolor": "#7F7F7F",
                "hatch": UNCOMMITTED_HATCH,
                "lw": 0.6,
            },
        ),
        (
            "cell colour, number: term",
            "patch",
            {"facecolor": "white", "edgecolor": "#7F7F7F", "lw": 0.6},
        ),
        ("commit index", "line", {"color": "#111111", "lw": 3}),
    ]
    path, ms = text_marker(NOOP_MARK, 9)
    entries.append(
        ("no-op entry (§8)", "marker", {"marker": path, "ms": ms, "mew": 0, "color": "#1A1A1A"})
    )
    if with_leader:
        entries += [
            (
                "leader's nextIndex",
                "marker",
                {"marker": "v", "ms": 7, "mfc": "white", "mec": "#9A5B00", "mew": 1.6},
            ),
            (
                "leader's matchIndex",
                "marker",
                {"marker": "^", "ms": 7, "color": palette.ROLE_EDGE[Role.LEADER]},
            ),
        ]
    return entries
