"""raftlab.linearizability: the checker agrees with a brute-force oracle, explains failures with
a minimal set, and its command line exits 0 / 1 / 2.

The oracle tries every order of the operations (with every choice of which unknown-outcome
operations took effect) and is written from the definition (Herlihy & Wing 1990), sharing no
code with the checker."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftlab.history import ANY, History, Operation
from raftlab.linearizability import CheckResult, check, main, shrink
from raftlab.linearizability.minimize import explain
from raftlab.linearizability.models import (
    APPEND,
    APPEND_SAW,
    CAS,
    FAILED_CAS,
    MAYBE,
    MAYBE_APPEND,
    MAYBE_CAS,
    MAYBE_WRITE,
    READ,
    WRITE,
    Step,
    compile_key,
    relax,
)
from raftlab.linearizability.search import KeySearch
from raftlab.linearizability.segments import decide

# --- the oracle ------------------------------------------------------------------------------

INF = math.inf


def _apply(kind, a, b, state):
    """(legal, new state) for one step, straight from the models' definitions."""
    if kind == READ:
        return state == a, state
    if kind == FAILED_CAS:
        return state is None or state != a, state
    if kind in (WRITE, MAYBE_WRITE):
        return True, a
    if kind == CAS:
        return state is not None and state == a, b
    if kind == MAYBE_CAS:  # took effect: swapped if equal, else changed nothing
        return True, b if state is not None and state == a else state
    if kind in (APPEND, MAYBE_APPEND):
        return True, (state or "") + a
    if kind == APPEND_SAW:
        return (state or "") + a == b, b
    raise AssertionError(kind)


def _orderable(steps, start):
    """Is there an order of all required steps and some optional ones, respecting real time?"""
    required = [s for s in steps if s.kind not in MAYBE]
    optional = [s for s in steps if s.kind in MAYBE]
    for r in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, r):
            for order in itertools.permutations(required + list(chosen)):
                # real time: a step that returned before another was called goes first
                if any(
                    order[j].ret < order[i].call
                    for i in range(len(order))
                    for j in range(i + 1, len(order))
                ):
                    continue
                state, legal = start, True
                for s in order:
                    legal, state = _apply(s.kind, s.a, s.b, state)
                    if not legal:
                        break
                if legal:
                    return True
    return False


def _every_start(steps):
    """More starting values than needed: every value and every prefix of every string seen."""
    values = {None, "\x00fresh"}
    for s in steps:
        for v in (s.a, s.b):
            if v is not None and not isinstance(v, bool):
                values.add(v)
                if isinstance(v, str):
                    values.update(v[:i] for i in range(len(v)))
    return sorted(values, key=repr)


def oracle_steps(steps, start):
    if start is ANY:
        return any(_orderable(steps, v) for v in _every_start(steps))
    return _orderable(steps, start)


def _to_steps(ops):
    """Operations as oracle steps, by hand (not with the checker's compile_key)."""
    steps = []
    for n, op in enumerate(ops):
        if op.relaxed or (op.ret is None and op.op == "get"):
            continue
        ret = INF if op.ret is None else op.ret
        if op.op == "get":
            kind, a, b = READ, op.output, None
        elif op.op in ("set", "delete"):
            kind, a, b = (MAYBE_WRITE if op.ret is None else WRITE), op.value, None
            if op.op == "delete":
                a = None
        elif op.op == "cas":
            if op.ret is None:
                kind, a, b = MAYBE_CAS, op.expected, op.value
            else:
                kind, a, b = (CAS if op.output else FAILED_CAS), op.expected, op.value
        elif op.ret is None:
            kind, a, b = MAYBE_APPEND, op.value, None
        elif op.output is None:
            kind, a, b = APPEND, op.value, None
        else:
            kind, a, b = APPEND_SAW, op.value, op.output
        steps.append(Step(op.call, ret, kind, a, b, n))
    return steps


def oracle(history):
    by_key = {}
    for op in history:
        by_key.setdefault(op.key, []).append(op)
    return all(oracle_steps(_to_steps(ops), history.initial) for ops in by_key.values())


# --- random small histories ------------------------------------------------------------------

