"""``python -m raftlab COMMAND``: raftlab from a terminal.

Commands: demo, bench, check-history, chaos, kvapi, stress, nemesis.  Each lives in its own
module; this file only dispatches.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "demo": ("raftlab.demo", "a short narrated run: election, commits, a crash, re-election"),
    "bench": ("raftlab.bench", "simulator speed: messages per second vs a bare event loop"),
    "check-history": ("raftlab.linearizability", "check a history file for linearizability"),
    "chaos": ("raftlab.chaos", "random faults from seeds, then safety and linearizability checks"),
    "kvapi": ("raftlab.server.kvapi", "run one key-value server process (the seed's kvapi)"),
    "stress": ("raftlab.server.stress", "the seed's stress test on three real server processes"),
    "nemesis": ("raftlab.server.nemesis", "Jepsen-style: kill -9, SIGSTOP and partitions, checked"),
}


def usage() -> str:
    lines = ["usage: python -m raftlab COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<14} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "python -m raftlab COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
