"""``python -m raftlab kvapi``: a bad command line exits with a message naming the problem."""

from __future__ import annotations

import os
import socket

import pytest

from raftlab.server import kvapi
from raftlab.server.local import free_ports
from raftlab.server.storage import DiskStorage


def run(capsys, *argv: str) -> tuple[int, str]:
    code = kvapi.main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("cluster", "node", "problem"),
    [
        ("", "0", "--cluster is empty"),
        ("1,:3030;2:3031", "0", "entry 2 ('2:3031') should be ID,ADDRESS"),
        ("1,:3030;x,:3031", "0", "the id 'x' is not a whole number"),
        ("0,:3030;1,:3031", "0", "node ids are whole numbers >= 1"),
        ("1,:3030;1,:3031", "0", "names node 1 twice"),
        ("1,:3030;2,:3030", "0", "gives the address 127.0.0.1:3030 to two nodes"),
        ("1,localhost", "0", "has no port"),
        ("1,:99999", "0", "between 1 and 65535"),
        ("1,:30a0", "0", "the port '30a0' is not a number"),
        ("1,::1:3030", "0", "put an IPv6 address in brackets"),
        ("1,:3030;2,:3031", "2", "--node 2 is out of range: --cluster lists 2 node(s)"),
        ("1,:3030;2,:3031", "-1", "--node -1 is out of range"),
        ("1,:3030;2,:2020", "0", "--http 127.0.0.1:2020 is also a Raft address"),
    ],
)
def test_a_bad_cluster_or_node_exits_2_naming_the_problem(capsys, cluster, node, problem):
    code, err = run(capsys, "--node", node, "--http", ":2020", "--cluster", cluster)
    assert code == 2
    assert err.startswith("python -m raftlab kvapi: error: ") and err.count("\n") == 1
    assert problem in err


def test_missing_flags_and_bad_timeouts_are_usage_errors(capsys):
    code, err = run(capsys, "--http", ":2020")
    assert code == 2 and "--node" in err and "--cluster" in err
    code, err = run(
        capsys, "--node", "0", "--http", ":1", "--cluster", "1,:2", "--election-timeout", "90-80"
    )
    assert code == 2 and "--election-timeout has lo > hi" in err
    code, err = run(
        capsys, "--node", "0", "--http", ":1", "--cluster", "1,:2", "--heartbeat", "300"
    )
    assert code == 2 and "--heartbeat (300)" in err
    code, err = run(
        capsys, "--node", "0", "--http", ":1", "--cluster", "1,:2", "--max-key-bytes", "0"
    )
    assert code == 2 and "--max-key-bytes must be at least 1" in err


def test_parse_cluster_reads_the_seeds_format():
    members = kvapi.parse_cluster("1,:3030;2,10.0.0.2:3031;3,[::1]:3032;")
    assert [(i, str(a)) for i, a in members] == [
        (1, "127.0.0.1:3030"),
        (2, "10.0.0.2:3031"),
        (3, "[::1]:3032"),
    ]
    assert members[2][1].url == "http://[::1]:3032"


def test_a_port_in_use_is_a_clear_error(capsys, tmp_path):
    rpc, http = free_ports(2)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", http))
        busy.listen()
        code, err = run(
            capsys,
            "--node",
            "0",
            "--http",
            f":{http}",
            "--cluster",
            f"1,:{rpc}",
            "--data",
            str(tmp_path),
        )
    assert code == 1
    assert f"S1 cannot listen on 127.0.0.1:{http}, its client address (--http)" in err
    assert "address already in use" in err


def test_a_data_directory_in_use_is_a_clear_error(capsys, tmp_path):
    rpc, http = free_ports(2)
    with DiskStorage(tmp_path, 1):
        code, err = run(
            capsys,
            "--node",
            "0",
            "--http",
            f":{http}",
            "--cluster",
            f"1,:{rpc}",
            "--data",
            str(tmp_path),
        )
    assert code == 1 and "in use by another raftlab process" in err


