"""``Dashboard(cluster)``: run, break and rewind a simulated Raft cluster from a notebook.

The logic is in :class:`raftlab.timetravel.Session`; this module lays out the widgets and
wires each one to a session method (the jupyter-widgets tutorial's split of model and
view).  Every action goes through ``act``: call the session, show its ``Outcome``,
redraw.  Play is an ``ipywidgets.Play`` kept out of sight: the browser ticks it, and each
tick runs the cluster a few simulated milliseconds and redraws.  The browser sends the
next tick only once the kernel has handled the last one, so a slow frame never piles up.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import ipywidgets as w

from raftlab.cluster import Cluster
from raftlab.timetravel import Outcome, Session
from raftlab.widgets.client import ClientControls
from raftlab.widgets.controls import NodeControls, TimeControls
from raftlab.widgets.members import MemberControls
from raftlab.widgets.network import NetworkControls
from raftlab.widgets.picture import DPI, VIEWS, WIDTH_IN, Picture

_COLORS = {
    "ok": ("#1D4E2B", "#EEF7F0"),
    "error": ("#7A4A00", "#FFF4E0"),
    "violation": ("#FFFFFF", "#C0392B"),
}


class Dashboard(w.VBox):
    """Run, pause and step the cluster, break it, send client requests, slide through time.

    ``Dashboard(cluster)`` or ``Dashboard(session)``.  After acting in the past the
    dashboard drives a fork: ``dashboard.cluster`` is always the cluster shown live.
    """

    def __init__(
        self, cluster: Cluster | Session, *, trace_lines: int = 10, frame_interval_ms: int = 80
    ):
        self.session = cluster if isinstance(cluster, Session) else Session(cluster)
        self.trace_lines = trace_lines
        self.picture = Picture()
        self.image = w.Image(
            format="png",
            layout=w.Layout(width="100%", max_width=f"{int(WIDTH_IN * DPI)}px", height="auto"),
        )
        self.status = w.HTML()
        self.message = w.HTML()
        self.trace = w.HTML()
        self.view = w.ToggleButtons(
            options=list(VIEWS), value="servers and logs", style={"button_width": "130px"}
        )
        self.time = w.IntSlider(
            min=0,
            max=0,
            value=0,
            readout=False,
            continuous_update=True,
            description="time",
            layout=w.Layout(width="62%"),
        )
        self.time_label = w.HTML()
        self.player = w.Play(
            min=0, max=10**9, value=0, interval=frame_interval_ms, layout=w.Layout(display="none")
        )
        self.time_controls = TimeControls(self.act, self.session, self.set_playing)
        self.nodes = NodeControls(self.act, self.session)
        self.members = MemberControls(self.act, self.session)
        self.network = NetworkControls(self.act, self.session)
        self.client = ClientControls(self.act, self.session)
        self._seeking = False
        self.time.observe(self._on_time, "value")
        self.view.observe(lambda _: self.refresh(), "value")
        self.player.observe(self._on_tick, "value")
        super().__init__(
            [
                self.status,
                self.view,
                self.image,
                w.HBox([self.time, self.time_label], layout=w.Layout(align_items="center")),
                self.time_controls,
                self.nodes,
                self.members,
                self.network,
                self.client,
                self.message,
                self.trace,
                self.player,
            ],
            layout=w.Layout(max_width="980px"),
        )
        self.add_class("raftlab-dashboard")
        self.refresh()

    @property
    def cluster(self) -> Cluster:
        return self.session.cluster

    # --------------------------------------------------------------- acting

    def act(self, call: Callable[[], Outcome]) -> Outcome:
        """Run one session call, show what it did, and redraw."""
        outcome = call()
        self.show(outcome)
        if outcome.kind == "violation":
            self.set_playing(False)
        self.refresh()
        return outcome

    def show(self, outcome: Outcome) -> None:
        fg, bg = _COLORS[outcome.kind]
        text = escape(outcome.message)
        if outcome.kind == "violation" and outcome.violation is not None:
            name = escape(getattr(outcome.violation, "invariant", "safety"))
            text = f"<b>Safety violation: {name}</b><br>{text}"
        self.message.value = (
            f"<div class='raftlab-message raftlab-{outcome.kind}' style='"
            f"color:{fg};background:{bg};padding:6px 10px;border-radius:4px;"
            f"font-size:13px'>{text}</div>"
        )

    def set_playing(self, on: bool) -> None:
        """Start or stop play (the Play buttons call this)."""
        refused = self.session.blocked() if on else None
        if refused is not None:
            self.show(refused)  # e.g. paused at a safety violation: say so, do not play
            return
        self.player.playing = on
        self.time_controls.play.disabled = on

    def _on_tick(self, change) -> None:
        if self.player.playing:
            self.act(lambda: self.session.run(self.time_controls.speed.value))

    def _on_time(self, change) -> None:
        if not self._seeking:
            self.set_playing(False)
            self.session.seek(change.new)
            self.refresh()

    # ------------------------------------------------------------- drawing

    def refresh(self) -> None:
        """Redraw the moment shown and bring every control in line with it."""
        s = self.session
        snap = s.shown
        self.image.value = self.picture.render(snap, self.view.value)
        self.status.value = (
            f"<div class='raftlab-status' style='font-size:14px'><b>{escape(s.status())}</b></div>"
        )
        self._seeking = True
        try:
            self.time.max = len(s.recorder) - 1
            self.time.value = s.position
        finally:
            self._seeking = False
        where = "live" if s.live else "the past: acting here starts a new future"
        self.time_label.value = (
            f"<span style='font-size:12px'>event {snap.event_index} · "
            f"{snap.time:.2f} ms · {where}</span>"
        )
        lines = "\n".join(escape(line) for line in s.trace_tail(self.trace_lines))
        self.trace.value = (
            f"<pre class='raftlab-trace' style='font-size:11px;line-height:1.25;"
            f"margin:0'>{lines or '(no trace yet)'}</pre>"
        )
        self.nodes.sync(s)
        self.members.sync(s)
        self.network.sync(s)
