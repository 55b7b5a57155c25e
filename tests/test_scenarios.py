"""Cluster scenarios in the manner of MIT 6.824's Raft lab tests (2A election, 2B agreement,
2C persistence), driven through the public ``Cluster`` API only.

``one(cluster, command, n)`` is the lab's ``cfg.one``: hand the command to whoever leads,
retrying, until at least ``n`` nodes have committed it; it returns the index.  Every test
also runs with the safety checker on (the default), after every event.
"""

from __future__ import annotations

import random

import pytest

from raftlab import Cluster, LeadershipLost, NotLeader, Role, Timeout

ELECTION_MS = 300  # the highest default election timeout


# ------------------------------------------------------------------------- helpers


def committed_on(c: Cluster, index: int) -> tuple[int, bytes | None]:
    """How many live nodes have committed ``index``, and the command there.  Committed
    copies must agree (the lab's ``nCommitted``)."""
    count, command = 0, None
    for i in sorted(c.alive):
        n = c.nodes[i]
        if n.commit_index >= index:
            entry = n.log.entry(index)
            if count:
                assert entry.command == command, f"S{i} committed a different entry at {index}"
            count, command = count + 1, entry.command
    return count, command


def one(c: Cluster, command: bytes, expected: int, timeout_ms: float = 10_000) -> int:
    """Submit ``command`` to the leader, retrying, until ``expected`` nodes committed it."""
    end = c.now + timeout_ms
    while c.now < end:
        leader = c.leader()
        if leader is None:
            c.run(20)
            continue
        p = c.submit(command, node=leader)
        if p.error is not None:
            c.run(20)
            continue

        def agreed(c: Cluster, p=p) -> bool:
            count, cmd = committed_on(c, p.index)
            return count >= expected and cmd == command

        if c.run_until(agreed, 2000):
            return p.index
    pytest.fail(f"{command!r} was not committed on {expected} nodes within {timeout_ms} ms")


def applied(c: Cluster, i: int) -> list[bytes]:
    """The commands node ``i``'s state machine has applied, in order."""
    return c.nodes[i].state_machine.commands


def check_agreement(c: Cluster) -> None:
    """Committed prefixes and applied commands never disagree between nodes."""
    longest = max(c.nodes.values(), key=lambda n: n.commit_index)
    for n in c.nodes.values():
        assert n.log.entries(1, n.commit_index + 1) == longest.log.entries(1, n.commit_index + 1)
        assert applied(c, n.id) == applied(c, longest.id)[: len(applied(c, n.id))]
    c.check_invariants()


def followers_of(c: Cluster, leader: int) -> list[int]:
    return [i for i in c.ids if i != leader]


def terms(c: Cluster) -> set[int]:
    return {c.nodes[i].current_term for i in c.alive}


# --------------------------------------------------------------- 2A: leader election


def test_initial_election_one_leader_and_a_stable_term():
    c = Cluster(3, seed=1)
    leader = c.wait_for_leader()
    c.run(50)
    # Everyone agrees on the term, and the other two follow the leader.
    (term,) = terms(c)
    assert term >= 1
    assert [c.nodes[i].role for i in followers_of(c, leader)] == [Role.FOLLOWER] * 2
    # With nothing failing, nobody starts another election (§5.2).
    settled = len(c.trace)
    c.run(10 * ELECTION_MS)
    assert c.leader() == leader
    assert terms(c) == {term}
    assert [e for e in c.trace[settled:] if e.kind in ("candidate", "leader", "follower")] == []