# -------------------------------------------------- start-up errors (issue 14, item 4)


def start(capsys, tmp_path, *extra: str, data: str | None = None) -> tuple[int, str]:
    rpc, http = free_ports(2)
    key = tmp_path / "cluster.key"
    if not key.exists():
        key.write_text("a secret of more than sixteen bytes\n")
    argv = ["--node", "0", "--http", f":{http}", "--cluster", f"1,:{rpc}"]
    argv += ["--data", data if data is not None else str(tmp_path / "data")]
    argv += ["--cluster-key-file", str(key), *extra]
    return run(capsys, *argv)


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1, err
    return lines[0]


def test_data_naming_a_file_is_one_line_exit_1(capsys, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("not a directory")
    code, err = start(capsys, tmp_path, data=str(f))
    line = one_error_line(err)
    assert code == 1
    assert f"cannot use {f} as S1's data directory" in line
    assert "a file (not a directory) is in the way; choose another --data" in line
    code, err = start(capsys, tmp_path, data=str(f / "below"))
    assert code == 1 and "choose another --data" in one_error_line(err)


def test_data_that_cannot_be_created_is_one_line_exit_1(capsys, tmp_path):
    code, err = start(capsys, tmp_path, data="/sys/raftlab-cannot-be-here")
    line = one_error_line(err)
    assert code == 1 and "cannot use /sys/raftlab-cannot-be-here as S1's data directory" in line
    assert "choose another --data" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere; /sys stands in above")
def test_an_unwritable_data_directory_is_one_line_exit_1(capsys, tmp_path):
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0o500)
    try:
        code, err = start(capsys, tmp_path, data=str(d))
    finally:
        d.chmod(0o700)
    assert code == 1 and "permission denied" in one_error_line(err)


def test_an_emptied_raft_log_is_refused_and_a_new_directory_is_not(capsys, tmp_path):
    """A log truncated to 0 bytes used to start the node at term 0, its vote forgotten."""
    data = tmp_path / "data"
    with DiskStorage(data, 1) as disk:  # the node wrote this directory before
        hard, _ = disk.load()
    for size in (0, 10):
        log = data / "raft.log"
        with open(log, "r+b") as f:
            f.truncate(size)
        code, err = start(capsys, tmp_path)
        line = one_error_line(err)
        assert code == 1
        assert f"{log} is damaged at byte offset 0" in line
        assert f"the file holds {size}" in line and "Restore this directory" in line
        assert log.stat().st_size == size  # refusing changed nothing


def test_the_cluster_key_is_required_beyond_loopback_and_checked(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("RAFTLAB_CLUSTER_KEY", raising=False)
    rpc, http = free_ports(2)
    code, err = run(capsys, "--node", "0", "--http", f":{http}", "--cluster", "1,10.9.9.9:3030")
    assert code == 2 and err.count("\n") == 1
    assert "give every node the same --cluster-key-file" in err
    missing = tmp_path / "no-such.key"
    code, err = run(
        capsys,
        "--node",
        "0",
        "--http",
        ":1",
        "--cluster",
        "1,:2",
        "--cluster-key-file",
        str(missing),
    )
    assert code == 2 and f"--cluster-key-file {missing}: no such file" in err
    short = tmp_path / "short.key"
    short.write_text("tiny")
    code, err = run(
        capsys, "--node", "0", "--http", ":1", "--cluster", "1,:2", "--cluster-key-file", str(short)
    )
    assert code == 2 and "the cluster key has 4 bytes; use at least 16" in err
    monkeypatch.setenv("RAFTLAB_CLUSTER_KEY", "tiny")
    code, err = run(capsys, "--node", "0", "--http", ":1", "--cluster", "1,10.9.9.9:3030")
    assert code == 2 and "RAFTLAB_CLUSTER_KEY: the cluster key has 4 bytes" in err
