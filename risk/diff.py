"""Field-by-field differences between two validated limits files, in the officer's units."""

from __future__ import annotations

from typing import Any

import msgspec

from risk.loader import format_path


class Change(msgspec.Struct, frozen=True):
    """One difference: ``kind`` is ``changed``, ``added`` or ``removed``; values as written in the file."""

    field: str
    kind: str
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        if self.kind == "added":
            return f"{self.field}: added {_show(self.new)}"
        if self.kind == "removed":
            return f"{self.field}: removed (was {_show(self.old)})"
        return f"{self.field}: {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def diff_trees(old: Any, new: Any, prefix: tuple[str | int, ...] = ()) -> list[Change]:
    """List every difference between two display trees (mappings compared key by key)."""
    changes: list[Change] = []
    _diff(old, new, prefix, changes)
    return changes


def _diff(old: Any, new: Any, path: tuple[str | int, ...], out: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new:
                out.append(Change(format_path((*path, key)), "removed", old=old[key]))
            else:
                _diff(old[key], new[key], (*path, key), out)
        for key in new:
            if key not in old:
                out.append(Change(format_path((*path, key)), "added", new=new[key]))
        return
    if isinstance(old, list) and isinstance(new, list):
        field = format_path(path)
        new_items = set(map(str, new))
        old_items = set(map(str, old))
        out.extend(Change(field, "removed", old=item) for item in old if str(item) not in new_items)
        out.extend(Change(field, "added", new=item) for item in new if str(item) not in old_items)
        return
    if old != new or type(old) is not type(new):
        out.append(Change(format_path(path), "changed", old=old, new=new))
