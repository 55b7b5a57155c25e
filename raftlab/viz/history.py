"""Client operations on a time axis: the picture that makes linearizability concrete.

Each operation is a bar from its call to its return, one row per client.  Linearizability
(Herlihy & Wing, 1990) asks for one order of all operations, each taking effect at a single
instant inside its bar, that explains every output.  When the checker finds a history that
has none, ``draw_history(history, result)`` highlights the few operations that cannot be
ordered, so the learner can look for the contradiction with their own eyes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from raftlab.viz import palette
from raftlab.viz.common import NOTEBOOK_WIDTH, add, draw_key, draw_text, reset_axes


def _short(v: Any, limit: int = 12) -> str:
    text = str(v)
    if text == "":
        return '""'  # an empty value must not look like a missing label
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unanswered_relaxed(op: Any) -> bool:
    """A relaxed read that got no reply: its server was down, and the client knew at once.

    It is recorded with ``ret=None`` but it is not an outcome nobody knows: a read changes
    nothing, and the client saw the refusal when it asked.  So it is drawn at its call, not
    as an open bar with a "?" (those are writes and consensus reads that may have happened).
    """
    return bool(getattr(op, "relaxed", False)) and op.ret is None


def _open(op: Any) -> bool:
    """The outcome is unknown: the bar runs on to the end of the history with a "?"."""
    return op.ret is None and not _unanswered_relaxed(op)


def op_label(op: Any) -> str:
    """A short label: ``set x=1``, ``get x→1``, ``cas x 1→2 ok``, ``get x→?`` (unknown)."""
    k = _short(op.key, 8)
    unknown = op.ret is None
    if op.op == "set":
        return f"set {k}={_short(op.value)}"
    if op.op == "get":
        if _unanswered_relaxed(op):
            return f"get {k}→no reply (relaxed)"
        out = "?" if unknown else "absent" if op.output is None else _short(op.output)
        return f"get {k}→{out}" + (" (relaxed)" if getattr(op, "relaxed", False) else "")
    if op.op == "delete":
        return f"delete {k}"
    if op.op == "cas":
        verdict = "?" if unknown else "ok" if op.output else "failed"
        return f"cas {k} {_short(op.expected, 6)}→{_short(op.value, 6)} {verdict}"
    if op.op == "append":
        tail = "" if op.output is None else f" →{_short(op.output)}"
        return f"append {k}+{_short(op.value)}{tail}"
    return f"{op.op} {k}"


def _client_order(c: Any) -> tuple:
    return (0, c, "") if isinstance(c, int) and not isinstance(c, bool) else (1, 0, str(c))


def draw_history(
    history: Iterable[Any],
    result: Any = None,
    ax: Axes | None = None,
    *,
    zoom: bool | None = None,
    legend: bool = True,
) -> Axes:
    """Draw each client's operations as bars from call to return.

    ``history`` is a ``History``, a list of ``Operation``, or a ``Cluster`` (its
    ``cluster.history``).  An operation whose outcome is unknown (``ret is None``) is
    drawn open-ended with a "?" up to the end of the history; a relaxed read is drawn
    hatched where it was answered, and a relaxed read that got no reply (its server was
    down, ``ret is None``) hatched and white at its call, since the client knew at once.
    If ``result`` is a failed linearizability ``CheckResult``, its ``operations`` (a set
    that no order can explain) are outlined in red and the rest fade; with ``zoom`` (by
    default, when there are more than 40 operations) the time axis shows just the stretch
    around them.  Labels are drawn where they have room; highlighted operations are
    always labelled.
    """
    if hasattr(history, "snapshot") and hasattr(history, "history"):
        history = history.history  # a Cluster: the history its clients recorded
    ops = list(history)
    if not ops:
        raise ValueError("the history is empty: there is nothing to draw")
    clients = sorted({op.client for op in ops}, key=_client_order)
    rows = {c: k for k, c in enumerate(clients)}
    ax = reset_axes(ax, (NOTEBOOK_WIDTH, 1.6 + 0.55 * len(clients)), "history")

    failed = result is not None and getattr(result, "ok", None) is False
    bad = list(getattr(result, "operations", ())) if failed else []

    def highlighted(op: Any) -> bool:
        return any(op is b or op == b for b in bad)

    t0 = min(op.call for op in ops)
    t1 = max(op.ret if op.ret is not None else op.call for op in ops)
    span = max(t1 - t0, 1e-9)
    right = t1 + span * 0.06  # where unknown outcomes trail off
    if zoom is None:
        zoom = bool(bad) and len(ops) > 40
    lo, hi = t0, right
    if zoom and bad:
        # Many operations: show the stretch of time around the ones that cannot be ordered.
        b0 = min(op.call for op in bad)
        b1 = max(op.ret if op.ret is not None else op.call for op in bad)
        pad = max((b1 - b0) * 0.35, span * 0.01)
        lo, hi = max(t0, b0 - pad), min(right, b1 + pad)
    view = max(hi - lo, 1e-9)
    # Data units per point of text, to keep labels from running into each other.
    per_pt = view / (NOTEBOOK_WIDTH * 0.72 * 72)
    h = 0.34

    def end_of(o: Any) -> float:
        return right if _open(o) else o.ret if o.ret is not None else o.call

    shown = [o for o in ops if o.call <= hi and end_of(o) >= lo]
    # Labels go above and below the bars, each only where it has room (red ones always).
    free: dict[tuple[Any, int], float] = {}
    order = sorted(shown, key=lambda o: (o.call, _client_order(o.client)))
    hot_ops = [o for o in order if highlighted(o)]
    for op in hot_ops + [o for o in order if not highlighted(o)]:
        y = rows[op.client]
        end = end_of(op)
        instant = end - op.call < view * 0.008
        width = max(end - op.call, view * 0.008)  # an instant operation stays visible
        hot = highlighted(op)
        color = palette.OP_COLORS.get(op.op, "#777777")
        alpha = 1.0 if (not failed or hot) else 0.3
        bar = Rectangle(
            (op.call, y - h / 2),
            width,
            h,
            facecolor=color if op.ret is not None else "white",
            edgecolor=palette.HIGHLIGHT_COLOR if hot else color,
            linewidth=3.0 if hot else 1.2,
            linestyle="--" if _open(op) else "-",
            alpha=alpha,
            hatch="///" if getattr(op, "relaxed", False) else None,
            zorder=5 if hot else 4 if instant else 3,  # instants drawn over longer bars
        )
        bar.set_gid("op-highlighted" if hot else "op")
        add(ax, bar)
        if _open(op) and right <= hi:
            draw_text(ax, right, y, "?", 11, bold=True, color=color, ha="left", gid="op-unknown")
        label = op_label(op)
        x = max(op.call, lo)
        width_label = len(label) * 8.5 * 0.6 * per_pt
        for side in (0, 1):
            if hot or free.get((op.client, side), -float("inf")) <= x:
                free[(op.client, side)] = x + width_label + 4 * per_pt
                draw_text(
                    ax,
                    x,
                    y - h / 2 - 0.04 if side == 0 else y + h / 2 + 0.04,
                    label,
                    8.5,
                    color=palette.HIGHLIGHT_COLOR
                    if hot
                    else "#222222"
                    if alpha == 1
                    else "#9A9A9A",
                    bold=hot,
                    ha="left",
                    va="bottom" if side == 0 else "top",
                    gid="op-label",
                )
                break

    for c, y in rows.items():
        draw_text(
            ax,
            lo - view * 0.015,
            y,
            f"client {c}",
            10,
            bold=True,
            color="#333333",
            ha="right",
            gid="client-label",
        )
    ax.set_xlim(lo - view * 0.01, hi + view * 0.03)
    ax.set_ylim(len(clients) - 0.35, -0.75)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelsize=9)
    ax.set_xlabel("time (ms)", fontsize=10)
    title = _title(ops, result)
    if lo > t0 or hi < right:
        title += f"\n(zoomed to {lo:g}–{hi:g} ms of {t0:g}–{t1:g})"
    ax.set_title(title, fontsize=12, y=1.0)
    if legend:
        entries = [
            (name, "patch", {"facecolor": col, "edgecolor": col})
            for name, col in palette.OP_COLORS.items()
            if any(op.op == name for op in ops)
        ]
        if any(_open(op) for op in ops):
            entries.append(
                (
                    "outcome unknown",
                    "patch",
                    {"facecolor": "white", "edgecolor": "#555555", "ls": "--"},
                )
            )
        if any(getattr(op, "relaxed", False) and op.ret is not None for op in ops):
            entries.append(
                (
                    "relaxed read (not checked)",
                    "patch",
                    {"facecolor": palette.OP_COLORS["get"], "hatch": "///", "edgecolor": "#333333"},
                )
            )
        if any(_unanswered_relaxed(op) for op in ops):
            entries.append(
                (
                    "relaxed read, no reply (its server was down)",
                    "patch",
                    {"facecolor": "white", "hatch": "///", "edgecolor": palette.OP_COLORS["get"]},
                )
            )
        if failed:
            entries.append(
                (
                    "cannot be ordered",
                    "patch",
                    {"facecolor": "white", "lw": 3, "edgecolor": palette.HIGHLIGHT_COLOR},
                )
            )
        draw_key(ax, entries, x=1.01, y=0.98)
    else:
        draw_key(ax, None)  # a key kept from the previous frame goes
    return ax


def _title(ops: list[Any], result: Any) -> str:
    n = f"{len(ops)} operation{'s' if len(ops) != 1 else ''}"
    if result is None:
        return f"History: {n}"
    ok = getattr(result, "ok", None)
    if ok is True:
        return f"History: {n}, linearizable"
    if ok is None:
        return f"History: {n}, the checker gave up"
    key = getattr(result, "key", None)
    k = len(getattr(result, "operations", ()))
    on = f" on key {key!r}" if key is not None else ""
    return f"History: {n}, NOT linearizable{on}: the {k} in red cannot be ordered"
