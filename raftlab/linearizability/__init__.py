"""The linearizability checker: is there one order of the clients' operations that explains
every answer, respecting real time?

``check(history, model="kv" | "register", timeout_s=None) -> CheckResult``.  Start with
:mod:`~raftlab.linearizability.checker`; the search itself is in
:mod:`~raftlab.linearizability.search`, the models in
:mod:`~raftlab.linearizability.models`, the shrinking of a failure in
:mod:`~raftlab.linearizability.minimize`, the command line in
:mod:`~raftlab.linearizability.cli`.
"""

from raftlab.linearizability.checker import CheckResult, check, shrink
from raftlab.linearizability.cli import main

__all__ = ["CheckResult", "check", "main", "shrink"]
