"""``ReadLab``: write, cut the leader off, and read in each mode (chapter 9).

A writer and a reader share a cluster of key-value servers with leases on.  The reader
keeps taking the server it last reached for the leader, as a real client does, so after
**cut off the leader** its next read goes to a deposed leader: a relaxed read there is
stale, a read through the log, by ReadIndex or from a lease waits and finds the new
leader (raftlab.reads), unless a planted read bug is switched on.  After every read the
lab says whether the answer was stale and what the linearizability checker thinks.
"""

from __future__ import annotations

import ipywidgets as w

from raftlab.bugs import READ_BUGS
from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.history import READ_MODES
from raftlab.widgets.panes import FigureImage, TextPane, guarded, new_figure

# As in raftlab.reads.deposed_leader_read: an extreme drift bound, so that clocks at its
# edge make the difference between a correct lease and ``lease_ignores_drift`` visible.
LEASE_MS = 107
MAX_DRIFT = 0.4


class ReadLab(w.VBox):
    """**write x** (the next value, through the leader), **cut off the leader**, **read x**
    in the chosen mode, **heal**, **run 200 ms**; a planted read bug may be switched on."""

    def __init__(self, seed: int = 9, bug: str = ""):
        if bug != "" and bug not in READ_BUGS:
            raise ValueError(
                f"unknown read bug {bug!r}; use '' for none or one of "
                + ", ".join(sorted(READ_BUGS))
            )
        from raftlab.kv import KVClient, KVStateMachine

        bugs = (bug,) if bug else ()
        config = Config(lease_ms=LEASE_MS, max_drift=MAX_DRIFT)
        self.cluster = c = Cluster(5, seed, config=config, state_machine=KVStateMachine, bugs=bugs)
        self.writer = KVClient(c, attempt_ms=30)  # finds a new leader fast
        self.reader = KVClient(c)  # keeps its guess of the leader until it hears otherwise
        self.written: str | None = None  # the last value a write of x returned for
        self.written_at = -1.0
        self.mode = w.ToggleButtons(options=list(READ_MODES), value="read_index")
        self.write_button = w.Button(description="write x", button_style="primary")
        self.cut_button = w.Button(description="cut off the leader", button_style="warning")
        self.read_button = w.Button(description="read x", button_style="primary")
        self.heal_button = w.Button(description="heal")
        self.run_button = w.Button(description="run 200 ms")
        self.text = TextPane()
        self.picture = FigureImage()
        for b, act in [
            (self.write_button, self.write),
            (self.cut_button, self.cut),
            (self.read_button, self.read),
            (self.heal_button, self.heal),
            (self.run_button, self.run),
        ]:
            b.on_click(guarded(self.text, act))
        buttons = [
            self.write_button,
            self.cut_button,
            self.read_button,
            self.heal_button,
            self.run_button,
        ]
        self.text.show(
            f"t = {c.now:.2f} ms; bug: {bug or 'none'}; lease_ms={LEASE_MS:g}, "
            f"max_drift={MAX_DRIFT:g}. "
            "Write x, cut off the leader, write again, then read in each mode."
        )
        super().__init__([self.mode, w.HBox(buttons), self.text, self.picture])

    def _say(self, line: str, *, alarm: bool = False, note: str = "") -> None:
        self.text.show(f"t = {self.cluster.now:.2f} ms: {line}", note, alarm=alarm)

    def write(self) -> None:
        """Write x = the next whole number, through the leader's log."""
        value = str(int(self.written or 0) + 1)
        start = self.cluster.now
        self.writer.set("x", value)
        self.written, self.written_at = value, self.cluster.now
        took = self.cluster.now - start
        line = f"x = {value} written by S{self.writer.leader_guess} in {took:.2f} ms"
        if self.reader.leader_guess is None:
            # The reader reads it back once, and so learns who leads: the server it will
            # keep asking after the leader is cut off.
            self.reader.get("x", "read_index")
            line += f"; the reader read it back from S{self.reader.leader_guess}"
        self._say(line)
        self._draw()

    def cut(self) -> None:
        """Isolate the current leader; it goes on believing it leads."""
        leader = self.cluster.leader()
        if leader is None:
            raise ValueError("no leader right now, so there is nobody to cut off: run first")
        # Clocks at the edge of the drift bound first: the leader's slow, every other fast.
        # A heartbeat round on the new clocks renews the leader's lease.
        for i in self.cluster.ids:
            self.cluster.clock_drift(i, 1 - MAX_DRIFT if i == leader else 1 + MAX_DRIFT)
        self.cluster.run(60)
        self.cluster.isolate(leader)
        self._say(
            f"clocks drift at the edge of max_drift={MAX_DRIFT:g} (S{leader}'s runs "
            f"x{1 - MAX_DRIFT:g}, the others' x{1 + MAX_DRIFT:g}); then S{leader} is cut off "
            "from everyone and still believes it leads. "
            + (
                f"The reader still takes S{self.reader.leader_guess} for the leader."
                if self.reader.leader_guess is not None
                else "The reader has not read yet: write x first."
            )
        )

    def read(self) -> None:
        """Read x in the chosen mode and judge the answer."""
        from raftlab.kv import KeyNotFound
        from raftlab.linearizability import check

        if self.written is None:
            raise ValueError("write x first, so that a read has a value to return")
        if self.cluster.now <= self.written_at:
            # A read that starts the instant a write returns is concurrent with it; one
            # millisecond later it must see the write.
            self.cluster.run(1)
        mode, start = self.mode.value, self.cluster.now
        asked = self.reader.leader_guess
        try:
            value: str | None = self.reader.get("x", mode)
        except KeyNotFound:
            value = None
        took = self.cluster.now - start
        stale = value != self.written
        ok = check(self.cluster.history).ok
        line = (
            f"{mode} read of x, first sent to S{asked}, answered {value!r} by "
            f"S{self.reader.leader_guess} in {took:.2f} ms; the last write returned "
            f"{self.written!r}"
        )
        if mode == "relaxed":
            note = "relaxed reads are left out of the linearizability check"
        else:
            note = f"linearizable so far: {ok}"
        if stale:
            note = f"STALE READ: x is {self.written!r}, this read said {value!r}; {note}"
        self._say(line, alarm=stale, note=note)
        self._draw()

    def heal(self) -> None:
        self.cluster.heal()
        self._say("healed: every server can reach every other")

    def run(self) -> None:
        self.cluster.run(200)
        leader = self.cluster.leader()
        self._say("ran 200 ms; " + (f"S{leader} leads" if leader else "no leader yet"))

    def _draw(self) -> None:
        from raftlab.linearizability import check
        from raftlab.viz import draw_history

        fig = new_figure(9.5, 3.0)
        history = self.cluster.history
        draw_history(history, check(history), ax=fig.add_subplot())
        self.picture.show(fig)
