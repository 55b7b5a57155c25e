"""``python -m raftlab check-history FILE [--model kv|register] [--timeout SECONDS]``.

Reads a history in any format :func:`raftlab.history.load` knows (raftlab JSON, a Jepsen
register log, a Porcupine key-value log), checks it and prints a one-paragraph verdict.
Exit status: 0 linearizable, 1 not, 2 unknown (timed out) or bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from raftlab.history import History, detect_format
from raftlab.linearizability.checker import check
from raftlab.linearizability.models import MODELS

EXIT_OK, EXIT_NOT_LINEARIZABLE, EXIT_UNKNOWN = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command and return its exit status.

    ``argv`` holds the arguments after ``check-history`` (a leading ``check-history`` is
    accepted too); by default, ``sys.argv[1:]``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["check-history"]:
        args = args[1:]
    parser = argparse.ArgumentParser(
        prog="python -m raftlab check-history",
        description="Check that a history of client operations is linearizable.",
    )
    parser.add_argument("file", help="raftlab JSON, a Jepsen register log or a Porcupine kv log")
    parser.add_argument(
        "--model",
        choices=MODELS,
        default=None,
        help="the object the clients used (default: register for Jepsen logs, else kv)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="give up after SECONDS")
    try:
        opts = parser.parse_args(args)
    except SystemExit as e:  # argparse already printed the usage error
        return EXIT_UNKNOWN if e.code else EXIT_OK
    try:
        with open(opts.file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        print(f"check-history: cannot read {opts.file}: {e}", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        kind = detect_format(text)
        history = _READERS[kind](text)
        # Jepsen's logs are of a register; everything else raftlab reads is key-value.
        model = opts.model or ("register" if kind == "jepsen" else "kv")
        result = check(history, model=model, timeout_s=opts.timeout)
    except ValueError as e:
        print(f"check-history: {opts.file}: {e}", file=sys.stderr)
        return EXIT_UNKNOWN
    keys = len({op.key for op in history})
    print(f"{opts.file}: {len(history)} operations on {keys} key{'s' * (keys != 1)}. ", end="")
    print(result.verdict())
    if result.ok:
        return EXIT_OK
    return EXIT_NOT_LINEARIZABLE if result.ok is False else EXIT_UNKNOWN


_READERS = {
    "json": History.from_json,
    "jepsen": History.from_jepsen,
    "porcupine-kv": History.from_porcupine_kv,
}
