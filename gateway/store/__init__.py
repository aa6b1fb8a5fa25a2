"""The records store: one protocol, an embedded SQLite backend and a Redis backend."""

from __future__ import annotations

from gateway.store.base import RecordStore, StoreUnavailable
from gateway.store.open import open_store

__all__ = ["RecordStore", "StoreUnavailable", "open_store"]
