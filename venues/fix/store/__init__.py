"""Persistent FIX message stores: outgoing messages and both sequence numbers."""

from obs.native import native_path

__path__ = native_path(__name__, __path__)

from venues.fix.store.base import MessageStore
from venues.fix.store.file import FileStore
from venues.fix.store.memory import MemoryStore

__all__ = ["FileStore", "MemoryStore", "MessageStore"]