def test_reelection_after_the_leader_crashes_and_none_without_a_majority():
    c = Cluster(3, seed=2)
    leader1 = c.wait_for_leader()
    c.crash(leader1)
    leader2 = c.wait_for_leader()
    assert leader2 != leader1
    # The old leader comes back: it must not disturb the new one's leadership for long.
    c.restart(leader1)
    c.run(2 * ELECTION_MS)
    assert c.leader() is not None
    # Two of three down: no majority, so no leader, however long we wait.
    leader3 = c.leader()
    other = next(i for i in c.ids if i != leader3 and i in c.alive)
    c.crash(leader3)
    c.crash(other)
    assert not c.run_until(lambda c: c.leader() is not None, 10 * ELECTION_MS)
    (lonely,) = c.alive
    assert c.nodes[lonely].role is Role.CANDIDATE  # it keeps trying, term after term
    # A majority again: a leader again.
    c.restart(other)
    c.wait_for_leader()
    c.restart(leader3)
    c.wait_for_leader()
    c.run(ELECTION_MS)
    assert len({c.nodes[i].current_term for i in c.ids}) == 1


def test_many_elections_with_three_of_seven_down():
    c = Cluster(7, seed=3)
    rng = random.Random(3)
    c.wait_for_leader()
    for _ in range(10):
        down = rng.sample(c.ids, 3)
        for i in down:
            c.crash(i)
        # Four of seven are a majority: one of them must lead.
        leader = c.wait_for_leader(10 * ELECTION_MS)
        assert leader not in down
        for i in down:
            c.restart(i)
    c.wait_for_leader()
    c.check_invariants()


# ------------------------------------------------------------ 2B: log replication


def test_basic_agreement():
    c = Cluster(3, seed=4)
    c.wait_for_leader()
    for k in range(1, 4):
        # Index 1 is the first leader's no-op (§8); commands follow.
        assert one(c, f"cmd{k}".encode(), 3) == k + 1
    c.run(100)
    for i in c.ids:
        assert applied(c, i) == [b"cmd1", b"cmd2", b"cmd3"]


def test_agreement_on_many_commands_batched_and_single():
    c = Cluster(5, seed=5)
    c.wait_for_leader()
    batch = [f"b{k}".encode() for k in range(150)]
    results = c.apply(batch)
    assert [r.result for r in results] == list(range(1, 151))  # CommandList counts
    singles = [f"s{k}".encode() for k in range(50)]
    for cmd in singles:
        (r,) = c.apply([cmd])
        assert r.error is None
    assert c.run_until(lambda c: all(len(applied(c, i)) == 200 for i in c.ids), 2000)
    for i in c.ids:
        assert applied(c, i) == batch + singles
    check_agreement(c)


def test_agreement_despite_a_follower_failure():
    c = Cluster(3, seed=6)
    one(c, b"101", 3)
    leader = c.leader()
    follower = followers_of(c, leader)[0]
    c.crash(follower)
    # Two of three can still commit.
    one(c, b"102", 2)
    c.run(ELECTION_MS)
    one(c, b"103", 2)
    # The follower comes back and catches up.
    c.restart(follower)
    one(c, b"104", 3)
    assert c.run_until(lambda c: applied(c, follower) == [b"101", b"102", b"103", b"104"], 2000)
    check_agreement(c)


def test_leader_failure_a_new_leader_commits_and_the_old_one_catches_up():
    c = Cluster(5, seed=7)
    one(c, b"before", 5)
    old = c.leader()
    c.crash(old)
    one(c, b"after-1", 4)
    new = c.leader()
    assert new != old
    one(c, b"after-2", 4)
    c.restart(old)
    assert c.run_until(lambda c: applied(c, old) == [b"before", b"after-1", b"after-2"], 2000)
    assert c.nodes[old].role is Role.FOLLOWER
    check_agreement(c)


def test_a_failed_follower_catches_up_on_everything_it_missed():
    c = Cluster(5, seed=8)
    c.wait_for_leader()
    lagger = followers_of(c, c.leader())[-1]
    c.crash(lagger)
    missed = [f"m{k}".encode() for k in range(100)]
    for k in range(0, 100, 10):
        c.apply(missed[k : k + 10])
    c.restart(lagger)
    assert c.run_until(lambda c: applied(c, lagger) == missed, 3000)
    assert c.nodes[lagger].log.last_index == c.nodes[c.leader()].log.last_index
    check_agreement(c)


