"""``Config``: the timing and batching knobs (§5.2, §5.6), and how bad values are refused.

A bad value raises ``ValueError`` naming the field, so a learner knows what to fix.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from raftlab.config import Config


def test_defaults_are_the_papers_example_values():
    """§5.2 suggests election timeouts of 150-300 ms; heartbeats well below them (§5.6)."""
    c = Config()
    assert c.election_timeout_ms == (150.0, 300.0)
    assert c.heartbeat_ms == 50.0
    assert c.delay_ms == (2.0, 10.0)
    assert c.max_batch == 64


def test_ranges_are_stored_as_tuples_of_floats():
    """A list or ints are accepted and normalised, so equal configs compare equal."""
    c = Config(election_timeout_ms=[200, 400], heartbeat_ms=20, delay_ms=(1, 1))
    assert c.election_timeout_ms == (200.0, 400.0)
    assert all(type(v) is float for v in (*c.election_timeout_ms, *c.delay_ms, c.heartbeat_ms))
    assert c == Config(election_timeout_ms=(200.0, 400.0), heartbeat_ms=20.0, delay_ms=(1, 1))


def test_a_fixed_election_timeout_is_allowed():
    """lo == hi is legal (no randomness: split votes may then repeat, §5.2)."""
    assert Config(election_timeout_ms=(200, 200)).election_timeout_ms == (200.0, 200.0)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().heartbeat_ms = 10  # type: ignore[misc]


def test_replace_checks_the_new_values_too():
    with pytest.raises(ValueError, match="heartbeat_ms"):
        dataclasses.replace(Config(), heartbeat_ms=500)


def test_heartbeat_must_be_below_the_lowest_election_timeout():
    """§5.6: broadcastTime << electionTimeout.  A heartbeat at or above the lowest
    timeout lets followers time out between heartbeats, and elections never settle."""
    with pytest.raises(ValueError, match="strictly above"):
        Config(election_timeout_ms=(150, 300), heartbeat_ms=150)
    Config(election_timeout_ms=(150, 300), heartbeat_ms=149.9)  # just below: fine


def test_election_timeout_must_cover_a_network_round_trip():
    """A candidate needs a round trip (RequestVote there, the vote back) before its
    timer fires again; if even the longest election timeout is shorter than the slowest
    round trip (2 x the longest one-way delay), votes come back too late and a leader
    cannot be relied on (issue 9).  Refused with a sentence naming both fields."""
    with pytest.raises(ValueError, match=r"election_timeout_ms.*round trip.*delay_ms") as err:
        Config(election_timeout_ms=(20, 25), heartbeat_ms=10, delay_ms=(15, 20))
    assert "no leader" in str(err.value)
    with pytest.raises(ValueError, match="round trip"):
        Config(delay_ms=(100, 151))  # 302 ms round trip > 300 ms
    Config(delay_ms=(100, 150))  # a 300 ms round trip fits the longest timeout: fine
    Config(election_timeout_ms=(20, 25), heartbeat_ms=10, delay_ms=(0, 12.5))


def test_timings_below_a_round_trip_elect_no_leader():
    """Why the rule above: the same timings on a network made that slow at run time
    never elect a leader (every vote arrives after the candidate has moved on)."""
    from raftlab import Cluster, Timeout

    cluster = Cluster(3, seed=1, config=Config(election_timeout_ms=(20, 25), heartbeat_ms=10))
    cluster.network.delay_ms = (15, 20)
    with pytest.raises(Timeout):
        cluster.wait_for_leader(timeout_ms=2000)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("election_timeout_ms", (300, 150)),  # lo > hi
        ("election_timeout_ms", (-150, 300)),
        ("election_timeout_ms", (150, 300, 450)),
        ("election_timeout_ms", 150),
        ("election_timeout_ms", ("150", "300")),
        ("election_timeout_ms", (True, 300)),
        ("election_timeout_ms", (150, math.inf)),
        ("election_timeout_ms", (math.nan, 300)),
        ("delay_ms", (10, 2)),
        ("delay_ms", (-1, 2)),
        ("delay_ms", (0, math.nan)),
        ("heartbeat_ms", 0),
        ("heartbeat_ms", -5),
        ("heartbeat_ms", "50"),
        ("heartbeat_ms", True),
        ("heartbeat_ms", math.nan),
        ("heartbeat_ms", math.inf),
        ("max_batch", 0),
        ("max_batch", 2.0),
        ("max_batch", True),
        ("max_batch", None),
    ],
)
def test_bad_value_raises_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"Config.{field}"):
        Config(**{field: value})


def test_lo_greater_than_hi_says_how_to_write_it():
    with pytest.raises(ValueError, match=r"write it as \(lo, hi\)"):
        Config(delay_ms=(10, 2))
