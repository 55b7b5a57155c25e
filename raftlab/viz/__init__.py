"""Pictures of a Raft cluster, drawn from immutable snapshots.

Start with ``draw_cluster(cluster)``: the servers, their roles and the messages on the wire.
Then ``draw_logs`` (who holds which entry, what is committed), ``draw_timeline`` (terms,
leaders, crashes and partitions over time), ``draw_messages`` (a space-time diagram of the
messages) and ``draw_history`` (client operations, and what makes a history
non-linearizable).  Every picture accepts a ``Cluster`` or a ``ClusterSnapshot``, takes
``ax=None`` (a new figure) or Axes to draw into, and returns the Axes.
"""

from raftlab.viz.common import as_snapshot
from raftlab.viz.graph import cluster_graph, draw_cluster
from raftlab.viz.history import draw_history, op_label
from raftlab.viz.logs import draw_logs
from raftlab.viz.timeline import (
    draw_messages,
    draw_timeline,
    fault_periods,
    leader_periods,
    role_segments,
    stale_leadership,
)

__all__ = [
    "as_snapshot",
    "cluster_graph",
    "draw_cluster",
    "draw_history",
    "draw_logs",
    "draw_messages",
    "draw_timeline",
    "fault_periods",
    "leader_periods",
    "op_label",
    "role_segments",
    "stale_leadership",
]
