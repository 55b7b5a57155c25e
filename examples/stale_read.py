"""A stale read, shown: an isolated replica answers a relaxed read with an old value.

Run it with ``python examples/stale_read.py``.

The story
---------
1. Five servers run the key-value store.  A client writes ``x = old``, and every replica
   applies it.
2. The network cuts the leader off from everyone.  It does not know: it still believes it
   leads, because nothing has told it otherwise (§5.2: a leader only steps down when it
   sees a higher term).
3. The other four elect a new leader among themselves and the client writes ``x = new``
   there.  (The client first offers the write to the old leader, which accepts it but can
   never commit it; after ``attempt_ms`` without an answer the client tries the other
   servers, which point it to the new leader.  The session envelope makes that retry
   safe: the write takes effect once.)
4. A *relaxed* read of the old leader answers from its own state machine: ``old``.  A
   *consensus* read goes through the log like a write, so it is ordered after the write
   of ``new`` and answers ``new``.

The relaxed read returned a value that had already been overwritten before the read was
even asked: no order of the operations explains it, so it is not linearizable.  That is
why the history records relaxed reads with ``relaxed=True`` and the checker leaves them
out; the last lines show what the checker says with and without them.  Real systems that
serve reads locally guard them with a lease or a ReadIndex round (§6.4 of Ongaro's
thesis); raftlab's relaxed read has neither, on purpose.
"""

from __future__ import annotations

from dataclasses import replace

from raftlab import Cluster
from raftlab.history import History
from raftlab.kv import KVClient, KVStateMachine
from raftlab.linearizability import check


def stale_read(seed: int = 7) -> dict:
    """Play the story; return what each read saw and the checker's verdicts."""
    cluster = Cluster(5, seed=seed, state_machine=KVStateMachine)
    client = KVClient(cluster)

    client.set("x", "old")
    cluster.run(200)  # heartbeats carry the commit index to every follower
    old_leader = cluster.leader()
    assert all(cluster.nodes[i].state_machine.data.get("x") == "old" for i in cluster.ids)

    cluster.isolate(old_leader)
    client.set("x", "new")  # waits for a new leader among the other four
    new_leader = cluster.leader()
    cluster.run(50)  # a moment later, so the reads start strictly after the write returned

    relaxed = client.get("x", relaxed=True, node=old_leader)
    consensus = client.get("x")

    history = cluster.history
    as_if_linearizable = History(
        [replace(op, relaxed=False) for op in history], initial=history.initial
    )
    return {
        "old_leader": old_leader,
        "new_leader": new_leader,
        "relaxed": relaxed,
        "consensus": consensus,
        "old_leader_still_thinks_it_leads": cluster.nodes[old_leader].role.value == "leader",
        "history": history,
        "check": check(history, model="kv"),
        "check_counting_relaxed": check(as_if_linearizable, model="kv"),
    }


def main() -> None:
    r = stale_read()
    print(f"S{r['old_leader']} led and was cut off; S{r['new_leader']} leads now.")
    print(f"S{r['old_leader']} still thinks it leads: {r['old_leader_still_thinks_it_leads']}")
    print(f"relaxed read of x at S{r['old_leader']}: {r['relaxed']!r}   (stale)")
    print(f"consensus read of x:           {r['consensus']!r}")
    print()
    print("history:")
    for op in r["history"]:
        print("  " + op.describe())
    print()
    print("linearizable, relaxed reads left out:", r["check"].ok)
    print("linearizable, relaxed reads counted: ", r["check_counting_relaxed"].ok)
    for op in r["check_counting_relaxed"].operations:
        print("    " + op.describe())


if __name__ == "__main__":
    main()
