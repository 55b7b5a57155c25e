"""The key-value store that runs on top of Raft (the seed's ``cmd/kvapi``).

Where to start
--------------
Raft gives every replica the same log of byte strings in the same order.  Turning that
into a key-value store takes two small pieces:

1. :mod:`raftlab.kv.commands`: how a command (``set x=1``) becomes bytes and back.
   ``encode_command``, ``decode_command``, and ``describe_bytes`` to look at the bytes.
2. :mod:`raftlab.kv.state_machine`: ``KVStateMachine.apply(bytes) -> bytes``, which every
   replica runs on every committed entry, in log order.  It is deterministic (no clock, no
   randomness), so replicas that apply the same log hold the same data.

A client (``KVClient``, in ``raftlab.kv.client``) submits commands to the cluster, follows
leader hints and retries; the session envelope in the commands makes those retries safe.
"""

from __future__ import annotations

from importlib.util import find_spec

from raftlab.kv.commands import (
    SESSION_MARKER,
    ByteField,
    Command,
    Kind,
    bytes_table,
    decode_command,
    describe_bytes,
    encode_command,
)
from raftlab.kv.state_machine import KeyNotFound, KVStateMachine, Session

__all__ = [
    "SESSION_MARKER",
    "ByteField",
    "Command",
    "KVStateMachine",
    "KeyNotFound",
    "Kind",
    "Session",
    "bytes_table",
    "decode_command",
    "describe_bytes",
    "encode_command",
]
if find_spec("raftlab.kv.client") is not None:  # written separately; listed once it exists
    __all__.append("KVClient")


def __getattr__(name: str) -> object:
    # KVClient lives in raftlab.kv.client and needs the cluster; importing it lazily keeps
    # the commands and the state machine importable on their own (and avoids an import cycle).
    if name == "KVClient":
        from raftlab.kv.client import KVClient

        return KVClient
    raise AttributeError(f"module 'raftlab.kv' has no attribute {name!r}")
