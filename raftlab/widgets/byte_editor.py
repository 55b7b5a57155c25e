"""``ByteEditor``: edit a key-value command and see its bytes at once (chapter 1)."""

from __future__ import annotations

from raftlab.kv.commands import Kind
from raftlab.teaching import _kind, command_bytes


def ByteEditor(kind: str = "SET", key: str = "x", value: str = "1", expected: str = ""):
    """Edit a command; see its bytes at once (chapter 1)."""
    import ipywidgets as w

    kind_w = w.Dropdown(options=[k.name for k in Kind], value=_kind(kind).name, description="kind")
    key_w = w.Text(value=key, description="key")
    value_w = w.Text(value=value, description="value")
    exp_w = w.Text(value=expected, description="expected")
    shown = w.HTML()

    def update(_=None) -> None:
        exp_w.disabled = kind_w.value != "CAS"
        value_w.disabled = kind_w.value in ("GET", "DELETE")
        text = command_bytes(
            kind_w.value,
            key_w.value,
            "" if value_w.disabled else value_w.value,
            None if exp_w.disabled else exp_w.value,
        )
        from html import escape

        shown.value = f"<pre style='line-height:1.3'>{escape(text)}</pre>"

    for control in (kind_w, key_w, value_w, exp_w):
        control.observe(update, names="value")
    update()
    return w.VBox([w.HBox([kind_w, key_w]), w.HBox([value_w, exp_w]), shown])