MODEL_VALUES = {
    "register": {"ops": ["get", "set", "cas"], "values": [0, 1, 2], "reads": [None, 0, 1, 2]},
    "kv": {
        "ops": ["get", "set", "delete", "cas", "append"],
        "values": ["a", "b"],
        "reads": [None, "", "a", "b", "x", "ax", "xy", "yx", "bxy"],
    },
}


@st.composite
def histories(draw, model, max_ops=6, initial=(None,)):
    """Small histories; from none to half of their operations (on average) have an unknown
    outcome, the share drawn per history."""
    domain = MODEL_VALUES[model]
    keys = ["k", "j"] if model == "kv" and draw(st.booleans()) else ["k"]
    unknown_share = draw(st.sampled_from([0, 2, 4, 5]))  # in tenths
    ops = []
    for client in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(domain["ops"]))
        call = draw(st.integers(0, 12))
        unknown = draw(st.integers(0, 9)) < unknown_share
        ret = None if unknown else call + draw(st.integers(0, 6))
        value = expected = output = None
        relaxed = False
        if op == "get":
            output = None if ret is None else draw(st.sampled_from(domain["reads"]))
            relaxed = ret is not None and draw(st.integers(0, 9)) == 0
        elif op == "set":
            value = draw(st.sampled_from(domain["values"]))
        elif op == "cas":
            expected = draw(st.sampled_from(domain["values"]))
            value = draw(st.sampled_from(domain["values"]))
            output = None if ret is None else draw(st.booleans())
        elif op == "append":
            value = draw(st.sampled_from(["x", "y"]))
            if ret is not None and draw(st.integers(0, 3)) == 0:
                output = draw(st.sampled_from(domain["reads"][2:]))
        key = draw(st.sampled_from(keys))
        ops.append(Operation(client, op, key, value, expected, output, call, ret, relaxed))
    return History(ops, initial=draw(st.sampled_from(initial)))


@settings(max_examples=400)
@given(histories("register"))
def test_register_histories_agree_with_brute_force(history):
    assert check(history, model="register").ok == oracle(history)


@settings(max_examples=600)
@given(histories("kv", initial=(None, "", ANY)))
def test_kv_histories_agree_with_brute_force(history):
    assert check(history, model="kv").ok == oracle(history)


@settings(max_examples=150)
@given(histories("register", max_ops=7))
def test_register_histories_of_seven_agree_with_brute_force(history):
    assert check(history, model="register").ok == oracle(history)


