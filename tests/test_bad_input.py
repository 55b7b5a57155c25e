"""Every misuse named in API.md raises ``ValueError`` (or ``TypeError`` where the API says so)
with a sentence a learner understands, and leaves the cluster exactly as it was: same
snapshot, trace, network counters, knobs, clock and random generator state.
"""

from __future__ import annotations

import math

import pytest

from raftlab import Cluster, Config
from raftlab.scenarios import elect
from raftlab.statemachine import CommandList

NAN = math.nan
INF = math.inf


@pytest.fixture
def cluster() -> Cluster:
    """A cluster in mid-story: a leader, committed and pending commands, a crashed
    follower, messages in flight."""
    c = Cluster(5, seed=21)
    leader = c.wait_for_leader()
    c.apply([b"a", b"b", b"c"])
    c.crash(next(i for i in c.ids if i != leader))
    c.submit(b"pending")
    c.run(3)
    assert c.network.in_flight
    return c


def crashed(c: Cluster) -> int:
    return min(set(c.ids) - c.alive)


def live(c: Cluster) -> int:
    return min(c.alive)


def fingerprint(c: Cluster):
    """Everything a failed call must leave as it was."""
    return (
        c.snapshot(),
        [str(e) for e in c.trace],
        dict(c.network.stats),
        c.rng.getstate(),
        c.now,
        len(c.kernel),
        c.event_count,
        (c.network.drop_rate, c.network.duplicate_rate, c.network.delay_ms),
        sorted(c.network.cut_links),
        c.alive,
        len(c.network.log),
    )


def set_attr(obj, name, value):
    setattr(obj, name, value)


