"""Membership changes on real server processes (thesis §4.1): ``/members``, ``/add``,
``/remove`` and ``kvapi --join``.  No acknowledged write may be lost on the way."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from raftlab.kv import Command, Kind, encode_command
from raftlab.server import codec
from raftlab.server.local import LocalCluster


def write(client, start: int, n: int) -> dict[str, str]:
    """``n`` acknowledged sets; the keys and values the cluster promised to keep."""
    cmds = [encode_command(Command(Kind.SET, f"k{k}", f"v{k}")) for k in range(start, start + n)]
    assert all(s == codec.OK for s, _ in client.batch(cmds))
    return {f"k{k}": f"v{k}" for k in range(start, start + n)}


def check_kept(c: LocalCluster, client, acked: dict[str, str]) -> None:
    """Every acknowledged write is readable through the log, and every member agrees."""
    for key in list(acked)[:: max(1, len(acked) // 50)]:
        assert client.get(key) == acked[key]
    leader = c.wait_for_leader()
    members = c.members(leader)["committed"]["voters"]
    last = c.status(leader)["last_index"]
    c.wait_applied(last, nodes=members, timeout_s=20)
    everyone = c.client()  # knows the servers added since ``client`` was made
    digests = {i: everyone.digest(i, upto=last) for i in members}
    assert len({d["state_sha256"] for d in digests.values()}) == 1
    assert all(d["keys"] >= len(acked) for d in digests.values())


def http_error(url: str) -> tuple[int, dict]:
    try:
        urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    raise AssertionError(f"{url} should have failed")


def test_grow_3_to_5_remove_the_old_leader_and_replace_a_wiped_node(tmp_path):
    with LocalCluster(3, directory=tmp_path) as c:
        old_leader = c.wait_for_leader()
        client = c.client()
        acked = write(client, 0, 500)
        info = c.members()
        assert info["voters"] == [1, 2, 3] and info["cluster"]
        assert set(info["raft"]) == {"1", "2", "3"}

        # Grow to five, one server at a time: each joins empty and catches up as a learner.
        for new in (4, 5):
            c.add_node(new)
            acked |= write(client, len(acked), 200)
        assert c.members()["committed"]["voters"] == [1, 2, 3, 4, 5]
        # The new servers learnt each other's and everyone's address from the log.
        assert set(c.members(5)["raft"]) == {"1", "2", "3", "4", "5"}

        # Remove the old leader: it steps down once the removal is committed.
        c.remove_node(old_leader)
        leader = c.wait_for_leader(exclude=[old_leader])
        assert c.status(old_leader)["role"] == "follower"
        assert old_leader not in c.members(leader)["committed"]["voters"]
        c.stop_node(old_leader)
        acked |= write(client, len(acked), 200)

        # Replace a wiped follower: remove it, delete its data, add it back empty.
        victim = next(i for i in c.members()["committed"]["voters"] if i != leader)
        c.replace_wiped(victim)
        assert victim in c.members()["committed"]["voters"]
        acked |= write(client, len(acked), 100)
        check_kept(c, client, acked)


def test_membership_requests_bad_input_and_one_change_at_a_time(tmp_path):
    with LocalCluster(3, directory=tmp_path) as c:
        leader = c.wait_for_leader()
        url = c.http[leader]
        code, body = http_error(url + "/add?id=2&raft=127.0.0.1:1")
        assert code == 400 and "already a voter" in body["error"]
        code, body = http_error(url + "/add?id=x&raft=:1")
        assert code == 400 and "whole number" in body["error"]
        code, body = http_error(url + "/add?id=7")
        assert code == 400 and "raft" in body["error"]
        code, body = http_error(url + "/remove?id=9")
        assert code == 400 and "not in the configuration" in body["error"]
        # A learner that never starts cannot be promoted, so its change stays committed but
        # the next one waits for no one: adding S7 (never started) and then S8 both work;
        # removing S7 then works too.
        ok = json.loads(
            urllib.request.urlopen(url + "/add?id=7&raft=127.0.0.1:9", timeout=10).read()
        )
        assert "learners S7" in ok["configuration"]
        assert c.members()["committed"]["learners"] == [7]
        c.change("/remove?id=7")
        assert c.members()["committed"]["learners"] == []
        # A follower redirects membership requests to the leader, like writes.
        follower = next(i for i in c.ids if i != leader)
        req = urllib.request.Request(c.http[follower] + "/remove?id=7")
        code, body = http_error(req.full_url)
        assert code == 400  # followed the redirect to the leader: S7 is gone already


@pytest.mark.parametrize("bad", ["--join http://127.0.0.1:1 --id 4 --raft :3033"])
def test_join_needs_a_reachable_member(bad, tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "raftlab", "kvapi", *bad.split(), "--http", ":2099"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert "cannot read the cluster from http://127.0.0.1:1/members" in out.stderr


def test_a_joining_server_without_the_cluster_key_gets_nothing(tmp_path):
    import secrets
    import time

    with LocalCluster(3, directory=tmp_path / "c") as c:
        c.wait_for_leader()
        write(c.client(), 0, 20)
        other = tmp_path / "other.key"
        other.write_text(secrets.token_hex(32) + "\n")
        other.chmod(0o600)
        # The last --cluster-key-file wins: S4 signs with a key the cluster does not hold.
        c.add_node(4, wait_voter=False, extra_args=["--cluster-key-file", str(other)])
        assert c.members()["learners"] == [4]
        time.sleep(3)
        assert c.status(4)["last_index"] == 0  # not one entry got through
        assert 4 not in c.members()["committed"]["voters"]
        assert "did not prove it holds the cluster key" in c.log_text(4)
