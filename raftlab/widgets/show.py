"""How the chapter widgets draw: a matplotlib picture redrawn inside an ``Output``."""

from __future__ import annotations

from collections.abc import Callable

from raftlab.cluster import Cluster


def _show(out, draw: Callable[[], object]) -> None:
    """Redraw a matplotlib picture inside an ``ipywidgets.Output``."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    with out:
        out.clear_output(wait=True)
        fig = draw()
        display(fig)
        plt.close(fig)


def _cluster_figure(cluster: Cluster, logs: bool):
    import matplotlib.pyplot as plt

    from raftlab.viz import draw_cluster, draw_logs

    snap = cluster.snapshot()
    if not logs:
        fig, ax = plt.subplots(figsize=(9.5, 5.6))
        draw_cluster(snap, ax=ax)
        return fig
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6), width_ratios=[1, 1.15])
    # Lay the axes out *before* drawing: draw_cluster fits its limits to its axes' box, and
    # a tight_layout afterwards made matplotlib re-fit them ("Ignoring fixed y limits"),
    # which zoomed and cropped the picture when a button redrew it.
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1, top=0.9, wspace=0.3)
    draw_cluster(snap, ax=a, legend=False)
    draw_logs(snap, ax=b, legend=False, window=12)
    return fig


def _logs_figure(cluster: Cluster):
    import matplotlib.pyplot as plt

    from raftlab.viz import draw_logs

    fig, ax = plt.subplots(figsize=(9.5, 4.4))
    draw_logs(cluster.snapshot(), ax=ax, window=12)
    return fig
