"""``RestartLab``: crash and restart servers one at a time; watch what survives (chapter 5)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from raftlab.cluster import Cluster
from raftlab.kv.commands import Command, Kind, encode_command
from raftlab.kv.state_machine import KVStateMachine
from raftlab.teaching import state_table
from raftlab.widgets.panes import FigureImage, TextPane, guarded, logs_figure


class RestartLab(w.VBox):
    """One button per server crashes it or restarts it from its storage (§5.1's stable
    state); **write** hands the leader a command; **run 100 ms** lets time pass.  Below:
    ``state_table`` (what is on disk, what is in memory) and the logs."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.toggles = {i: w.Button(layout=w.Layout(width="110px")) for i in cluster.ids}
        self.write_button = w.Button(description="write")
        self.run_button = w.Button(description="run 100 ms")
        self.text = TextPane()
        self.picture = FigureImage()
        self.writes = 0
        for i, b in self.toggles.items():
            b.on_click(guarded(self.text, self._acting(lambda i=i: self.toggle(i))))
        self.write_button.on_click(guarded(self.text, self._acting(self.write)))
        self.run_button.on_click(guarded(self.text, self._acting(self.run)))
        self.show(len(cluster.trace), "")
        super().__init__(
            [
                w.HBox([*self.toggles.values()]),
                w.HBox([self.write_button, self.run_button]),
                self.text,
                self.picture,
            ]
        )

    def _acting(self, act: Callable[[], str]) -> Callable[[], None]:
        def go() -> None:
            mark = len(self.cluster.trace)
            self.show(mark, act())

        return go

    def toggle(self, i: int) -> str:
        """Crash server ``i``, or restart it from what its storage holds."""
        if i in self.cluster.alive:
            self.cluster.crash(i)
            return f"crashed S{i}: its memory is gone, its storage stays"
        self.cluster.restart(i)
        return f"restarted S{i} from its storage"

    def write(self) -> str:
        """Hand the leader one command (``set kN=N`` on a key-value cluster)."""
        self.writes += 1
        k = self.writes
        sm = self.cluster.nodes[self.cluster.ids[0]].state_machine
        command = (
            encode_command(Command(Kind.SET, f"k{k}", str(k)))
            if isinstance(sm, KVStateMachine)
            else f"cmd{k}".encode()
        )
        p = self.cluster.submit(command)
        if p.done and p.error:
            return f"write #{k}: {p.error}"
        return f"write #{k}: index {p.index}"

    def run(self, ms: float = 100) -> str:
        """Let ``ms`` pass; when the trace stays empty, say why nothing showed."""
        mark = len(self.cluster.trace)
        self.cluster.run(ms)
        if len(self.cluster.trace) > mark:
            return ""
        if not self.cluster.alive:
            return f"{ms:g} ms passed: every server is down, so nothing happens until a restart"
        if self.cluster.leader() is None:
            lo, hi = self.cluster.config.election_timeout_ms
            return (
                f"{ms:g} ms passed and no leader yet: no election timer has fired (each "
                f"server waits a random {lo:g} to {hi:g} ms without hearing a leader first)"
            )
        return f"{ms:g} ms passed quietly: only heartbeats, which write no trace line"

    def show(self, mark: int, note: str) -> None:
        for i, b in self.toggles.items():
            up = i in self.cluster.alive
            b.description = f"crash S{i}" if up else f"restart S{i}"
            b.button_style = "" if up else "warning"
        lines = [f"t = {self.cluster.now:.2f} ms", state_table(self.cluster)]
        lines += [str(e) for e in self.cluster.trace[mark:][-8:]]
        self.text.show(lines, note)
        self.picture.show(logs_figure(self.cluster))
