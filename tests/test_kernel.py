"""The event kernel (``raftlab.kernel``): time order, a fixed tie-break, no scheduling in the
past; and the cluster's clock built on it (``run``, ``run_until``, ``step``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raftlab import Cluster
from raftlab.kernel import INF, Kernel


def drain(k: Kernel) -> list:
    out = []
    while len(k):
        time, callback, arg = k.pop()
        assert k.now == time
        out.append(callback(arg))
    return out


def test_events_run_in_time_order_and_now_follows_them():
    k = Kernel()
    for t in (30.0, 10.0, 20.0, 0.0):
        k.schedule(t, lambda a: (a, k.now), t)
    assert k.peek() == 0.0
    assert drain(k) == [(0.0, 0.0), (10.0, 10.0), (20.0, 20.0), (30.0, 30.0)]
    assert k.peek() == INF


def test_ties_break_in_scheduling_order_even_for_arguments_that_cannot_be_compared():
    k = Kernel()
    seen = []
    # Dicts and functions cannot be ordered: the kernel must never compare them.
    args = [{"n": n} for n in range(50)]
    for a in args:
        k.schedule(5.0, seen.append, a)
    k.schedule(5.0, lambda a: seen.append("last"), None)
    drain(k)
    assert seen == [*args, "last"]


def test_an_event_scheduled_for_now_by_a_callback_runs_after_those_already_due():
    k = Kernel()
    order = []

    def first(_):
        order.append("first")
        k.schedule(k.now, lambda _: order.append("scheduled by first"))

    k.schedule(1.0, first)
    k.schedule(1.0, lambda _: order.append("second"))
    drain(k)
    assert order == ["first", "second", "scheduled by first"]


def test_scheduling_in_the_past_is_refused_and_changes_nothing():
    k = Kernel()
    k.schedule(10.0, lambda _: None)
    k.pop()
    assert k.now == 10.0
    with pytest.raises(ValueError, match=r"cannot schedule at 9.5 ms, before now \(10.0 ms\)"):
        k.schedule(9.5, lambda _: None)
    assert len(k) == 0
    k.schedule(10.0, lambda _: "now is fine")
    assert drain(k) == ["now is fine"]


def test_the_kernel_knows_nothing_of_raft():
    import raftlab.kernel as kernel

    source = Path(kernel.__file__).read_text()
    assert "import raftlab" not in source and "from raftlab" not in source


# ------------------------------------------------------------------ the cluster clock


def test_run_processes_events_up_to_and_including_the_end_then_sets_now():
    c = Cluster(3, seed=1)
    first = min(c.nodes.values(), key=lambda n: n.next_deadline)
    due = first.next_deadline  # the first election timeout
    c.run(due)  # from time 0, so the end is exactly that instant
    assert c.now == due
    assert [(e.time, e.node, e.kind) for e in c.trace] == [(due, first.id, "candidate")]
    c.run(0)
    assert c.now == due
    c.run(123.25)
    assert c.now == due + 123.25
    assert c.kernel.peek() > c.now


def test_run_until_stops_at_the_event_that_made_it_true():
    c = Cluster(3, seed=2)
    assert c.run_until(lambda c: c.leader() is not None, 5000)
    elected = next(e for e in c.trace if e.kind == "leader")
    assert c.now == elected.time
    # A predicate true from the start costs nothing.
    now, events = c.now, c.event_count
    assert c.run_until(lambda c: True, 1000)
    assert (c.now, c.event_count) == (now, events)
    # A predicate that never holds: False, and time is exactly start + timeout.
    assert not c.run_until(lambda c: False, 250)
    assert c.now == now + 250


def test_step_processes_exactly_one_event():
    c = Cluster(3, seed=3)
    steps = 0
    while c.leader() is None:
        before = c.event_count
        c.step()
        steps += 1
        assert c.event_count == before + 1
    assert steps > 3
    assert c.now == next(e for e in c.trace if e.kind == "leader").time


def test_time_never_goes_backwards_during_a_run():
    c = Cluster(5, seed=4)
    c.network.delay_ms = (0, 40)
    times = []
    c.subscribe(lambda c: times.append(c.now))
    c.run(3000)
    assert len(times) > 100
    assert times == sorted(times)
    assert [e.time for e in c.trace] == sorted(e.time for e in c.trace)
