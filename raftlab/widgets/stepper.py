"""``Stepper``: step a cluster one event at a time, each event explained (chapters 2, 3)."""

from __future__ import annotations

import ipywidgets as w

from raftlab.cluster import Cluster
from raftlab.errors import Timeout
from raftlab.teaching import explain_step, explain_until
from raftlab.widgets.panes import FigureImage, TextPane, cluster_figure, guarded


class Stepper(w.VBox):
    """Three buttons: one event, up to the next trace line, or 50 ms; then the picture.

    Each button's work is a method (``step``, ``next_trace_line``, ``run``) that returns
    the lines to show, so it can be called, and tested, without a browser.
    """

    def __init__(self, cluster: Cluster, logs: bool = False):
        self.cluster, self.logs = cluster, logs
        self.step_button = w.Button(description="step one event")
        self.trace_button = w.Button(
            description="step to next trace line", layout=w.Layout(width="auto")
        )
        self.run_button = w.Button(description="run 50 ms")
        self.text = TextPane()
        self.picture = FigureImage(12 if logs else 9.5)
        self.step_button.on_click(guarded(self.text, lambda: self.show(self.step())))
        self.trace_button.on_click(guarded(self.text, lambda: self.show(self.next_trace_line())))
        self.run_button.on_click(guarded(self.text, lambda: self.show(self.run())))
        self.show([f"t = {cluster.now:.2f} ms: nothing yet"])
        buttons = w.HBox([self.step_button, self.trace_button, self.run_button])
        super().__init__([buttons, self.text, self.picture])

    def step(self) -> list[str]:
        """Process exactly the next event, explained (§5.2's messages and timers)."""
        s = explain_step(self.cluster)
        if s is None:
            return [f"t = {self.cluster.now:.2f} ms: nothing left to happen (every server is down)"]
        return [str(s)]

    def next_trace_line(self) -> list[str]:
        """Process events until one writes a trace line; each event explained."""
        mark = len(self.cluster.trace)
        try:
            steps = explain_until(self.cluster, lambda c: len(c.trace) > mark)
        except Timeout as exc:
            return [f"t = {self.cluster.now:.2f} ms: no new trace line ({exc})"]
        return [str(s) for s in steps]

    def run(self, ms: float = 50) -> list[str]:
        """Let ``ms`` of simulated time pass; the trace lines it wrote."""
        mark = len(self.cluster.trace)
        self.cluster.run(ms)
        new = [str(e) for e in self.cluster.trace[mark:]]
        return new or [f"t = {self.cluster.now:.2f} ms: quiet (no trace line in {ms:g} ms)"]

    def show(self, lines: list[str]) -> None:
        self.text.show(lines[-12:])
        self.picture.show(cluster_figure(self.cluster, self.logs))
