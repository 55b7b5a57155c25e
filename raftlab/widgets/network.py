"""The dashboard's network row: isolate, split, cut or connect one link, heal; loss and delay."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from raftlab.timetravel import Outcome, Session
from raftlab.widgets.controls import Act, button, node_choice, row, title


class NetworkControls(w.VBox):
    """Isolate a node, split a minority off, cut or connect one link, heal; loss and delay."""

    def __init__(self, act: Act, session: Session):
        ids = session.cluster.ids
        self._syncing = False
        self.isolate_node = node_choice(ids, ids[0])
        self.isolate = button("Isolate", "cut every link of this server", "warning")
        self.split = button(
            "Split", "partition a minority (with the leader) from the majority", "warning"
        )
        self.link_a = node_choice(ids, ids[0])
        self.link_b = node_choice(ids, ids[1] if len(ids) > 1 else ids[0])
        self.cut = button("Cut", "cut the link between the two servers", "warning")
        self.connect = button("Connect", "restore the link between the two servers")
        self.heal = button("Heal all", "everyone can talk again", "info")
        self.isolate.on_click(lambda _: act(lambda: session.isolate(self.isolate_node.value)))
        self.split.on_click(lambda _: act(session.split))
        self.cut.on_click(lambda _: act(lambda: session.cut(self.link_a.value, self.link_b.value)))
        self.connect.on_click(
            lambda _: act(lambda: session.connect(self.link_a.value, self.link_b.value))
        )
        self.heal.on_click(lambda _: act(session.heal))

        def slider(description: str, tooltip: str, width: str) -> w.FloatSlider:
            return w.FloatSlider(
                value=0.0,
                min=0.0,
                max=1.0,
                step=0.05,
                description=description,
                continuous_update=False,
                readout_format=".2f",
                tooltip=tooltip,
                layout=w.Layout(width=width),
            )

        self.loss = slider("loss", "probability that a message is lost", "210px")
        self.duplicate = slider("duplicate", "probability that a message arrives twice", "230px")
        self.delay = w.FloatRangeSlider(
            value=(2.0, 10.0),
            min=0.0,
            max=200.0,
            step=1.0,
            description="delay ms",
            continuous_update=False,
            readout_format=".0f",
            layout=w.Layout(width="280px"),
        )
        self.loss.observe(
            lambda ch: self._knob(act, lambda: session.set_drop_rate(ch.new)), "value"
        )
        self.duplicate.observe(
            lambda ch: self._knob(act, lambda: session.set_duplicate_rate(ch.new)), "value"
        )
        self.delay.observe(lambda ch: self._knob(act, lambda: session.set_delay(*ch.new)), "value")
        super().__init__(
            [
                row(
                    title("Network"),
                    self.isolate_node,
                    self.isolate,
                    self.split,
                    w.HTML("&nbsp; link"),
                    self.link_a,
                    self.link_b,
                    self.cut,
                    self.connect,
                    self.heal,
                ),
                row(title(""), self.loss, self.duplicate, self.delay),
            ]
        )

    def _knob(self, act: Act, call: Callable[[], Outcome]) -> None:
        if not self._syncing:
            act(call)

    def sync(self, session: Session) -> None:
        knobs = session.network()
        self._syncing = True
        try:
            self.loss.value = knobs["drop_rate"]
            self.duplicate.value = knobs["duplicate_rate"]
            self.delay.value = knobs["delay_ms"]
        finally:
            self._syncing = False
