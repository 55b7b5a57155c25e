"""The checker against histories nobody on this project wrote: Jepsen's etcd runs and
Porcupine's key-value logs, with the verdicts Porcupine's own tests assert.

The corpus lives beside the clone, in ``shared/data/linearizability`` (CI puts ``shared/``
there), or wherever ``RAFTLAB_CORPUS`` points.  If it cannot be found these tests FAIL: a
checker that was never run against the corpus has not been checked.
"""

import os
import time
from pathlib import Path

import pytest

from raftlab.history import History
from raftlab.linearizability import check, main

REPO = Path(__file__).resolve().parents[1]


def _corpus() -> Path | None:
    for candidate in (
        REPO.parent / "shared" / "data" / "linearizability",
        os.environ.get("RAFTLAB_CORPUS"),
    ):
        if candidate and (Path(candidate) / "verdicts.tsv").is_file():
            return Path(candidate)
    return None


CORPUS = _corpus()
MISSING = (
    f"the linearizability corpus was not found: expected {REPO.parent}/shared/data/"
    "linearizability/verdicts.tsv beside the clone, or a directory named by RAFTLAB_CORPUS"
)


def _verdicts() -> list[tuple[str, str, bool]]:
    if CORPUS is None:
        return [("corpus missing", "kv", True)]  # one case that fails, never an empty set
    rows = (CORPUS / "verdicts.tsv").read_text().splitlines()[1:]
    return [(f, m, v == "true") for f, m, v in (row.split("\t") for row in rows if row)]


VERDICTS = _verdicts()


def _load(name: str) -> History:
    assert CORPUS is not None, MISSING
    text = (CORPUS / name).read_text()
    return (
        History.from_jepsen(text) if name.startswith("etcd/") else History.from_porcupine_kv(text)
    )


def test_the_corpus_is_there_and_complete():
    if CORPUS is None:
        pytest.fail(MISSING)
    assert len(VERDICTS) == 108
    assert sum(1 for f, _, _ in VERDICTS if f.startswith("etcd/")) == 102
    assert sum(1 for f, _, ok in VERDICTS if f.startswith("etcd/") and ok) == 23


@pytest.mark.parametrize("name, model, linearizable", VERDICTS, ids=[v[0] for v in VERDICTS])
def test_checker_agrees_with_the_published_verdict(name, model, linearizable):
    if CORPUS is None:
        pytest.fail(MISSING)
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
    if CORPUS is None:
        pytest.fail(MISSING)
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
    if CORPUS is None:
        pytest.fail(MISSING)
    assert main([str(CORPUS / "etcd" / "etcd_002.log")]) == 0
    assert "(register model)" in capsys.readouterr().out
    assert main([str(CORPUS / "etcd" / "etcd_000.log")]) == 1
    out = capsys.readouterr().out
    assert "Not linearizable: key 'x' (register model)" in out
    assert main([str(CORPUS / "kv" / "c50-ok.txt")]) == 0
    assert main([str(CORPUS / "kv" / "c10-bad.txt")]) == 1
    assert "(kv model)" in capsys.readouterr().out