MISUSES = [
    # An unknown node, in every method that takes one.
    ("crash unknown", lambda c: c.crash(9), ValueError, r"unknown node 9; .* 1, 2, 3, 4, 5"),
    ("crash zero", lambda c: c.crash(0), ValueError, r"unknown node 0"),
    ("crash negative", lambda c: c.crash(-1), ValueError, r"unknown node -1"),
    ("crash str", lambda c: c.crash("1"), ValueError, r"unknown node '1'"),
    ("crash bool", lambda c: c.crash(True), ValueError, r"unknown node True"),
    ("crash float", lambda c: c.crash(1.0), ValueError, r"unknown node 1.0"),
    ("restart unknown", lambda c: c.restart(6), ValueError, r"unknown node 6"),
    ("isolate unknown", lambda c: c.isolate(6), ValueError, r"unknown node 6"),
    ("cut unknown a", lambda c: c.cut(6, 1), ValueError, r"unknown node 6"),
    ("cut unknown b", lambda c: c.cut(1, 6), ValueError, r"unknown node 6"),
    ("connect unknown", lambda c: c.connect(1, 6), ValueError, r"unknown node 6"),
    (
        "partition unknown",
        lambda c: c.partition([1, 2, 9], [3, 4, 5]),
        ValueError,
        r"unknown node 9",
    ),
    ("submit unknown", lambda c: c.submit(b"x", node=9), ValueError, r"unknown node 9"),
    ("apply unknown", lambda c: c.apply([b"x"], node=9), ValueError, r"unknown node 9"),
    ("elect unknown candidate", lambda c: elect(c, 9, [1, 2]), ValueError, r"unknown node 9"),
    ("elect unknown voter", lambda c: elect(c, 1, [2, 9]), ValueError, r"unknown node 9"),
    # Crash a crashed node, restart a live one.
    (
        "crash crashed",
        lambda c: c.crash(crashed(c)),
        ValueError,
        r"S\d is already crashed; restart it with cluster.restart\(\d\)",
    ),
    ("restart live", lambda c: c.restart(live(c)), ValueError, r"S\d is running; crash it first"),
    # Links and partitions.
    ("cut self", lambda c: c.cut(2, 2), ValueError, r"two different nodes; got S2 twice"),
    (
        "partition overlap",
        lambda c: c.partition([1, 2], [2, 3, 4, 5]),
        ValueError,
        r"S2 is in two partition groups",
    ),
    (
        "partition incomplete",
        lambda c: c.partition([1, 2], [3, 4]),
        ValueError,
        r"must cover every node; missing S5",
    ),
    ("partition nothing", lambda c: c.partition(), ValueError, r"must cover every node"),
    (
        "partition empty group",
        lambda c: c.partition([], [1, 2, 3, 4, 5]),
        ValueError,
        r"cannot be empty",
    ),
    (
        "partition twice in a group",
        lambda c: c.partition([1, 1, 2], [3, 4, 5]),
        ValueError,
        r"names a node twice",
    ),
    ("partition of ints", lambda c: c.partition(1, 2), ValueError, r"must be a list of node ids"),
    (
        "partition of strs",
        lambda c: c.partition("12", "345"),
        ValueError,
        r"must be a list of node ids",
    ),
    # Network knobs.
    *[
        (
            f"drop_rate {v!r}",
            lambda c, v=v: set_attr(c.network, "drop_rate", v),
            ValueError,
            r"network.drop_rate must be a probability between 0 and 1",
        )
        for v in (-0.1, 1.01, "0.1", None, True, NAN, INF)
    ],
    *[
        (
            f"duplicate_rate {v!r}",
            lambda c, v=v: set_attr(c.network, "duplicate_rate", v),
            ValueError,
            r"network.duplicate_rate must be a probability between 0 and 1",
        )
        for v in (-1, 2, "x", NAN)
    ],
    *[
        (
            f"delay_ms {v!r}",
            lambda c, v=v: set_attr(c.network, "delay_ms", v),
            ValueError,
            r"network.delay_ms",
        )
        for v in (
            (5, 2),
            (-1, 3),
            (1,),
            (1, 2, 3),
            "1-2",
            (1, "2"),
            (True, 3),
            None,
            (NAN, 3),
            (1, NAN),
            (1, INF),
        )
    ],
    # Time cannot run backwards, or forever.
    ("run negative", lambda c: c.run(-1), ValueError, r"ms must be a number of milliseconds >= 0"),
    ("run str", lambda c: c.run("10"), ValueError, r"ms must be a number"),
    ("run nan", lambda c: c.run(NAN), ValueError, r"ms must be a number"),
    ("run forever", lambda c: c.run(INF), ValueError, r"finite"),
    (
        "run_until negative",
        lambda c: c.run_until(lambda c: False, -1),
        ValueError,
        r"timeout_ms must be a number of milliseconds >= 0",
    ),
    (
        "wait_for_leader negative",
        lambda c: c.wait_for_leader(-5),
        ValueError,
        r"timeout_ms must be",
    ),
    (
        "apply negative timeout",
        lambda c: c.apply([b"x"], timeout_ms=-1),
        ValueError,
        r"timeout_ms must be",
    ),
    # Commands are bytes.
    ("submit str", lambda c: c.submit("set x"), TypeError, r"a command is bytes.*\.encode\(\)"),
    ("submit None", lambda c: c.submit(None), TypeError, r"a command is bytes"),
    ("apply bytes", lambda c: c.apply(b"x"), TypeError, r"apply takes a list of commands"),
    ("apply str", lambda c: c.apply("abc"), TypeError, r"apply takes a list of commands"),
    ("apply list of str", lambda c: c.apply(["x"]), TypeError, r"a command is bytes"),
    # The staged election helper.
    ("elect self vote", lambda c: elect(c, 1, [1, 2]), ValueError, r"votes for itself"),
    ("elect twice", lambda c: elect(c, 1, [2, 2]), ValueError, r"names a node twice"),
    (
        "elect past term",
        lambda c: elect(c, 1, [2, 3], term=1),
        ValueError,
        r"only run for a later term",
    ),
]


@pytest.mark.parametrize("name, call, error, message", MISUSES, ids=[m[0] for m in MISUSES])
def test_misuse_raises_a_clear_error_and_changes_nothing(cluster, name, call, error, message):
    before = fingerprint(cluster)
    with pytest.raises(error, match=message) as caught:
        call(cluster)
    assert type(caught.value) is error  # not a RaftLabError or SafetyViolation in disguise
    assert fingerprint(cluster) == before
    # And the cluster still works.
    cluster.run(100)
    cluster.check_invariants()


def test_a_failed_call_changes_nothing_even_in_what_happens_next(cluster):
    twin = cluster.fork()
    for _, call, error, _ in MISUSES:
        with pytest.raises(error):
            call(cluster)
    # The same future as a twin that never saw the bad calls.
    for c in (cluster, twin):
        c.restart(crashed(c))
        c.apply([b"after"])
        c.run(500)
    assert [str(e) for e in cluster.trace] == [str(e) for e in twin.trace]
    assert cluster.snapshot() == twin.snapshot()


# ---------------------------------------------------------------- Config and Cluster

