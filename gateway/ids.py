"""Unique ids for requests and decisions, cheap enough for every request.

A random per-process prefix and a counter: unique across replicas, without a urandom call per
id (uuid4 showed in the hot path's profile, issue 6)."""

from __future__ import annotations

import itertools
import uuid

_PREFIX = uuid.uuid4().hex[:16]
_COUNTER = itertools.count()


def unique_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"
