"""The rules as methods: each rule of Figure 2 a learner might get wrong is one public method
of ``RaftNode``, the node calls it and nothing else for that decision, and a planted bug
(or a learner's Raft) is a subclass that overrides one of them.
"""

from __future__ import annotations

import inspect
import random

import pytest
from nodeutil import (
    ack,
    all_acknowledge,
    append,
    entries,
    make_leader,
    make_node,
    only,
    request_vote,
)

import raftlab.node
from raftlab import Cluster, chaos
from raftlab.bugs import BUGS, PLANTED, Figure8, NoLogCheck, bugs_of, node_class
from raftlab.messages import AppendEntriesReply, RequestVoteReply
from raftlab.node import RaftNode

RULES = ("candidate_up_to_date", "grants_vote", "prev_matches", "follower_commit", "leader_commit")


def test_the_rules_are_public_methods_next_to_each_other():
    src = inspect.getsource(RaftNode)
    positions = [src.index(f"    def {name}(") for name in RULES]
    assert positions == sorted(positions)  # in Figure 2's order, the two commit rules together
    for name in RULES:
        doc = getattr(RaftNode, name).__doc__
        assert "§" in doc or "Figure 2" in doc


def test_no_rule_looks_at_a_bug_switch():
    """Planted bugs live in subclasses, not in conditions inside the rules."""
    src = inspect.getsource(raftlab.node)
    assert "bugs" not in src.replace("raftlab.bugs", "")
    for name in BUGS:
        assert name not in src


@pytest.mark.parametrize("name", sorted(BUGS))
def test_every_planted_bug_is_a_subclass_overriding_one_rule_with_its_citation(name):
    cls = PLANTED[name]
    assert issubclass(cls, RaftNode)
    overridden = [k for k, v in vars(cls).items() if callable(v) and not k.startswith("__")]
    assert len(overridden) == 1
    assert "§" in cls.__doc__ or "Figure 2" in cls.__doc__
    assert node_class({name}) is cls and bugs_of(cls) == {name}


def test_grants_vote_is_the_only_voting_decision():
    class NeverVotes(RaftNode):
        def grants_vote(self, msg):
            return False

    voter = node_class((), NeverVotes)(1, [1, 2, 3], rng=random.Random(0))
    voter.step(request_vote(2, 1, 1), 10)
    reply = only(voter.ready(), RequestVoteReply)
    assert not reply.vote_granted and voter.voted_for is None


def test_candidate_up_to_date_decides_the_log_check():
    """A voter with a longer log refuses; the same voter whose rule always says yes grants."""
    plain = make_node(term=1, log=(1, 1, 1))
    plain.step(request_vote(2, 1, 2, last_index=1, last_term=1), 10)
    assert not only(plain.ready(), RequestVoteReply).vote_granted
    buggy = make_node(term=1, log=(1, 1, 1), bugs={"no_log_check"})
    assert isinstance(buggy, NoLogCheck)
    buggy.step(request_vote(2, 1, 2, last_index=1, last_term=1), 10)
    assert only(buggy.ready(), RequestVoteReply).vote_granted


def test_prev_matches_decides_the_consistency_check():
    plain = make_node(term=2, log=(1, 1))
    msg = append(2, 1, 2, prev=2, prev_term=2, ents=entries(3, 2))
    plain.step(msg, 10)
    assert not only(plain.ready(), AppendEntriesReply).success
    buggy = make_node(term=2, log=(1, 1), bugs={"no_prev_check"})
    buggy.step(msg, 10)
    assert only(buggy.ready(), AppendEntriesReply).success
    assert [e.term for e in buggy.log] == [1, 1, 2]


def test_follower_commit_decides_the_followers_commit_index():
    class CommitsEverything(RaftNode):
        def follower_commit(self, leader_commit, last_new_index):
            return leader_commit  # forgets the "min(.., index of last new entry)" of Figure 2

    plain = make_node(term=1)
    learner = node_class((), CommitsEverything)(1, [1, 2, 3], rng=random.Random(0))
    for node in (plain, learner):
        node.log.append(list(entries(1, 1, 1)))
        node.step(append(2, 1, 1, prev=1, prev_term=1, commit=2), 10)  # vouches only for 1
    assert plain.commit_index == 1
    assert learner.commit_index == 2


def test_leader_commit_decides_the_leaders_commit_index():
    """An entry of an earlier term on a majority: the paper's leader waits, Figure8 commits."""
    for cls, expected in ((RaftNode, 0), (Figure8, 2)):
        leader = make_leader(1, 3, term=3, log=(1, 2))
        leader.__class__ = cls  # same node, other rule
        leader.step(ack(2, 1, 3, 2), 300)  # S2 holds index 2 (term 2), not the no-op
        assert leader.commit_index == expected
    # and the paper's leader commits everything once its own term's entry is on a majority
    leader = make_leader(1, 3, term=3, log=(1, 2))
    all_acknowledge(leader, 300)
    assert leader.commit_index == 3


def test_cluster_runs_any_node_class_and_plants_bugs_on_top():
    class Mine(RaftNode):
        pass

    c = Cluster(3, seed=1, node_class=Mine)
    assert all(type(n) is Mine for n in c.nodes.values())
    leader = c.wait_for_leader()
    c.crash(leader)
    c.restart(leader)
    assert type(c.nodes[leader]) is Mine  # restarts keep the class
    both = Cluster(3, seed=1, node_class=Mine, bugs={"figure8"})
    cls = type(both.nodes[1])
    assert issubclass(cls, Mine) and issubclass(cls, Figure8)
    assert both.bugs == {"figure8"} and bugs_of(cls) == {"figure8"}
    assert type(both.fork().nodes[1]) is cls
    assert type(Cluster(3, bugs={"figure8"}).nodes[1]) is Figure8


@pytest.mark.parametrize("bad", [object, int, RaftNode(1, [1], rng=random.Random(0))])
def test_a_bad_node_class_is_refused_with_a_sentence(bad):
    with pytest.raises(TypeError, match="subclass of it"):
        Cluster(3, node_class=bad)
    with pytest.raises(TypeError, match="subclass of it"):
        chaos.run(0, node_class=bad)


def test_chaos_runs_a_learners_node_class():
    """A learner's class that makes the no_log_check mistake runs exactly like the planted
    bug: same trace, same verdict."""

    class TrustingVoter(RaftNode):
        def candidate_up_to_date(self, last_log_index, last_log_term):
            return True

    mine = chaos.run(2, node_class=TrustingVoter, duration_ms=3000)
    planted = chaos.run(2, bugs=("no_log_check",), duration_ms=3000)
    assert [str(e) for e in mine.trace] == [str(e) for e in planted.trace]
    assert mine.ok == planted.ok
