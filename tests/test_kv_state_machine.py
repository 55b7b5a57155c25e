"""KVStateMachine: the semantics of each command, exactly-once sessions, determinism (§5.4.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftlab.errors import RaftLabError
from raftlab.kv import (
    Command,
    KeyNotFound,
    Kind,
    KVStateMachine,
    Session,
    decode_command,
    encode_command,
)


def set_(key, value, **session):
    return encode_command(Command(Kind.SET, key, value, **session))


def get(key, **session):
    return encode_command(Command(Kind.GET, key, **session))


def delete(key, **session):
    return encode_command(Command(Kind.DELETE, key, **session))


def cas(key, expected, new, **session):
    return encode_command(Command(Kind.CAS, key, new, expected=expected, **session))


def append(key, suffix, **session):
    return encode_command(Command(Kind.APPEND, key, suffix, **session))


@pytest.fixture
def sm() -> KVStateMachine:
    return KVStateMachine()


# --- one test per command -------------------------------------------------------------------


def test_set_stores_the_value_and_returns_empty_bytes(sm):
    assert sm.apply(set_("x", "1")) == b""
    assert sm.data == {"x": "1"}
    assert sm.apply(set_("x", "2")) == b""
    assert sm.data == {"x": "2"}


def test_get_returns_the_value_as_utf8_bytes(sm):
    sm.apply(set_("city", "Zürich"))
    assert sm.apply(get("city")) == "Zürich".encode()


def test_get_of_a_missing_key_raises_key_not_found_and_changes_nothing(sm):
    sm.apply(set_("x", "1"))
    with pytest.raises(KeyNotFound) as info:
        sm.apply(get("y"))
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, RaftLabError)
    assert info.value.key == "y"
    assert str(info.value) == "no key 'y' in the store"
    assert sm.data == {"x": "1"}


def test_empty_string_is_a_value_not_a_missing_key(sm):
    sm.apply(set_("x", ""))
    assert sm.apply(get("x")) == b""


def test_delete_removes_the_key_and_returns_empty_bytes(sm):
    sm.apply(set_("x", "1"))
    sm.apply(set_("y", "2"))
    assert sm.apply(delete("x")) == b""
    assert sm.data == {"y": "2"}
    with pytest.raises(KeyNotFound):
        sm.apply(get("x"))


def test_delete_of_a_missing_key_is_not_an_error(sm):
    assert sm.apply(delete("nope")) == b""
    assert sm.data == {}


def test_cas_swaps_only_when_the_current_value_matches(sm):
    sm.apply(set_("x", "1"))
    assert sm.apply(cas("x", "0", "2")) == b"false"
    assert sm.data == {"x": "1"}
    assert sm.apply(cas("x", "1", "2")) == b"true"
    assert sm.data == {"x": "2"}


def test_cas_on_a_missing_key_fails_even_when_expecting_empty(sm):
    assert sm.apply(cas("x", "", "1")) == b"false"
    assert sm.data == {}


def test_append_to_a_missing_key_starts_from_empty_and_returns_the_new_value(sm):
    assert sm.apply(append("log", "a")) == b"a"
    assert sm.apply(append("log", "bc")) == b"abc"
    assert sm.apply(append("log", "€")) == "abc€".encode()
    assert sm.data == {"log": "abc€"}


@pytest.mark.parametrize(
    "data", [b"", b"\x07", set_("x", "1") + b"\x00", b"\x00" + (2**64 - 1).to_bytes(8, "little")]
)
def test_malformed_entries_raise_value_error_and_change_nothing(sm, data):
    sm.apply(append("x", "1", client_id=1, seq=1))
    before = (dict(sm.data), dict(sm.sessions))
    with pytest.raises(ValueError):
        sm.apply(data)
    assert (dict(sm.data), dict(sm.sessions)) == before


def test_data_is_a_read_only_live_view(sm):
    view = sm.data
    with pytest.raises(TypeError):
        view["x"] = "1"  # type: ignore[index]
    sm.apply(set_("x", "1"))
    assert view == {"x": "1"}


def test_snapshot_is_bytes_that_restore_an_equal_store_with_its_sessions(sm):
    sm.apply(set_("x", "1"))
    sm.apply(append("log", "a", client_id=7, seq=3))
    snap = sm.snapshot()
    assert type(snap) is bytes
    sm.apply(set_("x", "2"))
    other = KVStateMachine()
    other.restore(snap)
    assert other.data == {"x": "1", "log": "a"}
    assert other.sessions == {7: Session(3, b"a")}
    assert other.snapshot() == snap  # canonical: the same state writes the same bytes
    # The restored table still drops a retry of the write it remembers (§6.3 of the thesis).
    assert other.apply(append("log", "a", client_id=7, seq=3)) == b"a"
    assert other.data["log"] == "a"


def test_restore_never_shows_a_reader_a_key_missing_that_both_states_hold(sm):
    """A real server answers relaxed reads from the store on another thread while the
    node's thread may be installing a snapshot (§7).  After every step of ``restore``,
    each key reads as it was or as the snapshot has it, and a key both hold is never
    missing: the store is never seen empty halfway."""
    for key, value in (("a", "1"), ("b", "1"), ("gone", "1")):
        sm.apply(set_(key, value))
    before = dict(sm.data)
    source = KVStateMachine()
    for key, value in (("a", "2"), ("b", "1"), ("new", "2")):
        source.apply(set_(key, value))
    after = dict(source.data)
    seen = []

    class Watched(dict):
        """The store, checked after each change that restore makes to it."""

        def _check(self):
            seen.append(dict(self))
            for key in before.keys() | after.keys():
                if key in before and key in after:
                    assert key in self, f"{key!r} missing halfway through restore"
                if key in self:
                    assert self[key] in (before.get(key), after.get(key))

        def clear(self):
            super().clear()
            self._check()

        def update(self, *args, **kwargs):
            super().update(*args, **kwargs)
            self._check()

        def __delitem__(self, key):
            super().__delitem__(key)
            self._check()

        def pop(self, *args):
            value = super().pop(*args)
            self._check()
            return value

    sm._data = Watched(before)
    sm.restore(source.snapshot())
    assert seen, "restore changed the store without any of the calls watched here"
    assert dict(sm._data) == after


# --- exactly-once sessions ------------------------------------------------------------------


def test_plain_appends_are_applied_every_time_which_is_why_sessions_exist(sm):
    sm.apply(append("x", "a"))
    sm.apply(append("x", "a"))
    assert sm.data == {"x": "aa"}


def test_retried_append_changes_state_once_and_returns_the_same_result(sm):
    entry = append("x", "a", client_id=1, seq=1)
    first = sm.apply(entry)
    second = sm.apply(entry)
    assert first == second == b"a"
    assert sm.data == {"x": "a"}
    assert sm.sessions == {1: Session(1, b"a")}
    assert sm.duplicates == 1


def test_retried_cas_returns_the_remembered_true_not_a_fresh_false(sm):
    sm.apply(set_("x", "1"))
    entry = cas("x", "1", "2", client_id=5, seq=10)
    assert sm.apply(entry) == b"true"
    # Run again, the CAS would fail (x is now "2"); the retry must report what happened.
    assert sm.apply(entry) == b"true"
    assert sm.data == {"x": "2"}


def test_retried_set_does_not_overwrite_a_later_write_by_another_client(sm):
    sm.apply(set_("x", "1", client_id=1, seq=1))
    sm.apply(set_("x", "2", client_id=2, seq=1))
    sm.apply(set_("x", "1", client_id=1, seq=1))  # a late duplicate of client 1's write
    assert sm.data == {"x": "2"}


def test_an_older_seq_is_ignored_and_returns_empty_bytes(sm):
    sm.apply(append("x", "a", client_id=1, seq=1))
    sm.apply(append("x", "b", client_id=1, seq=2))
    assert sm.apply(append("x", "a", client_id=1, seq=1)) == b""
    assert sm.data == {"x": "ab"}
    assert sm.sessions[1] == Session(2, b"ab")


def test_sequence_numbers_may_skip_but_each_new_one_applies(sm):
    assert sm.apply(append("x", "a", client_id=1, seq=1)) == b"a"
    assert sm.apply(append("x", "b", client_id=1, seq=5)) == b"ab"
    assert sm.sessions[1].last_seq == 5


def test_clients_are_deduplicated_independently(sm):
    assert sm.apply(append("x", "a", client_id=1, seq=1)) == b"a"
    assert sm.apply(append("x", "b", client_id=2, seq=1)) == b"ab"
    assert sm.data == {"x": "ab"}
    assert sm.sessions == {1: Session(1, b"a"), 2: Session(1, b"ab")}


def test_reads_in_a_session_are_fresh_and_do_not_disturb_write_dedup(sm):
    write = append("x", "a", client_id=1, seq=1)
    sm.apply(write)
    assert sm.apply(get("x", client_id=1, seq=2)) == b"a"
    sm.apply(set_("x", "other", client_id=2, seq=1))
    # A retried read sees the current value (a read changes nothing, so no need to remember it).
    assert sm.apply(get("x", client_id=1, seq=2)) == b"other"
    assert sm.apply(write) == b"a"  # the write's retry is still recognised...
    assert sm.data["x"] == "other"  # ...and not re-applied
    assert sm.sessions[1] == Session(1, b"a")
    assert sm.apply(append("x", "!", client_id=1, seq=3)) == b"other!"


def test_a_read_of_a_missing_key_in_a_session_raises_without_recording_anything(sm):
    with pytest.raises(KeyNotFound):
        sm.apply(get("x", client_id=1, seq=1))
    assert sm.sessions == {}


# --- determinism: replicas that apply the same log agree ------------------------------------

keys = st.sampled_from(["a", "b", "é"])
small = st.sampled_from(["", "1", "2", "ü"])
sessions = st.none() | st.tuples(st.integers(1, 3), st.integers(0, 4))


@st.composite
def entries(draw) -> bytes:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=12))  # the odd malformed entry
    kind = draw(st.sampled_from(Kind))
    session = draw(sessions)
    client_id, seq = session if session else (None, None)
    value = "" if kind in (Kind.GET, Kind.DELETE) else draw(small)
    expected = draw(small) if kind is Kind.CAS else None
    return encode_command(Command(kind, draw(keys), value, expected, client_id, seq))


def run(log: list[bytes]) -> tuple[KVStateMachine, list[object]]:
    sm = KVStateMachine()
    outcomes: list[object] = []
    for entry in log:
        try:
            outcomes.append(sm.apply(entry))
        except (KeyNotFound, ValueError) as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    return sm, outcomes


@settings(max_examples=200)
@given(st.lists(entries(), max_size=40))
def test_two_replicas_applying_the_same_log_hold_identical_state(log):
    one, results_one = run(log)
    two, results_two = run(list(log))
    assert results_one == results_two
    assert list(one.data.items()) == list(two.data.items())  # same order too
    assert list(one.sessions.items()) == list(two.sessions.items())
    assert one.duplicates == two.duplicates


def _is_session_write(entry: bytes) -> bool:
    try:
        cmd = decode_command(entry)
    except ValueError:
        return False
    return cmd.in_session and cmd.kind is not Kind.GET


@settings(max_examples=200)
@given(st.lists(entries(), max_size=40))
def test_every_enveloped_write_is_applied_at_most_once(log):
    # Duplicating every entry in place (a retry right after the original) must give the
    # same state as the log without duplicates, as long as every write is in a session.
    enveloped = [e for e in log if _is_session_write(e)]
    once, _ = run(enveloped)
    twice, _ = run([e for e in enveloped for _ in range(2)])
    assert twice.data == once.data
    assert twice.sessions == once.sessions
