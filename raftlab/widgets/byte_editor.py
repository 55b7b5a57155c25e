"""``ByteEditor``: edit a key-value command and see its bytes at once (chapter 1)."""

from __future__ import annotations

from html import escape

import ipywidgets as w

from raftlab.kv.commands import Kind
from raftlab.teaching import command_bytes, command_kind


class ByteEditor(w.VBox):
    """A command's kind, key, value and expected value; below, its bytes field by field.

    Only the fields the kind takes are enabled (a GET has no value, only a CAS has an
    expected value).  A command that cannot exist shows the sentence saying why.
    """

    def __init__(self, kind: str = "SET", key: str = "x", value: str = "1", expected: str = ""):
        self.kind = w.Dropdown(
            options=[k.name for k in Kind], value=command_kind(kind).name, description="kind"
        )
        self.key = w.Text(value=key, description="key")
        self.value = w.Text(value=value, description="value")
        self.expected = w.Text(value=expected, description="expected")
        self.shown = w.HTML()
        for control in (self.kind, self.key, self.value, self.expected):
            control.observe(self.update, names="value")
        self.update()
        super().__init__(
            [w.HBox([self.kind, self.key]), w.HBox([self.value, self.expected]), self.shown]
        )

    def update(self, _=None) -> None:
        self.expected.disabled = self.kind.value != "CAS"
        self.value.disabled = self.kind.value in ("GET", "DELETE")
        text = command_bytes(
            self.kind.value,
            self.key.value,
            "" if self.value.disabled else self.value.value,
            None if self.expected.disabled else self.expected.value,
        )
        self.shown.value = f"<pre style='line-height:1.3'>{escape(text)}</pre>"

    def __repr__(self) -> str:
        # Chapter 1 shows this text as its cell's plain output, compared by nbval: it read
        # "VBox(...)" when ByteEditor was a function returning a VBox, and still does.
        return "VBox" + super().__repr__().removeprefix(type(self).__name__)
