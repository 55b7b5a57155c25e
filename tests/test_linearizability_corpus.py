"""The checker against histories nobody on this project wrote: Jepsen's etcd runs and
Porcupine's key-value logs, with the verdicts Porcupine's own tests assert.

The corpus is carried in the repository, in ``tests/data/linearizability`` (its README says
where each file comes from, ``LICENSES.md`` under which terms).
"""

import time
from pathlib import Path

import pytest

from raftlab.history import History
from raftlab.linearizability import check, main

REPO = Path(__file__).resolve().parents[1]


CORPUS = REPO / "tests" / "data" / "linearizability"


def _verdicts() -> list[tuple[str, str, bool]]:
    rows = (CORPUS / "verdicts.tsv").read_text().splitlines()[1:]
    return [(f, m, v == "true") for f, m, v in (row.split("\t") for row in rows if row)]


VERDICTS = _verdicts()


def _load(name: str) -> History:
    text = (CORPUS / name).read_text()
    return (
        History.from_jepsen(text) if name.startswith("etcd/") else History.from_porcupine_kv(text)
    )


def test_the_corpus_is_there_and_complete():
    assert len(VERDICTS) == 108
    assert sum(1 for f, _, _ in VERDICTS if f.startswith("etcd/")) == 102
    assert sum(1 for f, _, ok in VERDICTS if f.startswith("etcd/") and ok) == 23


@pytest.mark.parametrize("name, model, linearizable", VERDICTS, ids=[v[0] for v in VERDICTS])
def test_checker_agrees_with_the_published_verdict(name, model, linearizable):
    history = _load(name)
    result = check(history, model=model, timeout_s=60)
    assert result.ok is linearizable
    if not linearizable:
        assert result.minimal
        assert result.operations, "a failure names the operations that cannot be ordered"
        assert all(op.key == result.key for op in result.operations)
        assert all(op in list(history) for op in result.operations)
        # They cannot be ordered on their own either, from the start the result names.
        assert check(History(result.operations, initial=result.start), model=model).ok is False


def test_whole_corpus_is_checked_quickly():
    """Porcupine (Go) checks the 102 etcd runs in about 1 s and c50 in about 0.3 s.  We allow
    generous slack for a loaded CI machine; benchmarks/bench_checker.py gives the figures."""
    histories = [(_load(name), model) for name, model, _ in VERDICTS]
    start = time.perf_counter()
    for history, model in histories:
        check(history, model=model)
    assert time.perf_counter() - start < 10


def test_an_expensive_key_alone_runs_into_the_timeout():
    # Key "0" of c50-bad is very costly to exhaust on its own (the checker finds the cheap
    # failing key instead when it has the whole history): a short timeout must give up.
    history = _load("kv/c50-bad.txt")
    alone = History([op for op in history if op.key == "0"], initial=history.initial)
    assert check(alone, timeout_s=0.2).ok is None


def test_cli_on_corpus_files(capsys):
    assert main([str(CORPUS / "etcd" / "etcd_002.log")]) == 0
    assert "(register model)" in capsys.readouterr().out
    assert main([str(CORPUS / "etcd" / "etcd_000.log")]) == 1
    out = capsys.readouterr().out
    assert "Not linearizable: key 'x' (register model)" in out
    assert main([str(CORPUS / "kv" / "c50-ok.txt")]) == 0
    assert main([str(CORPUS / "kv" / "c10-bad.txt")]) == 1
    assert "(kv model)" in capsys.readouterr().out
