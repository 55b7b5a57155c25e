"""The simulated network: delay, loss, duplication, reordering and partitions.

Messages travel in ``Envelope``s stamped with ``sent_at`` and ``deliver_at``.  Every
random choice (lose it? how long? duplicate it?) comes from the cluster's seeded
generator, drawn in a fixed order, so a run replays exactly.  Random delays are what
reorder messages, as on a real network.

Who can talk: a set of cut links (a partition cuts every link between its groups).  A
message is lost when its link is cut at sending time *or* while it travels, or when
either end is down.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from raftlab.kernel import Kernel
from raftlab.messages import Message, describe

if TYPE_CHECKING:
    from raftlab.snapshot import MessageView


class Envelope:
    """A message on the wire.  Reads through to the message's own fields."""

    __slots__ = ("msg", "sent_at", "deliver_at", "dropped", "_view")

    def __init__(self, msg: Message, sent_at: float, deliver_at: float):
        self.msg = msg
        self.sent_at = sent_at
        self.deliver_at = deliver_at
        self.dropped = False
        self._view: MessageView | None = None

    def __getattr__(self, name: str):
        return getattr(self.msg, name)

    def view(self) -> MessageView:
        """An immutable picture of this envelope for snapshots (made once, then shared)."""
        from raftlab.snapshot import MessageView

        v = self._view
        if v is None or v.dropped != self.dropped:
            m = self.msg
            success = getattr(m, "success", getattr(m, "vote_granted", None))
            v = self._view = MessageView(
                m.src,
                m.dst,
                m.kind,
                m.term,
                self.sent_at,
                self.deliver_at,
                describe(m),
                success,
                len(getattr(m, "entries", ())),
                self.dropped,
            )
        return v

    def __repr__(self) -> str:
        return (
            f"<{self.msg.kind} S{self.msg.src}->S{self.msg.dst} term={self.msg.term} "
            f"{self.sent_at:.2f}->{self.deliver_at:.2f}>"
        )


def _check_rate(name: str, p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise ValueError(f"network.{name} must be a probability between 0 and 1, got {p!r}")
    return float(p)


def check_delay(delay: object) -> tuple[float, float]:
    """Validate a ``(lo, hi)`` one-way delay in ms."""
    ok = (
        isinstance(delay, tuple | list)
        and len(delay) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in delay)
    )
    if not ok:
        raise ValueError(f"network.delay_ms must be a pair (lo, hi) of milliseconds, got {delay!r}")
    lo, hi = delay
    # NaN slips through every comparison and infinity never arrives: both are bad values.
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or lo > hi:
        raise ValueError(f"network.delay_ms needs finite 0 <= lo <= hi, got {delay!r}")
    return (float(lo), float(hi))


