"""Planted bugs: classic Raft mistakes you can switch on to watch the safety checks catch them.

``Cluster(bugs={"figure8"})`` makes every node commit the named mistake.  Each one is a
single changed line in ``raftlab.node`` (search it for the bug's name).
"""

from __future__ import annotations

from collections.abc import Iterable

BUGS: dict[str, str] = {
    "figure8": "a leader commits an entry from an earlier term by counting replicas (§5.4.2, "
    "Figure 8)",
    "forget_vote": "voted_for is not persisted, so a restarted server can vote twice in one "
    "term (§5.2)",
    "no_log_check": "votes are granted without the up-to-date log check (§5.4.1)",
    "no_prev_check": "a follower appends entries without the prevLogIndex/prevLogTerm check (§5.3)",
}


def check_bugs(bugs: Iterable[str] | None) -> frozenset[str]:
    """Validate a collection of bug names."""
    if bugs is None:
        return frozenset()
    if isinstance(bugs, str):
        bugs = [bugs]  # a lone name is a common slip; accept it
    names = frozenset(bugs)
    unknown = sorted(n for n in names if n not in BUGS)
    if unknown:
        raise ValueError(
            f"unknown bug name(s) {', '.join(map(repr, unknown))}; "
            f"known bugs are: {', '.join(sorted(BUGS))}"
        )
    return names