def test_no_commit_without_a_majority():
    c = Cluster(5, seed=9)
    one(c, b"10", 5)
    leader = c.leader()
    down = followers_of(c, leader)[:3]
    for i in down:
        c.crash(i)
    p = c.submit(b"20", node=leader)
    assert p.error is None and p.index == 3
    c.run(10 * ELECTION_MS)
    # Appended on two of five: never committed, not even on the leader.
    assert committed_on(c, p.index)[0] == 0
    assert not p.done
    assert c.nodes[leader].log.last_index == 3
    for i in down:
        c.restart(i)
    index = one(c, b"30", 5)
    # The leader of the new majority decided the fate of index 3: either it survived (and
    # the proposal succeeded), or it was replaced (and the proposal failed for it).
    assert c.run_until(lambda c: p.done, 2000)
    if p.ok:
        assert c.nodes[leader].log.entry(3).command == b"20"
    else:
        assert isinstance(p.error, LeadershipLost)
        assert all(c.nodes[i].log.entry(3).command != b"20" for i in c.ids)
    assert index > 3
    check_agreement(c)


def test_partitioned_leader_is_overwritten_on_heal_and_its_proposals_fail():
    c = Cluster(5, seed=10)
    one(c, b"committed", 5)
    old = c.leader()
    minority = [old, followers_of(c, old)[0]]
    majority = [i for i in c.ids if i not in minority]
    c.partition(minority, majority)
    stale = [c.submit(f"lost{k}".encode(), node=old) for k in range(3)]
    assert all(p.error is None for p in stale)  # the old leader does not know yet
    # The majority elects a leader of a later term and commits without the old one.
    assert c.run_until(lambda c: any(c.nodes[i].role is Role.LEADER for i in majority), 5000)
    for k in range(3):
        one(c, f"won{k}".encode(), 3)
    assert c.nodes[old].role is Role.LEADER  # cut off, it has heard of no later term
    assert c.nodes[old].log.entry(3).command == b"lost0"
    assert not any(p.done for p in stale)
    c.heal()
    # The old leader hears the later term, steps down, and its uncommitted entries are
    # overwritten (§5.3); its clients learn the entries will never commit.
    assert c.run_until(lambda c: all(p.done for p in stale), 2000)
    for p in stale:
        assert isinstance(p.error, LeadershipLost), p
    assert c.nodes[old].role is Role.FOLLOWER
    one(c, b"after-heal", 5)
    commands = [e.command for e in c.nodes[old].log]
    assert not any(cmd and cmd.startswith(b"lost") for cmd in commands)
    assert applied(c, old) == [b"committed", b"won0", b"won1", b"won2", b"after-heal"]
    assert any(e.kind == "truncate" and e.node == old for e in c.trace)
    check_agreement(c)


def backup_rejections(c: Cluster, since: float) -> int:
    """AppendEntries rejected for a log mismatch (not for a stale term) since ``since``."""
    return sum(
        1
        for e in c.network.log
        if e.sent_at >= since
        and not e.dropped
        and e.msg.kind == "AppendEntriesReply"
        and not e.msg.success
        and e.msg.conflict_index > 0
    )


