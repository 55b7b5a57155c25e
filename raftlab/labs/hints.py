"""One hint per property that can fail: where in the paper the rule is, not what to write."""

from __future__ import annotations

from collections.abc import Iterable

HINTS: dict[str, str] = {
    "Election Safety": (
        "Two servers led the same term, so some server gave two votes in one term. "
        "Reread §5.2 and the RequestVote receiver in Figure 2: how many votes may a "
        "server give in one term, and what does votedFor remember? Find the two 'votes "
        "for' lines of that term in the story."
    ),
    "Leader Completeness": (
        "A leader lacks an entry that was already committed. Either a voter elected a "
        "candidate whose log was behind its own (§5.4.1: read the exact definition of "
        "'more up-to-date': what is compared first, and what decides a tie?), or an "
        "entry was counted as committed when it was not yet safe (§5.4.2 and Figure 8: "
        "which entries may a leader commit by counting replicas?)."
    ),
    "Log Matching": (
        "Two logs hold the same index and term but differ before it. §5.3: a follower "
        "accepts new entries only if its log holds an entry at prevLogIndex whose term "
        "is prevLogTerm. Which half of that sentence does your check test?"
    ),
    "State Machine Safety": (
        "Two servers applied different commands at the same index. Figure 2, "
        "AppendEntries receiver, step 5: up to where does one AppendEntries let a "
        "follower trust its own log? Entries past what the message vouched for may "
        "still be stale."
    ),
    "Leader Append-Only": (
        "A leader deleted or overwrote its own entries. §5.3: a leader never overwrites "
        "or deletes entries in its log; only followers repair theirs."
    ),
    "Liveness": (
        "The cluster stopped making progress where Raft makes it: an election that "
        "should be won was lost, or an entry never committed. A rule must say yes in "
        "every case the paper allows, not only no in the cases it forbids. Check the "
        "boundary cases (two logs exactly as up-to-date, an entry at exactly "
        "prevLogIndex, a bare majority)."
    ),
    "Linearizability": (
        "The clients saw results that no single order of their operations explains, so "
        "the servers disagreed about what was committed. Look for an entry that one "
        "server applied and another later overwrote (§5.4, §8)."
    ),
    "Exception": (
        "Your rule raised an exception instead of answering True or False (or an "
        "index). Log.term(i) and Log.entry(i) only accept 0 <= i <= last_index (term) "
        "or 1 <= i <= last_index (entry): check the bounds first, as the paper's "
        "'does not contain an entry at prevLogIndex' does."
    ),
}


#: When a read rule is being checked (lab 4), these replace the hints above: the logs are
#: fine, and what went wrong is which reads were served, and when.
READ_HINTS: dict[str, str] = {
    "Linearizability": (
        "A read returned an old value after a newer write had finished: the server that "
        "served it was no longer the leader, or did not yet know how far the log was "
        "committed. Reread §6.4 of Ongaro's thesis, the four steps of ReadIndex: what must "
        "the leader know about its own term's entries before it trusts its commit index, "
        "and which heartbeat round, answered by how many servers, proves it still leads? "
        "For a lease (§6.4.1): by whose clock does it run out? In the story, find the line "
        "where the stale read was served and ask what the leader knew at that moment."
    ),
    "Liveness": (
        "A read the paper's rules would serve never was. §6.4: a majority of the cluster "
        "(the leader counts itself) is enough; count again who may answer, and check the "
        "boundary case of a bare majority."
    ),
}


def hint(prop: str, rules: Iterable[str] = ()) -> str:
    """The hint for ``prop``; the reads' own when a read rule was being checked."""
    from raftlab.labs.read_scenarios import READ_RULES  # (it imports the whole simulator)

    if prop in READ_HINTS and set(READ_RULES) & set(rules):
        return READ_HINTS[prop]
    return HINTS.get(prop, "Reread Figure 2 of the paper for the rule you wrote.")