class Network:
    """Carries messages between nodes on the kernel's clock.

    ``deliver(envelope)`` is the callback the cluster gives for arrivals; ``is_up(i)``
    tells whether a node is running (a message to a node that is down is lost).
    ``stats`` counts ``sent``, ``delivered``, ``dropped`` and ``duplicated`` messages.
    """

    def __init__(
        self,
        ids: Iterable[int],
        kernel: Kernel,
        rng: random.Random,
        delay_ms: tuple[float, float],
        deliver: Callable[[Envelope], None],
        is_up: Callable[[int], bool],
        on_change: Callable[[str, tuple], None] | None = None,
    ):
        self.ids = tuple(ids)
        self._kernel = kernel
        self._rng = rng
        self._deliver = deliver
        self._is_up = is_up
        self._on_change = on_change or (lambda name, args: None)
        self._drop_rate = 0.0
        self._duplicate_rate = 0.0
        self._delay = check_delay(delay_ms)
        self.cut_links: set[tuple[int, int]] = set()  # (a, b) with a < b
        self._in_flight: dict[int, Envelope] = {}  # id(envelope) -> envelope, in send order
        self.stats = {"sent": 0, "delivered": 0, "dropped": 0, "duplicated": 0}
        self.keep_log = True
        self.log: list[Envelope] = []  # every message with a known fate, in that order

    # -------------------------------------------------------------- fault knobs

    @property
    def drop_rate(self) -> float:
        return self._drop_rate

    @drop_rate.setter
    def drop_rate(self, p: float) -> None:
        self._drop_rate = _check_rate("drop_rate", p)
        self._on_change("drop_rate", (self._drop_rate,))

    @property
    def duplicate_rate(self) -> float:
        return self._duplicate_rate

    @duplicate_rate.setter
    def duplicate_rate(self, p: float) -> None:
        self._duplicate_rate = _check_rate("duplicate_rate", p)
        self._on_change("duplicate_rate", (self._duplicate_rate,))

    @property
    def delay_ms(self) -> tuple[float, float]:
        return self._delay

    @delay_ms.setter
    def delay_ms(self, delay: tuple[float, float]) -> None:
        self._delay = check_delay(delay)
        self._on_change("delay_ms", (self._delay,))

    # ---------------------------------------------------------------- topology
    # The topology is just the set of cut links: a partition cuts every link between
    # groups, isolating a node cuts all of its links.  That also allows shapes that are
    # not clean groups, such as a "bridge" node that can talk to two halves that cannot
    # talk to each other.

    def can_talk(self, a: int, b: int) -> bool:
        return a == b or ((a, b) if a < b else (b, a)) not in self.cut_links

    def set_groups(self, groups: list[list[int]]) -> None:
        """Only nodes in the same group can talk (validated by the caller)."""
        group_of = {i: g for g, members in enumerate(groups) for i in members}
        self.cut_links = {
            (a, b) for a in self.ids for b in self.ids if a < b and group_of[a] != group_of[b]
        }
        self._drop_cut()

    def cut(self, a: int, b: int) -> None:
        self.cut_links.add((min(a, b), max(a, b)))
        self._drop_cut()

    def connect(self, a: int, b: int) -> None:
        self.cut_links.discard((min(a, b), max(a, b)))

    def heal(self) -> None:
        self.cut_links = set()

    @property
    def groups(self) -> tuple[frozenset[int], ...]:
        """The connected components of who can talk to whom (one group when healed)."""
        seen: set[int] = set()
        out = []
        for start in self.ids:
            if start in seen:
                continue
            comp, todo = {start}, [start]
            while todo:
                a = todo.pop()
                for b in self.ids:
                    if b not in comp and self.can_talk(a, b):
                        comp.add(b)
                        todo.append(b)
            seen |= comp
            out.append(frozenset(comp))
        return tuple(out)

    # -------------------------------------------------------------- messages

    @property
    def in_flight(self) -> list[Envelope]:
        """Every message sent and not yet delivered or lost, in sending order."""
        return list(self._in_flight.values())

    def send(self, msg: Message) -> None:
        self.send_all((msg,))

    def send_all(self, messages: Iterable[Message]) -> None:
        """Send each message in order, exactly as ``send`` one by one would."""
        # Everything the loop reads is fetched once: a node's output is often a message
        # to every peer, and this runs for every message of a run.
        kernel = self._kernel
        now = kernel.now
        stats = self.stats
        rng = self._rng
        is_up, cut, drop, dup = self._is_up, self.cut_links, self._drop_rate, self._duplicate_rate
        lo, hi = self._delay
        span = hi - lo
        in_flight, heap, arrive = self._in_flight, kernel._heap, self._arrive
        push = heapq.heappush
        seq = kernel._seq  # the kernel's sequence number, kept here and written back below
        sent = 0
        try:
            for msg in messages:
                sent += 1
                if (
                    not is_up(msg.dst)
                    or (cut and not self.can_talk(msg.src, msg.dst))
                    or (drop and rng.random() < drop)
                ):
                    self._lose(Envelope(msg, now, now))
                    continue
                copies = 1
                if dup and rng.random() < dup:
                    copies = 2
                    stats["duplicated"] += 1
                for _ in range(copies):
                    env = Envelope(msg, now, now + lo + span * rng.random())
                    in_flight[id(env)] = env
                    # kernel.schedule, inlined (a delay is never negative, so never in the past)
                    seq += 1
                    push(heap, (env.deliver_at, seq, arrive, env))
        finally:  # nothing in the loop reads these two (a lost message counts "dropped")
            kernel._seq = seq
            stats["sent"] += sent

    def _arrive(self, env: Envelope) -> bool:
        """Kernel callback.  Returns whether the message was handed to its node."""
        if env.dropped:
            return False  # lost earlier: a crash or a cut while it travelled
        del self._in_flight[id(env)]
        msg = env.msg
        # Cuts drop what is in flight at once (_drop_cut); this catches anything else.
        if self.cut_links and not self.can_talk(msg.src, msg.dst):
            self._lose(env)
            return False
        self.stats["delivered"] += 1
        if self.keep_log:
            self.log.append(env)
        self._deliver(env)
        return True

    def drop_node(self, i: int, keep_sent: bool = False) -> None:
        """A node went down: everything in flight to or from it is lost.

        ``keep_sent``: what it sent this very instant is already on the wire and stays
        (a crash right after sending, ``Cluster.crash_window``).
        """
        now = self._kernel.now
        for env in [
            e
            for e in self._in_flight.values()
            if e.msg.dst == i or (e.msg.src == i and not (keep_sent and e.sent_at == now))
        ]:
            del self._in_flight[id(env)]
            self._lose(env)

    def _drop_cut(self) -> None:
        for env in [e for e in self._in_flight.values() if not self.can_talk(e.msg.src, e.msg.dst)]:
            del self._in_flight[id(env)]
            self._lose(env)

    def _lose(self, env: Envelope) -> None:
        env.dropped = True
        self.stats["dropped"] += 1
        if self.keep_log:
            self.log.append(env)
