"""raftlab.history: the Operation record, recording calls as they happen, and the three file
formats (raftlab JSON, Jepsen's etcd register logs, Porcupine's key-value logs)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftlab.history import ANY, History, Operation, detect_format, load

# --- Operation ------------------------------------------------------------------------------


def test_operation_is_a_frozen_record():
    op = Operation(1, "set", "x", "5", call=0, ret=2)
    with pytest.raises(AttributeError):
        op.ret = 3  # type: ignore[misc]
    assert not op.unknown
    assert Operation(1, "set", "x", "5", call=0).unknown


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"op": "put"}, "unknown operation 'put'"),
        ({"call": 5, "ret": 4}, "returns at 4 before it was called at 5"),
        ({"op": "set", "relaxed": True}, "only a get can be relaxed"),
        ({"op": "cas", "output": "yes"}, "True or False"),
        ({"op": "cas", "output": None}, "returned at 1 but has no output: a cas that returned"),
        ({"ret": None, "output": "v"}, "outcome is unknown has output None"),
    ],
)
def test_operation_rejects_nonsense(kwargs, words):
    fields = {"client": 1, "op": "get", "key": "x", "call": 0, "ret": 1} | kwargs
    with pytest.raises(ValueError, match=words):
        Operation(**fields)


def test_describe_reads_like_a_sentence():
    assert Operation(3, "cas", "x", 2, 1, True, 10, 12).describe() == (
        "client 3: cas(x, 1 -> 2) = ok  [10, 12]"
    )
    assert Operation(4, "get", "x", call=1, ret=2, output=None).describe() == (
        "client 4: get(x) -> None  [1, 2]"
    )
    assert Operation(5, "set", "x", 7, call=3).describe() == (
        "client 5: set(x, 7), outcome unknown  [3, ...]"
    )
    # Times are kept exact (ties stay ties) but read as the trace shows them.
    assert Operation(
        1, "delete", "a", call=764.2651582161662, ret=826.2215728897512
    ).describe() == ("client 1: delete(a)  [764.27, 826.22]")


# --- recording while clients run -------------------------------------------------------------


def test_call_then_complete_fills_in_the_result_in_place():
    h = History()
    i = h.call(client=1, op="set", key="x", value="5", time=10)
    j = h.call(client=2, op="get", key="x", time=11)
    assert (i, j) == (0, 1)
    assert h[i].unknown and h[j].unknown
    done = h.complete(j, output="5", time=14)
    assert done == Operation(2, "get", "x", output="5", call=11, ret=14)
    assert h[j] is done
    assert h[i].unknown  # the set never answered: its outcome stays unknown
    assert len(h) == 2 and list(h) == [h[0], h[1]]


def test_complete_refuses_twice_and_unknown_indices():
    h = History()
    i = h.call(client=1, op="get", key="x", time=0)
    h.complete(i, output=None, time=1)
    with pytest.raises(ValueError, match="already returned at 1"):
        h.complete(i, output="x", time=2)
    with pytest.raises(ValueError, match="no operation 5"):
        h.complete(5, time=3)
    with pytest.raises(ValueError, match="before it was called"):
        h.complete(h.call(client=2, op="get", key="x", time=10), time=9)


def test_append_takes_only_operations():
    with pytest.raises(TypeError, match="Operation"):
        History().append(("set", "x", 1))  # type: ignore[arg-type]


# --- JSON ------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.text(max_size=4), st.integers(-5, 5))


@st.composite
def operations(draw):
    op = draw(st.sampled_from(["get", "set", "delete", "cas", "append"]))
    call = draw(st.integers(0, 100) | st.floats(0, 100, allow_nan=False))
    ret = draw(st.none() | st.floats(0, 50, allow_nan=False).map(lambda d: call + d))
    output = None
    if ret is not None:
        output = {"get": draw(scalars), "cas": draw(st.booleans())}.get(op)
    return Operation(
        client=draw(st.integers(0, 9) | st.text(max_size=3)),
        op=op,
        key=draw(st.text(max_size=3)),
        value=draw(scalars),
        expected=draw(scalars) if op == "cas" else None,
        output=output,
        call=call,
        ret=ret,
        relaxed=op == "get" and draw(st.booleans()),
    )


@given(st.lists(operations(), max_size=8), st.sampled_from([None, "", "start", ANY]))
def test_json_round_trip_is_exact(ops, initial):
    h = History(ops, initial=initial)
    back = History.from_json(h.to_json())
    assert back == h
    assert back.initial is initial or back.initial == initial
    assert detect_format(h.to_json()) == "json"


@pytest.mark.parametrize(
    "text, words",
    [
        ("{not json", "line 1: not valid JSON"),
        ('{"format": "other"}', "not a raftlab history"),
        ('{"format": "raftlab-history", "version": 9, "operations": []}', "version 9"),
        ('{"format": "raftlab-history", "version": 1, "operations": {}}', "must be a list"),
        (
            '{"format": "raftlab-history", "version": 1, "operations": '
            '[{"client": 1, "op": "get", "key": "x"}]}',
            "operation 0: missing field 'call'",
        ),
        (
            '{"format": "raftlab-history", "version": 1, "operations": '
            '[{"client": 1, "op": "get", "key": "x", "call": 0, "colour": 1}]}',
            "operation 0: unknown field 'colour'",
        ),
        (
            '{"format": "raftlab-history", "version": 1, "operations": '
            '[{"client": 1, "op": "get", "key": "x", "call": "soon"}]}',
            "operation 0: 'call' must be a number",
        ),
        (
            '{"format": "raftlab-history", "version": 1, "operations": '
            '[{"client": 1, "op": "get", "key": "x", "call": 0}, '
            '{"client": 1, "op": "fly", "key": "x", "call": 0}]}',
            "operation 1: unknown operation 'fly'",
        ),
    ],
)
def test_from_json_rejects_bad_input_with_where(text, words):
    with pytest.raises(ValueError, match=words):
        History.from_json(text)


# --- Jepsen ------------------------------------------------------------------------------------

JEPSEN = """\
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:invoke\t:write\t4
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.util - 2\t:invoke\t:cas\t[4 1]
INFO  jepsen.util - 1\t:ok\t:write\t4
INFO  jepsen.util - 2\t:fail\t:cas\t[4 1]
INFO  jepsen.util - 3\t:invoke\t:read\tnil
INFO  jepsen.util - 3\t:fail\t:read\t:timed-out
INFO  jepsen.util - 4   :invoke :cas    [4 0]
INFO  jepsen.util - 4   :info   :cas    :timed-out
INFO  jepsen.util - 5\t:invoke\t:cas\t[4 2]
INFO  jepsen.util - 5\t:ok\t:cas\t[4 2]
INFO  jepsen.util - 6\t:invoke\t:read\tnil
INFO  jepsen.util - 6\t:ok\t:read\t2
INFO  jepsen.util - 7\t:invoke\t:write\t3
"""


def test_from_jepsen_maps_every_kind_of_event():
    h = History.from_jepsen(JEPSEN)
    assert list(h) == [
        Operation(0, "get", "x", output=None, call=1, ret=3),
        Operation(1, "set", "x", 4, call=2, ret=5),
        Operation(2, "cas", "x", 1, 4, output=False, call=4, ret=6),  # failed: compared, no swap
        # line 7-8: a timed-out read constrains nothing and is dropped
        Operation(4, "cas", "x", 0, 4, call=9),  # :info: outcome unknown (spaces, not tabs)
        Operation(5, "cas", "x", 2, 4, output=True, call=11, ret=12),
        Operation(6, "get", "x", output=2, call=13, ret=14),
        Operation(7, "set", "x", 3, call=15),  # never answered: outcome unknown
    ]
    assert h.initial is None
    assert detect_format(JEPSEN) == "jepsen"
    assert load(JEPSEN) == h


@pytest.mark.parametrize(
    "text, words",
    [
        ("INFO  jepsen.util - 0\t:invoke\t:read\tnil\nhello\n", "line 2: not a Jepsen event"),
        ("INFO  jepsen.util - 0\t:ok\t:read\t3\n", "line 1: process 0 reports :ok but has no"),
        (
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil",
            "line 2: process 0 invokes again while its call on line 1",
        ),
        (
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t3",
            "line 2: process 0 reports :write for its :read call",
        ),
        (
            "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0\t:ok\t:cas\t[1 3]",
            "line 2: the cas result",
        ),
        ("INFO  jepsen.util - 0\t:invoke\t:cas\t4\n", "line 1: a cas needs \\[old new\\]"),
        ("INFO  jepsen.util - 0\t:invoke\t:write\tnil\n", "line 1: .*a write needs"),
    ],
)
def test_from_jepsen_rejects_bad_input_with_line_numbers(text, words):
    with pytest.raises(ValueError, match=words):
        History.from_jepsen(text)


# --- Porcupine key-value -----------------------------------------------------------------------

PORCUPINE = """\
{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "4", :value nil}
{:process 0, :type :ok, :f :append, :key "4", :value "x 0 0 y"}
{:process 1, :type :ok, :f :get, :key "4", :value "x 0 0 y"}
{:process 2, :type :invoke, :f :put, :key "7", :value "x 2 0 y"}
{:process 2, :type :ok, :f :put, :key "7", :value "x 2 0 y"}
{:process 3, :type :invoke, :f :get, :key "a \\"q\\"", :value nil}
"""


def test_from_porcupine_kv_maps_get_put_append_and_starts_keys_empty():
    h = History.from_porcupine_kv(PORCUPINE)
    assert list(h) == [
        Operation(0, "append", "4", "x 0 0 y", call=1, ret=3),
        Operation(1, "get", "4", output="x 0 0 y", call=2, ret=4),
        Operation(2, "set", "7", "x 2 0 y", call=5, ret=6),
        Operation(3, "get", 'a "q"', call=7),  # unanswered: unknown, escapes decoded
    ]
    assert h.initial == ""  # Porcupine's model starts every key at the empty string
    assert detect_format(PORCUPINE) == "porcupine-kv"
    assert load(PORCUPINE) == h


@pytest.mark.parametrize(
    "text, words",
    [
        ('{:process 0, :type :invoke, :f :frob, :key "1", :value nil}', "line 1: not a Porcupine"),
        ('{:process 0, :type :invoke, :f :cas, :key "1", :value nil}', "line 1: a :cas takes \\["),
        (
            '{:process 0, :type :invoke, :f :cas, :key "1", :value ["a" "b"]}\n'
            '{:process 0, :type :ok, :f :cas, :key "1", :value ["a" "c"]}',
            "line 2: the cas result",
        ),
        ('{:process 0, :type :ok, :f :get, :key "1", :value ""}', "line 1: process 0 reports"),
        (
            '{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n'
            '{:process 0, :type :ok, :f :get, :key "2", :value ""}',
            "line 2: process 0 reports :get on '2' for its get on '1'",
        ),
        ('{:process 0, :type :invoke, :f :put, :key "1", :value nil}', "line 1: :put needs"),
    ],
)
def test_from_porcupine_kv_rejects_bad_input_with_line_numbers(text, words):
    with pytest.raises(ValueError, match=words):
        History.from_porcupine_kv(text)


@pytest.mark.parametrize("text", ["", "\n  \n", "hello world\n", "[1, 2]"])
def test_load_names_what_it_could_not_read(text):
    with pytest.raises(ValueError, match="line 1"):
        load(text)


# --- writing Porcupine logs -----------------------------------------------------------------


@st.composite
def porcupine_histories(draw):
    """Histories Porcupine's logs can hold: string values, one operation at a time per client
    (an unknown outcome frees its client at once), keys starting absent or at ""."""
    initial = draw(st.sampled_from([None, ""]))
    values = st.sampled_from(["a", "b", 'q"\\', "x y"])
    ops, free = [], {}
    for _ in range(draw(st.integers(0, 12))):
        client = draw(st.integers(0, 3))
        call = max(draw(st.integers(0, 8)), free.get(client, 0))
        ret = None if draw(st.integers(0, 3)) == 0 else call + draw(st.integers(0, 4))
        free[client] = call if ret is None else ret + 1
        kinds = ["get", "set", "append", "cas"] + (["delete"] if initial is None else [])
        kind = draw(st.sampled_from(kinds))
        value = expected = output = None
        if kind in ("set", "append", "cas"):
            value = draw(values)
        if kind == "cas":
            expected = draw(values)
            output = None if ret is None else draw(st.booleans())
        if kind == "get" and ret is not None:
            output = draw(values | st.just(None)) if initial is None else draw(values)
        key = draw(st.sampled_from(["k", "j"]))
        relaxed = kind == "get" and ret is not None and draw(st.integers(0, 5)) == 0
        ops.append(Operation(client, kind, key, value, expected, output, call, ret, relaxed))
    return History(ops, initial=initial)


def _precedes(history):
    ops = [op for op in history if not op.relaxed]
    return {
        (i, j)
        for i, a in enumerate(ops)
        for j, b in enumerate(ops)
        if a.ret is not None and a.ret < b.call
    }


@given(porcupine_histories())
def test_porcupine_round_trip_keeps_operations_and_real_time_order(history):
    text = history.to_porcupine()
    back = History.from_porcupine_kv(text)
    assert back.to_porcupine() == text  # written again, the same text
    ours = sorted((op for op in history if not op.relaxed), key=lambda op: op.call)  # stable

    def shape(op):
        return (op.client, op.op, op.key, op.value, op.expected, op.output, op.ret is None)

    # The same operations, in the same call order (line numbers are the new times)...
    assert [shape(op) for op in back] == [shape(op) for op in ours]
    # ...and the same "returned before called" relation, ties (touching intervals) included.
    assert _precedes(back) == _precedes(History(ours))
    uses_absent = any(
        op.op == "delete" or (op.op == "get" and op.output is None and op.ret) for op in ours
    )
    assert back.initial == (None if uses_absent else "")
    assert check_ok(back) == check_ok(history)


def check_ok(history):
    from raftlab.linearizability import check

    return check(history).ok


def test_touching_intervals_stay_concurrent_in_a_porcupine_log():
    # b is called exactly when a returns: concurrent in raftlab, so b's call is written
    # before a's return and the read of the old value stays explainable.
    h = History(
        [
            Operation(0, "set", "x", "1", call=0, ret=1),
            Operation(1, "set", "x", "2", call=2, ret=5),
            Operation(2, "get", "x", output="1", call=5, ret=6),
        ],
        initial="",
    )
    text = h.to_porcupine()
    lines = text.splitlines()
    assert lines.index('{:process 2, :type :invoke, :f :get, :key "x", :value nil}') < (
        lines.index('{:process 1, :type :ok, :f :put, :key "x", :value "2"}')
    )
    assert check_ok(History.from_porcupine_kv(text)) is True


@pytest.mark.parametrize(
    "ops, initial, words",
    [
        ([Operation(0, "set", "x", 5, call=0, ret=1)], None, "Porcupine's values are strings"),
        ([Operation("c", "set", "x", "5", call=0, ret=1)], None, "whole numbers >= 0"),
        (
            [Operation(0, "set", "x", "5", call=0, ret=3), Operation(0, "get", "x", call=2)],
            None,
            "one operation at a time",
        ),
        ([Operation(0, "set", "x", "", call=0, ret=1)], None, "could not be told apart"),
        ([Operation(0, "delete", "x", call=0, ret=1)], "", "read back with keys starting absent"),
        ([Operation(0, "cas", "x", "1", None, False, 0, 1)], None, "expecting an absent key"),
        ([], ANY, "Porcupine's key-value model starts every key"),
    ],
)
def test_to_porcupine_refuses_what_the_log_cannot_say(ops, initial, words):
    with pytest.raises(ValueError, match=words):
        History(ops, initial=initial).to_porcupine()
