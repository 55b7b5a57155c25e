"""The same seed and the same calls give the same run: in one process, across processes,
whatever ``PYTHONHASHSEED`` is and whatever the global ``random`` does."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

from raftlab import Cluster, RaftLabError
from raftlab.kv import Command, Kind, KVStateMachine, encode_command


def story(seed: int) -> Cluster:
    """A run with every kind of event: elections, commands, a lossy network, a crash, a
    restart, a partition, an isolated node and a heal."""
    c = Cluster(5, seed=seed, state_machine=KVStateMachine)
    c.network.drop_rate = 0.05
    c.network.duplicate_rate = 0.05
    c.network.delay_ms = (1, 30)
    c.wait_for_leader()
    for r in range(12):
        commands = [encode_command(Command(Kind.SET, f"key-{k}", f"v{r}")) for k in range(r, r + 4)]
        try:
            c.apply(commands, timeout_ms=2000)
        except RaftLabError:
            c.run(300)
        if r == 3:
            c.crash(c.leader() or 1)
        elif r == 5:
            c.partition({1, 2}, {3, 4, 5})
        elif r == 7:
            c.heal()
            for i in sorted(set(c.ids) - c.alive):
                c.restart(i)
        elif r == 9:
            c.isolate(c.leader() or 2)
        elif r == 10:
            c.heal()
    c.run(1000)
    return c


def lines(c: Cluster) -> list[str]:
    return [str(e) for e in c.trace]


def test_same_seed_same_calls_same_trace():
    a, b = story(5), story(5)
    assert lines(a) == lines(b)
    assert len(lines(a)) > 100
    assert a.network.stats == b.network.stats
    assert a.snapshot() == b.snapshot()
    assert [m.view() for m in a.network.log] == [m.view() for m in b.network.log]


def test_a_different_seed_gives_a_different_run():
    assert lines(story(5)) != lines(story(6))


def test_the_global_random_generator_plays_no_part():
    random.seed(1)
    a = story(7)
    random.seed(2)
    random.random()
    b = story(7)
    assert lines(a) == lines(b)


SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_determinism import story
    from raftlab.scenarios import replay_transcript

    c = story(11)
    for e in c.trace:
        print(e)
    print(c.network.stats)
    print([sorted(g) for g in c.network.groups], sorted(c.network.cut_links))
    for n in c.nodes.values():
        print(n.id, n.role, n.current_term, n.commit_index, [(e.term, e.command) for e in n.log])
        print(sorted(n.state_machine.__dict__.items()) if hasattr(n.state_machine, "__dict__")
              else repr(n.state_machine))
    print(replay_transcript(open({figure8!r}).read()))
    """
)


def run_with_hash_seed(hash_seed: str) -> str:
    tests = Path(__file__).parent
    code = SCRIPT.format(tests=str(tests), figure8=str(tests / "scenarios" / "figure8.txt"))
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tests.parent,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_two_processes_with_different_hash_seeds_give_the_same_run():
    one, two = run_with_hash_seed("1"), run_with_hash_seed("2")
    assert "leader" in one and "S5 leads term 5" in one
    assert one == two
