"""``Stepper``: step a cluster one event at a time, each event explained (chapters 2, 3)."""

from __future__ import annotations

from raftlab.cluster import Cluster
from raftlab.errors import Timeout
from raftlab.teaching import explain_step, explain_until
from raftlab.widgets.show import _cluster_figure, _show


def Stepper(cluster: Cluster, logs: bool = False):
    """Step a cluster one event at a time, with each event explained (chapter 2)."""
    import ipywidgets as w

    step_b = w.Button(description="step one event")
    trace_b = w.Button(description="step to next trace line", layout=w.Layout(width="auto"))
    run_b = w.Button(description="run 50 ms")
    text, picture = w.Output(), w.Output()

    def refresh(lines: list[str]) -> None:
        with text:
            text.clear_output(wait=True)
            print("\n".join(lines[-12:]) if lines else f"t = {cluster.now:.2f} ms: nothing yet")
        _show(picture, lambda: _cluster_figure(cluster, logs))

    def on_step(_) -> None:
        s = explain_step(cluster)
        refresh([str(s)] if s else ["nothing left to happen"])

    def on_trace(_) -> None:
        mark = len(cluster.trace)
        try:
            steps = explain_until(cluster, lambda c: len(c.trace) > mark)
        except Timeout as exc:  # raised in a click handler, it would only reach the log
            refresh([f"t = {cluster.now:.2f} ms: no new trace line ({exc})"])
            return
        refresh([str(s) for s in steps])

    def on_run(_) -> None:
        mark = len(cluster.trace)
        cluster.run(50)
        refresh([str(e) for e in cluster.trace[mark:]] or [f"t = {cluster.now:.2f} ms: quiet"])

    step_b.on_click(on_step)
    trace_b.on_click(on_trace)
    run_b.on_click(on_run)
    refresh([])
    return w.VBox([w.HBox([step_b, trace_b, run_b]), text, picture])
