"""One palette for every raftlab picture: roles, message kinds, terms, partition groups.

Every picture takes its colours from here, so a leader, a vote or term 4 looks the same in
the cluster drawing, the logs, the timeline and the message diagram.  The hues come from
the Okabe-Ito set, chosen to stay distinguishable with the common colour-vision
deficiencies; shape (marker, line style) repeats the information colour carries.
"""

from __future__ import annotations

from raftlab.roles import Role
from raftlab.snapshot import MessageView

# Roles (§5.1): fill colour, edge colour, text colour drawn on the fill, and shape.
ROLE_COLORS: dict[str, str] = {
    Role.FOLLOWER: "#9CC3E6",
    Role.CANDIDATE: "#F0A830",
    Role.LEADER: "#1B9E77",
}
ROLE_EDGE: dict[str, str] = {
    Role.FOLLOWER: "#2F6A9E",
    Role.CANDIDATE: "#9A5B00",
    Role.LEADER: "#0B5A43",
}
ROLE_TEXT: dict[str, str] = {
    Role.FOLLOWER: "#0F2A44",
    Role.CANDIDATE: "#2B1A00",
    Role.LEADER: "white",
}
# Shapes named for matplotlib's Line2D markers (used in legends) and drawn as patches.
ROLE_MARKERS: dict[str, str] = {
    Role.FOLLOWER: "o",
    Role.CANDIDATE: "D",
    Role.LEADER: "H",  # flat-topped, like the hexagon draw_cluster draws
}
DEAD_FILL = "#D9D9D9"
STALE_LEADER = "#B8E0D2"  # a leader deposed by a newer term that has not heard of it
DEAD_EDGE = "#7F7F7F"
DEAD_TEXT = "#6B6B6B"

# Message kinds.  A request and its reply share a hue family (orange for elections, blue
# for replication); success is green, failure red or purple and dashed.
MESSAGE_STYLES: dict[str, dict] = {
    "vote_request": {"color": "#E69F00", "lw": 2.2, "ls": "-", "label": "RequestVote"},
    "vote_granted": {"color": "#009E73", "lw": 2.2, "ls": "-", "label": "vote granted"},
    "vote_denied": {"color": "#D55E00", "lw": 2.2, "ls": "--", "label": "vote denied"},
    "append": {"color": "#0072B2", "lw": 3.0, "ls": "-", "label": "AppendEntries (entries)"},
    "heartbeat": {"color": "#97A3B0", "lw": 1.4, "ls": "-", "label": "heartbeat (no entries)"},
    "append_ok": {"color": "#22A6C4", "lw": 2.0, "ls": "-", "label": "AE reply: success"},
    "append_rejected": {"color": "#CC79A7", "lw": 2.0, "ls": "--", "label": "AE reply: rejected"},
    # Leadership transfer (thesis §3.10); rare, so left out of the legend's fixed list.
    "timeout_now": {"color": "#6A3D9A", "lw": 2.6, "ls": "-.", "label": "TimeoutNow"},
}
MESSAGE_ORDER = (
    "vote_request",
    "vote_granted",
    "vote_denied",
    "append",
    "heartbeat",
    "append_ok",
    "append_rejected",
)

CUT_COLOR = "#C0392B"
TIMER_COLOR = "#455A64"
TIMER_LOW_COLOR = "#D55E00"
LINK_COLOR = "#D5D8DC"
DROPPED_COLOR = "#C0392B"

# Twelve term colours, light enough for black text, then they cycle.  Neighbouring terms
# get contrasting hues, since adjacent terms are the ones a learner compares.
TERM_COLORS: tuple[str, ...] = (
    "#C7AEE6",  # lavender: the first terms avoid the role colours (blue, orange, green)
    "#F4A3A8",  # rose
    "#80D4DC",  # cyan
    "#E3C16F",  # ochre
    "#F7B6DA",  # pink
    "#C9D86A",  # olive
    "#B5A48F",  # taupe
    "#A3AEF2",  # periwinkle
    "#F59E7C",  # coral
    "#8DB6E0",  # blue
    "#FDB863",  # orange
    "#93D3A2",  # green
)

# Pale backgrounds for partition groups.
GROUP_COLORS: tuple[str, ...] = ("#E8F1FB", "#FDEFD9", "#E6F5EA", "#F6E6F2", "#F2F2DA")

# Client operations in a history.
OP_COLORS: dict[str, str] = {
    "set": "#0072B2",
    "get": "#009E73",
    "delete": "#D55E00",
    "cas": "#E69F00",
    "append": "#CC79A7",
}
HIGHLIGHT_COLOR = "#E41A1C"


def term_color(term: int) -> str:
    """The colour of ``term``: 12 distinct colours for terms 1..12, then they cycle."""
    if term <= 0:
        return "#FFFFFF"
    return TERM_COLORS[(term - 1) % len(TERM_COLORS)]


def message_style_key(msg: MessageView) -> str:
    """Which entry of ``MESSAGE_STYLES`` draws ``msg``."""
    if msg.kind == "RequestVote":
        return "vote_request"
    if msg.kind == "RequestVoteReply":
        return "vote_granted" if msg.success else "vote_denied"
    if msg.kind == "AppendEntries":
        return "append" if msg.entries else "heartbeat"
    if msg.kind == "AppendEntriesReply":
        return "append_ok" if msg.success else "append_rejected"
    if msg.kind == "TimeoutNow":
        return "timeout_now"
    raise ValueError(
        f"unknown message kind {msg.kind!r}; expected RequestVote, AppendEntries, "
        "one of their replies, or TimeoutNow"
    )
