"""raftlab.records.fast_init: the faster __init__ keeps every promise of a frozen dataclass."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from raftlab.kv.commands import Command, Kind
from raftlab.log import Entry
from raftlab.messages import AppendEntries, AppendEntriesReply
from raftlab.records import fast_init
from raftlab.trace import TraceEvent


def test_fields_defaults_and_equality_are_the_dataclass_ones():
    r = AppendEntriesReply(1, 2, 3, True, match_index=7)
    assert (r.src, r.dst, r.term, r.success, r.match_index, r.rejected_index) == (
        1,
        2,
        3,
        True,
        7,
        0,
    )
    assert r == AppendEntriesReply(1, 2, 3, True, 7)
    assert hash(r) == hash(AppendEntriesReply(1, 2, 3, True, 7))
    assert dataclasses.replace(r, term=9).term == 9
    assert repr(TraceEvent(1.0, 2, "leader")) == (
        "TraceEvent(time=1.0, node=2, kind='leader', detail='', term=None, groups=None)"
    )
    assert list(inspect.signature(AppendEntries).parameters) == [
        f.name for f in dataclasses.fields(AppendEntries)
    ]


def test_still_frozen():
    e = Entry(1, 1, b"x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.term = 2  # type: ignore[misc]


def test_post_init_still_checks():
    assert Command(1, "k").kind is Kind.GET  # __post_init__ turned the int into the enum
    with pytest.raises(ValueError, match="carries no value"):
        Command(Kind.GET, "k", "v")


def test_missing_argument_is_a_type_error():
    with pytest.raises(TypeError):
        Entry(1, 1)  # type: ignore[call-arg]


def test_refuses_a_class_it_does_not_fit():
    @dataclasses.dataclass(slots=True)
    class Mutable:
        x: int

    with pytest.raises(TypeError, match="frozen"):
        fast_init(Mutable)

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        x: list = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="field x"):
        fast_init(WithFactory)
