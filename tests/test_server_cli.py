"""``python -m raftlab kvapi``: a bad command line exits with a message naming the problem."""

from __future__ import annotations

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
    assert "usage: python -m raftlab kvapi" in err
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