def test_fast_backup_over_many_conflicting_entries():
    """The lab's TestBackup2B: followers with 50 conflicting entries are brought in line
    with a handful of rejected AppendEntries, one per conflicting term (§5.3, last
    paragraphs), not one per entry."""
    c = Cluster(5, seed=11)
    one(c, b"start", 5)
    leader1 = c.leader()
    f1 = followers_of(c, leader1)[0]
    rest = [i for i in c.ids if i not in (leader1, f1)]
    # leader1 and f1 apart: 50 entries that will never commit.
    c.partition([leader1, f1], rest)
    for k in range(50):
        c.submit(f"bad1-{k}".encode(), node=leader1)
    c.run(ELECTION_MS / 2)
    assert c.nodes[f1].log.last_index == c.nodes[leader1].log.last_index == 52
    # The other three elect a leader and commit 50 entries.
    for k in range(50):
        one(c, f"good1-{k}".encode(), 3)
    leader2 = next(i for i in rest if c.nodes[i].role is Role.LEADER)
    other = next(i for i in rest if i != leader2)
    follower2 = next(i for i in rest if i not in (leader2, other))
    # leader2 keeps one follower: 50 more entries that will never commit.
    c.partition([leader2, follower2], [other], [leader1, f1])
    for k in range(50):
        c.submit(f"bad2-{k}".encode(), node=leader2)
    c.run(ELECTION_MS / 2)
    # The original leader and its follower come back with `other`, which holds the
    # committed entries: f1 and leader1 must back up over their 50 bad entries.
    c.partition([leader1, f1, other], [leader2], [follower2])
    since = c.now
    for k in range(50):
        one(c, f"good2-{k}".encode(), 3)
    first = backup_rejections(c, since)
    # Everyone together: leader2 and follower2 back up over their 50 bad entries.
    c.heal()
    since = c.now
    last = one(c, b"last", 5)
    assert c.run_until(lambda c: all(n.commit_index >= last for n in c.nodes.values()), 2000)
    second = backup_rejections(c, since)
    check_agreement(c)
    assert not any(e.command and e.command.startswith(b"bad") for e in c.nodes[1].log)
    # Without the fast backup each of the 50 entries would cost one rejection per follower.
    assert 1 <= first <= 8, first
    assert 1 <= second <= 8, second


# -------------------------------------------------------------- 2C: persistence


def assert_keeps(c: Cluster, committed: dict[int, bytes]) -> None:
    """Every node's log, live or restarted, still holds every committed entry."""
    for n in c.nodes.values():
        for index, command in committed.items():
            assert n.log.entry(index).command == command, f"S{n.id} lost index {index}"


def test_crash_and_restart_all_nodes_the_leader_and_a_follower_loses_nothing():
    c = Cluster(5, seed=12)
    committed: dict[int, bytes] = {}

    def commit(cmd: bytes, n: int) -> None:
        committed[one(c, cmd, n)] = cmd

    commit(b"11", 5)
    # Everyone crashes and restarts: logs, terms and votes come back from storage.
    for i in c.ids:
        c.crash(i)
    for i in c.ids:
        c.restart(i)
        assert c.nodes[i].commit_index == 0 and applied(c, i) == []
    assert_keeps(c, committed)
    commit(b"12", 5)
    # The leader crashes and restarts.
    leader = c.leader()
    c.crash(leader)
    c.restart(leader)
    assert_keeps(c, committed)
    commit(b"13", 5)
    # The leader crashes, the rest go on, it restarts.
    leader = c.leader()
    c.crash(leader)
    commit(b"14", 4)
    c.restart(leader)
    commit(b"15", 5)
    # A follower crashes, the rest go on, it restarts.
    follower = followers_of(c, c.leader())[0]
    c.crash(follower)
    commit(b"16", 4)
    c.restart(follower)
    assert_keeps(c, {i: cmd for i, cmd in committed.items() if cmd != b"16"})
    commit(b"17", 5)
    assert_keeps(c, committed)
    # Every state machine was rebuilt by re-applying the committed commands.
    everything = [committed[i] for i in sorted(committed)]
    assert c.run_until(lambda c: all(applied(c, i) == everything for i in c.ids), 2000)
    check_agreement(c)


def test_restart_everyone_repeatedly_while_committing():
    c = Cluster(3, seed=13)
    committed: dict[int, bytes] = {}
    for k in range(8):
        committed[one(c, f"p{k}".encode(), 3)] = f"p{k}".encode()
        for i in c.ids:
            c.crash(i)
        assert_keeps(c, committed)
        for i in c.ids:
            c.restart(i)
    committed[one(c, b"end", 3)] = b"end"
    assert c.run_until(lambda c: all(len(applied(c, i)) == 9 for i in c.ids), 2000)
    check_agreement(c)


