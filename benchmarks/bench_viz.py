"""How long one dashboard frame takes: draw_cluster + draw_logs into reused Axes, then render.

The dashboard's play mode redraws at 10 frames a second, so a frame must stay under 100 ms.
Run: ``.venv/bin/python benchmarks/bench_viz.py [--frames N] [--nodes N] [--seed N]``.
It draws snapshots of a real 5-node cluster under client load when ``raftlab.cluster``
works, else hand-made snapshots, and prints the mean and worst frame time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from raftlab.log import Entry  # noqa: E402
from raftlab.roles import Role  # noqa: E402
from raftlab.snapshot import ClusterSnapshot, MessageView, NodeView  # noqa: E402
from raftlab.viz import draw_cluster, draw_logs  # noqa: E402


def real_snapshots(nodes: int, frames: int, seed: int) -> list[ClusterSnapshot] | None:
    """Snapshots of a busy cluster, every 10 ms of simulated time, or None if no Cluster yet."""
    try:
        from raftlab.cluster import Cluster

        cluster = Cluster(nodes, seed=seed)
        cluster.wait_for_leader()
        snaps = []
        for k in range(frames):
            if k % 3 == 0:
                cluster.submit(f"cmd {k}".encode())
            cluster.run(10)
            snaps.append(cluster.snapshot())
        return snaps
    except Exception as exc:  # the cluster may still be under construction
        print(f"(no real cluster: {type(exc).__name__}: {exc}; using hand-made snapshots)")
        return None


def fake_snapshots(nodes: int, frames: int) -> list[ClusterSnapshot]:
    snaps = []
    for k in range(frames):
        length = 20 + k
        log = tuple(Entry(i, 1 + i // 10, None if i % 10 == 0 else b"x") for i in range(1, length))
        views = []
        for i in range(1, nodes + 1):
            role = Role.LEADER if i == 1 else Role.FOLLOWER
            views.append(
                NodeView(
                    i,
                    True,
                    role,
                    3,
                    1,
                    log[: length - i],
                    length - 6,
                    length - 6,
                    tuple((p, length - 2) for p in range(2, nodes + 1)),
                    tuple((p, length - 3) for p in range(2, nodes + 1)),
                    frozenset(),
                    None if i == 1 else 100.0 + k * 10 + 150,
                    200.0,
                )
            )
        flight = tuple(
            MessageView(
                1, p, "AppendEntries", 3, k * 10 + 95, k * 10 + 105, "AE 2 entries", None, 2
            )
            for p in range(2, nodes + 1)
        ) + tuple(
            MessageView(p, 1, "AppendEntriesReply", 3, k * 10 + 92, k * 10 + 102, "AE ok", True)
            for p in range(2, nodes + 1)
        )
        snaps.append(
            ClusterSnapshot(
                k * 10 + 100.0,
                k,
                tuple(views),
                flight,
                (frozenset(range(1, nodes + 1)),),
                frozenset(),
                1,
            )
        )
    return snaps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--clear",
        action="store_true",
        help="call ax.clear() before each frame, as a caller that does not trust redraws would",
    )
    args = ap.parse_args()
    snaps = real_snapshots(args.nodes, args.frames, args.seed) or fake_snapshots(
        args.nodes, args.frames
    )
    # The dashboard's layout: the cluster above, the logs below, one figure reused.
    fig, (ax_c, ax_l) = plt.subplots(
        2, 1, figsize=(9.5, 9.5), gridspec_kw={"height_ratios": [3, 2]}
    )
    fig.subplots_adjust(right=0.72, hspace=0.25)
    times, cpu = [], []
    for snap in [snaps[0], *snaps]:  # the first frame warms font caches and is not counted
        t0, c0 = time.perf_counter(), time.process_time()
        if args.clear:
            ax_c.clear()
            ax_l.clear()
        draw_cluster(snap, ax=ax_c)
        draw_logs(snap, ax=ax_l)
        fig.canvas.draw()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times, cpu = times[1:], cpu[1:]
    # CPU time is what the drawing costs; wall time also counts other processes on a busy
    # machine.
    print(
        f"{'ax.clear() + ' if args.clear else ''}draw_cluster + draw_logs + render, "
        f"{args.nodes} nodes, {len(times)} frames: "
        f"wall mean {statistics.mean(times):.1f} ms (median {statistics.median(times):.1f}, "
        f"max {max(times):.1f}); CPU mean {statistics.mean(cpu):.1f} ms "
        f"(median {statistics.median(cpu):.1f}, max {max(cpu):.1f})"
    )
    plt.close(fig)


if __name__ == "__main__":
    main()
