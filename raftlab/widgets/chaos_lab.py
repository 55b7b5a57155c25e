"""``ChaosLab``: run one chaos seed, with or without a planted bug, and look at it (chapter 7)."""

from __future__ import annotations

import ipywidgets as w

from raftlab.bugs import BUGS
from raftlab.widgets.panes import FigureImage, TextPane, guarded, new_figure

SEEDS = range(0, 10**6 + 1)
DURATIONS_MS = (2000, 5000, 10000)


def _check(seed: object, bug: object, duration_ms: object) -> None:
    """Refuse what the controls cannot hold, with a sentence (not traitlets' wording)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed not in SEEDS:
        raise ValueError(
            f"seed must be a whole number from {SEEDS.start} to {SEEDS.stop - 1:,}, got {seed!r}"
        )
    if bug != "" and bug not in BUGS:
        raise ValueError(
            f"unknown bug {bug!r}; use '' for none or one of {', '.join(sorted(BUGS))}"
        )
    if duration_ms not in DURATIONS_MS or isinstance(duration_ms, bool):
        raise ValueError(
            f"duration_ms must be one of {', '.join(map(str, DURATIONS_MS))} (simulated ms), "
            f"got {duration_ms!r}"
        )


def verdict(report) -> tuple[str, bool]:
    """The run's verdict in one sentence, and whether it is an alarm (shown red)."""
    if report.violation is not None:
        tail = (
            " The clients' history still checks as linearizable: the broken property did "
            "not reach any answer a client saw, but the cluster's state is wrong."
            if report.linearizable
            else ""
        )
        return f"SAFETY VIOLATION: {report.violation}.{tail}", True
    if report.linearizable is False:
        return "NOT LINEARIZABLE: no order of the operations explains what clients saw.", True
    if report.liveness is not None:
        return f"NO RECOVERY: {report.liveness}", True
    return "ok: no safety violation, and the history is linearizable", False


class ChaosLab(w.VBox):
    """Choose a seed, a planted bug and a duration; **run** it, or the **next seed**.

    Shows the verdict (red when something broke), what the nemesis injected, and the
    clients' history (the operations that cannot be ordered outlined in red, if any).
    """

    def __init__(self, seed: int = 0, bug: str = "", duration_ms: int = 5000):
        _check(seed, bug, duration_ms)
        self.seed = w.BoundedIntText(
            value=seed, min=SEEDS.start, max=SEEDS.stop - 1, description="seed"
        )
        self.bug = w.Dropdown(
            options=[("none", "")] + [(b, b) for b in sorted(BUGS)], value=bug, description="bug"
        )
        self.duration = w.Dropdown(options=list(DURATIONS_MS), value=duration_ms, description="ms")
        self.run_button = w.Button(description="run", button_style="primary")
        self.next_button = w.Button(description="next seed")
        self.text = TextPane()
        self.picture = FigureImage()
        self.report = None
        self.run_button.on_click(guarded(self.text, self.run))
        self.next_button.on_click(guarded(self.text, self.next_seed))
        self.run()
        super().__init__(
            [
                w.HBox([self.seed, self.bug, self.duration]),
                w.HBox([self.run_button, self.next_button]),
                self.text,
                self.picture,
            ]
        )

    def run(self) -> None:
        """Run the chosen seed and show what it found."""
        from raftlab.chaos import run as chaos_run
        from raftlab.viz import draw_history

        bugs = (self.bug.value,) if self.bug.value else ()
        report = chaos_run(self.seed.value, duration_ms=self.duration.value, bugs=bugs)
        self.report = report
        note, alarm = verdict(report)
        lines = [
            report.summary(),
            f"{report.ops_ok} operations answered, {report.ops_failed} unknown, "
            f"{report.relaxed_reads} relaxed reads; linearizable: {report.linearizable}",
            "faults: " + ", ".join(f"{k} {v}" for k, v in report.faults_by_kind.items() if v),
        ]
        if not report.ok:
            lines.append(f"replay: {report.replay_command}")
        self.text.show(lines, note, alarm=alarm)
        fig = new_figure(9.5, 4.2)
        draw_history(report.history, report.check, ax=fig.add_subplot())
        self.picture.show(fig)

    def next_seed(self) -> None:
        if self.seed.value >= SEEDS.stop - 1:
            raise ValueError(f"seed {self.seed.value:,} is the last one this lab runs")
        self.seed.value += 1
        self.run()
