"""Why a cluster cannot elect a leader: a sentence for a learner (§5.2).

A candidate needs the votes of a majority of *all* servers, its own included, and a vote
can only come from a live server it can talk to.  ``why_no_leader`` checks exactly that,
so that a ``Timeout`` can say "only 2 of 5 servers are alive; an election needs 3 votes"
instead of leaving the learner to guess.
"""

from __future__ import annotations

from collections.abc import Callable, Collection


def majority(n: int) -> int:
    """The number of votes an election needs among ``n`` servers (§5.2)."""
    return n // 2 + 1


def why_no_leader(
    ids: Collection[int], alive: Collection[int], can_talk: Callable[[int, int], bool]
) -> str | None:
    """The reason no election can succeed, as a sentence, or ``None`` if one could.

    ``can_talk(a, b)`` says whether the network lets ``a`` and ``b`` exchange messages.
    A candidate counts its own vote and those of the live servers it can reach.
    """
    n, need = len(ids), majority(len(ids))
    live = sorted(alive)
    if len(live) < need:
        return (
            f"only {len(live)} of {n} servers are alive; an election needs {need} votes "
            f"(a majority of {n}), so no leader can be elected until enough servers restart"
        )
    best = max(sum(1 for b in live if can_talk(a, b)) for a in live)
    if best < need:
        return (
            f"{len(live)} of {n} servers are alive, but the network is cut so that no server "
            f"can reach more than {best} live server(s), itself included; an election needs "
            f"{need} votes, so no leader can be elected until the network heals"
        )
    return None


def why_no_commit(
    leader: int, ids: Collection[int], alive: Collection[int], can_talk: Callable[[int, int], bool]
) -> str | None:
    """Why ``leader`` cannot commit a new entry, as a sentence, or ``None`` if it could:
    an entry is committed once a majority stores it (§5.3), and a leader counts itself and
    the live servers it can reach."""
    n, need = len(ids), majority(len(ids))
    if leader not in alive:
        return f"S{leader} is down, so it cannot commit anything"
    reach = sum(1 for b in alive if can_talk(leader, b))
    if reach < need:
        return (
            f"S{leader} can reach only {reach} of {n} servers, itself included, and an entry "
            f"is committed once a majority ({need}) stores it"
        )
    return None