@st.composite
def half_unknown(draw):
    """kv histories of up to 8 operations with exactly half (rounded down) of unknown
    outcome, heavy in failed cas and appends: where rules 6 and 8 of the search bite."""
    ops = []
    n = draw(st.integers(2, 8))
    unknown = set(draw(st.permutations(range(n)))[: n // 2])
    for client in range(n):
        op = draw(st.sampled_from(["get", "set", "cas", "cas", "append", "append", "delete"]))
        call = draw(st.integers(0, 10))
        ret = None if client in unknown else call + draw(st.integers(0, 5))
        value = expected = output = None
        if op == "get":
            output = None if ret is None else draw(st.sampled_from([None, "a", "b", "ax", "xa"]))
        elif op == "set":
            value = draw(st.sampled_from(["a", "b"]))
        elif op == "cas":
            expected, value = draw(st.sampled_from(["a", "b", "ax"])), draw(st.sampled_from("ab"))
            output = None if ret is None else draw(st.booleans())
        elif op == "append":
            value = draw(st.sampled_from(["x", "y"]))
        ops.append(Operation(client, op, "k", value, expected, output, call, ret))
    return History(ops, initial=draw(st.sampled_from([None, "a", ""])))


@settings(max_examples=500)
@given(half_unknown())
def test_histories_half_unknown_agree_with_brute_force(history):
    assert check(history, model="kv").ok == oracle(history)


@st.composite
def bursts(draw):
    """Up to seven known-outcome kv steps on one key in up to three bursts with quiet gaps
    between them (each burst ends by time 20 * n + 9, the next starts at 20 * (n + 1)),
    busy inside: what the segment fast path is for."""
    steps = []
    for burst in range(draw(st.integers(1, 3))):
        for _ in range(draw(st.integers(1, 3))):
            if len(steps) == 7:
                break
            kind = draw(st.sampled_from([READ, READ, FAILED_CAS, WRITE, CAS, APPEND, APPEND_SAW]))
            call = 20 * burst + draw(st.integers(0, 4))
            ret = call + draw(st.integers(0, 5))
            strings = kind in (APPEND, APPEND_SAW)
            a = draw(st.sampled_from(["x", "y"] if strings else [None, "x", "y", "xy"]))
            b = draw(st.sampled_from(["x", "y", "xy", "yx"]))
            if kind == CAS and a is None:
                a = "x"
            steps.append(Step(call, ret, kind, a, b, len(steps)))
    steps.sort(key=lambda s: (s.call, s.ret, s.source))
    return steps


@settings(max_examples=500)
@given(bursts(), st.sampled_from([None, "", "x", "y", ANY]))
def test_segment_fast_path_agrees_with_brute_force(steps, start):
    """The fast path says True exactly when some order exists (it works out every value
    each burst can leave, so it is exact here), and None otherwise."""
    starts = [None, "", "x", "y", "xy", "fresh"] if start is ANY else [start]
    expected = any(oracle_steps(steps, v) for v in starts)
    assert decide(steps, starts) is (True if expected else None)


def test_segment_fast_path_keeps_every_value_a_burst_may_leave():
    """Two concurrent writes may leave either value; real time inside a burst still
    counts: a read that returned before the second write was called cannot see it."""
    w = [Step(0, 2, WRITE, "x", None, 0), Step(1, 3, WRITE, "y", None, 1)]
    for seen in ("x", "y"):
        assert decide([*w, Step(10, 11, READ, seen, None, 2)], [None]) is True
    # One burst (the long write spans it): the read of "y" returned before "y" was written.
    early = [Step(0, 10, WRITE, "x", None, 0), Step(0, 1, READ, "y", None, 1)]
    early.append(Step(2, 6, WRITE, "y", None, 2))
    assert decide(early, [None]) is None
    ops = [op(0, "set", 0, 10, "x"), op(1, "get", 0, 1, output="y"), op(2, "set", 2, 6, "y")]
    assert check(History(ops)).ok is False


@st.composite
def one_burst(draw):
    """One burst of one to six known kv steps on few values: each is called by the time
    the last of the steps before it returned (the burst never goes quiet), while real time
    may still order some of them (a step called after another returned)."""
    steps = []
    end = call = 0
    for n in range(draw(st.integers(1, 6))):
        call = draw(st.integers(call, end))
        ret = call + draw(st.integers(0, 4))
        end = max(end, ret)
        kind = draw(
            st.sampled_from([READ, READ, FAILED_CAS, WRITE, WRITE, CAS, APPEND, APPEND_SAW])
        )
        strings = kind in (APPEND, APPEND_SAW)
        a = draw(st.sampled_from(["x", "y"] if strings else [None, "x", "y"]))
        b = draw(st.sampled_from(["x", "y", "xy", "yx"]))
        if kind == CAS and a is None:
            a = "x"
        steps.append((call, ret, n, kind, a, b))
    return sorted(steps)


@settings(max_examples=500)
@given(one_burst(), st.sampled_from([[None], ["x"], [None, "x", "y"], ["", "xy"]]))
def test_a_burst_replay_reaches_exactly_the_values_of_every_order(rows, states):
    """The values the fast path says one burst may leave (inline for one or two steps, by
    the orders of three that do not just swap two reads, by search from four) are exactly
    those every real-time order reaches, tried one by one."""
    from raftlab.linearizability.segments import _replay

    expected = set()
    for order in itertools.permutations(rows):
        if any(
            order[j][1] < order[i][0] for i in range(len(order)) for j in range(i + 1, len(order))
        ):
            continue  # a step that returned before another was called goes first
        for v in states:
            legal = True
            for _, _, _, kind, a, b in order:
                legal, v = _apply(kind, a, b, v)
                if not legal:
                    break
            if legal:
                expected.add(v)
    found = _replay(rows, list(states))
    assert len(found) == len(set(found))
    assert set(found) == expected


@st.composite
def bursts_with_unknowns(draw):
    """Up to eight kv steps on one key in up to four bursts, from none to half of them of
    unknown outcome (they may take effect in any later burst), on few values so that later
    steps often see what an unknown wrote."""
    steps = []
    share = draw(st.sampled_from([1, 3, 5]))  # in tenths
    for burst in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(1, 3))):
            if len(steps) == 8:
                break
            call = 20 * burst + draw(st.integers(0, 4))
            if draw(st.integers(0, 9)) < share:
                kind = draw(st.sampled_from([MAYBE_WRITE, MAYBE_WRITE, MAYBE_CAS, MAYBE_APPEND]))
                ret = INF
            else:
                kind = draw(
                    st.sampled_from([READ, READ, FAILED_CAS, WRITE, CAS, APPEND, APPEND_SAW])
                )
                ret = call + draw(st.integers(0, 5))
            strings = kind in (APPEND, APPEND_SAW, MAYBE_APPEND)
            a = draw(st.sampled_from(["x", "y"] if strings else [None, "x", "y", "xy"]))
            b = draw(st.sampled_from(["x", "y", "xy", "yx"]))
            if kind in (CAS, MAYBE_CAS) and a is None:
                a = "x"
            steps.append(Step(call, ret, kind, a, b, len(steps)))
    steps.sort(key=lambda s: (s.call, s.ret, s.source))
    return steps


