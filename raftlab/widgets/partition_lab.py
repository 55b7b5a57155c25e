"""``PartitionLab``: split the cluster into groups, propose, heal, and watch (chapter 4)."""

from __future__ import annotations

from collections.abc import Callable

from raftlab.cluster import Cluster
from raftlab.widgets.show import _cluster_figure, _show


def PartitionLab(cluster: Cluster):
    """Split the cluster into groups, propose commands, heal, and watch (chapter 4)."""
    import ipywidgets as w

    groups = {
        i: w.ToggleButtons(
            options=["A", "B", "C"], value="A", description=f"S{i}", style={"button_width": "32px"}
        )
        for i in cluster.ids
    }
    apply_b = w.Button(description="partition")
    heal_b = w.Button(description="heal")
    propose_b = w.Button(description="propose to each leader", layout=w.Layout(width="auto"))
    run_b = w.Button(description="run 200 ms")
    text, picture = w.Output(), w.Output()
    counter = [0]

    def refresh(mark: int) -> None:
        with text:
            text.clear_output(wait=True)
            for e in cluster.trace[mark:][-10:]:
                print(e)
        _show(picture, lambda: _cluster_figure(cluster, logs=True))

    def act(fn: Callable[[], None]) -> Callable[[object], None]:
        def handler(_) -> None:
            mark = len(cluster.trace)
            fn()
            refresh(mark)

        return handler

    def partition() -> None:
        by = {}
        for i, g in groups.items():
            by.setdefault(g.value, []).append(i)
        cluster.partition(*[by[k] for k in sorted(by)])

    def propose() -> None:
        from raftlab.roles import Role

        for i in cluster.ids:  # every node that believes it leads, stale ones included
            if i in cluster.alive and cluster.nodes[i].role is Role.LEADER:
                counter[0] += 1
                cluster.submit(f"cmd{counter[0]}".encode(), node=i)

    apply_b.on_click(act(partition))
    heal_b.on_click(act(cluster.heal))
    propose_b.on_click(act(propose))
    run_b.on_click(act(lambda: cluster.run(200)))
    refresh(len(cluster.trace))
    return w.VBox([*groups.values(), w.HBox([apply_b, heal_b, propose_b, run_b]), text, picture])
