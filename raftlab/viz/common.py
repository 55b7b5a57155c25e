"""Helpers every picture shares: accept a cluster or a snapshot, make Axes when none given."""

from __future__ import annotations

import math
import re

import numpy as np
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import (
    Affine2D,
    Bbox,
    ScaledTranslation,
    Transform,
    TransformedPatchPath,
)

from raftlab.snapshot import ClusterSnapshot, MessageView

# About the width of a Jupyter notebook cell at its default zoom.
NOTEBOOK_WIDTH = 9.5


def as_snapshot(x: object) -> ClusterSnapshot:
    """Return ``x`` if it is a ``ClusterSnapshot``, else ``x.snapshot()`` (for a ``Cluster``).

    Pictures draw from snapshots only, never from a live cluster's internals, so that the
    dashboard's time slider can draw the past exactly as it was.
    """
    if isinstance(x, ClusterSnapshot):
        return x
    snap = getattr(x, "snapshot", None)
    if callable(snap):
        result = snap()
        if isinstance(result, ClusterSnapshot):
            return result
    raise TypeError(
        f"expected a Cluster or a ClusterSnapshot, got {type(x).__name__}; "
        "pass the cluster itself or cluster.snapshot()"
    )


def progress(msg: MessageView, now: float) -> float:
    """How far along its path ``msg`` is at ``now``: 0 just sent, 1 about to arrive."""
    span = msg.deliver_at - msg.sent_at
    if not math.isfinite(span):
        return 0.0
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, (now - msg.sent_at) / span))


_TERM_RE = re.compile(r"\bterm=(\d+)")


def parse_term(detail: str) -> int | None:
    """The ``term=N`` in a trace event's detail, or ``None``."""
    m = _TERM_RE.search(detail)
    return int(m.group(1)) if m else None


# Text drawn as markers.  Matplotlib lays out every Text artist anew on each draw (about half
# a millisecond apiece on a modest CPU), while a Line2D renders its marker path once and
# stamps it.  The pictures must redraw at 10 frames a second, so the many small labels (log
# cells, server facts, legends) are markers spelling the text.  A marker path is scaled so
# its largest coordinate fills the marker box: two invisible corner points at +-R keep every
# label at its true size, whatever its width.
_FONTS = {
    False: FontProperties(family="DejaVu Sans"),
    True: FontProperties(family="DejaVu Sans", weight="bold"),
}
_MARKER_CACHE: dict[tuple, tuple[Path, float, tuple[float, float, float, float]]] = {}
_MARKER_CACHE_MAX = 4000


_LINE_CACHE: dict[tuple[str, float, bool], TextPath] = {}


def _line_path(line: str, size: float, bold: bool) -> TextPath:
    """One line of text as a path; cached, since labels share lines ("term 3")."""
    key = (line, size, bold)
    tp = _LINE_CACHE.get(key)
    if tp is None:
        if len(_LINE_CACHE) >= _MARKER_CACHE_MAX:
            _LINE_CACHE.clear()
        tp = _LINE_CACHE[key] = TextPath((0, 0), line, size=size, prop=_FONTS[bold])
    return tp


def axes_clip(ax: Axes) -> TransformedPatchPath:
    """The clip path for artists in ``ax``, made once per Axes patch.

    ``Axes.add_artist`` would build a new one for every artist, which is a noticeable share
    of a frame when a picture adds dozens of artists.
    """
    cached = getattr(ax, "_raftlab_clip", None)
    if cached is None or cached[0] is not ax.patch:
        cached = (ax.patch, TransformedPatchPath(ax.patch))
        ax._raftlab_clip = cached
    return cached[1]


def add(ax: Axes, artist):
    """``ax.add_artist(artist)`` with the shared clip path (see ``axes_clip``)."""
    artist.set_clip_path(axes_clip(ax))
    return ax.add_artist(artist)


def text_marker(
    label: str,
    size: float = 9.0,
    *,
    bold: bool = False,
    ha: str = "center",
    va: str = "center",
    spacing: float | None = None,
) -> tuple[Path, float]:
    """A marker path spelling ``label`` (lines split on ``\\n``), and its markersize in points.

    Pass both to ``ax.plot(x, y, marker=path, markersize=ms, markeredgewidth=0)``: the text
    appears at ``size`` points, with its ``ha``/``va`` corner or side at the data point,
    as for ``ax.text``.
    """
    path, ms, _ = _text_marker(label, size, bold, ha, va, spacing)
    return path, ms


