"""MemoryStorage: the simulator's stable storage (§5, Figure 2 "Persistent state")."""

from __future__ import annotations

import pytest

from raftlab.log import Entry, Log
from raftlab.node import HardState, Ready
from raftlab.storage import MemoryStorage


def ready(persist_from=None, hard_state=None) -> Ready:
    rd = Ready()
    rd.persist_from, rd.hard_state = persist_from, hard_state
    return rd


def test_save_then_load_gives_back_the_hard_state_and_the_log():
    log = Log([Entry(1, 1, b"a"), Entry(2, 1, b"b")])
    s = MemoryStorage()
    s.save(ready(1, HardState(1, 2)), log)
    assert s.load() == (HardState(1, 2), [Entry(1, 1, b"a"), Entry(2, 1, b"b")])
    log.truncate(2)
    log.append([Entry(2, 2, b"c")])
    s.save(ready(2), log)  # a conflict replaced the suffix
    assert s.load()[1] == [Entry(1, 1, b"a"), Entry(2, 2, b"c")]


def test_a_save_that_would_leave_a_hole_is_refused_and_changes_nothing():
    log = Log([Entry(i, 1, b"x") for i in range(1, 5)])
    s = MemoryStorage()
    s.save(ready(1), Log(log.entries(1, 2)))
    with pytest.raises(ValueError, match="from index 3: only indexes 1..1 are stored"):
        s.save(ready(3, HardState(5, 1)), log)
    assert s.load() == (HardState(), [Entry(1, 1, b"x")])