@settings(max_examples=800)
@given(bursts_with_unknowns(), st.sampled_from([None, "", "x", "y"]))
def test_segment_fast_path_with_unknowns_never_claims_an_order_that_does_not_exist(steps, start):
    """With unknown outcomes the fast path tries only some placements of them (see its
    docstring), so it may say None where an order exists, but True only where one does."""
    verdict = decide(steps, [start])
    assert verdict in (True, None)
    if verdict:
        assert oracle_steps(steps, start)


def test_segment_fast_path_places_an_unknown_write_where_a_later_read_saw_it():
    # A set whose client timed out, then a read, in a later burst, of the value it wrote,
    # and an append nobody heard back from whose piece a later read contains.
    steps = [
        Step(0, INF, MAYBE_WRITE, "x", None, 0),
        Step(1, 2, READ, None, None, 1),
        Step(10, 11, READ, "x", None, 2),
        Step(12, INF, MAYBE_APPEND, "y", None, 3),
        Step(20, 21, READ, "xy", None, 4),
    ]
    assert decide(steps, [None]) is True
    # The read of "x" returned before the set was called: nothing can explain it.
    early = [Step(0, 1, READ, "x", None, 0), Step(2, INF, MAYBE_WRITE, "x", None, 1)]
    assert decide(early, [None]) is None
    assert check(History([op(0, "get", 0, 1, output="x"), op(1, "set", 2, None, "x")])).ok is False


# The search also runs on *relaxed* steps (optional, but within their interval), which no
# History can express; minimization depends on them, so test the search on them directly.

KINDS = [READ, FAILED_CAS, WRITE, CAS, APPEND, APPEND_SAW, MAYBE_WRITE, MAYBE_CAS, MAYBE_APPEND]


@st.composite
def raw_steps(draw):
    steps = []
    for n in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(KINDS + [MAYBE_WRITE, MAYBE_APPEND, FAILED_CAS]))
        call = draw(st.integers(0, 10))
        ret = call + draw(st.integers(0, 5))
        if kind in MAYBE and draw(st.booleans()):
            ret = INF
        strings = kind in (APPEND, APPEND_SAW, MAYBE_APPEND)
        a = draw(st.sampled_from(["x", "y"] if strings else [None, "x", "y", "xy"]))
        b = draw(st.sampled_from(["x", "y", "xy", "yx"]))
        if kind in (CAS, MAYBE_CAS) and a is None:
            a = "x"
        steps.append(Step(call, ret, kind, a, b, n))
    steps.sort(key=lambda s: (s.call, s.ret, s.source))
    return steps


@settings(max_examples=600)
@given(raw_steps(), st.sampled_from([None, "", "x", "y"]))
def test_search_with_optional_steps_agrees_with_brute_force(steps, start):
    assert KeySearch(steps, start).run(10**6) == oracle_steps(steps, start)


