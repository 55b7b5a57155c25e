"""``SafetyChecker.check_all``: the from-scratch recheck that ends every chaos run.

Log Matching (§5.3) between every pair of present logs, with compaction (§7) in the way,
and State Machine Safety (§5.4.3) against what the servers applied.  Each test that
expects a violation names the index where it is, so a recheck that stopped at the wrong
place (or compared the wrong entries) fails.
"""

from __future__ import annotations

import pytest
from nodeutil import make_node

from raftlab import SafetyViolation
from raftlab.invariants import SafetyChecker
from raftlab.log import Entry, Log


def node_with(id: int, log: Log, last_applied: int = 0):
    node = make_node(id, 3, term=2)
    node.log = log
    node.last_applied = last_applied
    return node


def test_logs_that_share_a_later_entry_must_agree_before_it():
    a = node_with(1, Log([Entry(1, 1, b"a"), Entry(2, 1, b"x"), Entry(3, 2, b"c")]))
    b = node_with(
        2, Log([Entry(1, 1, b"a"), Entry(2, 1, b"y"), Entry(3, 2, b"c"), Entry(4, 2, b"d")])
    )
    with pytest.raises(SafetyViolation, match="Log Matching") as caught:
        SafetyChecker().check_all({1: a, 2: b})
    assert "index 3 and term 2" in str(caught.value)
    assert "differ at index 2" in str(caught.value)


def test_logs_may_differ_after_the_last_entry_they_share():
    a = node_with(1, Log([Entry(1, 1, b"a"), Entry(2, 2, b"x")]))
    b = node_with(2, Log([Entry(1, 1, b"a"), Entry(2, 3, b"y"), Entry(3, 3, b"z")]))
    SafetyChecker().check_all({1: a, 2: b})  # no violation: they agree up to index 1


def test_a_compacted_log_is_compared_from_its_snapshot_on():
    # S1 keeps only indexes 3-4 after a snapshot up to index 2 (term 1).
    a = node_with(1, Log([Entry(3, 2, b"c"), Entry(4, 2, b"d")], 2, 1))
    b = node_with(
        2,
        Log(
            [
                Entry(1, 1, b"a"),
                Entry(2, 1, b"b"),
                Entry(3, 2, b"c"),
                Entry(4, 2, b"other"),
                Entry(5, 2, b"e"),
            ]
        ),
    )
    with pytest.raises(SafetyViolation, match="Log Matching") as caught:
        SafetyChecker().check_all({1: a, 2: b})
    assert "differ at index 4" in str(caught.value)
    b.log = Log([Entry(1, 1, b"a"), Entry(2, 1, b"b"), Entry(3, 2, b"c"), Entry(4, 2, b"d")])
    SafetyChecker().check_all({1: a, 2: b})


def test_an_applied_entry_must_match_what_others_applied_there():
    a = node_with(1, Log([Entry(1, 1, b"a"), Entry(2, 1, b"x")]), last_applied=2)
    checker = SafetyChecker()
    checker.applied[1] = (2, Entry(1, 1, b"a"))
    checker.applied[2] = (2, Entry(2, 1, b"y"))  # S2 applied another command at index 2
    with pytest.raises(SafetyViolation, match="State Machine Safety") as caught:
        checker.check_all({1: a})
    assert "S1 applied (index 2, term 1, b'x') but S2 applied (index 2, term 1, b'y')" in str(
        caught.value
    )
    a.last_applied = 1  # index 2 not applied yet: nothing to compare
    checker.check_all({1: a})
