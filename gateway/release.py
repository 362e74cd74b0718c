"""Free a large retired object graph (the limits a reload replaced) in bounded slices, not in one call.

Dropping the last reference to the limits of a 30,000-account file frees some 100,000 objects in one C call
(60-170 ms on a loaded host: docs/performance.md section 9b). A thread does not help: a deallocation cascade
holds the GIL from start to end. ``Releaser`` takes such a graph (``retire``) and takes it apart a slice at a time
(``step``): a large dict or list gives up ``units`` items per step, each item's own small subtree freed with it.

Only what nothing else references is taken apart: an object is emptied only when the releaser holds its one
reference (``sys.getrefcount``), so a part shared with the limits now in force (the reference prices a reload
kept) is never touched; the releaser just drops its reference to it. Objects in reference cycles are left to
the garbage collector, as before.

The core is ``step``; ``retire`` schedules the steps with ``call_soon`` on the running event loop, one step per
loop iteration (the loop serves its sockets between two), or drops the graph at once when no loop runs.
This module is not compiled (``sys.getrefcount`` is read here of interpreted locals).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Final

import msgspec

SLICE_UNITS: Final = 1_000
"""Objects (or a container's items) taken apart per loop iteration: about 0.3-1 ms of loop time."""
SMALL: Final = 32
"""A dict, list, set, tuple or frozenset with more items than this is taken apart a slice at a time."""
DICT_AT_ONCE: Final = 4_096
"""A larger dict gives up its items one by one (``popitem``) rather than clearing at once."""
_ONLY_OURS: Final = 2
"""``sys.getrefcount`` of an object only the step's local variable holds (that one, and the call's argument)."""
_SIZED: Final = (dict, list, tuple, set, frozenset)


def _big(obj: object) -> bool:
    """Return True for a container of more than ``SMALL`` items."""
    return isinstance(obj, _SIZED) and len(obj) > SMALL


def _holder(obj: object) -> bool:
    """Return True for an object that may hold others (looked into when it is not an item of a large container)."""
    if isinstance(obj, (*_SIZED, msgspec.Struct)):
        return True
    return hasattr(obj, "__dict__") and not isinstance(obj, (type, type(_big)))


def _items(obj: Any) -> Any:
    """Return the objects ``obj`` holds that the releaser looks into."""
    if isinstance(obj, dict):
        return obj.values()
    if isinstance(obj, _SIZED):
        return obj
    if isinstance(obj, msgspec.Struct):
        return msgspec.structs.astuple(obj)
    return getattr(obj, "__dict__", {}).values()


class Releaser:
    """Take retired object graphs apart across loop iterations."""

    def __init__(self, units: int = SLICE_UNITS) -> None:
        self.units = units
        self._stack: list[object] = []
        self._scheduled = False
        self.steps = 0
        """Steps run (loop iterations that freed a slice)."""

    @property
    def pending(self) -> bool:
        """True while something retired is not taken apart yet."""
        return bool(self._stack)

    def hold(self, obj: object) -> None:
        """Take ``obj`` to be taken apart by ``step`` (nothing scheduled)."""
        self._stack.append(obj)

    def retire(self, obj: object) -> None:
        """Take ``obj`` apart from the next loop iteration on (at once, whole, when no event loop runs here)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to spread it over: freed when the caller drops it, as before
        self._stack.append(obj)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        if self.step(self.units):
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def step(self, units: int) -> bool:
        """Take apart about ``units`` objects or items; return True if more is left.

        The objects around the large containers (the limits file, its document, the resolver) are looked into
        one by one; a large container gives up a slice of items per step, and an item of it that is not itself
        a large container is freed whole with what it holds (an account's limits: a few dozen objects).
        """
        stack = self._stack
        self.steps += 1
        while units > 0 and stack:
            obj = stack.pop()
            units -= 1
            if sys.getrefcount(obj) > _ONLY_OURS:
                continue  # referenced elsewhere too (or by a cycle): dropping ours frees nothing; never emptied
            if _big(obj):
                if isinstance(obj, (tuple, frozenset)):
                    stack.append(list(obj))  # the items moved to a list of ours, which is sliced
                    continue
                units -= self._slice(obj, units)
                if obj:
                    stack.append(obj)
                continue
            if _holder(obj):
                stack.extend(item for item in _items(obj) if _holder(item))
            del obj  # freed now; what it holds that may hold more is on the stack
        return bool(stack)

    def _slice(self, obj: Any, units: int) -> int:
        """Free up to ``units`` items (at least one) of ``obj``, keeping the large containers; return the units used.

        A dict of up to ``DICT_AT_ONCE`` items hands its values to a list of ours and is cleared (its keys, names
        shared with the rest of the file, go with it: one C pass); the list is then freed from its end, a slice
        per step, each slice by one ``del`` (C).
        """
        stack = self._stack
        if isinstance(obj, dict) and len(obj) <= DICT_AT_ONCE:
            values = list(obj.values())
            obj.clear()
            stack.append(values)
            return len(values) // 8
        count = min(max(units, 1), len(obj))
        if isinstance(obj, list):
            chunk = obj[-count:]
            del obj[-count:]
            stack.extend([item for item in chunk if _big(item)])
            del chunk  # the slice's items freed here, each with what it holds
        elif isinstance(obj, dict):
            for _ in range(count):
                _key, value = obj.popitem()
                if _big(value):
                    stack.append(value)
        else:
            for _ in range(count):
                item = obj.pop()
                if _big(item):
                    stack.append(item)
        return count