# ------------------------------------------------------- unreliable network and churn


def run_clients(c: Cluster, commands: list[list[bytes]], deadline_ms: float) -> list:
    """Each list is one client's commands, submitted one at a time to whoever leads and
    retried until it succeeds.  Returns every proposal made."""
    proposals = []
    pending = [None] * len(commands)
    nxt = [0] * len(commands)
    end = c.now + deadline_ms
    while c.now < end and any(nxt[k] < len(cmds) for k, cmds in enumerate(commands)):
        for k, cmds in enumerate(commands):
            p = pending[k]
            if p is not None and p.done:
                if p.ok:
                    nxt[k] += 1
                pending[k] = p = None
            if p is None and nxt[k] < len(cmds) and c.leader() is not None:
                pending[k] = c.submit(cmds[nxt[k]])
                proposals.append(pending[k])
        c.run(10)
    return proposals


def check_clients(c: Cluster, commands: list[list[bytes]], proposals: list) -> None:
    """After calm: the nodes agree, every client command is committed, successful
    proposals sit where they said, and each client's commands are in its order."""
    for i in sorted(set(c.ids) - c.alive):
        c.restart(i)
    c.heal()
    c.network.drop_rate = c.network.duplicate_rate = 0.0
    last = one(c, b"calm", 5)
    assert c.run_until(lambda c: all(n.commit_index >= last for n in c.nodes.values()), 3000)
    check_agreement(c)
    log = [e.command for e in c.nodes[1].log.entries(1, last + 1)]
    for p in proposals:
        if p.ok:
            assert log[p.index - 1] == p.command
        elif p.done:
            assert isinstance(p.error, NotLeader | LeadershipLost), p
    for cmds in commands:
        positions = [log.index(cmd) for cmd in cmds]
        assert positions == sorted(positions)


def test_agreement_over_an_unreliable_network():
    c = Cluster(5, seed=14)
    c.network.drop_rate = 0.1
    c.network.duplicate_rate = 0.1
    c.network.delay_ms = (2, 40)
    c.wait_for_leader()
    commands = [[f"c{k}-{j}".encode() for j in range(25)] for k in range(4)]
    proposals = run_clients(c, commands, 60_000)
    assert all(any(p.ok and p.command == cmds[-1] for p in proposals) for cmds in commands)
    stats = c.network.stats
    assert stats["dropped"] > 0.05 * stats["sent"]
    assert stats["duplicated"] > 0.05 * stats["sent"]
    check_clients(c, commands, proposals)


@pytest.mark.parametrize("seed", range(10))
def test_churn_crashes_restarts_and_partitions_alongside_clients(seed):
    c = Cluster(5, seed=seed)
    rng = random.Random(seed)
    commands = [[f"s{seed}c{k}-{j}".encode() for j in range(200)] for k in range(3)]
    proposals = []
    queues = [list(cmds) for cmds in commands]
    # Clients keep submitting while faults come and go; some of their commands are lost.
    for _ in range(100):
        action = rng.random()
        if action < 0.2 and len(c.alive) > 1:
            c.crash(rng.choice(sorted(c.alive)))
        elif action < 0.45 and len(c.alive) < 5:
            c.restart(rng.choice(sorted(set(c.ids) - c.alive)))
        elif action < 0.55:
            ids = list(c.ids)
            rng.shuffle(ids)
            cut = rng.randint(1, 4)
            c.partition(ids[:cut], ids[cut:])
        elif action < 0.7:
            c.heal()
        elif action < 0.75:
            c.isolate(rng.choice(c.ids))
        done = run_clients(c, [q[:1] for q in queues], rng.uniform(10, 300))
        proposals.extend(done)
        for q in queues:
            if q and any(p.ok and p.command == q[0] for p in done):
                q.pop(0)
    survived = [cmds[: len(cmds) - len(q)] for cmds, q in zip(commands, queues, strict=True)]
    assert sum(map(len, survived)) > 20  # the clients got work done between the faults
    check_clients(c, survived, proposals)


