"""Frozen records that are cheap to make: a faster ``__init__`` for frozen, slotted dataclasses.

Theory of operation
-------------------
Messages, log entries and trace lines are frozen dataclasses: immutable, compared by
value, printed with their fields.  A simulated run makes hundreds of thousands of them,
and the ``__init__`` that ``dataclasses`` writes for a frozen class stores every field
through ``object.__setattr__(self, "name", value)``: a global lookup, an attribute lookup
and a name lookup per field.  That was a tenth of a chaos run's CPU.

:func:`fast_init` replaces that ``__init__`` with one that stores each field through its
slot's own descriptor (``Cls.__dict__["name"].__set__``), bound once when the class is
made.  Nothing else changes: the class is still frozen (assigning a field afterwards still
raises ``FrozenInstanceError``), ``__post_init__`` still runs, defaults, ``repr``, ``==``,
``hash``, ``dataclasses.fields`` and ``dataclasses.replace`` are the same, and the
signature is the one ``dataclasses`` would write.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

T = TypeVar("T", bound=type)


def fast_init(cls: T) -> T:
    """Give a frozen, slotted dataclass a faster ``__init__`` (see the module docstring).

    A class this does not fit (not frozen, no slots, keyword-only fields, init-only
    variables or default factories) is refused with ``TypeError``, so a wrong use shows at
    import time.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init needs a frozen dataclass with slots=True, not {cls!r}")
    names: list[str] = []
    args: list[str] = []
    env: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"fast_init cannot write {cls.__name__}.__init__ for field {f.name}")
        names.append(f.name)
        env[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            env[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
    body = [f"    _set_{name}(self, {name})" for name in names]
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(args)}):\n" + ("\n".join(body) or "    pass")
    exec(source, env)  # noqa: S102 - built only from the class's own field names
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]
    return cls
