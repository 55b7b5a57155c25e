"""The dashboard's picture: one matplotlib figure, reused for every frame, sent as a PNG.

Drawing into the same figure (no pyplot, so no inline backend and no figure left open)
and shipping PNG bytes to an ``ipywidgets.Image`` redraws without flicker, works the same
in a browser and in a headless test, and lets a test compare two frames byte for byte.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from raftlab import viz
from raftlab.snapshot import ClusterSnapshot

WIDTH_IN, HEIGHT_IN, DPI = 9.5, 4.6, 100  # 950 x 460 px: a JupyterLab cell's width


def _servers_and_logs(fig: Figure) -> list[Axes]:
    # The servers' labels reach past their Axes, and the log rows are labelled on the left:
    # two grids keep a gap for both.
    left = fig.add_gridspec(1, 1, left=0.0, right=0.48, bottom=0.02, top=0.98)
    right = fig.add_gridspec(1, 1, left=0.61, right=0.99, bottom=0.08, top=0.93)
    return [fig.add_subplot(left[0]), fig.add_subplot(right[0])]


def _draw_servers_and_logs(snap: ClusterSnapshot, axes: list[Axes]) -> None:
    viz.draw_cluster(snap, ax=axes[0], legend=False)
    axes[0].set_title("")  # the dashboard's status line says the time and the leader
    viz.draw_logs(snap, ax=axes[1], window=12, legend=False)
    # A long title ("... newest 12 of N indexes shown") runs left, over the row labels'
    # column, rather than off the figure's right edge.
    axes[1].title.set(fontsize=10.5, horizontalalignment="right", x=1.0)


def _one(fig: Figure) -> list[Axes]:
    # Room on the right for the legend these pictures draw outside their Axes.
    return [
        fig.add_subplot(fig.add_gridspec(1, 1, left=0.07, right=0.76, bottom=0.11, top=0.92)[0])
    ]


def _single(draw: Callable[..., Axes]) -> Callable[[ClusterSnapshot, list[Axes]], None]:
    def into(snap: ClusterSnapshot, axes: list[Axes]) -> None:
        draw(snap, ax=axes[0])

    return into


# name -> (how to make the Axes, how to draw a snapshot into them)
VIEWS: dict[
    str, tuple[Callable[[Figure], list[Axes]], Callable[[ClusterSnapshot, list[Axes]], None]]
] = {
    "servers and logs": (_servers_and_logs, _draw_servers_and_logs),
    "timeline": (_one, _single(viz.draw_timeline)),
    "messages": (_one, _single(viz.draw_messages)),
}


class Picture:
    """Renders a snapshot in one of the ``VIEWS`` to PNG bytes.

    The Axes are made once per view and reused: each picture clears the Axes it is given,
    which costs far less than making new ones, and fixed margins spare a layout pass.
    """

    def __init__(self, width: float = WIDTH_IN, height: float = HEIGHT_IN, dpi: int = DPI):
        self.figure = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(self.figure)
        self._view: str | None = None
        self._axes: list[Axes] = []

    def render(self, snap: ClusterSnapshot, view: str = "servers and logs") -> bytes:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
        make, draw = VIEWS[view]
        if view != self._view:
            self.figure.clear()
            self._axes, self._view = make(self.figure), view
        draw(snap, self._axes)
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png")
        return buf.getvalue()
