"""Real server processes on 127.0.0.1: the same RaftNode over a real clock, disk and network.

Every cluster here is a ``LocalCluster`` used as a context manager (or closed in a
``finally``), so every process a test starts is stopped even when the test fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
from urllib.parse import urlsplit

import pytest

from raftlab.errors import Timeout
from raftlab.history import History
from raftlab.kv import Command, KeyNotFound, Kind, encode_command
from raftlab.linearizability import check
from raftlab.server import codec
from raftlab.server.local import LocalCluster

LIMITS = ["--max-key-bytes", "64", "--max-value-bytes", "256", "--max-body-bytes", "65536"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalCluster(3, directory=tmp_path_factory.mktemp("cluster"), extra_args=LIMITS)
    try:
        c.start()
        c.wait_for_leader()
        yield c
    finally:
        c.close()


def raw(url: str, method: str = "GET", body: bytes | None = None, headers=None):
    """One request, no redirect following: (status, headers, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        path = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def wait_for(pred, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


# ----------------------------------------------------------------- the basics


def test_set_on_the_leader_then_get_through_the_log_and_relaxed_on_every_node(cluster):
    client = cluster.client()
    index = client.set("x", "1")
    assert index >= 2  # after the leader's no-op (§8)
    assert client.get("x") == "1"
    for i in cluster.ids:
        # A follower learns the commit with the next heartbeat, then applies it.
        assert wait_for(lambda i=i: _relaxed(client, i, "x") == "1"), f"S{i} never applied x=1"
    with pytest.raises(KeyNotFound):
        client.get("never-set")
    assert client.delete("x") >= index
    with pytest.raises(KeyNotFound):
        client.get("x")


def test_reads_in_every_mode_on_servers_with_leases(tmp_path):
    # ReadIndex and lease reads (thesis §6.4) answer the value without a log entry.
    extra = ["--lease-ms", "250", "--pre-vote", "--check-quorum"]
    with LocalCluster(3, directory=tmp_path, extra_args=extra) as c:
        leader = c.wait_for_leader()
        client = c.client(history=History())
        client.set("r", "1")
        last = c.status(leader)["last_index"]
        for mode in ("log", "read_index", "lease", "relaxed"):
            assert client.get("r", mode) == "1"
        with pytest.raises(KeyNotFound):
            client.get("never-set", "read_index")
        # Only the read through the log wrote an entry.
        assert c.status(leader)["last_index"] == last + 1
        gets = [op for op in client.history if op.op == "get"]
        assert [op.mode for op in gets] == ["log", "read_index", "lease", "relaxed", "read_index"]
        status, _, body = raw(c.http[leader] + "/get?key=r&mode=read_index")
        assert (status, body) == (200, b"1")
        follower = next(i for i in c.ids if i != leader)
        status, headers, _ = raw(c.http[follower] + "/get?key=r&mode=lease")
        assert status == 307 and headers["Location"].startswith(c.http[leader])


def _relaxed(client, node, key):
    try:
        return client.get(key, relaxed=True, node=node)
    except KeyNotFound:
        return None


def test_cas_and_append_go_through_the_log(cluster):
    client = cluster.client()
    client.set("c", "old")
    assert client.cas("c", "wrong", "new") is False
    assert client.cas("c", "old", "new") is True
    assert client.get("c") == "new"
    assert client.append("log", "a") == "a"
    assert client.append("log", "b") == "ab"


def test_every_node_reports_the_same_leader_and_term_in_status(cluster):
    def agreed(c):
        statuses = {i: c.status(i) for i in c.ids}
        if any(st is None for st in statuses.values()):
            return None
        leaders = {st["leader"] for st in statuses.values()}
        return statuses if len(leaders) == 1 and None not in leaders else None

    # On a busy machine a late heartbeat can start an election; wait until it settles.
    statuses = cluster.wait_until(agreed, 10.0, "agreement on one leader")
    leader = next(iter(statuses.values()))["leader"]
    for i, st in statuses.items():
        assert st["id"] == i
        assert st["role"] == ("leader" if i == leader else "follower")
        assert st["leader_http"] == cluster.http[leader]
        assert {"term", "commit_index", "last_index", "last_applied"} <= st.keys()
    assert len({st["term"] for st in statuses.values()}) == 1


def test_a_follower_redirects_clients_to_the_leaders_http_address(cluster):
    leader = cluster.wait_for_leader()
    follower = next(i for i in cluster.ids if i != leader)
    status, headers, body = raw(cluster.http[follower] + "/set?key=r&value=1")
    assert status == 307
    assert headers["Location"] == cluster.http[leader] + "/set?key=r&value=1"
    answer = json.loads(body)
    assert answer["leader"] == leader
    assert f"the leader is S{leader} at {cluster.http[leader]}" in answer["error"]
    # The client follows it by itself.
    client = cluster.client()
    client._target = cluster.http[follower].removeprefix("http://")
    client.set("r", "2")
    assert client.redirects == 1 and client.get("r") == "2"


def test_goraft_curl_session_works_as_printed(cluster):
    """``curl /set?key=x&value=1`` prints nothing, ``curl /get?key=x`` prints ``1``."""
    leader = cluster.wait_for_leader()
    base = cluster.http[leader]
    status, headers, body = raw(base + "/set?key=goraft&value=1")
    assert (status, body) == (200, b"")
    status, headers, body = raw(base + "/get?key=goraft")
    assert status == 200 and body == b"1"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    # The same through a follower's own copy, once it has applied the write.
    follower = next(i for i in cluster.ids if i != leader)
    relaxed = cluster.http[follower] + "/get?key=goraft&relaxed=true"
    assert wait_for(lambda: raw(relaxed)[2] == b"1")
    # A client that asks for JSON gets it, with the log index.
    accept = {"Accept": "application/json"}
    status, headers, body = raw(base + "/get?key=goraft", headers=accept)
    answer = json.loads(body)
    assert status == 200 and answer["value"] == "1" and answer["index"] >= 2
    status, _, body = raw(base + "/set?key=goraft&value=2", headers=accept)
    assert status == 200 and json.loads(body)["ok"] is True
    # Errors keep their status and sentence, in JSON, whatever the Accept header.
    for extra in ({}, accept):
        status, headers, body = raw(base + "/get?key=never-set-anywhere", headers=extra)
        assert status == 404 and headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["error"].startswith("key not found")
        status, _, body = raw(relaxed.replace("goraft", "never-set-anywhere"), headers=extra)
        assert status == 404 and json.loads(body)["error"].startswith("key not found")
        status, _, body = raw(base + "/set?key=a", headers=extra)
        assert status == 400 and "missing parameter 'value'" in json.loads(body)["error"]
        status, headers, _ = raw(cluster.http[follower] + "/set?key=x&value=1", headers=extra)
        assert status == 307 and headers["Location"].startswith(base)


def test_a_write_retried_with_the_same_session_is_applied_once(cluster):
    """A retry after a lost answer must not append twice (§8, exactly-once)."""
    leader = cluster.wait_for_leader()
    url = cluster.http[leader] + "/append?key=once&value=x&client=77&seq=1"
    first = json.loads(raw(url)[2])
    again = json.loads(raw(url)[2])
    assert first["value"] == again["value"] == "x"
    assert cluster.client().get("once") == "x"


# --------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/set?value=1", 400, "missing parameter 'key'"),
        ("/set?key=a", 400, "missing parameter 'value'"),
        ("/set?key=&value=1", 400, "'key' must not be empty"),
        ("/get?key=a&relaxed=maybe", 400, "relaxed must be true or false"),
        ("/get?key=a&mode=fast", 400, "mode must be one of log, read_index, lease, relaxed"),
        ("/get?key=a&mode=lease", 400, "mode=lease needs a lease: start every server"),
        ("/get?key=a&mode=read_index&relaxed=true", 400, "cannot go with mode=read_index"),
        ("/set?key=a&value=1&client=5", 400, "client and seq go together"),
        ("/set?key=a&value=1&client=5&seq=x", 400, "seq must be a whole number"),
        ("/cas?key=a&value=1", 400, "missing parameter 'expected'"),
        ("/set?key=" + "k" * 65 + "&value=1", 413, "key is 65 bytes; the limit is 64"),
        ("/set?key=a&value=" + "v" * 257, 413, "--max-value-bytes"),
        ("/digest?upto=999999", 400, "past this log's last index"),
    ],
)
def test_bad_requests_get_clear_errors(cluster, path, status, words):
    leader = cluster.wait_for_leader()
    got, _, body = raw(cluster.http[leader] + path)
    assert got == status
    assert words in json.loads(body)["error"]