def test_a_read_does_not_shut_out_an_optional_write_it_must_follow():
    # Regression: "reads go at once" once placed the read of 1 first, after which the
    # optional write of 2 (returned at 5, before the read was called) could never go.
    steps = [
        Step(0, 5, MAYBE_WRITE, 2, None, 0),
        Step(3, 20, READ, 2, None, 1),
        Step(6, 30, WRITE, 1, None, 2),
        Step(10, 11, READ, 1, None, 3),
    ]
    assert oracle_steps(steps, 1)
    assert KeySearch(steps, 1).run(1000) is True


# --- hand-made cases ---------------------------------------------------------------------------


def op(client, name, call, ret, value=None, expected=None, output=None, key="x"):
    return Operation(client, name, key, value, expected, output, call, ret)


def test_an_unknown_write_may_be_needed_early_by_a_failed_cas_that_expects_its_value():
    # The unknown set of b must land before the append: then the first failed cas sees
    # "bx" (not "ax") and the second sees "bx" (not "b").  Landing it later, just before
    # the first failed cas, leaves "b" for the second, which then fails.  Rule 8 of the
    # search may only postpone an unknown whose value no failed cas expects.
    h = History(
        [
            op(0, "set", 0, None, "b"),
            op(1, "append", 1, 2, "x"),
            op(2, "cas", 3, 4, "c", expected="ax", output=False),
            op(3, "cas", 5, 6, "c", expected="b", output=False),
        ],
        initial="a",
    )
    assert oracle(h) is True
    assert check(h).ok is True


def test_stale_read_after_a_completed_write_is_not_linearizable():
    h = History([op(1, "set", 0, 1, "a"), op(2, "set", 2, 3, "b"), op(3, "get", 4, 5, output="a")])
    result = check(h)
    assert result.ok is False and result.key == "x"


def test_concurrent_write_may_be_seen_or_not():
    for seen in ("a", None):
        h = History([op(1, "set", 0, 10, "a"), op(2, "get", 1, 2, output=seen)])
        assert check(h).ok is True


def test_unknown_write_may_take_effect_late_or_never():
    late = History([op(1, "set", 0, None, "a"), op(2, "get", 50, 51, output="a")])
    never = History([op(1, "set", 0, None, "a"), op(2, "get", 50, 51, output=None)])
    both = History(
        [
            op(1, "set", 0, None, "a"),
            op(2, "get", 50, 51, output="a"),
            op(3, "get", 60, 61, output=None),
        ]
    )
    assert check(late).ok and check(never).ok
    assert check(both).ok is False  # once it took effect it cannot be undone


def test_touching_intervals_are_concurrent():
    # The read starts at the very instant the write returns: either order is allowed.
    assert check(History([op(1, "set", 0, 5, "a"), op(2, "get", 5, 6, output=None)])).ok
    assert not check(History([op(1, "set", 0, 5, "a"), op(2, "get", 6, 7, output=None)])).ok


def test_failed_cas_is_a_read_of_something_else():
    h = History([op(1, "set", 0, 1, "a"), op(2, "cas", 2, 3, "b", expected="a", output=False)])
    assert check(h).ok is False
    h2 = History([op(1, "set", 0, 1, "z"), op(2, "cas", 2, 3, "b", expected="a", output=False)])
    assert check(h2).ok is True


def test_cas_on_a_missing_key_fails_in_the_kv_model():
    h = History([op(1, "cas", 0, 1, "b", expected="a", output=True)])
    assert check(h).ok is False
    assert check(History([op(1, "cas", 0, 1, "b", expected="a", output=False)])).ok


def test_relaxed_reads_are_left_out():
    stale = Operation(2, "get", "x", output="old", call=5, ret=6, relaxed=True)
    assert check(History([op(1, "set", 0, 1, "new"), stale])).ok is True


def test_keys_are_independent_and_the_failing_key_is_named():
    h = History(
        [
            op(1, "set", 0, 1, "a", key="good"),
            op(2, "get", 2, 3, output="a", key="good"),
            op(3, "set", 0, 1, "a", key="bad"),
            op(4, "get", 2, 3, output="b", key="bad"),
        ]
    )
    assert check(h).key == "bad"


def test_porcupine_histories_start_every_key_empty():
    read_empty = [op(1, "get", 0, 1, output="")]
    assert check(History(read_empty, initial="")).ok
    assert check(History(read_empty)).ok is False  # absent is not ""
    assert check(History(read_empty, initial=ANY)).ok