def _text_marker(
    label: str, size: float, bold: bool, ha: str, va: str, spacing: float | None = None
) -> tuple[Path, float, tuple[float, float, float, float]]:
    key = (label, size, bold, ha, va, spacing)
    hit = _MARKER_CACHE.get(key)
    if hit is not None:
        return hit
    if ha not in ("left", "center", "right") or va not in ("top", "center", "bottom", "baseline"):
        raise ValueError(
            f"ha must be left, center or right and va top, center or bottom; "
            f"got ha={ha!r}, va={va!r}"
        )
    lines = label.split("\n")
    step = size * 1.22 if spacing is None else spacing  # baseline to baseline
    parts = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        tp = _line_path(line, size, bold)
        # Bounds from the control points: Path.get_extents solves Bezier extrema, which
        # costs milliseconds per label; control points bound the curve closely enough.
        width = float(tp.vertices[:, 0].max()) if len(tp.vertices) else 0.0
        dx = 0.0 if ha == "left" else -width / 2 if ha == "center" else -width
        parts.append(tp.transformed(Affine2D().translate(dx, -k * step)))
    top, bottom = 0.74 * size, -(len(lines) - 1) * step - 0.2 * size
    dy = {"top": -top, "bottom": -bottom, "center": -(top + bottom) / 2, "baseline": 0.0}[va]
    body = (
        Path.make_compound_path(*parts).transformed(Affine2D().translate(0, dy))
        if parts
        else Path(np.zeros((0, 2)))
    )
    r = max(float(np.abs(body.vertices).max()) if len(body.vertices) else 0.0, size * 0.5)
    corners = Path([(-r, -r), (r, r)], [Path.MOVETO, Path.MOVETO])
    if len(body.vertices):
        (x0, y0), (x1, y1) = body.vertices.min(axis=0), body.vertices.max(axis=0)
        extents = (float(x0), float(y0), float(x1), float(y1))
    else:
        extents = (0.0, 0.0, 0.0, 0.0)
    result = (Path.make_compound_path(body, corners), 2 * r, extents)
    if len(_MARKER_CACHE) >= _MARKER_CACHE_MAX:
        _MARKER_CACHE.clear()
    _MARKER_CACHE[key] = result
    return result


def draw_text(
    ax: Axes,
    x: float,
    y: float,
    label: str,
    size: float = 9.0,
    *,
    color: str = "#222222",
    bold: bool = False,
    ha: str = "center",
    va: str = "center",
    transform=None,
    zorder: float = 6,
    gid: str | None = None,
    spacing: float | None = None,
):
    """Draw ``label`` at ``(x, y)`` as a text marker; returns the Line2D.

    The label is kept in the Line2D's ``label`` (with a leading ``_`` so that ``ax.legend``
    skips it): ``line.get_label()[1:]`` gives the text back.
    """
    path, ms, extents = _text_marker(label, size, bold, ha, va, spacing)
    line = TextLine(
        [x],
        [y],
        extents,
        ls="",
        marker=path,
        ms=ms,
        mew=0,
        color=color,
        zorder=zorder,
        label="_" + label,
        gid=gid,
        # Never clipped: labels often sit just outside the Axes (row names, a server's facts).
        clip_on=False,
    )
    if transform is not None:
        line.set_transform(transform)
    line.set_clip_path(axes_clip(ax))
    ax.add_artist(line)  # not add_line: a label must not change the data limits
    return line


class TextLine(Line2D):
    """A Line2D of one text marker that reports the text's true extent for layout.

    A plain Line2D counts a marker as a square as wide as the text, so a long label would
    pad ``bbox_inches="tight"`` figures (Jupyter's default) with empty space above and below.
    """

    def __init__(self, xdata, ydata, extents: tuple[float, float, float, float], **kwargs):
        super().__init__(xdata, ydata, **kwargs)
        self._text_extents = extents

    def get_window_extent(self, renderer=None) -> Bbox:
        x, y = self.get_transform().transform((self.get_xdata()[0], self.get_ydata()[0]))
        scale = self.get_figure(root=True).dpi / 72  # points to pixels
        x0, y0, x1, y1 = self._text_extents
        return Bbox([[x + x0 * scale, y + y0 * scale], [x + x1 * scale, y + y1 * scale]])


