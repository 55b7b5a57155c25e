"""Every Try-it survives the learner: chapters 00-07 and 09-11 run with their Try-it
parameters changed.

Each chapter keeps the values its Try-it sections invite you to change in small code cells
tagged ``parameters``.  A variant overrides some of them, papermill's way: a cell inserted
right after the parameters cell that sets each name.  Then the whole notebook runs with
nbclient.  A variant must either run to the end, or stop in a self-check that rejects a
wrong answer with an ``AssertionError`` saying why (the variants that give a wrong answer on
purpose name the sentence they expect).  A bare ``StopIteration``, ``KeyError``,
``IndexError`` or a ``Timeout`` nobody explains fails the test.

Some variants also name the explanation the run must print (``"says"``): that a majority
is down, that no election was needed, and so on.

Widget cells (tagged ``nbval-ignore-output``) are skipped: they build fresh clusters that no
Try-it parameter reaches, and the widget tests cover them.  Pictures are drawn but not
rendered.  The variants run two kernels at a time; together they use about two minutes of
CPU (``pytest tests/test_notebook_variants.py``), so about a minute and a half of wall time
on two idle cores, and four to five minutes on a machine loaded by other work.
"""

from __future__ import annotations

import ast
import asyncio
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WORKERS = min(2, os.cpu_count() or 1)

# (chapter, overrides {name: Python source}, expected): ("fails", text) when a self-check
# must reject a wrong answer with an AssertionError saying text; ("says", text) when the run
# must end cleanly having printed text (the explanation); None to end cleanly.
VARIANTS: list[tuple[str, dict[str, str], tuple[str, str] | None]] = [
    ("00", {"n": "3", "crash_first": "True"}, ("fails", "you crashed too many servers")),
    ("00", {"seed": "1", "n": "7", "crash_first": "True"}, None),
    (
        "01",
        {
            "commands": '[Command(Kind.SET, "y", "1"), Command(Kind.APPEND, "y", "2"), '
            'Command(Kind.CAS, "x", "1", expected="9"), Command(Kind.DELETE, "x")]',
            "n": "5",
            "seed": "7",
            "crashed_follower": "2",
        },
        None,
    ),
    ("01", {"crashed_follower": "1"}, ("fails", "S1 is the leader, not a follower")),
    ("01", {"commute": "clash"}, ("fails", "the order of commute matters")),
    (
        "02",
        {"my_config": "Config()", "my_seed": "217", "crashed": "[3]"},
        ("says", "no election was needed"),
    ),
    (
        "02",
        {"my_seed": "14", "my_n": "7", "crashed": "[1, 3, 2]"},
        ("says", "only 2 of 5 servers are alive; an election needs 3 votes"),
    ),
    ("02", {"my_config": "Config()", "my_seed": "0"}, ("fails", "no split vote")),
    (
        "03",
        {
            "lost": "[]",
            "later": '[b"c"]',
            "predicted_rejections": "1",
            "restart_second": "True",
            "delay_ms": "(20, 40)",
        },
        None,
    ),
    ("03", {"lost": "[b'x%d' % i for i in range(8)]", "predicted_rejections": "1"}, None),
    ("03", {"predicted_rejections": "5"}, ("fails", "you predicted 5 rejection(s)")),
    ("04", {"minority, majority": "[4, 5], [1, 2, 3]", "predicted_commit": "True"}, None),
    (
        "04",
        {"minority, majority": "[4, 5], [1, 2, 3]"},
        ("fails", "you predicted that lost1 and lost2 would not commit"),
    ),
    (
        "04",
        {"crashed_in_majority": "[4]", "seed": "7", "predicted_commit": "True"},
        ("says", "no leader among [3, 4, 5] after 2000 ms"),
    ),
    (
        "04",
        {
            "minority, majority": "[1], [2, 3, 4, 5]",
            "partition_seed": "8",
            "predicted_commit": "True",
        },
        None,
    ),
    (
        "05",
        {"follower": "leader", "seeds": "range(20, 30)", "my_caught": "[20, 21, 22, 26, 27]"},
        None,
    ),
    ("05", {"my_caught": "[]"}, ("fails", "the checker caught the bug at seeds")),
    ("05", {"safe_winner": '"a"'}, ("fails", "won, and the run was")),
    ("06", {"attempt_ms": "100", "predicted_copies": "1"}, ("says", "before every server had it")),
    ("06", {"crash_leader": "False"}, ("fails", "you predicted 2 copies of the append")),
    (
        "06",
        {"attempt_ms": "2000", "isolated": "1", "crash_leader": "False", "predicted_copies": "1"},
        None,
    ),
    (
        "07",
        {"fourth_copy": "False", "predicted_copies": "2", "faults": '{"crash", "restart"}'},
        None,
    ),
    ("07", {"faults": '{"partition", "drop"}', "read_after": "(700.0, 800.0)"}, None),
    ("07", {"predicted_copies": "4"}, ("fails", "S1 knew of")),
    (
        "09",
        {"isolate_ms": "1000", "predicted_rise": "6", "story_seed": "11", "target": "1"},
        ("says", "the term rose by 6 without PreVote"),
    ),
    ("09", {"isolate_ms": "1000"}, ("fails", "you predicted a rise of 23")),
    ("09", {"predicted_first": "0"}, ("fails", "you predicted seed 0")),
    (
        "10",
        {
            "threshold": "7",
            "predicted_log_length": "5",
            "chunk_bytes": "16",
            "predicted_chunks": "11",
            "chaos_seeds": "range(1, 10)",
            "predicted_first": "None",
        },
        None,
    ),
    (
        "10",
        {
            "threshold": "0",
            "predicted_log_length": "201",
            "writes": "5",
            "predicted_chunks": "0",
            "chaos_seeds": "range(7, 13)",
            "predicted_first": "12",
        },
        ("says", "no snapshot was needed"),
    ),
    ("10", {"predicted_chunks": "10"}, ("fails", "you predicted 10 InstallSnapshot messages")),
    ("11", {"old, new": "{1, 2, 3, 4}, {1, 2, 3}", "my_overlap": "True"}, None),
    ("11", {"my_overlap": "True"}, ("fails", "share no server")),
    (
        "11",
        {"my_first_seeds": '{"concurrent_config_change": 0, "config_before_noop": 4}'},
        ("fails", "the first seed in range(0, 20) that catches config_before_noop is 3"),
    ),
    (
        "11",
        {"backlog": "1000", "new_server": "7", "bugs": '["concurrent_config_change"]'},
        ("says", "S7 was promoted at"),
    ),
]