def test_register_model_refuses_kv_operations():
    with pytest.raises(ValueError, match="register does not have"):
        check(History([op(1, "append", 0, 1, "x")]), model="register")
    with pytest.raises(ValueError, match="unknown model"):
        check(History(), model="queue")


def test_values_the_models_cannot_compare_are_refused():
    with pytest.raises(ValueError, match="append takes a string"):
        check(History([op(1, "append", 0, 1, 5)]))
    with pytest.raises(ValueError, match="which is appended to"):
        check(History([op(1, "set", 0, 1, 5), op(2, "append", 2, 3, "a")]))
    with pytest.raises(ValueError, match="operation 0 has value \\[1\\]"):
        check(History([op(1, "set", 0, 1, [1])]))
    with pytest.raises(ValueError, match="keys start at 5, but 'x' is appended to"):
        check(History([op(1, "append", 0, 1, "a")], initial=5))
    # From any start, an appended key starts as a string (or absent), never as the 7 read
    # here (which once crashed the append): that read cannot be explained.
    read_int = History([op(1, "get", 0, 1, output=7), op(2, "append", 2, 3, "a")], ANY)
    assert check(read_int).ok is False
    with pytest.raises(ValueError, match="operation 0 has key \\{\\}"):
        check(History([op(1, "set", 0, 1, "v", key={})]))


def test_empty_history_is_linearizable():
    assert check(History()).ok is True


def hard_history(n=14):
    """n concurrent writes, each read back concurrently, then a read of a value nobody wrote:
    refuting it means visiting every subset of the writes (2**n * n nodes)."""
    writes = [op(i, "set", 0, 100, f"v{i}") for i in range(n)]
    reads = [op(n + i, "get", 0, 100, output=f"v{i}") for i in range(n)]
    return History([*writes, *reads, op(99, "get", 101, 102, output="nobody wrote this")])


def test_timeout_gives_up_with_ok_none():
    result = check(hard_history(), timeout_s=0)
    assert result.ok is None
    assert "gave up" in result.verdict()
    assert check(hard_history(6), timeout_s=60).ok is False  # small enough to finish


# --- the minimal failing set -----------------------------------------------------------------


def _relaxed_steps(steps, exact):
    keep = {s.source for s in exact}
    out = [s if s.source in keep else relax(s) for s in steps]
    return [s for s in out if s is not None]


def assert_minimal(history, result):
    """The property CheckResult promises, checked with the oracle."""
    key_ops = [o for o in history if o.key == result.key]
    steps = _to_steps(key_ops)
    by_op = {id(key_ops[s.source]): s for s in steps}
    exact = [by_op[id(o)] for o in result.operations]
    # 1. With every other operation of the key relaxed, it still cannot be ordered...
    assert not oracle_steps(_relaxed_steps(steps, exact), result.start)
    # 2. ...relax any one of these as well and it can...
    for s in exact:
        assert oracle_steps(_relaxed_steps(steps, [e for e in exact if e is not s]), result.start)
    # 3. ...and these operations alone cannot be ordered, as check() itself says.
    alone = History(result.operations, initial=result.start)
    assert not oracle(alone)
    assert check(alone).ok is False


@settings(max_examples=300)
@given(histories("kv", initial=(None, "", ANY)))
def test_failures_come_with_a_minimal_set_kv(history):
    result = check(history, model="kv")
    if result.ok is False:
        assert result.minimal
        assert_minimal(history, result)


@settings(max_examples=300)
@given(histories("register", max_ops=7))
def test_failures_come_with_a_minimal_set_register(history):
    result = check(history, model="register")
    if result.ok is False:
        assert result.minimal
        assert_minimal(history, result)


def test_stale_read_is_explained_by_the_writes_it_missed():
    h = History(
        [
            op(1, "set", 0, 1, "a"),
            op(2, "get", 1, 2, output="a"),
            op(3, "set", 3, 4, "b"),
            op(4, "get", 5, 6, output="b"),
            op(5, "get", 7, 8, output="a"),  # stale: b was written and read before
            op(6, "get", 9, 10, output="a"),
        ]
    )
    result = check(h)
    assert result.ok is False
    # Any start, the write of b (or its read) before the stale read is the clash.
    assert result.start is ANY
    assert len(result.operations) == 2
    assert result.operations[-1].output == "a" and result.operations[-1].call in (7, 9)
    assert result.operations[0].call in (3, 5)
    assert_minimal(h, result)


