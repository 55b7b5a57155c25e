"""Helpers every picture shares: accept a cluster or a snapshot, make Axes when none given."""

from __future__ import annotations

import re

from matplotlib.axes import Axes

from raftlab.snapshot import ClusterSnapshot, MessageView

# About the width of a Jupyter notebook cell at its default zoom.
NOTEBOOK_WIDTH = 9.5


def as_snapshot(x: object) -> ClusterSnapshot:
    """Return ``x`` if it is a ``ClusterSnapshot``, else ``x.snapshot()`` (for a ``Cluster``).

    Pictures draw from snapshots only, never from a live cluster's internals, so that the
    dashboard's time slider can draw the past exactly as it was.
    """
    if isinstance(x, ClusterSnapshot):
        return x
    snap = getattr(x, "snapshot", None)
    if callable(snap):
        result = snap()
        if isinstance(result, ClusterSnapshot):
            return result
    raise TypeError(
        f"expected a Cluster or a ClusterSnapshot, got {type(x).__name__}; "
        "pass the cluster itself or cluster.snapshot()"
    )


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax`` cleared for a fresh drawing, or new Axes on a new figure of ``figsize`` inches."""
    if ax is None:
        import matplotlib.pyplot as plt  # late: importing pyplot picks a backend

        _, ax = plt.subplots(figsize=figsize)
        return ax
    ax.clear()
    return ax


def progress(msg: MessageView, now: float) -> float:
    """How far along its path ``msg`` is at ``now``: 0 just sent, 1 about to arrive."""
    span = msg.deliver_at - msg.sent_at
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, (now - msg.sent_at) / span))


_TERM_RE = re.compile(r"\bterm=(\d+)")


def parse_term(detail: str) -> int | None:
    """The ``term=N`` in a trace event's detail, or ``None``."""
    m = _TERM_RE.search(detail)
    return int(m.group(1)) if m else None