def assigned_names(source: str) -> set[str]:
    """The names a parameters cell assigns, tuple targets included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def with_overrides(nb: nbformat.NotebookNode, overrides: dict[str, str]) -> None:
    """Insert ``name = value`` right after the parameters cell that sets ``name``."""
    for target, value in overrides.items():
        names = {n.strip() for n in target.split(",")}
        for i, cell in enumerate(nb.cells):
            tags = cell.metadata.get("tags", [])
            if "parameters" in tags and names <= assigned_names(cell.source):
                nb.cells.insert(i + 1, nbformat.v4.new_code_cell(f"{target} = {value}"))
                break
        else:
            raise AssertionError(f"no parameters cell sets {target}")


def client(chapter: str, overrides: dict[str, str]) -> NotebookClient:
    """A client for the chapter with the overrides inserted and its widget cells left out."""
    (path,) = NOTEBOOKS.glob(f"{chapter}-*.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if "nbval-ignore-output" not in c.metadata.get("tags", [])]
    with_overrides(nb, overrides)
    # Draw, but never render: the pictures are not what a variant checks, and rendering
    # them would double its time.
    nb.cells.insert(0, nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.use('agg')"))
    return NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )


def printed(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed."""
    return "".join(
        o.get("text", "")
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "stream"
    )


def key(chapter: str, overrides: dict[str, str]) -> tuple:
    return chapter, tuple(sorted(overrides.items()))


@pytest.fixture(scope="module")
def outcomes(request) -> dict[tuple, tuple[CellExecutionError | None, str]]:
    """Run every selected variant, two kernels at a time (one per core), once per module."""
    wanted = [
        (item.callspec.params["chapter"], item.callspec.params["overrides"])
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_try_it_variant_ends_in_an_explanation"
    ]

    async def one(limit: asyncio.Semaphore, chapter: str, overrides: dict[str, str]):
        async with limit:
            run = client(chapter, overrides)
            try:
                await run.async_execute()
            except CellExecutionError as error:
                return error, printed(run.nb)
            return None, printed(run.nb)

    async def every() -> list:
        limit = asyncio.Semaphore(WORKERS)
        return await asyncio.gather(*(one(limit, c, o) for c, o in wanted))

    return {key(c, o): r for (c, o), r in zip(wanted, asyncio.run(every()), strict=True)}


def test_every_variant_names_a_parameter_its_chapter_has():
    for chapter, overrides, _ in VARIANTS:
        (path,) = NOTEBOOKS.glob(f"{chapter}-*.ipynb")
        nb = nbformat.read(path, as_version=4)
        with_overrides(nb, overrides)  # raises if a name is not a parameter


@pytest.mark.slow
@pytest.mark.parametrize(
    ("chapter", "overrides", "expected"),
    VARIANTS,
    ids=[f"{c}-" + ",".join(f"{k}={v}" for k, v in o.items())[:60] for c, o, _ in VARIANTS],
)
def test_try_it_variant_ends_in_an_explanation(outcomes, chapter, overrides, expected):
    error, text = outcomes[key(chapter, overrides)]
    if error is not None and (expected is None or expected[0] != "fails"):
        pytest.fail(f"chapter {chapter} with {overrides} failed:\n{error}")
    if expected is None:
        return
    how, sentence = expected
    if how == "fails":
        assert error is not None, f"the self-check did not reject the wrong answer {overrides}"
        assert error.ename == "AssertionError", f"a bare {error.ename}: {error.evalue}"
        assert sentence in error.evalue, error.evalue
    else:
        assert sentence in text, f"chapter {chapter} with {overrides} never said {sentence!r}"