def test_an_unknown_write_that_could_explain_a_read_is_not_blamed():
    # Deleting operations would "explain" this with {set b, get a}, ignoring that client 0's
    # unknown set of a may have landed in between.  The explanation must not ignore it.
    h = History(
        [
            op(0, "set", 0, None, "a"),
            op(1, "set", 3, 4, "b"),
            op(2, "get", 5, 6, output="a"),
            op(3, "set", 7, 8, "c"),
            op(4, "get", 9, 10, output="a"),
        ]
    )
    result = check(h)
    assert result.ok is False
    assert len(result.operations) == 4  # both reads of a, and both writes before them
    assert_minimal(h, result)


def test_minimal_false_gives_the_verdict_and_shrink_is_a_separate_step():
    h = History(
        [
            op(1, "set", 0, 1, "a"),
            op(2, "get", 1, 2, output="a"),
            op(3, "set", 3, 4, "b"),
            op(4, "get", 5, 6, output="b"),
            op(5, "get", 7, 8, output="a"),
            op(6, "set", 0, 1, "z", key="y"),
        ]
    )
    quick = check(h, minimal=False)
    assert quick.ok is False and quick.key == "x" and not quick.minimal
    assert set(quick.operations) == {o for o in h if o.key == "x"}  # the whole failing key
    assert "may not be minimal" in quick.verdict()
    shrunk = shrink(h, quick)
    assert shrunk == check(h) and shrunk.minimal and len(shrunk.operations) == 2
    assert_minimal(h, shrunk)
    assert shrink(h, shrunk) is shrunk and shrink(h, check(History())).ok is True


def test_explain_alone_on_a_failing_key():
    h = History([op(1, "set", 0, 1, "a"), op(2, "get", 2, 3, output=None)])
    steps = compile_key(list(enumerate(h)))
    found = explain(steps, None)
    assert {s.source for s in found.steps} == {0, 1} and found.minimal


def test_verdict_paragraphs():
    ok = check(History([op(1, "set", 0, 1, "a")]))
    assert ok.verdict().startswith("Linearizable")
    bad = check(History([op(1, "set", 0, 1, "a"), op(2, "get", 2, 3, output="b")]))
    text = str(bad)
    assert text.startswith("Not linearizable: key 'x' (kv model). No order that respects")
    assert "client 1: set(x, 'a')  [0, 1]" in text and "client 2: get(x) -> 'b'  [2, 3]" in text
    assert isinstance(bad, CheckResult)


# --- the command line ------------------------------------------------------------------------


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_cli_exit_codes(tmp_path, capsys):
    good = History([op(1, "set", 0, 1, "a"), op(2, "get", 2, 3, output="a")])
    bad = History([op(1, "set", 0, 1, "a"), op(2, "get", 2, 3, output="b")])
    assert main([_write(tmp_path, "good.json", good.to_json())]) == 0
    assert "Linearizable" in capsys.readouterr().out
    assert main(["check-history", _write(tmp_path, "bad.json", bad.to_json())]) == 1
    out = capsys.readouterr().out
    assert "Not linearizable: key 'x'" in out
    assert "  client 2: get(x) -> 'b'  [2, 3]" in out.splitlines()
    assert main([_write(tmp_path, "junk.txt", "what is this\n")]) == 2
    assert "line 1" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main([]) == 2
    assert main(["x.json", "--model", "queue"]) == 2


def test_cli_picks_the_model_from_the_format(tmp_path, capsys):
    jepsen = (
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
        "INFO  jepsen.util - 0\t:ok\t:write\t1\n"
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"
        "INFO  jepsen.util - 1\t:ok\t:read\t1\n"
    )
    assert main([_write(tmp_path, "r.log", jepsen)]) == 0
    assert "(register model)" in capsys.readouterr().out
    kv = '{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n'
    kv += '{:process 0, :type :ok, :f :get, :key "1", :value "x"}\n'
    assert main([_write(tmp_path, "k.txt", kv), "--model", "kv"]) == 1
    assert "(kv model)" in capsys.readouterr().out
    appends = History([op(1, "append", 0, 1, "x")]).to_json()
    assert main([_write(tmp_path, "a.json", appends), "--model", "register"]) == 2
    assert "register does not have" in capsys.readouterr().err


