"""Persistent FIX message stores: outgoing messages and both sequence numbers."""

from venues.fix.store.base import MessageStore
from venues.fix.store.file import FileStore
from venues.fix.store.memory import MemoryStore

__all__ = ["FileStore", "MemoryStore", "MessageStore"]
