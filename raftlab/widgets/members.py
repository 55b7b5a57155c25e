"""The dashboard's membership row: add a server, or remove one (thesis §4.1).

Like the other rows it only turns a click into one ``Session`` call; the cluster does the
rest (a new server joins as a learner and is promoted once caught up).
"""

from __future__ import annotations

import ipywidgets as w

from raftlab.timetravel import Session
from raftlab.widgets.controls import Act, button, title


class MemberControls(w.HBox):
    """A server id, and buttons to add it to or remove it from the configuration."""

    def __init__(self, act: Act, session: Session):
        ids = session.cluster.ids
        self.server = w.BoundedIntText(
            value=max(ids) + 1, min=1, max=99, layout=w.Layout(width="64px")
        )
        self.add = button("add", "add this server: a learner first, a voter once caught up")
        self.remove = button("remove", "remove this server from the configuration", "warning")
        self.members = w.HTML()
        self.add.on_click(lambda _: act(lambda: session.add_server(self.server.value)))
        self.remove.on_click(lambda _: act(lambda: session.remove_server(self.server.value)))
        super().__init__(
            [title("Members"), w.HTML("S"), self.server, self.add, self.remove, self.members],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.add_class("raftlab-members")

    def sync(self, session: Session) -> None:
        members = session.shown.members
        text = "" if members is None else str(members)
        self.members.value = f"<span style='font-size:12px'>&nbsp;{text}</span>"
