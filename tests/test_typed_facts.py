"""Typed facts instead of strings: ``Ready`` says which roles a node took and whether its
leader changed; trace events carry their term and the servers a network event names.
The safety checks, the servers' log and the pictures read these fields, not the words."""

from __future__ import annotations

import dataclasses

from nodeutil import append, make_node, time_out, vote

from raftlab import Cluster, Role
from raftlab.snapshot import ClusterSnapshot
from raftlab.viz.timeline import fault_periods, role_segments


def test_ready_lists_the_roles_a_node_took_with_their_terms():
    node = make_node(1, 3)
    rd = time_out(node)
    assert rd.roles == [(Role.CANDIDATE, 1)] and not rd.became_leader
    node.step(vote(2, 1, 1), node.election_deadline)
    rd = node.ready()
    assert rd.roles == [(Role.LEADER, 1)] and rd.became_leader
    assert rd.leader_changed and rd.leader_id == 1
    node.step(append(3, 1, 2), 500)  # a leader of term 2 appears
    rd = node.ready()
    assert rd.roles == [(Role.FOLLOWER, 2)] and (rd.leader_changed, rd.leader_id) == (True, 3)
    node.step(append(3, 1, 2), 510)
    rd = node.ready()
    assert rd.roles == [] and not rd.leader_changed  # nothing changed


def test_trace_events_carry_terms_and_groups():
    c = Cluster(5, seed=1)
    leader = c.wait_for_leader()
    c.partition([1, 2], [3, 4, 5])
    c.isolate(3)
    c.cut(4, 5)
    c.crash(leader)
    by_kind = {e.kind: e for e in c.trace}
    assert by_kind["leader"].term == c.nodes[leader].current_term
    assert by_kind["partition"].groups == ((1, 2), (3, 4, 5))
    assert by_kind["isolate"].groups == ((3,),) and by_kind["cut"].groups == ((4, 5),)
    assert by_kind["crash"].term == c.nodes[leader].current_term


def test_the_timeline_reads_the_typed_facts_not_the_words():
    """Blank every detail: the pictures' role lanes and fault bands do not change."""
    c = Cluster(5, seed=1)
    c.wait_for_leader()
    c.partition([1, 2], [3, 4, 5])
    c.run(400)
    c.heal()
    c.run(100)
    snap = c.snapshot()
    blank = [dataclasses.replace(e, detail="") for e in c.trace]
    mute = dataclasses.replace(snap, _trace=blank)
    assert isinstance(mute, ClusterSnapshot)
    assert role_segments(mute) == role_segments(snap)
    assert [(f.start, f.end, f.cut) for f in fault_periods(mute)] == [
        (f.start, f.end, f.cut) for f in fault_periods(snap)
    ]
    assert any(s.role == "leader" and s.term >= 1 for s in role_segments(mute))


def test_a_ready_is_empty_only_when_every_field_is():
    """The simulator skips handling an empty Ready (a duplicate, a reply that moved
    nothing), so ``is_empty`` must see every field: a field it forgot would be dropped."""
    from raftlab.node import Ready

    assert Ready().is_empty()
    for name in Ready.__slots__:
        if name == "leader_id":
            continue  # meaningful only with leader_changed, which is checked
        rd = Ready()
        value = getattr(rd, name)
        setattr(rd, name, [object()] if isinstance(value, list) else True if value is False else 1)
        assert not rd.is_empty(), f"Ready.is_empty() ignores {name}"
