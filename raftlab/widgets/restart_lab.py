"""``RestartLab``: crash and restart servers one at a time; watch what survives (chapter 5)."""

from __future__ import annotations

from raftlab.cluster import Cluster
from raftlab.teaching import state_table
from raftlab.widgets.show import _logs_figure, _show


def RestartLab(cluster: Cluster):
    """Crash and restart servers one at a time; watch what survives (chapter 5).

    One button per server crashes it or restarts it from its storage; **write** hands the
    leader a command; **run 100 ms** lets time pass.  Below: ``state_table`` and the logs.
    """
    import ipywidgets as w

    from raftlab.kv.commands import Command, Kind, encode_command
    from raftlab.kv.state_machine import KVStateMachine

    toggles = {i: w.Button(layout=w.Layout(width="110px")) for i in cluster.ids}
    write_b = w.Button(description="write")
    run_b = w.Button(description="run 100 ms")
    text, picture = w.Output(), w.Output()
    counter = [0]

    def refresh(mark: int, note: str = "") -> None:
        for i, b in toggles.items():
            up = i in cluster.alive
            b.description = f"crash S{i}" if up else f"restart S{i}"
            b.button_style = "" if up else "warning"
        with text:
            text.clear_output(wait=True)
            print(f"t = {cluster.now:.2f} ms  {note}".rstrip())
            print(state_table(cluster))
            for e in cluster.trace[mark:][-8:]:
                print(e)
        _show(picture, lambda: _logs_figure(cluster))

    def toggle(i: int):
        def handler(_) -> None:
            mark = len(cluster.trace)
            if i in cluster.alive:
                cluster.crash(i)
            else:
                cluster.restart(i)
            refresh(mark)

        return handler

    def write(_) -> None:
        mark = len(cluster.trace)
        counter[0] += 1
        k = counter[0]
        sm = cluster.nodes[cluster.ids[0]].state_machine
        command = (
            encode_command(Command(Kind.SET, f"k{k}", str(k)))
            if isinstance(sm, KVStateMachine)
            else f"cmd{k}".encode()
        )
        p = cluster.submit(command)
        note = f"write #{k}: " + (f"{p.error}" if p.done and p.error else f"index {p.index}")
        refresh(mark, note)

    def run(_) -> None:
        mark = len(cluster.trace)
        cluster.run(100)
        refresh(mark)

    for i, b in toggles.items():
        b.on_click(toggle(i))
    write_b.on_click(write)
    run_b.on_click(run)
    refresh(len(cluster.trace))
    return w.VBox([w.HBox([*toggles.values()]), w.HBox([write_b, run_b]), text, picture])
