"""What a chapter widget shows: a text pane, a picture, and a guard around each click.

Why not ``print`` and ``display(fig)`` inside an ``ipywidgets.Output``, as these widgets
once did: a button's callback runs outside any cell.  Every output message it sends is
copied to JupyterLab's log console (at level info), and one the front end cannot route
to a cell or an ``Output`` lands there as a warning.  A pyplot figure also belongs to
matplotlib's inline backend, whose post-execute hook (which ``comm`` runs around every
widget message) shows figures by itself: in JupyterLab each picture arrived a second
time while the kernel handled the page's follow-up message, after the ``Output`` had
stopped capturing, and was logged as a warning.

So a chapter widget only changes the *values* of its own widgets: text goes into an
``HTML`` pane, pictures into an ``Image`` as PNG bytes, drawn on a matplotlib ``Figure``
made without pyplot (as the dashboard's ``picture`` module does).  It sends no output
message at all, so none can stray; ``tests/test_browser.py`` checks the log console.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from html import escape

import ipywidgets as w
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from raftlab.cluster import Cluster
from raftlab.errors import RaftLabError

DPI = 90
_NOTE = "color:#1F3A5F;background:#EAF1FB"  # what a click did, or why it did nothing
_ALARM = "color:#FFFFFF;background:#C0392B;font-weight:bold"  # a violation, or a bug


def new_figure(width_in: float, height_in: float) -> Figure:
    """A matplotlib ``Figure`` with its own Agg canvas: no pyplot, no inline backend."""
    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


class FigureImage(w.Image):
    """A picture pane: ``show(fig)`` renders the figure to PNG and keeps it as ``figure``."""

    def __init__(self, width_in: float = 9.5):
        super().__init__(
            format="png",
            layout=w.Layout(width="100%", max_width=f"{int(width_in * DPI)}px", height="auto"),
        )
        self.figure: Figure | None = None

    def show(self, fig: Figure) -> None:
        buf = io.BytesIO()
        # "tight" as the inline backend does: labels that reach past the Axes stay in.
        fig.savefig(buf, format="png", bbox_inches="tight")
        self.figure = fig
        self.value = buf.getvalue()


class TextPane(w.HTML):
    """Monospaced text, with an optional coloured note above it; ``text`` is what it says."""

    def __init__(self):
        super().__init__()
        self.add_class("raftlab-pane")
        self.text = ""
        self.note = ""
        self.alarm = False

    def show(self, lines: list[str] | str, note: str = "", *, alarm: bool = False) -> None:
        self.text = lines if isinstance(lines, str) else "\n".join(lines)
        self.note, self.alarm = note, alarm
        head = ""
        if note:
            kind = "raftlab-alarm" if alarm else "raftlab-note"
            head = (
                f"<div class='{kind}' style='{_ALARM if alarm else _NOTE};padding:4px 8px;"
                f"border-radius:4px;margin:2px 0'>{escape(note)}</div>"
            )
        body = f"<pre style='line-height:1.25;margin:0'>{escape(self.text)}</pre>"
        self.value = head + (body if self.text else "")


def guarded(pane: TextPane, action: Callable[[], None]) -> Callable[[object], None]:
    """A click handler running ``action``; what it raises is said in ``pane``, not lost.

    An exception raised in a callback would never reach the cell: only the log console
    would see it.  A refusal from raftlab (``ValueError``, ``RaftLabError``) is its
    sentence; anything else is a bug in the widget, shown in red with its type.
    """

    def handler(_=None) -> None:
        try:
            action()
        except (ValueError, RaftLabError) as exc:
            pane.show(pane.text, str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the learner instead of lost
            pane.show(pane.text, f"the widget failed: {type(exc).__name__}: {exc}", alarm=True)

    return handler


def cluster_figure(cluster: Cluster, logs: bool) -> Figure:
    """The servers (and, with ``logs``, their logs beside them) at the cluster's now."""
    from raftlab.viz import draw_cluster, draw_logs

    snap = cluster.snapshot()
    if not logs:
        fig = new_figure(9.5, 5.6)
        draw_cluster(snap, ax=fig.add_subplot())
        return fig
    fig = new_figure(12, 4.6)
    # Lay the axes out *before* drawing: draw_cluster fits its limits to its axes' box, and
    # a layout pass afterwards would make matplotlib re-fit them and crop the picture.
    a, b = fig.subplots(1, 2, width_ratios=[1, 1.15])
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1, top=0.9, wspace=0.3)
    draw_cluster(snap, ax=a, legend=False)
    draw_logs(snap, ax=b, legend=False, window=12)
    return fig


def logs_figure(cluster: Cluster) -> Figure:
    """Every server's log at the cluster's now (chapter 5's picture)."""
    from raftlab.viz import draw_logs

    fig = new_figure(9.5, 4.4)
    draw_logs(cluster.snapshot(), ax=fig.add_subplot(), window=12)
    return fig