# --- a history compiled as it is recorded --------------------------------------------------------

_ANY_VALUE = st.sampled_from([None, "x", "y", "", 0, 1, True, 1.5, b"z", ("t",)])


@st.composite
def recorded_histories(draw):
    """Histories recorded call by call, some completed later (a get that was pending gets
    its row only then), with values of every kind: ones the models take and ones they
    refuse (bytes, tuples, a non-string key), in either model."""
    h = History()
    pending = []
    t = 0.0
    for _ in range(draw(st.integers(0, 12))):
        t += draw(st.sampled_from([0.0, 1.0]))  # equal times too
        if pending and draw(st.booleans()):
            index = pending.pop(draw(st.integers(0, len(pending) - 1)))
            kind = h[index].op
            output = (
                draw(st.booleans())
                if kind == "cas"
                else draw(_ANY_VALUE)
                if kind != "set"
                else None
            )
            h.complete(index, output, time=t)
            continue
        name = draw(st.sampled_from(["get", "set", "delete", "cas", "append"]))
        key = draw(st.sampled_from(["a", "b", 7]))
        value = draw(_ANY_VALUE) if name in ("set", "cas", "append") else None
        expected = draw(_ANY_VALUE) if name == "cas" else None
        relaxed = name == "get" and draw(st.booleans())
        pending.append(h.call(0, name, key, value, expected, time=t, relaxed=relaxed))
    return h


def _prepared(fn):
    try:
        return fn()
    except ValueError as e:
        return f"ValueError: {e}"


@settings(max_examples=400)
@given(recorded_histories(), st.sampled_from(["kv", "register"]), _ANY_VALUE | st.just(ANY))
def test_a_history_compiled_as_recorded_prepares_exactly_like_its_operations(h, model, initial):
    """The rows a history keeps as it records (``prepare_history``) are the rows
    ``prepare`` makes from its operations, and bad input gets the same sentence."""
    from raftlab.linearizability.models import prepare, prepare_history

    h.initial = initial
    expected = _prepared(lambda: prepare(list(h), model, initial))
    assert _prepared(lambda: prepare_history(h, model)) == expected
    if not isinstance(expected, str):
        assert _prepared(lambda: prepare_history(h, model)) == expected  # the history kept its own


def test_a_history_checked_while_operations_are_pending_prepares_like_its_operations_after():
    """An operation recorded before it returns is compiled once it returns, or by the
    check while it is still pending (an unknown outcome); a check between the two, and
    answers after it, leave rows equal to ``prepare``'s at every step."""
    from raftlab.linearizability.models import prepare, prepare_history

    h = History()
    w = h.call(1, "set", "x", "1", time=0.0)
    r = h.call(2, "get", "x", time=1.0)
    c = h.call(3, "cas", "x", "2", "1", time=2.0)
    assert prepare_history(h, "kv") == prepare(list(h), "kv")  # all three pending
    h.complete(w, time=3.0)
    assert prepare_history(h, "kv") == prepare(list(h), "kv")
    h.complete(r, "1", time=4.0)
    h.complete(c, True, time=5.0)
    assert prepare_history(h, "kv") == prepare(list(h), "kv")
    assert check(h).ok is True


def test_a_history_with_an_unhashable_key_still_records_and_is_refused_by_the_check():
    h = History()
    h.append(Operation(0, "set", ["not", "a", "key"], "v", call=0, ret=1))
    assert len(h) == 1
    with pytest.raises(ValueError, match="key"):
        check(h)


@settings(max_examples=500)
@given(one_burst(), st.sampled_from([[None], ["x"], [None, "x", "y"], ["", "xy"]]))
def test_the_guessed_order_of_a_burst_is_only_taken_when_it_is_an_order(rows, states):
    """The cheap guess (each burst in the order its steps returned) answers True only
    when some real-time order of the burst really exists from one of the values."""
    from raftlab.linearizability.segments import _guess

    if _guess(rows, list(states)):
        steps = [Step(c, r, k, a, b, i) for c, r, i, k, a, b in rows]
        assert any(oracle_steps(steps, v) for v in states)
