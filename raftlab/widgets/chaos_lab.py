"""``ChaosLab``: run one chaos seed, with or without a planted bug, and look at it (chapter 7)."""

from __future__ import annotations

from raftlab.widgets.show import _show


def ChaosLab(seed: int = 0, bug: str = "", duration_ms: int = 5000):
    """Run one chaos seed, with or without a planted bug, and look at it (chapter 7).

    Shows the report's verdict, what the nemesis injected, and the clients' history (the
    operations that cannot be ordered outlined in red, if the check found any).
    """
    import ipywidgets as w

    from raftlab.bugs import BUGS
    from raftlab.chaos import run as chaos_run
    from raftlab.viz import draw_history

    seed_w = w.BoundedIntText(value=seed, min=0, max=10**6, description="seed")
    bug_w = w.Dropdown(
        options=[("none", "")] + [(b, b) for b in sorted(BUGS)], value=bug, description="bug"
    )
    dur_w = w.Dropdown(options=[2000, 5000, 10000], value=duration_ms, description="ms")
    run_b = w.Button(description="run", button_style="primary")
    next_b = w.Button(description="next seed")
    text, picture = w.Output(), w.Output()

    def go(_=None) -> None:
        report = chaos_run(
            seed_w.value, duration_ms=dur_w.value, bugs=(bug_w.value,) if bug_w.value else ()
        )
        with text:
            text.clear_output(wait=True)
            print(report.summary())
            print(
                f"{report.ops_ok} operations answered, {report.ops_failed} unknown, "
                f"{report.relaxed_reads} relaxed reads; linearizable: {report.linearizable}"
            )
            print("faults:", ", ".join(f"{k} {v}" for k, v in report.faults_by_kind.items() if v))
            if not report.ok:
                print("replay:", report.replay_command)
        import matplotlib.pyplot as plt

        def draw():
            fig, ax = plt.subplots(figsize=(9.5, 4.2))
            draw_history(report.history, report.check, ax=ax)
            return fig

        _show(picture, draw)

    def step(_) -> None:
        seed_w.value += 1
        go()

    run_b.on_click(go)
    next_b.on_click(step)
    go()
    return w.VBox([w.HBox([seed_w, bug_w, dur_w]), w.HBox([run_b, next_b]), text, picture])
