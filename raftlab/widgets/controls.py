"""The dashboard's rows of controls.  Each only turns a click into one ``Session`` call.

This module has the shared helpers, the time row and the servers row; the network row
is in ``network.py`` and the client row in ``client.py``.  Every row gets ``act``, the
dashboard's way of running a session method and showing its ``Outcome``; rows with
state have ``sync(session)`` to show the moment on display (the past, too) without
acting: a guard keeps those programmatic changes from reaching the cluster.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from raftlab.timetravel import Outcome, Session

Act = Callable[[Callable[[], Outcome]], Outcome]

SPEEDS = [1, 2, 5, 10, 20, 50, 100]  # simulated ms per animation frame


def button(description: str, tooltip: str, style: str = "", width: str = "auto") -> w.Button:
    return w.Button(
        description=description, tooltip=tooltip, button_style=style, layout=w.Layout(width=width)
    )


def title(text: str) -> w.HTML:
    return w.HTML(f"<b>{text}</b>", layout=w.Layout(width="72px"))


def row(*children: w.Widget) -> w.HBox:
    return w.HBox(list(children), layout=w.Layout(flex_flow="row wrap", align_items="center"))


def node_choice(ids: list[int], value: int, description: str = "") -> w.Dropdown:
    return w.Dropdown(
        options=[(f"S{i}", i) for i in ids],
        value=value,
        description=description,
        layout=w.Layout(width="76px"),
    )


class TimeControls(w.HBox):
    """Play, pause, step one event, run N ms, and the speed of play."""

    def __init__(self, act: Act, session: Session, on_play: Callable[[bool], None]):
        self.play = button("Play", "run the cluster continuously", "success", "72px")
        self.play.icon = "play"
        self.pause = button("Pause", "stop playing", "", "80px")
        self.pause.icon = "pause"
        self.play.add_class("raftlab-play")  # stable handles for browser tests
        self.pause.add_class("raftlab-pause")
        self.step = button("Step", "process exactly the next event", "", "64px")
        self.run = button("Run", "run the cluster for the milliseconds given", "", "56px")
        self.run_ms = w.BoundedIntText(
            value=100, min=1, max=100_000, step=50, layout=w.Layout(width="80px")
        )
        self.speed = w.SelectionSlider(
            options=[(f"{s} ms", s) for s in SPEEDS],
            value=5,
            description="per frame",
            readout=True,
            layout=w.Layout(width="260px"),
        )
        self.play.on_click(lambda _: on_play(True))
        self.pause.on_click(lambda _: on_play(False))
        self.step.on_click(lambda _: act(session.step))
        self.run.on_click(lambda _: act(lambda: session.run(self.run_ms.value)))
        super().__init__(
            [self.play, self.pause, self.step, self.run, self.run_ms, w.HTML("ms"), self.speed],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )


class NodeControls(w.HBox):
    """One button per server: crash it, or restart it when it is down."""

    def __init__(self, act: Act, session: Session):
        self.buttons: dict[int, w.Button] = {}
        self._act = act
        for i in session.cluster.ids:
            b = button(f"crash S{i}", "", "danger", "92px")
            b.on_click(lambda _, i=i: act(lambda: session.toggle(i)))
            self.buttons[i] = b
        super().__init__(
            [title("Servers"), *self.buttons.values()],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )

    def sync(self, session: Session) -> None:
        for n in session.shown.nodes:
            b = self.buttons.get(n.id)
            if b is None:  # a server added since (membership): give it a button too
                b = self.buttons[n.id] = button(f"crash S{n.id}", "", "danger", "92px")
                b.on_click(lambda _, i=n.id: self._act(lambda: session.toggle(i)))
                self.children = (*self.children, b)
            b.description = f"crash S{n.id}" if n.alive else f"restart S{n.id}"
            b.button_style = "danger" if n.alive else "success"
            b.tooltip = (
                f"stop S{n.id}; its term, vote and log survive on disk"
                if n.alive
                else f"start S{n.id} again from what it wrote to disk"
            )