def points_transform(ax: Axes, x: float, y: float) -> Transform:
    """Coordinates in points, with (0, 0) at the point (x, y) in axes fraction."""
    fig = ax.get_figure()
    return Affine2D().scale(1 / 72) + fig.dpi_scale_trans + ScaledTranslation(x, y, ax.transAxes)


def draw_key(
    ax: Axes,
    entries: list[tuple[str, str, dict]] | None,
    *,
    x: float = 1.02,
    y: float = 1.0,
    size: float = 9.0,
    row: float = 17.0,
) -> None:
    """A legend drawn with markers, one row per entry, its top-left corner at axes (x, y).

    Each entry is ``(label, kind, style)``: kind ``"marker"`` (style for ``ax.plot`` of one
    marker), ``"line"`` (style for a short line; ``arrow=True`` adds a head) or ``"patch"``
    (style for a small Rectangle).  ``entries=None`` removes the key.

    Matplotlib's own legend is several times slower to draw, and an animation redraws
    every frame, so: all labels form one text marker, and a key identical to the one
    already in ``ax`` (kept by ``reset_axes``) is left as it is.
    """
    signature = None if entries is None else _key_signature(entries, x, y, size, row)
    old = getattr(ax, "_raftlab_key", None)
    if old is not None:
        old_signature, artists = old
        present = set(map(id, ax.get_children()))
        if old_signature == signature and all(id(a) in present for a in artists):
            return
        for a in artists:
            if id(a) in present:
                a.remove()
        ax._raftlab_key = None
    if entries is None:
        return
    t = points_transform(ax, x, y)
    base = {"transform": t, "clip_on": False, "zorder": 10}
    artists = []
    for k, (_, kind, style) in enumerate(entries):
        yk = -k * row - row / 2
        style = dict(style)
        if kind == "marker":
            artists += ax.plot([12], [yk], ls="", **base, **style, gid="key")
        elif kind == "line":
            if style.pop("arrow", False):
                style.update(marker=">", markevery=[1], ms=7)
            artists += ax.plot([0, 24], [yk, yk], **base, **style, gid="key")
        elif kind == "patch":
            artists.append(
                ax.add_artist(Rectangle((1, yk - 6), 22, 12, **base, **style, gid="key"))
            )
        else:
            raise ValueError(f"unknown key entry kind {kind!r}")
    text = "\n".join(label for label, _, _ in entries)
    # One marker for every label: baselines ``row`` apart, each centred on its handle.
    artists.append(
        draw_text(
            ax,
            31,
            -row / 2 - 0.36 * size,
            text,
            size,
            ha="left",
            va="baseline",
            spacing=row,
            transform=t,
            gid="key-labels",
        )
    )
    ax._raftlab_key = (signature, artists)


def _key_signature(entries, *where) -> str:
    # A Path's repr prints its arrays, slow on every frame; cached paths keep their identity.
    def show(v):
        return f"path{id(v)}" if isinstance(v, Path) else repr(v)

    parts = [
        (label, kind, sorted((k, show(v)) for k, v in style.items()))
        for label, kind, style in entries
    ]
    return repr((parts, where))


def reset_axes(
    ax: Axes | None,
    figsize: tuple[float, float],
    picture: str,
    margins: dict[str, float] | None = None,
) -> Axes:
    """Axes ready for ``picture``: new ones on a new figure, or ``ax`` emptied.

    A new figure gets ``margins`` (``subplots_adjust`` arguments), e.g. room for a key on
    the right.  Redrawing the same picture into the same Axes (the dashboard's animation)
    only removes the previous drawing's artists, which is many times faster than
    ``ax.clear()``, and keeps its key for ``draw_key`` to reuse; any other Axes is cleared.
    """
    if ax is None:
        import matplotlib.pyplot as plt  # late: importing pyplot picks a backend

        fig, ax = plt.subplots(figsize=figsize)
        if margins:
            fig.subplots_adjust(**margins)
    elif getattr(ax, "_raftlab_picture", None) == picture:
        key = getattr(ax, "_raftlab_key", None)
        keep = set(map(id, key[1])) if key else set()
        for group in (ax.lines, ax.patches, ax.collections, ax.texts, ax.images, ax.artists):
            for artist in list(group):
                if id(artist) not in keep:
                    artist.remove()
        if ax.legend_ is not None:
            ax.legend_.remove()
    else:
        ax.clear()
        ax._raftlab_key = None
    ax._raftlab_picture = picture
    return ax
