"""The replicated log (``raftlab.log``): indexes from 1, ``term(0) == 0``, slicing, the
term look-ups behind fast backup (§5.3), and append/truncate as the only changes."""

from __future__ import annotations

import dataclasses

import pytest
from nodeutil import log_of, terms_of

from raftlab.log import Entry, Log


def test_empty_log_stands_for_the_empty_prefix():
    """Index 0 with term 0 is "before the first entry": the consistency check for a
    log's first entry needs no special case (§5.3)."""
    log = Log()
    assert (log.last_index, log.last_term, len(log)) == (0, 0, 0)
    assert log.term(0) == 0
    assert list(log) == [] and log.entries(1) == []


def test_indexes_start_at_1_as_in_the_paper():
    log = log_of(1, 1, 2)
    assert log.entry(1) == Entry(1, 1, log.entry(1).command)
    assert [log.term(i) for i in (0, 1, 2, 3)] == [0, 1, 1, 2]
    assert (log.last_index, log.last_term) == (3, 2)
    assert [e.index for e in log] == [1, 2, 3]


@pytest.mark.parametrize("index", [-1, 4, 100])
def test_term_outside_the_log_raises_index_error_with_the_range(index):
    with pytest.raises(IndexError, match=r"1\.\.3"):
        log_of(1, 1, 2).term(index)


@pytest.mark.parametrize("index", [0, -1, 4])
def test_entry_outside_the_log_raises_index_error(index):
    """There is no entry 0: ``term(0)`` is defined, ``entry(0)`` is not."""
    with pytest.raises(IndexError, match="no entry"):
        log_of(1, 1, 2).entry(index)


def test_entries_is_a_half_open_range_of_indexes():
    log = log_of(1, 1, 2, 3)
    assert [e.index for e in log.entries(2, 4)] == [2, 3]
    assert [e.index for e in log.entries(3)] == [3, 4]
    assert log.entries(5) == [] and log.entries(3, 3) == []
    assert [e.index for e in log.entries(1, 99)] == [1, 2, 3, 4]


def test_entries_before_index_1_is_refused_not_read_from_the_far_end():
    """Without a check, Python's negative slices would make ``entries(0)`` the last
    entry and ``entries(1, 0)`` all but the last one."""
    log = log_of(1, 1, 2)
    with pytest.raises(IndexError, match="start at 1"):
        log.entries(0)
    assert log.entries(1, 0) == []


def test_first_index_of_term_finds_the_start_of_the_run():
    """The follower's half of fast backup (§5.3): where the conflicting term begins."""
    log = log_of(1, 1, 2, 2, 2, 3)
    assert [log.first_index_of_term(i) for i in range(1, 7)] == [1, 1, 3, 3, 3, 6]


def test_last_index_of_term_finds_the_end_or_zero():
    """The leader's half of fast backup: its last entry of a term, 0 if it has none."""
    log = log_of(1, 1, 3, 3, 5)
    assert [log.last_index_of_term(t) for t in (1, 2, 3, 4, 5, 6)] == [2, 0, 4, 0, 5, 0]
    assert Log().last_index_of_term(1) == 0


def test_append_and_truncate_are_the_only_changes_and_bump_the_version():
    log = log_of(1, 1)
    v = log.version
    log.append([Entry(3, 2, b"c")])
    assert terms_of(log) == [1, 1, 2] and log.version == v + 1
    log.truncate(2)
    assert terms_of(log) == [1] and log.version == v + 2


def test_truncate_before_index_1_is_refused_and_changes_nothing():
    """``truncate(0)`` would otherwise delete just the last entry."""
    log = log_of(1, 1, 2)
    with pytest.raises(IndexError, match="start at 1"):
        log.truncate(0)
    assert terms_of(log) == [1, 1, 2]


def test_log_copies_the_list_it_is_given():
    source = [Entry(1, 1, b"a")]
    log = Log(source)
    source.append(Entry(2, 1, b"b"))
    assert log.last_index == 1


def test_as_tuple_is_a_snapshot_that_later_changes_do_not_touch():
    log = log_of(1, 2)
    snap = log.as_tuple()
    log.truncate(2)
    assert [e.term for e in snap] == [1, 2]


def test_entries_are_frozen_records():
    """An entry never changes once made; a log changes only by append and truncate."""
    entry = Entry(1, 1, b"a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.term = 2  # type: ignore[misc]


def test_repr_draws_the_terms_of_the_last_twelve_entries():
    assert repr(log_of(1, 1, 2)) == "Log(last_index=3, terms=[1 1 2])"
    long = log_of(*([1] * 10 + [2] * 5))
    assert repr(long) == "Log(last_index=15, terms=[... 1 1 1 1 1 1 1 2 2 2 2 2])"