def test_invalid_utf8_is_a_400_naming_the_parameter_never_a_rewrite(cluster):
    """%ff and %fe used to become the same key, U+FFFD: the second set overwrote the first."""
    base = cluster.http[cluster.wait_for_leader()]
    for path, name in (
        ("/set?key=%ff&value=first", "'key'"),
        ("/set?key=%fe&value=second", "'key'"),
        ("/set?key=ok&value=%c3%28", "'value'"),
        ("/cas?key=ok&expected=%80&value=1", "'expected'"),
        ("/get?key=%ff", "'key'"),
    ):
        status, _, body = raw(base + path)
        assert status == 400, path
        assert f"parameter {name} is not valid UTF-8" in json.loads(body)["error"]
    status, _, body = raw(
        base + "/set",
        "POST",
        b"key=form&value=%ff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 400 and "parameter 'value' is not valid UTF-8" in json.loads(body)["error"]
    # Valid UTF-8, percent-encoded, is taken byte for byte.
    assert raw(base + "/set?key=%C3%A9t%C3%A9&value=%E2%9C%93")[0] == 200
    assert raw(base + "/get?key=%C3%A9t%C3%A9")[2].decode() == "\u2713"
    assert cluster.client().get("\u00e9t\u00e9") == "\u2713"


def test_every_error_is_json_and_head_is_served_where_get_is(cluster):
    base = cluster.http[cluster.wait_for_leader()]
    status, headers, body = raw(base + "/no-such-thing")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    assert "no such endpoint '/no-such-thing'" in json.loads(body)["error"]
    status, headers, body = raw(base + "/status", "DELETE")
    assert status == 405 and "DELETE is not allowed on /status" in json.loads(body)["error"]
    status, headers, body = raw(base + "/batch", "POST", b"\x00" * 70000)
    assert status == 413 and "--max-body-bytes" in json.loads(body)["error"]
    status, headers, body = raw(base + "/get?key=" + "k" * 300_000)  # over the line limit
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert "error" in json.loads(body)
    raw(base + "/set?key=h&value=hello")
    status, headers, body = raw(base + "/get?key=h", "HEAD")
    assert (status, body) == (200, b"") and headers["Content-Length"] == "5"
    status, headers, body = raw(base + "/status", "HEAD")
    assert status == 200 and body == b"" and headers["Content-Type"].startswith("application/json")
    status, _, _ = raw(base + "/get?key=never-set-anywhere", "HEAD")
    assert status == 404


def test_bad_batches_get_clear_errors(cluster):
    url = cluster.http[cluster.wait_for_leader()] + "/batch"
    status, _, body = raw(url, "POST", b"\x05\x00\x00\x00ab")
    assert status == 400 and "command 1" in json.loads(body)["error"]
    status, _, body = raw(url, "POST", b"")
    assert status == 400 and "empty batch" in json.loads(body)["error"]
    status, _, body = raw(url, "POST", b"\x00" * 70000)
    assert status == 413
    assert "70000 bytes; the limit is 65536 (--max-body-bytes)" in json.loads(body)["error"]


def test_a_batch_answers_each_command(cluster):
    client = cluster.client()
    cmds = [
        encode_command(Command(Kind.SET, "b1", "one")),
        encode_command(Command(Kind.GET, "b1")),
        encode_command(Command(Kind.GET, "b-missing")),
        encode_command(Command(Kind.CAS, "b1", "uno", "one")),
        b"\x09not a command",
    ]
    results = client.batch(cmds)
    assert [s for s, _ in results] == [codec.OK, codec.OK, codec.NOT_FOUND, codec.OK, codec.ERROR]
    assert results[1][1] == b"one" and results[3][1] == b"true"
    assert b"unknown command kind" in results[4][1]
    assert client.get("b1") == "uno"


# ------------------------------------------------------------- crashes and disks


def test_kill_9_the_leader_during_writes_loses_no_acknowledged_write_s5_4(tmp_path):
    """SIGKILL the leader while clients write; restart it; then restart everything.

    Every acknowledged write is still there, and the history of what the clients saw
    passes the linearizability check.
    """
    with LocalCluster(3, directory=tmp_path) as c:
        old = c.wait_for_leader()
        history = History()
        acked: dict[str, str] = {}
        stop = threading.Event()
        failures: list[BaseException] = []

        def work(w: int) -> None:
            client = c.client(history=history, timeout_s=8.0)
            rng = random.Random(w)
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    r = rng.random()
                    try:
                        if r < 0.35:
                            key = f"u{w}.{n}"
                            client.set(key, str(n))
                            acked[key] = str(n)
                        elif r < 0.6:
                            client.set(rng.choice("ab"), f"{w}.{n}")
                        elif r < 0.85:
                            with contextlib.suppress(KeyNotFound):
                                client.get(rng.choice("ab"))
                        else:
                            client.cas("a", f"{w}.{n - 1}", f"{w}.{n}")
                    except Timeout:
                        pass  # outcome unknown: the history says so
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            killed_at = time.monotonic() * 1000
            c.kill(old)
            new = c.wait_for_leader(exclude=[old])
            time.sleep(1.0)
            c.start_node(old)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert not failures, failures
        assert new != old
        # The kill really happened in the middle of writing...
        assert any(
            op.call <= killed_at and (op.ret is None or op.ret >= killed_at) for op in history
        )
        # ...and writing went on under the new leader.
        assert sum(op.call > killed_at + 500 and op.ret is not None for op in history) > 5
        c.restart()
        c.wait_for_leader()
        client = c.client()
        lost = {k: v for k, v in acked.items() if _get(client, k) != v}
        assert not lost, f"acknowledged writes lost after restarts: {sorted(lost)[:5]}"
        assert len(acked) > 10
        result = check(history, model="kv", timeout_s=60)
        assert result.ok is True, result


def _get(client, key):
    try:
        return client.get(key)
    except KeyNotFound:
        return None


def test_a_deleted_node_is_re_replicated_and_a_corrupt_file_is_refused(tmp_path):
    with LocalCluster(3, directory=tmp_path) as c:
        leader = c.wait_for_leader()
        client = c.client()
        cmds = [encode_command(Command(Kind.SET, f"k{i}", f"v{i}")) for i in range(3000)]
        assert all(s == codec.OK for s, _ in client.batch(cmds))
        last = c.status(leader)["last_index"]
        victim = next(i for i in c.ids if i != leader)

        # Delete the victim's data.  As in the seed, every node restarts, so the new
        # leader starts with match_index 0 for it (Figure 2) and sends it everything.
        c.stop()
        c.wipe(victim)
        c.start()
        c.wait_for_leader()
        # Every node, not only the victim: /digest hashes the data applied so far, and after
        # the restart the others re-apply their logs only once they learn the commit index.
        c.wait_applied(last, timeout_s=20)
        digests = {i: client.digest(i, upto=last) for i in c.ids}
        assert len({d["log_sha256"] for d in digests.values()}) == 1
        assert len({d["state_sha256"] for d in digests.values()}) == 1
        assert digests[victim]["keys"] == 3000

        # Now damage one byte in the middle of its log file: it must refuse to start.
        c.stop_node(victim)
        path = c.data_dir(victim) / "raft.log"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(RuntimeError) as err:
            c.start_node(victim)
        message = str(err.value)
        assert "exited with code 1" in message
        assert f"{path} is damaged at byte offset" in message
        assert "refuses to start" in message
        assert bytes(data) == path.read_bytes()  # refusing changed nothing
