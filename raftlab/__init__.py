"""raftlab: learn Raft by running it.

Start with ``raftlab.cluster`` (the simulated world), then ``raftlab.node`` (one Raft
server, the paper's Figure 2, with no I/O), then ``raftlab.invariants`` (the safety
properties checked after every event).

    >>> from raftlab import Cluster
    >>> cluster = Cluster(5, seed=42)
    >>> leader = cluster.wait_for_leader()
"""

from raftlab.bugs import BUGS
from raftlab.cluster import Cluster
from raftlab.config import Config
from raftlab.errors import (
    ConfigurationChangeRefused,
    LeadershipLost,
    NotLeader,
    RaftLabError,
    SafetyViolation,
    Timeout,
)
from raftlab.log import Entry, Log
from raftlab.membership import Configuration
from raftlab.messages import AppendEntries, AppendEntriesReply, RequestVote, RequestVoteReply
from raftlab.node import RaftNode
from raftlab.proposal import ApplyResult, Proposal
from raftlab.roles import Role
from raftlab.snapshot import ClusterSnapshot
from raftlab.trace import TraceEvent

__all__ = [
    "BUGS",
    "AppendEntries",
    "AppendEntriesReply",
    "ApplyResult",
    "Cluster",
    "ClusterSnapshot",
    "Config",
    "Configuration",
    "ConfigurationChangeRefused",
    "Entry",
    "LeadershipLost",
    "Log",
    "NotLeader",
    "Proposal",
    "RaftLabError",
    "RaftNode",
    "RequestVote",
    "RequestVoteReply",
    "Role",
    "SafetyViolation",
    "Timeout",
    "TraceEvent",
]
__version__ = "0.1.0"
