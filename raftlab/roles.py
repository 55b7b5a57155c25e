"""The three roles a Raft server can be in (§5.1)."""

from enum import StrEnum


class Role(StrEnum):
    """A ``str`` enum, so ``Role.LEADER == "leader"``."""

    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"