# ------------------------------------------------------------------ client semantics


class Picky:
    """A state machine that refuses commands starting with b"!"."""

    def __init__(self) -> None:
        self.commands: list[bytes] = []

    def apply(self, command: bytes) -> int:
        if command.startswith(b"!"):
            raise ValueError(f"refused {command!r}")
        self.commands.append(command)
        return len(self.commands)


def test_submit_never_raises_for_a_cluster_condition():
    c = Cluster(3, seed=15)
    p = c.submit(b"too early")
    assert p.done and not p.ok and isinstance(p.error, NotLeader)
    assert p.error.leader_hint is None
    leader = c.wait_for_leader()
    c.run(100)
    follower = followers_of(c, leader)[0]
    p = c.submit(b"to a follower", node=follower)
    assert p.done and isinstance(p.error, NotLeader) and p.error.leader_hint == leader
    c.crash(follower)
    p = c.submit(b"to a crashed node", node=follower)
    assert p.done and isinstance(p.error, NotLeader) and p.error.leader_hint is None


def test_a_pending_proposal_fails_at_once_when_its_node_crashes():
    c = Cluster(3, seed=16)
    leader = c.wait_for_leader()
    p = c.submit(b"x")
    assert not p.done and p.node == leader
    c.crash(leader)
    assert p.done and not p.ok and isinstance(p.error, LeadershipLost)


def test_apply_raises_the_cluster_errors():
    c = Cluster(3, seed=17)
    with pytest.raises(NotLeader):
        c.apply([b"x"])
    leader = c.wait_for_leader()
    for i in followers_of(c, leader):
        c.crash(i)
    with pytest.raises(Timeout):
        c.apply([b"x"], timeout_ms=1000)  # no majority: it cannot commit
    c.crash(leader)
    with pytest.raises(Timeout, match="no leader was elected within 1000 ms"):
        c.wait_for_leader(1000)
    with pytest.raises(NotLeader):
        c.apply([b"y"], node=leader)  # down now


def test_state_machine_errors_are_results_not_cluster_errors():
    c = Cluster(3, seed=18, state_machine=Picky)
    c.wait_for_leader()
    results = c.apply([b"a", b"!b", b"", b"c"])
    assert [r.result for r in results] == [1, None, 2, 3]
    assert results[0].error is None and isinstance(results[1].error, ValueError)
    p = c.submit(b"!d")
    assert c.run_until(lambda c: p.done, 1000)
    assert not p.ok and isinstance(p.error, ValueError) and p.index is not None
    c.run(100)
    # Every replica applied the same log and refused the same commands.
    for i in c.ids:
        assert c.nodes[i].state_machine.commands == [b"a", b"", b"c"]


def test_an_empty_command_is_an_ordinary_command_not_a_no_op():
    c = Cluster(3, seed=19)
    c.wait_for_leader()
    (r,) = c.apply([b""])
    assert r.result == 1
    index = c.nodes[c.leader()].log.last_index
    assert c.nodes[c.leader()].log.entry(index).command == b""
    assert c.nodes[c.leader()].log.entry(1).command is None  # the leader's no-op (§8)


def test_leader_is_the_live_leader_with_the_highest_term():
    c = Cluster(5, seed=20)
    old = c.wait_for_leader()
    c.isolate(old)
    assert c.run_until(
        lambda c: any(c.nodes[i].role is Role.LEADER for i in c.ids if i != old), 5000
    )
    new = next(i for i in c.ids if i != old and c.nodes[i].role is Role.LEADER)
    assert c.nodes[old].role is Role.LEADER  # still believes it
    assert c.leader() == new
    c.crash(new)
    assert c.leader() == old  # the only live node that believes it leads


def test_a_single_node_cluster_elects_itself_and_commits_alone():
    c = Cluster(1, seed=21)
    assert c.wait_for_leader() == 1
    assert [r.result for r in c.apply([b"solo", b"again"])] == [1, 2]
    assert c.nodes[1].commit_index == 3
