"""Who is asking: the identity a request resolves to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    name: str
    org: str
    admin: bool = False
    key_fingerprint: str = ""
