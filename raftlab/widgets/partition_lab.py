"""``PartitionLab``: split the cluster into groups, propose, heal, and watch (chapter 4)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from raftlab.cluster import Cluster
from raftlab.roles import Role
from raftlab.widgets.panes import FigureImage, TextPane, cluster_figure, guarded


class PartitionLab(w.VBox):
    """One A/B/C choice per server; **partition** makes each letter a group that hears
    only itself; **propose to each leader** hands a command to every server that believes
    it leads, stale ones included (§5.4); **heal** joins the groups; **run 200 ms**."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.groups = {
            i: w.ToggleButtons(
                options=["A", "B", "C"],
                value="A",
                description=f"S{i}",
                style={"button_width": "32px"},
            )
            for i in cluster.ids
        }
        self.partition_button = w.Button(description="partition")
        self.heal_button = w.Button(description="heal")
        self.propose_button = w.Button(
            description="propose to each leader", layout=w.Layout(width="auto")
        )
        self.run_button = w.Button(description="run 200 ms")
        self.text = TextPane()
        self.picture = FigureImage(12)
        self.proposed = 0
        for b, act in [
            (self.partition_button, self.partition),
            (self.heal_button, self.heal),
            (self.propose_button, self.propose),
            (self.run_button, self.run),
        ]:
            b.on_click(guarded(self.text, self._acting(act)))
        self.show(len(cluster.trace), "")
        buttons = [self.partition_button, self.heal_button, self.propose_button, self.run_button]
        super().__init__([*self.groups.values(), w.HBox(buttons), self.text, self.picture])

    def _acting(self, act: Callable[[], str]) -> Callable[[], None]:
        def go() -> None:
            mark = len(self.cluster.trace)
            self.show(mark, act())

        return go

    def partition(self) -> str:
        """Each letter chosen becomes one group of servers."""
        by: dict[str, list[int]] = {}
        for i, g in self.groups.items():
            by.setdefault(g.value, []).append(i)
        self.cluster.partition(*[by[k] for k in sorted(by)])
        if len(by) == 1:
            return "every server chose the same letter: one group, so nobody is cut off"
        return ""

    def heal(self) -> str:
        self.cluster.heal()
        return "healed: every server can reach every other"

    def propose(self) -> str:
        """A command to every live server that believes it leads, in id order."""
        leaders = [
            i
            for i in self.cluster.ids
            if i in self.cluster.alive and self.cluster.nodes[i].role is Role.LEADER
        ]
        for i in leaders:
            self.proposed += 1
            self.cluster.submit(f"cmd{self.proposed}".encode(), node=i)
        if not leaders:
            return "no live server believes it leads, so nothing was proposed: run first"
        return ""

    def run(self, ms: float = 200) -> str:
        self.cluster.run(ms)
        return ""

    def show(self, mark: int, note: str) -> None:
        lines = [str(e) for e in self.cluster.trace[mark:]][-10:]
        if not lines and not note:
            lines = [f"t = {self.cluster.now:.2f} ms: nothing new in the trace"]
        self.text.show(lines, note)
        self.picture.show(cluster_figure(self.cluster, logs=True))