CONFIG_MISUSES = [
    ("election_timeout_ms", dict(election_timeout_ms=(-1, 300)), r"cannot be negative"),
    ("election_timeout_ms", dict(election_timeout_ms=(300, 150)), r"lo > hi"),
    ("election_timeout_ms", dict(election_timeout_ms=(150,)), r"a pair \(lo, hi\)"),
    ("election_timeout_ms", dict(election_timeout_ms="150-300"), r"a pair \(lo, hi\)"),
    ("election_timeout_ms", dict(election_timeout_ms=(150, "300")), r"numbers"),
    ("election_timeout_ms", dict(election_timeout_ms=(NAN, 300)), r"finite"),
    ("election_timeout_ms", dict(election_timeout_ms=(150, INF)), r"finite"),
    ("election_timeout_ms", dict(election_timeout_ms=(40, 300)), r"strictly above"),
    ("election_timeout_ms", dict(election_timeout_ms=(50, 300)), r"strictly above"),
    ("heartbeat_ms", dict(heartbeat_ms=0), r"positive"),
    ("heartbeat_ms", dict(heartbeat_ms=-1), r"positive"),
    ("heartbeat_ms", dict(heartbeat_ms="50"), r"positive"),
    ("heartbeat_ms", dict(heartbeat_ms=True), r"positive"),
    ("heartbeat_ms", dict(heartbeat_ms=None), r"positive"),
    ("heartbeat_ms", dict(heartbeat_ms=NAN), r"finite"),
    ("heartbeat_ms", dict(heartbeat_ms=INF), r"finite"),
    ("heartbeat_ms", dict(heartbeat_ms=200), r"strictly above"),
    ("delay_ms", dict(delay_ms=(-1, 3)), r"cannot be negative"),
    ("delay_ms", dict(delay_ms=(5, 2)), r"lo > hi"),
    ("delay_ms", dict(delay_ms=(1,)), r"a pair"),
    ("delay_ms", dict(delay_ms=(NAN, 2)), r"finite"),
    ("delay_ms", dict(delay_ms=(1, INF)), r"finite"),
    ("max_batch", dict(max_batch=0), r"whole number >= 1"),
    ("max_batch", dict(max_batch=-1), r"whole number >= 1"),
    ("max_batch", dict(max_batch=1.5), r"whole number >= 1"),
    ("max_batch", dict(max_batch=True), r"whole number >= 1"),
    ("max_batch", dict(max_batch="64"), r"whole number >= 1"),
]


@pytest.mark.parametrize(
    "field, kwargs, message",
    CONFIG_MISUSES,
    ids=[f"{f}={v}" for f, k, _ in CONFIG_MISUSES for v in k.values()],
)
def test_a_bad_config_value_raises_value_error_naming_the_field(field, kwargs, message):
    with pytest.raises(ValueError, match=message) as caught:
        Config(**kwargs)
    assert f"Config.{field}" in str(caught.value)


def test_the_default_config_and_good_values_are_accepted():
    Config()
    c = Config(election_timeout_ms=[100, 100], heartbeat_ms=10, delay_ms=(0, 0), max_batch=1)
    assert c.election_timeout_ms == (100.0, 100.0)  # a list is taken, stored as a tuple


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(n=0), ValueError, r"between 1 and 15 nodes, got 0"),
        (dict(n=16), ValueError, r"between 1 and 15 nodes"),
        (dict(n="3"), ValueError, r"between 1 and 15 nodes"),
        (dict(n=True), ValueError, r"between 1 and 15 nodes"),
        (dict(n=2.5), ValueError, r"between 1 and 15 nodes"),
        (dict(seed="x"), ValueError, r"seed must be a whole number"),
        (dict(seed=1.5), ValueError, r"seed must be a whole number"),
        (dict(config={"heartbeat_ms": 50}), TypeError, r"config must be a raftlab.Config"),
        (dict(state_machine=CommandList()), TypeError, r"not an instance"),
        (
            dict(bugs={"nope"}),
            ValueError,
            r"unknown bug name\(s\) 'nope'; known bugs are: "
            r"figure8, forget_vote, lease_ignores_drift, no_log_check, no_prev_check, "
            r"read_index_no_heartbeat, send_before_persist",
        ),
        (dict(bugs="nope"), ValueError, r"unknown bug name"),
        (dict(bugs=["figure8", "typo"]), ValueError, r"'typo'"),
    ],
)
def test_a_bad_cluster_argument_raises_a_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        Cluster(**kwargs)


def test_known_bug_names_are_accepted_alone_or_together():
    assert Cluster(3, bugs="figure8").bugs == {"figure8"}
    assert Cluster(3, bugs=["forget_vote", "no_log_check"]).bugs == {"forget_vote", "no_log_check"}
