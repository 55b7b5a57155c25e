"""The dashboard's client row: set key=value, a consensus get (through the log, by ReadIndex
or from the leader's lease), a relaxed get at one server."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import ipywidgets as w

from raftlab.timetravel import Outcome, Session
from raftlab.widgets.controls import Act, button, node_choice, title


class ClientControls(w.HBox):
    """A key-value client: set key=value, a consensus get, a relaxed get at one server."""

    def __init__(self, act: Act, session: Session):
        ids = session.cluster.ids
        self.key = w.Text(value="x", description="key", layout=w.Layout(width="140px"))
        self.value = w.Text(value="1", description="value", layout=w.Layout(width="140px"))
        self.set = button("Set", "write key=value through the leader's log", "primary")
        self.get = button("Get", "a linearizable read, served as the read mode says", "primary")
        # How Get is served (raftlab.reads): through the log, by ReadIndex (a heartbeat
        # round, thesis §6.4) or from the leader's lease (§6.4.1, if the cluster has one).
        modes = [("log", "log"), ("ReadIndex", "read_index")]
        if session.cluster.config.lease_ms:
            modes.append(("lease", "lease"))
        self.mode = w.Dropdown(
            options=modes,
            value="log",
            description="by",
            tooltip="log: a log entry and a commit; ReadIndex: one heartbeat round; "
            "lease: at once while the leader's lease holds",
            layout=w.Layout(width="150px"),
        )
        self.node = node_choice(ids, ids[0], "at")
        self.node.layout.width = "110px"
        self.relaxed = button("Relaxed get", "read this server's local copy: fast, maybe stale")
        self.answer = w.HTML(layout=w.Layout(margin="0 0 0 8px"))
        self.answer.add_class("raftlab-answer")

        def ask(call: Callable[[], Outcome]) -> None:
            self.show(act(call))

        self.set.on_click(
            lambda _: ask(lambda: session.client_set(self.key.value, self.value.value))
        )
        self.get.on_click(
            lambda _: ask(lambda: session.client_get(self.key.value, self.mode.value))
        )
        self.relaxed.on_click(
            lambda _: ask(lambda: session.relaxed_get(self.key.value, self.node.value))
        )
        self.key.style.description_width = self.value.style.description_width = "36px"
        self.node.style.description_width = "18px"
        self.mode.style.description_width = "18px"
        super().__init__(
            [
                title("Client"),
                self.key,
                self.value,
                self.set,
                self.get,
                self.mode,
                self.node,
                self.relaxed,
                self.answer,
            ],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )

    def show(self, outcome: Outcome) -> None:
        """The answer in short next to the buttons (the full message is shown below)."""
        if not outcome.ok:
            text = f"<span style='color:#B03A2E'>{escape(outcome.kind)}</span>"
        else:
            text = f"&rarr; <code>{escape(outcome.reply or '')}</code>"
        self.answer.value = text
