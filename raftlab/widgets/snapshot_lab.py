"""``SnapshotLab``: write until the logs compact, cut a follower off, heal, and watch the
leader send it a snapshot with ``InstallSnapshot`` (§7, Figure 13; chapter 10)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.kv.commands import Command, Kind, encode_command
from raftlab.kv.state_machine import KVStateMachine
from raftlab.widgets.panes import FigureImage, TextPane, guarded, logs_figure

#: The trace lines worth showing here: compaction, the snapshot sent, and its arrival.
SNAPSHOT_KINDS = ("snapshot", "snapshot-to", "installed", "leader")


class SnapshotLab(w.VBox):
    """A fresh three-server key-value cluster that snapshots every ``threshold`` applied
    entries and sends snapshots in chunks of ``chunk_bytes``.  **write 5** commits five
    SETs; **cut off a follower** isolates one (the button then says **heal**); **run
    200 ms** lets time pass.  Below: each server's snapshot and log, the trace lines about
    snapshots, how many ``InstallSnapshot`` chunks went out, and the logs with each
    snapshot drawn as one block."""

    def __init__(self, *, seed: int = 4, threshold: int = 5, chunk_bytes: int = 32):
        self.cluster = Cluster(
            3,
            seed,
            config=Config(snapshot_threshold=threshold, snapshot_chunk_bytes=chunk_bytes),
            state_machine=KVStateMachine,
        )
        self.cut: int | None = None
        self.writes = 0
        self.write_button = w.Button(description="write 5")
        self.cut_button = w.Button(description="cut off a follower")
        self.run_button = w.Button(description="run 200 ms")
        self.text = TextPane()
        self.picture = FigureImage()
        self.write_button.on_click(guarded(self.text, self._acting(self.write)))
        self.cut_button.on_click(guarded(self.text, self._acting(self.cut_or_heal)))
        self.run_button.on_click(guarded(self.text, self._acting(self.run)))
        self.show(0, "press run 200 ms until a leader appears, then write")
        super().__init__(
            [w.HBox([self.run_button, self.write_button, self.cut_button]), self.text, self.picture]
        )

    def _acting(self, act: Callable[[], str]) -> Callable[[], None]:
        def go() -> None:
            mark = len(self.cluster.trace)
            self.show(mark, act())

        return go

    def write(self, count: int = 5) -> str:
        """Commit ``count`` SETs through the leader (waiting for each, as ``Cluster.apply``)."""
        if self.cluster.leader() is None:
            return "no leader yet: press run 200 ms until one is elected"
        commands = []
        for _ in range(count):
            self.writes += 1
            k = self.writes
            commands.append(encode_command(Command(Kind.SET, f"k{k % 4}", str(k))))
        indexes = self.cluster.apply(commands)
        return f"wrote {count} SETs at indexes {indexes[0]}..{indexes[-1]}"

    def cut_or_heal(self) -> str:
        """Isolate the lowest-numbered follower, or heal the network if one is cut off."""
        if self.cut is not None:
            self.cluster.heal()
            cut, self.cut = self.cut, None
            self.cut_button.description = "cut off a follower"
            return f"healed: S{cut} hears from the leader again; run to see how it catches up"
        leader = self.cluster.leader()
        if leader is None:
            return "no leader yet, so no follower to cut off: press run 200 ms first"
        self.cut = min(i for i in self.cluster.ids if i != leader)
        self.cluster.isolate(self.cut)
        self.cut_button.description = f"heal S{self.cut}"
        return f"cut off S{self.cut}: write until the leader compacts past its log, then heal"

    def run(self, ms: float = 200) -> str:
        self.cluster.run(ms)
        return f"ran {ms:g} ms"

    def chunks(self) -> int:
        """``InstallSnapshot`` messages sent so far (each carries one chunk)."""
        return sum(1 for env in self.cluster.network.log if env.msg.kind == "InstallSnapshot")

    def status(self) -> list[str]:
        lines = [f"t = {self.cluster.now:.2f} ms"]
        leader = self.cluster.leader()
        for i, n in sorted(self.cluster.nodes.items()):
            role = "leader" if i == leader else ("cut off" if i == self.cut else "follower")
            log = n.log
            held = f"log {log.first_index}..{log.last_index}" if len(log) else "log empty"
            lines.append(
                f"S{i} {role:<8} snapshot <= {log.snapshot_index:>3} (term {log.snapshot_term}), "
                f"{held}, applied {n.last_applied}"
            )
        lines.append(f"InstallSnapshot chunks sent so far: {self.chunks()}")
        return lines

    def show(self, mark: int, note: str) -> None:
        events = [str(e) for e in self.cluster.trace[mark:] if e.kind in SNAPSHOT_KINDS]
        self.text.show(self.status() + events[-8:], note)
        self.picture.show(logs_figure(self.cluster))
