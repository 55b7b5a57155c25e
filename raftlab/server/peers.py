"""Who may speak Raft to a node, and what a peer's message may say.

Peers prove who they are (HMAC)
-------------------------------
Every node of a cluster holds the same secret key (``--cluster-key-file``, or the
``RAFTLAB_CLUSTER_KEY`` environment variable).  Every frame a node sends to a peer starts
with an HMAC-SHA256 tag over the sender's id, the receiver's id and the frame's bytes;
the receiver checks the tag *before* it decodes anything, and drops a frame whose tag is
wrong.  The WebSocket handshake carries a tag over the sender's id, its client address
and the cluster digest, so nobody without the key can open a peer connection or plant a
redirect address.

Why HMAC and not mutual TLS: the threat is forgery (a process on the host or the
network sending a ``RequestVote`` with a huge term), not eavesdropping on a key-value
store meant for learning.  An HMAC needs one shared file and no certificate authority,
keeps the frames readable in a packet capture, and costs one SHA-256 pass per frame,
and frames batch many messages.  A replayed frame is harmless: Raft already tolerates
duplicated and delayed messages (§5.1), and the ids in the tag stop a frame being
replayed to another node.  Mutual TLS would also encrypt, at the price of a CA, a
certificate per node and their renewal; use it (or a VPN) if the traffic must be secret.

Without a key, a cluster whose addresses are all on the loopback interface still starts,
with a key derived from the public ``--cluster`` string, and says loudly that any process
on this host can then forge its peers' messages.  Any other cluster needs a key.

What a message may say
----------------------
Authenticated or not, every field of every message is checked before the node sees it
(:func:`check_message`): ids are the connection's, terms and indexes are below
:data:`LIMIT` (so no arithmetic on them can overflow the u64 fields of the disk format),
a log term is never above the message's term, entries' terms never go down.  Without a
key, a term more than :data:`TERM_JUMP` ahead of the node's own is refused too.  A
message that fails is dropped with its whole frame, logged (rate-limited), and never
reaches the node: nothing is persisted, nothing stops.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import struct
from pathlib import Path

from raftlab.messages import (
    AppendEntries,
    AppendEntriesReply,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    RequestVote,
    RequestVoteReply,
)

ENV_KEY = "RAFTLAB_CLUSTER_KEY"
TAG_BYTES = 32  # HMAC-SHA256
MIN_KEY_BYTES = 16
LIMIT = 2**62  # terms and indexes stay below this (far from u64's 2**64 - 1)
TERM_JUMP = 1_000_000  # without a key: the most a message's term may lead the node's

_IDS = struct.Struct("<QQ")


class ClusterKeyError(ValueError):
    """The cluster key cannot be used (missing file, too short, ...)."""


class PeerKey:
    """The shared secret of a cluster; signs and checks frames and handshakes."""

    def __init__(self, secret: bytes, *, derived: bool = False):
        if len(secret) < MIN_KEY_BYTES:
            raise ClusterKeyError(
                f"the cluster key has {len(secret)} bytes; use at least {MIN_KEY_BYTES}, "
                'e.g. the output of: python -c "import secrets; print(secrets.token_hex(32))"'
            )
        self._secret = secret
        self.derived = derived  # True: made from the public --cluster string (no secret)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> PeerKey:
        p = Path(path)
        try:
            secret = p.read_bytes().strip()
        except FileNotFoundError:
            raise ClusterKeyError(
                f"--cluster-key-file {p}: no such file; create it with the same secret on "
                "every node"
            ) from None
        except IsADirectoryError:
            raise ClusterKeyError(f"--cluster-key-file {p} is a directory, not a file") from None
        except OSError as exc:
            raise ClusterKeyError(
                f"--cluster-key-file {p} cannot be read: {exc.strerror or exc}"
            ) from None
        try:
            return cls(secret)
        except ClusterKeyError as exc:
            raise ClusterKeyError(f"--cluster-key-file {p}: {exc}") from None

    @classmethod
    def derived_from(cls, cluster_digest: str) -> PeerKey:
        """No secret: a key anyone who knows ``--cluster`` can compute (loopback only)."""
        return cls(
            hashlib.sha256(b"raftlab-no-secret:" + cluster_digest.encode()).digest(), derived=True
        )

    def frame_tag(self, src: int, dst: int, payload: bytes) -> bytes:
        mac = hmac.new(self._secret, _IDS.pack(src, dst), hashlib.sha256)
        mac.update(payload)
        return mac.digest()

    def seal(self, src: int, dst: int, payload: bytes) -> bytes:
        """The frame to send: the tag, then the payload."""
        return self.frame_tag(src, dst, payload) + payload

    def open(self, src: int, dst: int, frame: bytes) -> bytes:
        """The payload of a frame from ``src`` to ``dst``; ``ValueError`` if the tag is wrong."""
        if len(frame) < TAG_BYTES:
            raise ValueError(f"a frame of {len(frame)} bytes is too short to hold its tag")
        tag, payload = frame[:TAG_BYTES], frame[TAG_BYTES:]
        if not hmac.compare_digest(tag, self.frame_tag(src, dst, payload)):
            raise ValueError(
                "the frame's HMAC does not match: it was not sent by a node holding this "
                "cluster's key (check --cluster-key-file on every node)"
            )
        return payload

    def handshake_tag(self, src: int, http_url: str, cluster_digest: str) -> str:
        text = f"raftlab-hello\n{src}\n{http_url}\n{cluster_digest}".encode()
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()

    def check_handshake(self, tag: str, src: int, http_url: str, cluster_digest: str) -> bool:
        return hmac.compare_digest(
            tag.encode(), self.handshake_tag(src, http_url, cluster_digest).encode()
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_message(m: Message, src: int, dst: int, current_term: int, authenticated: bool) -> None:
    """``ValueError`` with a sentence if ``m`` may not reach node ``dst`` (see above)."""
    if m.src != src or m.dst != dst:
        raise ValueError(
            f"a message from S{m.src} to S{m.dst} arrived at S{dst} on S{src}'s connection"
        )
    _range("term", m.term)
    if not authenticated and m.term > current_term + TERM_JUMP:
        raise ValueError(
            f"term {m.term} is more than {TERM_JUMP:,} ahead of this node's {current_term}, "
            "from an unauthenticated peer"
        )
    if isinstance(m, AppendEntries):
        if m.leader_id != src:
            raise ValueError(f"AppendEntries from S{src} names S{m.leader_id} as the leader")
        if m.term < 1:
            raise ValueError("AppendEntries in term 0: no leader exists before term 1")
        _range("prev_log_index", m.prev_log_index)
        _log_term("prev_log_term", m.prev_log_term, m.prev_log_index, m.term)
        _range("leader_commit", m.leader_commit)
        _range("last entry index", m.prev_log_index + len(m.entries))
        last = m.prev_log_term
        for k, e in enumerate(m.entries, m.prev_log_index + 1):
            if not last <= e.term <= m.term:
                raise ValueError(
                    f"entry {k} has term {e.term}, outside {last}..{m.term} (terms in a log "
                    "never go down, and never pass the leader's term)"
                )
            last = e.term
    elif isinstance(m, RequestVote):
        if m.candidate_id != src:
            raise ValueError(f"RequestVote from S{src} asks a vote for S{m.candidate_id}")
        if m.term < 1:
            raise ValueError("RequestVote in term 0: a candidate's term is at least 1")
        _range("last_log_index", m.last_log_index)
        _log_term("last_log_term", m.last_log_term, m.last_log_index, m.term)
    elif isinstance(m, AppendEntriesReply):
        _range("match_index", m.match_index)
        _range("rejected_index", m.rejected_index)
        _range("conflict_index", m.conflict_index)
        if m.conflict_term > m.term:
            raise ValueError(f"conflict_term {m.conflict_term} is above the reply's term {m.term}")
    elif isinstance(m, InstallSnapshot):
        if m.leader_id != src:
            raise ValueError(f"InstallSnapshot from S{src} names S{m.leader_id} as the leader")
        if m.term < 1 or m.last_included_index < 1 or m.last_included_term < 1:
            raise ValueError("InstallSnapshot needs a term, and a snapshot index and term >= 1")
        _range("last_included_index", m.last_included_index)
        _range("offset", m.offset + len(m.data))
        if m.last_included_term > m.term:
            raise ValueError(
                f"last_included_term {m.last_included_term} is above the message's term {m.term}"
            )
        conf = m.configuration  # a Configuration, or None from a sender that sends none
        for i in sorted(conf.voters | conf.learners) if conf is not None else ():
            _range("server id", i)
    elif isinstance(m, InstallSnapshotReply):
        _range("last_included_index", m.last_included_index)
        _range("offset", m.offset)
        _range("match_index", m.match_index)
    elif not isinstance(m, RequestVoteReply):
        raise ValueError(f"not a Raft message: {type(m).__name__}")


def _range(name: str, value: int) -> None:
    if not 0 <= value < LIMIT:
        raise ValueError(f"{name} {value} is out of range (0 to 2**62-1)")


def _log_term(name: str, term: int, index: int, msg_term: int) -> None:
    if term > msg_term:
        raise ValueError(f"{name} {term} is above the message's term {msg_term}")
    if index == 0 and term != 0:
        raise ValueError(f"{name} is {term} for index 0, which has no entry (term 0)")
